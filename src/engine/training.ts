/**
 * Compiling, training, evaluating and predicting, with Keras's defaults and
 * Keras's names: `fit` returns a history with `loss`, `accuracy`, `val_loss`,
 * `val_accuracy`; the validation split is the last fraction of the data,
 * taken before shuffling, as in Keras.
 *
 * These functions work on any TF.js LayersModel with a softmax output; the
 * tutorial's model (src/model.ts) wraps them.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "./backend";
import { KERAS_ADAM, KerasAdam, type AdamSettings } from "./adam";
import {
  callbackList,
  runFit,
  settle,
  validationSplitIndex,
  type Callbacks,
  type History,
  type LoopOptions,
  type Metrics,
  type Trainer,
} from "./loop";

export { KERAS_ADAM, settle, validationSplitIndex, type AdamSettings };

/**
 * Compiles `model` with a fresh Adam optimizer, categorical cross-entropy and
 * accuracy (the tutorial's `compile`), disposing the optimizer it had before
 * (TF.js's `model.dispose()` does not free optimizer slots).
 */
export function compileModel(model: TF.LayersModel, adam: Partial<AdamSettings> = {}): AdamSettings {
  const settings = { ...KERAS_ADAM, ...adam };
  const previous = model.optimizer as TF.Optimizer | undefined;
  const optimizer = new KerasAdam(settings);
  model.compile({ optimizer, loss: "categoricalCrossentropy", metrics: ["accuracy"] });
  if (previous && previous !== optimizer) previous.dispose();
  return settings;
}

export type { History };

export interface FitOptions {
  /** Default 5 (the tutorial's). */
  epochs?: number;
  /** Default 64 (the tutorial's). */
  batchSize?: number;
  /** The last fraction of the data, before shuffling, used for validation (default 0.2, as in the tutorial). */
  validationSplit?: number;
  /** Shuffle the training part before each epoch (default true, like Keras). */
  shuffle?: boolean;
  /** Show live progress (default true): in place in a notebook, one line per epoch in a terminal. */
  progress?: boolean;
  /** Called after each epoch with the history so far. */
  onEpochEnd?: (epoch: number, history: History) => void | Promise<void>;
  /**
   * TF.js callbacks, as Keras's `callbacks=[...]`: `tf.callbacks.earlyStopping({monitor: "val_loss"})`,
   * `tf.node.tensorBoard(dir)`, `new tf.CustomCallback({...})`, plain `{onEpochEnd(epoch, logs) {...}}`
   * objects, or a list of them. They see the model being trained and Keras's log names.
   */
  callbacks?: Callbacks;
}

/** Maps TF.js's log names to Keras's (acc → accuracy, val_acc → val_accuracy). */
export function kerasLogName(name: string): string {
  const map: Record<string, string> = {
    acc: "accuracy",
    val_acc: "val_accuracy",
    valLoss: "val_loss",
    valAcc: "val_accuracy",
  };
  return map[name] ?? name;
}

/** The checked loop settings of `options` for `n` examples, with the tutorial's defaults; clear errors otherwise. */
export function loopOptions(n: number, options: FitOptions): LoopOptions {
  const { epochs, batchSize, validationSplit } = checkFitOptions(n, options);
  callbackList(options.callbacks); // checks them
  return {
    epochs,
    batchSize,
    validationSplit,
    shuffle: options.shuffle ?? true,
    progress: options.progress !== false,
    callbacks: options.callbacks,
    onEpochEnd: options.onEpochEnd,
  };
}

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

/**
 * The settings of a `fit` on `n` examples, with Keras's defaults filled in, checked before anything
 * runs: each error says what was wrong and what to pass instead.
 */
export function checkFitOptions(
  n: number,
  options: FitOptions = {},
): { epochs: number; batchSize: number; validationSplit: number; splitAt: number } {
  const epochs = options.epochs ?? 5;
  const batchSize = checkBatchSize(options.batchSize ?? 64, "fit");
  const validationSplit = options.validationSplit ?? 0.2;
  checkNotEmpty(n, "fit");
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new Error(`fit: epochs must be a whole number ≥ 1 (the tutorial uses 5), got ${epochs}.`);
  if (typeof validationSplit !== "number" || !(validationSplit >= 0 && validationSplit < 1)) {
    throw new Error(
      `fit: validationSplit must be a fraction in [0, 1) (the tutorial uses 0.2; 0 for no validation), got ${validationSplit}.`,
    );
  }
  const splitAt = validationSplitIndex(n, validationSplit);
  if (splitAt < 1) {
    throw new Error(
      `fit: ${n} digit${n === 1 ? "" : "s"} with validationSplit ${validationSplit} leave${n === 1 ? "s" : ""} none for training; ` +
        "pass more digits, or a smaller validationSplit (0 for no validation).",
    );
  }
  return { epochs, batchSize, validationSplit, splitAt };
}

