/**
 * The digits the Keras comparisons share: `digits()` (64 training and 16 test digits of the bundled
 * set, loaded once per process) and `asSpec(set)` (a set's pixels in [0, 1], flat, its shape and its
 * labels, as the Keras scripts read them from JSON).
 */
import { loadMnist, toTensors, type Mnist } from "../../src/data";
import { tf } from "../../src/tfjs/backend";

let mnistLoaded: Mnist | undefined;

/** Digits for training one step and for comparing predictions. */
export async function digits(): Promise<Mnist> {
  mnistLoaded ??= await loadMnist({ trainLimit: 64, testLimit: 16 });
  return mnistLoaded;
}

/** A set's pixels ([0, 1], flat) and labels, for the Keras script. */
export function asSpec(set: Mnist["test"]): { input: number[]; inputShape: number[]; labels: number[] } {
  const { x, y } = toTensors(set);
  const spec = { input: Array.from(x.dataSync()), inputShape: x.shape, labels: Array.from(set.labels) };
  tf.dispose([x, y]);
  return spec;
}
