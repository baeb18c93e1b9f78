/**
 * A stand-in for pre-trained weights where none can be had: random convolutions (Keras's
 * initialisation) with every batch normalisation set to the statistics of its input on a batch of
 * real digits (a data-dependent initialisation), so that the base's features are well scaled and a
 * frozen base gives a head something to learn from. With Keras's plain random initialisation the
 * features of a frozen base shrink towards 0 through the network (1e-4 at its output), and nothing
 * can be learnt from them in a short run. Used by the tests and by `npm run demo`'s quick models.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tfjs/backend";
import { firstNode } from "./frozen_prefix";

/** Sets the moving statistics of every batch normalisation of `base` from its input on `x` (one pass, layer by layer). */
export function calibrateBatchNorm(base: TF.LayersModel, x: TF.Tensor): void {
  tf.tidy(() => {
    const values = new Map<number, TF.Tensor>();
    values.set(base.inputs[0].id, x);
    for (const layer of base.layers) {
      if (layer.getClassName() === "InputLayer") continue;
      const node = firstNode(layer);
      const inputs = node.inputs.map((t) => values.get(t.id)!);
      if (layer.getClassName().includes("BatchNormalization")) {
        const { mean, variance } = tf.moments(inputs[0], [0, 1, 2]);
        const weights = layer.getWeights();
        // Keras's order: [gamma?, beta?, moving_mean, moving_variance].
        weights[weights.length - 2] = mean;
        weights[weights.length - 1] = variance;
        layer.setWeights(weights);
      }
      const out = layer.apply(inputs.length === 1 ? inputs[0] : inputs, { training: false }) as TF.Tensor | TF.Tensor[];
      (Array.isArray(out) ? out : [out]).forEach((t, i) => values.set(node.outputs[i].id, t));
    }
  });
}