/** TF.js's own step on a compiled model, as a Trainer of the fit loop (the eager engine). */
export function eagerTrainer(model: TF.LayersModel): Trainer {
  const metrics = (out: number | number[] | TF.Scalar | TF.Scalar[]): Metrics => {
    const list = Array.isArray(out) ? out : [out];
    const value = (v: number | TF.Scalar) => (typeof v === "number" ? v : v.dataSync()[0]);
    const result = { loss: value(list[0]), accuracy: value(list[1]) };
    for (const v of list) if (typeof v !== "number") v.dispose();
    return result;
  };
  return {
    trainBatch: async (xs, y) => metrics(await model.trainOnBatch(xs.length === 1 ? xs[0] : xs, y)),
    evaluateBatch: (xs, y) =>
      metrics(model.evaluate(xs.length === 1 ? xs[0] : xs, y, { batchSize: y.shape[0] }) as TF.Scalar[]),
  };
}

/**
 * Trains `model` on x, y like Keras's `fit` with TF.js's eager step and returns a Keras-style history.
 *
 * Interrupting the kernel (SIGINT) stops training at the end of the current
 * batch; the model stays usable and the history so far is kept.
 */
export async function fit(
  model: TF.LayersModel,
  x: TF.Tensor | TF.Tensor[],
  y: TF.Tensor,
  options: FitOptions = {},
): Promise<History> {
  const loop = loopOptions(y.shape[0], options);
  if (!model.optimizer)
    throw new Error("The model is not compiled: call compileModel(model) (or freeze it) before training.");
  return runFit(model, eagerTrainer(model), Array.isArray(x) ? x : [x], y, loop);
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  count: number;
}

/** Test loss and accuracy (Keras's `evaluate`). */
export async function evaluate(model: TF.LayersModel, x: TF.Tensor, y: TF.Tensor, batchSize = 64): Promise<Evaluation> {
  checkBatchSize(batchSize, "evaluate");
  checkNotEmpty(y.shape[0], "evaluate");
  await settle(model);
  const out = model.evaluate(x, y, { batchSize }) as TF.Scalar[];
  const [loss, accuracy] = await Promise.all(out.map((t) => t.data()));
  out.forEach((t) => t.dispose());
  return { loss: loss[0], accuracy: accuracy[0], count: y.shape[0] };
}

export interface Predictions {
  /** Softmax outputs, row-major [count, classes]. */
  probabilities: Float32Array;
  /** The most probable class of each example. */
  classes: Uint8Array;
  /** The probability of that class. */
  confidence: Float32Array;
  count: number;
  numClasses: number;
}

/** Class probabilities and predicted classes, computed in batches with TF.js's `model.predict`. */
export async function predict(model: TF.LayersModel, x: TF.Tensor, batchSize = 64): Promise<Predictions> {
  checkBatchSize(batchSize, "predict");
  checkNotEmpty(x.shape[0], "predict");
  await settle(model);
  const numClasses = (model.outputs[0].shape[1] as number) ?? 0;
  return predictions((xb) => model.predict(xb, { batchSize: xb.shape[0] }) as TF.Tensor, x, numClasses, batchSize);
}

/**
 * Class probabilities and predicted classes of x, from `predictBatch` run on batches of `batchSize`;
 * `onProgress` is told the examples done after each batch.
 */
export async function predictions(
  predictBatch: (xb: TF.Tensor) => TF.Tensor,
  x: TF.Tensor,
  numClasses: number,
  batchSize = 64,
  onProgress?: (done: number, total: number) => void,
): Promise<Predictions> {
  checkBatchSize(batchSize, "predict");
  const n = x.shape[0];
  const probabilities = new Float32Array(n * numClasses);
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const xb = x.slice(start, size);
    let p: TF.Tensor;
    try {
      p = predictBatch(xb);
    } finally {
      xb.dispose();
    }
    probabilities.set(await p.data(), start * numClasses);
    p.dispose();
    onProgress?.(start + size, n);
  }
  const classes = new Uint8Array(n);
  const confidence = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++)
      if (probabilities[i * numClasses + c] > probabilities[i * numClasses + best]) best = c;
    classes[i] = best;
    confidence[i] = probabilities[i * numClasses + best];
  }
  return { probabilities, classes, confidence, count: n, numClasses };
}
