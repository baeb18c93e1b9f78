/**
 * The checks `fit`, `evaluate` and `predict` run on their arguments before anything runs: each error
 * says what was wrong and what to pass instead.
 */
import type * as TF from "@tensorflow/tfjs";

/** A batch size given to `what` ("fit", "evaluate", "predict"), checked: a whole number ≥ 1. */
export function checkBatchSize(batchSize: number, what: string): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(
      `${what}: batchSize must be a whole number ≥ 1 (digits per step; the tutorial uses 64), got ${batchSize}.`,
    );
  }
  return batchSize;
}

/** Throws when `what` ("fit", "evaluate", "predict") is given no examples at all. */
export function checkNotEmpty(n: number, what: string): void {
  if (n === 0) {
    const example = what === "fit" ? "mnist.train, or take(mnist.train, 600) for a quick run" : "mnist.test";
    throw new Error(
      `${what}: the set of digits is empty (0 digits), so there is nothing to ${what === "fit" ? "train on" : what}; pass a set with at least one digit, e.g. ${example}.`,
    );
  }
}

/** Checks a batch of digits [n, 28, 28, 1] (and one-hot labels [n, 10]) given as tensors. */
export function checkBatch(x: TF.Tensor, y?: TF.Tensor): void {
  const [n, h, w, c] = x.shape;
  if (x.rank !== 4 || h !== 28 || w !== 28 || c !== 1 || n < 1) {
    throw new Error(
      `Expected a batch of digits of shape [n, 28, 28, 1] with n ≥ 1, got [${x.shape.join(", ")}]; toTensors(set) makes one from a digit set.`,
    );
  }
  if (x.dtype !== "float32") throw new Error(`Expected float32 pixels in [0, 1], got ${x.dtype}.`);
  if (y && (y.rank !== 2 || y.shape[0] !== n || y.shape[1] !== 10)) {
    throw new Error(
      `Expected one-hot labels of shape [${n}, 10] for ${n} digits, got [${y.shape.join(", ")}]; toCategorical(labels) makes them.`,
    );
  }
}
