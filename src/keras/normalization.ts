/**
 * Batch normalisation's arithmetic as plain functions (as TF.js keeps it in its
 * `layers/normalization.ts`); the `BatchNormalization` layer (./layers.ts) is a
 * shell around them that holds the weights and decides training or inference.
 *
 * - `batchNormalization`        x normalised with given statistics:
 *                               y = x * inv + (beta - mean * inv), inv = gamma / sqrt(variance + epsilon)
 * - `normalizeBatchInTraining`  the batch mean and biased batch variance (`tf.moments`) over every
 *                               axis but the feature axis, and x normalised with them
 * - `movingAverage`             moving * momentum + batch * (1 - momentum)
 * - `normalize`                 what the layer runs: TensorFlow's fused kernels
 *                               (../tfjs/native_ops.ts) where they apply (4-D, channels last, a
 *                               native backend), else the functions above; the same results to
 *                               float rounding
 *
 * They make tensors without disposing anything: call them inside `tf.tidy`.
 */
import type { Tensor } from "@tensorflow/tfjs";
import { tf } from "../tfjs/backend";
import { fusedBatchNorm, type FusedBatchNormArgs, type FusedBatchNormResult } from "../tfjs/native_ops";

/**
 * `x` normalised along `axis` with the given per-feature statistics, scaled by `gamma` and shifted by
 * `beta` (either may be null: no scale, no offset). The same arrangement as `tf.nn.batch_normalization`,
 * differentiable in x, gamma, beta and the statistics.
 */
export function batchNormalization(
  x: Tensor,
  mean: Tensor,
  variance: Tensor,
  beta: Tensor | null,
  gamma: Tensor | null,
  epsilon: number,
  axis: number,
): Tensor {
  const broadcastShape: number[] = new Array<number>(x.rank).fill(1);
  broadcastShape[axis] = x.shape[axis];
  let inv = tf.rsqrt(tf.add(variance, epsilon));
  if (gamma !== null) inv = tf.mul(inv, gamma);
  let offset = tf.neg(tf.mul(mean, inv));
  if (beta !== null) offset = tf.add(offset, beta);
  return tf.add(tf.mul(x, tf.reshape(inv, broadcastShape)), tf.reshape(offset, broadcastShape));
}

/**
 * Batch normalisation in training: the batch mean and the biased batch variance over every axis but
 * `axis` (as `tf.nn.moments`; Keras 3 uses this variance both to normalise and to update the moving
 * variance), and `x` normalised with them.
 */
export function normalizeBatchInTraining(
  x: Tensor,
  gamma: Tensor | null,
  beta: Tensor | null,
  axis: number,
  epsilon: number,
): { y: Tensor; mean: Tensor; variance: Tensor } {
  const reductionAxes: number[] = [];
  for (let i = 0; i < x.rank; i++) if (i !== axis) reductionAxes.push(i);
  const { mean, variance } = tf.moments(x, reductionAxes, false);
  return { y: batchNormalization(x, mean, variance, beta, gamma, epsilon, axis), mean, variance };
}

/** Keras's update of a moving statistic: `moving * momentum + batch * (1 - momentum)`. */
export function movingAverage(moving: Tensor, batch: Tensor, momentum: number): Tensor {
  return tf.add(tf.mul(moving, momentum), tf.mul(batch, 1 - momentum));
}

export interface NormalizeArgs extends FusedBatchNormArgs {
  /** The feature axis (non-negative). */
  axis: number;
}

/**
 * Batch normalisation as the layer runs it. In training, normalises with the batch statistics and
 * returns them (`batchMean`, `batchVariance`, for the moving averages); otherwise with the given
 * `mean` and `variance`. TensorFlow's fused kernels when they apply (feature axis 3 of a 4-D float32
 * input on a native backend, switched on), else the elementwise functions above.
 */
export function normalize(args: NormalizeArgs): FusedBatchNormResult {
  const { x, gamma, beta, epsilon, training, axis } = args;
  if (axis === 3) {
    const fused = fusedBatchNorm(args);
    if (fused !== null) return fused;
  }
  if (training) {
    const { y, mean, variance } = normalizeBatchInTraining(x, gamma, beta, axis, epsilon);
    return { y, batchMean: mean, batchVariance: variance };
  }
  if (!args.mean || !args.variance)
    throw new Error("normalize: inference needs the mean and variance to normalise with.");
  return { y: batchNormalization(x, args.mean, args.variance, beta, gamma, epsilon, axis) };
}
