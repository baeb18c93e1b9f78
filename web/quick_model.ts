/**
 * The demo's own models, for when no notebook has exported any: the tutorial's model on InceptionV3
 * or Xception, made in a few minutes on a 2-core CPU (5 and 12 minutes measured, README), and honest about what it is.
 *
 * Offline there are no ImageNet weights, and a base with Keras's random initialisation passes
 * features that shrink towards 0 through its frozen batch normalisation. So: random convolutions,
 * every batch normalisation set to the statistics of 64 real digits (src/engine/calibrate.ts), the
 * tutorial's freeze depth and a short fit on the bundled digits. A short fit leaves the moving
 * averages of the trained batch normalisations far from their batches' statistics (momentum 0.99
 * over a few dozen steps), so the model reads held-out digits at chance level; setting them once
 * more from 128 training digits (the same calibration, now with the trained weights) makes it read
 * them (measured: 8 % → 46 % after one epoch on 1,000 digits). The test accuracy on held-out digits
 * is measured and written into the model's note, which the page shows. Not transfer learning: a
 * stand-in until the notebooks export the real thing (their section 12).
 */
import { loadMnist, take, toTensors } from "../src/data";
import { calibrateBatchNorm } from "../src/engine/calibrate";
import { tf } from "../src/tfjs/backend";
import type { BaseName, TransferModel } from "../src/model";
import { buildTransferModel, upsample } from "../src/model_build";

export interface QuickModelOptions {
  /** Training digits (default 2,000). */
  trainImages?: number;
  /** Test digits the accuracy is measured on (default 1,000). */
  testImages?: number;
  epochs?: number;
  /** Show training progress (default true). */
  progress?: boolean;
}

export interface QuickModel {
  model: TransferModel;
  testAccuracy: number;
  /** For the page: how it was made and how well it does. */
  note: string;
  seconds: number;
}

/** Makes a quick model on `base` (see the module comment); the caller disposes it. */
export async function quickModel(base: BaseName, options: QuickModelOptions = {}): Promise<QuickModel> {
  const started = Date.now();
  const trainImages = options.trainImages ?? 2000;
  const epochs = options.epochs ?? 2;
  const mnist = await loadMnist({ trainLimit: trainImages, testLimit: options.testImages ?? 1000 });
  const model = await buildTransferModel({ base, weights: "random", key: `quick-${base}` });
  /** Sets the base's batch-normalisation statistics from the first `n` training digits. */
  const calibrate = (n: number) => {
    const { x, y } = toTensors(take(mnist.train, n));
    const images = upsample(x);
    calibrateBatchNorm(model.base, images);
    tf.dispose([x, y, images]);
  };
  try {
    calibrate(64);
    // No validation split: before the statistics are set again, validation would only show chance.
    await model.fit(mnist.train, { epochs, batchSize: 64, progress: options.progress ?? true });
    calibrate(128);
    const { accuracy } = await model.evaluate(mnist.test, { progress: false });
    const seconds = (Date.now() - started) / 1000;
    const note =
      `A quick model made by npm run demo in ${Math.round(seconds)} s, not the notebooks' transfer learning: ` +
      `no ImageNet weights offline, so random convolutions with batch statistics set on digits, ` +
      `the first ${model.freezeDepth} base layers frozen, ` +
      `${epochs} epochs on ${mnist.train.count.toLocaleString("en")} digits, batch statistics set again; ` +
      `${(accuracy * 100).toFixed(1)} % right on ${mnist.test.count.toLocaleString("en")} held-out test digits.`;
    return { model, testAccuracy: accuracy, note, seconds };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
