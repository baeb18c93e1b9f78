/**
 * The tutorial's `compile`: Keras 3's Adam, categorical cross-entropy and accuracy.
 */
import type * as TF from "@tensorflow/tfjs";
import { KERAS_ADAM, KerasAdam, type AdamSettings } from "../keras/optimizers/adam";

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
