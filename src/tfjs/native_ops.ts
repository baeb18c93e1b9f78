/**
 * Fused TensorFlow kernels for batch normalisation and the ReLU gradient, on the native backends.
 *
 * Written with TF.js's elementwise ops, one batch normalisation in training runs about twenty
 * kernels forward and as many backward (moments, rsqrt, scale, shift and their gradients), each a
 * full pass over the activations plus a round trip from JavaScript. InceptionV3 has 94 of these
 * layers and Xception 40. TensorFlow has one kernel per direction:
 *
 *   - `FusedBatchNormV3` normalises and, in training, returns the batch statistics;
 *   - `FusedBatchNormGradV3` returns the gradients with respect to x, scale and offset.
 *
 * `fusedBatchNorm()` runs them with the semantics of the BatchNormalization layer
 * (../keras/layers.ts, Keras 3): in training, batch mean and biased batch variance, returned for the
 * moving-average update; otherwise the given statistics. It applies to 4-D channels-last float32
 * inputs on the `tensorflow` backend (`@tensorflow/tfjs-node` or `-gpu`); elsewhere it returns `null`
 * and `normalize` (../keras/normalization.ts) falls back to its elementwise functions. The two agree
 * to float rounding (test/native_ops.test.ts, test/normalization.test.ts).
 *
 * The gradient of ReLU is the same story on a smaller scale: TF.js computes `dy * step(x)` (three
 * kernels, and its `Step` kernel is slow); TensorFlow's `ReluGrad(dy, x)` does it in one pass. This
 * module registers that gradient for TF.js's `Relu` kernel when it is loaded; it falls back to
 * TF.js's own gradient wherever the fused kernels do not apply.
 *
 * `useFusedKernels(false)`, or `KT_FUSED_KERNELS=0` in the environment, switches both off
 * (to compare, or to rule it out when debugging).
 */
import type { Tensor } from "@tensorflow/tfjs";
import { tf } from "./backend";
import { nodeKernelBackend, type NodeKernelBackend, type NodeOpAttr } from "./internals";
import { switchedOff } from "../util/env";

let enabled = !switchedOff(process.env.KT_FUSED_KERNELS);

/**
 * Switches the fused kernels (batch normalisation, ReLU's gradient) on or off for what runs from
 * now on; returns the previous setting. On by default (unless `KT_FUSED_KERNELS=0`); without a native backend the
 * setting has no effect.
 */
export function useFusedKernels(on: boolean): boolean {
  const before = enabled;
  enabled = on;
  return before;
}

/** Whether what runs now would use the fused kernels (switched on, and a native backend). */
export function fusedKernelsActive(): boolean {
  return enabled && nativeBackend() !== null;
}

/** tfjs-node's backend when TensorFlow.js runs on native TensorFlow, else null (also for ./native_image.ts). */
export function nativeBackend(): NodeKernelBackend | null {
  return tf.getBackend() === "tensorflow" ? nodeKernelBackend(tf.backend()) : null;
}

function attributes(backend: NodeKernelBackend, epsilon: number, training: boolean, forward: boolean): NodeOpAttr[] {
  const b = backend.binding;
  const list: NodeOpAttr[] = [
    { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: "U", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: "epsilon", type: b.TF_ATTR_FLOAT, value: epsilon },
    { name: "data_format", type: b.TF_ATTR_STRING, value: "NHWC" },
    { name: "is_training", type: b.TF_ATTR_BOOL, value: training },
  ];
  // Forward in training: with a factor of 1 the running-average outputs are the batch statistics.
  if (forward && training) list.push({ name: "exponential_avg_factor", type: b.TF_ATTR_FLOAT, value: 1 });
  return list;
}

export interface FusedBatchNormArgs {
  /** Input, `[batch, height, width, channels]`. */
  x: Tensor;
  /** Per-channel scale (Keras's gamma); `null` for none (`scale: false`). */
  gamma: Tensor | null;
  /** Per-channel offset (Keras's beta); `null` for none (`center: false`). */
  beta: Tensor | null;
  epsilon: number;
  /** Training: normalise with the batch statistics and return them. */
  training: boolean;
  /** Inference: the statistics to normalise with (the moving mean and variance). */
  mean?: Tensor;
  variance?: Tensor;
}

