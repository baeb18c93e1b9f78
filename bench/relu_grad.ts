/**
 * An experiment for bench/profile.ts: the gradient of ReLU through TensorFlow's `ReluGrad` kernel.
 *
 * TF.js's gradient of `relu` is `dy * cast(step(x))`: three kernels, three passes over the
 * activation. TensorFlow computes it in one (`ReluGrad(dy, x)`: dy where x > 0, else 0).
 * `installReluGrad()` registers that gradient for the Relu kernel and returns a function that puts
 * TF.js's back.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../src/backend";

interface NodeBackend {
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: unknown[], inputs: TF.Tensor[]): TF.Tensor;
}

export function installReluGrad(): () => void {
  const backend = tf.backend() as unknown as NodeBackend;
  if (typeof backend.executeSingleOutput !== "function") throw new Error("The ReluGrad experiment needs the native TensorFlow backend.");
  const original = tf.getGradient("Relu");
  if (!original) throw new Error("TF.js has no gradient registered for Relu.");
  const attrs = [{ name: "T", type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT }];
  tf.registerGradient({
    kernelName: "Relu",
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      const g = Array.isArray(dy) ? dy[0] : dy;
      return { x: () => (x.dtype === "float32" ? backend.executeSingleOutput("ReluGrad", attrs, [g, x]) : tf.mul(g, tf.cast(tf.step(x), "float32"))) };
    },
  });
  return () => tf.registerGradient(original);
}
