/**
 * The eager engine: TF.js runs the model op by op. Its training step is TF.js's own
 * (`model.trainOnBatch` with Keras 3's Adam), as a `Trainer` of the fit loop (./loop.ts).
 */
import type * as TF from "@tensorflow/tfjs";
import type { Metrics, Trainer } from "./loop";

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
