/**
 * What `evaluate` and `predict` return, and predictions computed batch by batch (either engine's
 * `predictBatch`).
 */
import type * as TF from "@tensorflow/tfjs";
import { checkBatchSize } from "./checks";

export interface Evaluation {
  loss: number;
  accuracy: number;
  count: number;
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
