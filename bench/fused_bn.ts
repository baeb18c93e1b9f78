/**
 * An experiment for bench/profile.ts: batch normalisation through TensorFlow's fused kernels.
 *
 * src/layers.ts's BatchNormalization (Keras 3 semantics) is written with elementary TF.js ops:
 * in training, `tf.moments` and then `x * inv + (beta - mean * inv)`, about twenty kernels and as
 * many full passes over the activations forward and backward; in inference, `x * inv + offset`.
 * TensorFlow has one kernel for each direction: `FusedBatchNormV3` (forward, training or
 * inference) and `FusedBatchNormGradV3` (backward). `installFusedBatchNorm()` swaps the layer's
 * `call` for one that uses them (4-D, channels-last inputs; anything else keeps the original) with
 * the same semantics: batch statistics and a moving-average update with the biased variance in
 * training, the moving statistics in inference or when frozen. It returns a function that puts the
 * original `call` back.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../src/backend";
import { BatchNormalization } from "../src/layers";

interface NodeBackend {
  binding: { TF_ATTR_FLOAT: number; TF_ATTR_STRING: number; TF_ATTR_BOOL: number; TF_ATTR_TYPE: number; TF_FLOAT: number };
  executeMultipleOutputs(name: string, attrs: unknown[], inputs: TF.Tensor[], numOutputs: number): TF.Tensor[];
}

interface BnInternals {
  axis: number;
  epsilon: number;
  momentum: number;
  gamma: TF.LayerVariable | null;
  beta: TF.LayerVariable | null;
  movingMean: TF.LayerVariable;
  movingVariance: TF.LayerVariable;
  isFrozen(): boolean;
}

type Call = (inputs: TF.Tensor | TF.Tensor[], kwargs: Record<string, unknown>) => TF.Tensor;

function attrs(backend: NodeBackend, epsilon: number, training: boolean, withAvgFactor: boolean): unknown[] {
  const b = backend.binding;
  const list: unknown[] = [
    { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: "U", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
    { name: "epsilon", type: b.TF_ATTR_FLOAT, value: epsilon },
    { name: "data_format", type: b.TF_ATTR_STRING, value: "NHWC" },
    { name: "is_training", type: b.TF_ATTR_BOOL, value: training },
  ];
  if (withAvgFactor) list.push({ name: "exponential_avg_factor", type: b.TF_ATTR_FLOAT, value: 1 });
  return list;
}

export function installFusedBatchNorm(): () => void {
  const backend = tf.backend() as unknown as NodeBackend;
  if (typeof backend.executeMultipleOutputs !== "function") throw new Error("The fused batch norm experiment needs the native TensorFlow backend.");
  const proto = BatchNormalization.prototype as unknown as { call: Call };
  const original = proto.call;

  proto.call = function (this: BnInternals, inputs, kwargs) {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const axis = this.axis < 0 ? this.axis + x.rank : this.axis;
    if (x.rank !== 4 || axis !== 3) return original.call(this as never, inputs, kwargs);
    const training = kwargs["training"] === true && !this.isFrozen();
    const channels = x.shape[3] as number;
    return tf.tidy(() => {
      const gamma = this.gamma ? this.gamma.read() : tf.ones([channels]);
      const beta = this.beta ? this.beta.read() : tf.zeros([channels]);
      if (!training) {
        // Inference: TF.js's batchNorm runs the native FusedBatchNorm kernel (is_training false).
        return tf.batchNorm(x as TF.Tensor4D, this.movingMean.read(), this.movingVariance.read(), beta, gamma, this.epsilon);
      }
      let stats: TF.Tensor[] = [];
      const eps = this.epsilon;
      const fused = tf.customGrad((...args: unknown[]) => {
        const [xi, scale, offset, save] = args as [TF.Tensor, TF.Tensor, TF.Tensor, (ts: TF.Tensor[]) => void];
        const empty = tf.tensor1d([], "float32");
        const [y, mean, variance, r1, r2, r3] = backend.executeMultipleOutputs("FusedBatchNormV3", attrs(backend, eps, true, true), [xi, scale, offset, empty, empty], 6);
        stats = [tf.keep(mean), tf.keep(variance)];
        save([xi, scale, r1, r2, r3]);
        return {
          value: y,
          gradFunc: (dy: TF.Tensor, saved: TF.Tensor[]) => {
            const [sx, sscale, s1, s2, s3] = saved;
            const [dx, dscale, doffset] = backend.executeMultipleOutputs("FusedBatchNormGradV3", attrs(backend, eps, true, false), [dy, sx, sscale, s1, s2, s3], 5);
            return [dx, dscale, doffset];
          },
        };
      });
      const y = fused(x, gamma, beta) as TF.Tensor;
      // TensorFlow's batch variance is the unbiased one; Keras 3 updates with the biased variance.
      const n = x.size / channels;
      const [mean, unbiased] = stats;
      const m = this.momentum;
      tf.tidy(() => {
        this.movingMean.write(tf.add(tf.mul(this.movingMean.read(), m), tf.mul(mean, 1 - m)));
        this.movingVariance.write(tf.add(tf.mul(this.movingVariance.read(), m), tf.mul(tf.mul(unbiased, (n - 1) / n), 1 - m)));
      });
      tf.dispose(stats);
      return y;
    });
  } as Call;
  return () => {
    proto.call = original;
  };
}
