/**
 * How far a model's class probabilities can move when each of its weights moves by at most δ_i:
 * to first order, |Δp_k| ≤ Σ_i |∂p_k/∂w_i| · δ_i (the triangle inequality on the linearisation). The
 * gradients are TF.js's own (`tf.variableGrads`, every weight of the model made differentiable for
 * the while, frozen ones and batch normalisation's statistics included, with the elementwise batch
 * normalisation instead of TensorFlow's fused kernel, whose gradient covers training only).
 *
 * Two kinds of δ are used by the tests:
 * - quantization: src/keras/saving/tfjs_quantization.ts `quantizationErrorBound`;
 * - float32 arithmetic, through backward error analysis: a dot product of n terms computed in float32
 *   (any order, with or without fused multiply-adds) is the exact dot product of the inputs with
 *   weights each perturbed by at most γ(n) = n·u / (1 − n·u) of themselves, u = 2^-24 (Higham,
 *   "Accuracy and Stability of Numerical Algorithms", §3.1); the rounding of a layer's output to
 *   float32 is one more term (n + 1). So a network computed in float32 by any backend equals the
 *   exact network with kernels perturbed by γ(fan-in + 1)|w|; the few operations of a bias or a batch
 *   normalisation (add, rsqrt, multiply) count as n = 4.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../../src/tfjs/backend";
import { useFusedKernels } from "../../src/tfjs/native_ops";

/** float32's unit roundoff. */
export const UNIT_ROUNDOFF = 2 ** -24;

/** γ(n) = n·u / (1 − n·u). */
export function gamma(n: number): number {
  return (n * UNIT_ROUNDOFF) / (1 - n * UNIT_ROUNDOFF);
}

/**
 * The length of the dot products a weight takes part in: a kernel's fan-in (all dimensions but the
 * last; a depthwise kernel's spatial size), else 4 (bias, batch normalisation).
 */
export function dotLength(name: string, shape: readonly number[]): number {
  if (/depthwise_kernel/.test(name)) return shape[0] * shape[1];
  if (/kernel/.test(name) && shape.length >= 2) return shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return 4;
}

/** δ_i of float32 arithmetic for each weight of `model` (see the module comment), as tensors (dispose them). */
export function arithmeticDeltas(model: TF.LayersModel): TF.Tensor[] {
  return model.weights.map((w) =>
    tf.tidy(() => tf.abs(w.read()).mul(gamma(dotLength(w.originalName, w.shape as number[]) + 1))),
  );
}

/** For one set of per-weight error sizes and one class: Σ_i |g_i|·δ_i and √(Σ_i g_i²·δ_i²). */
export interface Sensitivity {
  /** The worst case: every weight's error as large as it may be, all pushing the same way. */
  sum: number;
  /** The root sum of squares: the standard deviation of Σ g_i e_i, each e_i independent of standard deviation δ_i. */
  rss: number;
}

/**
 * For each set of per-weight error sizes (`deltas[s][i]`, shaped as weight i) and each class k of
 * `classes` (default all), the first-order sums over the gradient g = ∂p_k/∂w at the input `x`
 * (one image; one backward pass per class). Returns [set][index in `classes`].
 */
export function probabilitySensitivities(
  model: TF.LayersModel,
  x: TF.Tensor,
  deltas: TF.Tensor[][],
  classes?: number[],
): Sensitivity[][] {
  const variables = model.weights.map((w) => (w as unknown as { val: TF.Variable }).val);
  const trainable = variables.map((v) => v.trainable);
  const fused = useFusedKernels(false);
  variables.forEach((v) => (v.trainable = true));
  const ks = classes ?? Array.from({ length: model.outputs[0].shape[1] as number }, (_, k) => k);
  const result = deltas.map(() => ks.map(() => ({ sum: 0, rss: 0 })));
  try {
    for (const [j, k] of ks.entries()) {
      const { grads, value } = tf.variableGrads(
        () => (model.apply(x, { training: false }) as TF.Tensor).slice([0, k], [1, 1]).sum() as TF.Scalar,
        variables,
      );
      deltas.forEach((set, s) => {
        const [sum, squares] = tf.tidy(() => {
          const terms = variables.map((v, i) => tf.mul(tf.abs(grads[v.name]), set[i]));
          return [
            tf.addN(terms.map((t) => tf.sum(t))).arraySync() as number,
            tf.addN(terms.map((t) => tf.sum(tf.square(t)))).arraySync() as number,
          ];
        });
        result[s][j] = { sum, rss: Math.sqrt(squares) };
      });
      tf.dispose([value, ...Object.values(grads)]);
    }
  } finally {
    variables.forEach((v, i) => (v.trainable = trainable[i]));
    useFusedKernels(fused);
  }
  return result;
}