export interface FusedBatchNormResult {
  y: Tensor;
  /** Training only: the batch mean and the biased batch variance (as `tf.moments`). */
  batchMean?: Tensor;
  batchVariance?: Tensor;
}

/**
 * Batch normalisation of a 4-D channels-last float32 tensor with TensorFlow's fused kernels, or
 * `null` when they do not apply (switched off, no native backend, another rank, axis or dtype, or
 * a single value per channel in training). Differentiable in x, gamma and beta.
 */
export function fusedBatchNorm(args: FusedBatchNormArgs): FusedBatchNormResult | null {
  const { x, gamma, beta, epsilon, training } = args;
  if (!enabled || x.rank !== 4 || x.dtype !== "float32") return null;
  const backend = nativeBackend();
  if (backend === null) return null;
  const channels = x.shape[3] as number;
  const perChannel = x.size / channels;
  // TensorFlow's batch variance is the unbiased one, undefined for one value per channel.
  if (training && perChannel < 2) return null;
  const scale = gamma ?? tf.ones([channels]);
  const offset = beta ?? tf.zeros([channels]);

  if (!training) {
    const { mean, variance } = args;
    if (!mean || !variance) throw new Error("fusedBatchNorm: inference needs the mean and variance to normalise with.");
    // TF.js's batchNorm is the native FusedBatchNorm kernel on this backend, with a gradient.
    return { y: tf.batchNorm(x as never, mean, variance, offset, scale, epsilon) };
  }

  let stats: Tensor[] = [];
  const forward = tf.customGrad((...inputs: unknown[]) => {
    const [xi, scaleIn, offsetIn, save] = inputs as [Tensor, Tensor, Tensor, (ts: Tensor[]) => void];
    const empty = tf.tensor1d([], "float32");
    const [y, mean, unbiased, reserve1, reserve2, reserve3] = backend.executeMultipleOutputs(
      "FusedBatchNormV3",
      attributes(backend, epsilon, true, true),
      [xi, scaleIn, offsetIn, empty, empty],
      6,
    );
    // Kept past customGrad's own scope; handed back to the caller's scope below.
    stats = [tf.keep(mean), tf.keep(unbiased)];
    save([xi, scaleIn, reserve1, reserve2, reserve3]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [dx, dscale, doffset] = backend.executeMultipleOutputs(
          "FusedBatchNormGradV3",
          attributes(backend, epsilon, true, false),
          [dy, ...saved],
          5,
        );
        return [dx, dscale, doffset];
      },
    };
  });
  const y = forward(x, scale, offset) as Tensor;
  const [mean, unbiased] = stats;
  const batchMean = tf.clone(mean);
  const batchVariance = tf.mul(unbiased, (perChannel - 1) / perChannel);
  tf.dispose(stats);
  return { y, batchMean, batchVariance };
}

/** TF.js's own gradient of Relu, kept to fall back on. */
const tfjsReluGradient = tf.getGradient("Relu");

/**
 * The gradient of ReLU through TensorFlow's `ReluGrad` kernel (dy where x > 0, else 0); TF.js's own
 * gradient where that does not apply. Registered once, when this module is loaded.
 */
function registerReluGradient(): void {
  if (!tfjsReluGradient) return;
  tf.registerGradient({
    kernelName: "Relu",
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const backend = enabled && x.dtype === "float32" ? nativeBackend() : null;
      if (backend === null) return tfjsReluGradient.gradFunc(dy, saved, attrs);
      const g = Array.isArray(dy) ? dy[0] : dy;
      const type = [{ name: "T", type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT }];
      return { x: () => backend.executeSingleOutput("ReluGrad", type, [g, x]) };
    },
  });
}

registerReluGradient();
