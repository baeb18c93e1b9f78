/**
 * Building the tutorial's model (`buildTransferModel`): the upsampling front, data augmentation when
 * asked for (./model_augment.ts), the base network (InceptionV3 or Xception with Keras's ImageNet
 * weights, or random ones with a visible warning when the weights cannot be had), the new head,
 * frozen at the tutorial's depth and compiled; and the front on its own (`upsample`). Building again
 * with the same key disposes the model built before under it, so re-running a notebook cell does not
 * pile up models in memory.
 */
import type * as TF from "@tensorflow/tfjs";
import { settle } from "./engine/loop";
import { IMAGENET_WEIGHTS } from "./keras/applications/imagenet_weights";
import { inceptionV3, xception } from "./keras/applications/index";
import { UpSampling3D } from "./keras/layers";
import { KERAS_ADAM, type AdamSettings } from "./keras/optimizers/adam";
import { liveModels, TransferModel, type BaseName, type Preprocessing } from "./model";
import { augmentationLayers, type Augment } from "./model_augment";
import { checkBatchNormMode, type BatchNormMode } from "./model_batch_norm";
import { warning } from "./notebook/display";
import { downloadProgress } from "./notebook/progress";
import { tf } from "./tfjs/backend";

/** The tutorial's freeze depths: `base_model.layers[:64]` and `[:36]`. */
export const TUTORIAL_FREEZE: Record<BaseName, number> = { inception_v3: 64, xception: 36 };

export interface TransferModelOptions {
  base: BaseName;
  /** "imagenet" (default): Keras's ImageNet weights; null or "random": random initialisation; or a path to a Keras .h5 file. */
  weights?: "imagenet" | "random" | null | string;
  preprocessing?: Preprocessing;
  /** Layers of the base to freeze: a count or a layer name (frozen up to and including it). Default: the tutorial's. */
  freeze?: number | string;
  /** Adam settings (default Keras's: learning rate 0.001). */
  adam?: Partial<AdamSettings>;
  /**
   * Data augmentation between the upsampling and the base, in training only: true (the digits'
   * defaults: turns of up to ±10.8°, shifts and zooms of up to 10 %), settings (`AugmentOptions`), or
   * augmentation layers (`new kt.RandomRotation({ factor: 0.05 })`, …). Default: none, as the tutorial.
   */
  augment?: Augment;
  /**
   * How the base's batch normalisation runs while it trains (`freeze` can change it): "training"
   * (default, the tutorial's: a trainable layer normalises with the batch statistics and updates its
   * moving ones) or "inference" (Keras's guide, `base_model(x, training=False)`: every batch
   * normalisation of the base keeps its moving statistics, which normalise and are not updated;
   * gamma and beta still train).
   */
  batchNorm?: BatchNormMode;
  /** Units of the hidden dense layer (default 1024) and dropout rate (default 0.5). */
  denseUnits?: number;
  dropout?: number;
  /**
   * What to do when the ImageNet weights cannot be had (offline and not cached): "error" (default)
   * throws with instructions; "random" shows a visible warning and continues from random initialisation.
   */
  onMissingWeights?: "error" | "random";
  /**
   * Building again with the same key disposes the model built before under it
   * (default: the base name), so re-running a notebook cell does not pile up
   * models in memory. Use distinct keys to keep several models alive.
   */
  key?: string;
}

/** The checks of `buildTransferModel`'s options that need nothing built. */
function checkBuildOptions(options: TransferModelOptions): void {
  const baseName = options.base;
  if (baseName !== "inception_v3" && baseName !== "xception") {
    throw new Error(`Unknown base "${String(baseName)}": use "inception_v3" or "xception".`);
  }
  const preprocessing = options.preprocessing ?? "tutorial";
  if (preprocessing !== "tutorial" && preprocessing !== "keras") {
    throw new Error(
      `Unknown preprocessing "${String(preprocessing)}": use "tutorial" ([0, 1] pixels) or "keras" ([-1, 1]).`,
    );
  }
  if (options.batchNorm !== undefined) checkBatchNormMode(options.batchNorm, "buildTransferModel");
}

/**
 * Builds the tutorial's model on InceptionV3 or Xception, loads the base's weights, freezes it at the
 * tutorial's depth (or `freeze`) and compiles it. Building again with the same `key` disposes the old one.
 */
export async function buildTransferModel(options: TransferModelOptions): Promise<TransferModel> {
  checkBuildOptions(options);
  const key = options.key ?? options.base;
  const previous = liveModels.get(key);
  if (previous) {
    await settle(previous.model);
    previous.dispose();
  }
  const tm = await assembleTransferModel(options);
  liveModels.set(key, tm);
  return tm;
}

/**
 * Makes `tm` the model known under `key`, disposing the one known under it before (what
 * `buildTransferModel` does; `loadTransferModel` does it once a model has loaded completely).
 */
export async function registerTransferModel(tm: TransferModel, key: string): Promise<void> {
  const previous = liveModels.get(key);
  if (previous && previous !== tm) {
    await settle(previous.model);
    previous.dispose();
  }
  liveModels.set(key, tm);
}

/**
 * `buildTransferModel` without the key: builds, loads the base's weights, freezes, compiles and
 * remembers the weights, leaving every other model alone. `weightsLabel` replaces what
 * `TransferModel.weights` says (a model about to be loaded from an archive says so).
 */
export async function assembleTransferModel(
  options: TransferModelOptions,
  weightsLabel?: string,
): Promise<TransferModel> {
  checkBuildOptions(options);
  const baseName = options.base;
  const preprocessing = options.preprocessing ?? "tutorial";
  const weights = options.weights === undefined ? "imagenet" : options.weights === "random" ? null : options.weights;
  const build = baseName === "inception_v3" ? inceptionV3 : xception;
  // Before the weights are read: bad settings cost nothing.
  const augmentation = augmentationLayers(options.augment);
  let base: TF.LayersModel;
  let weightsUsed: string = weightsLabel ?? (weights === null ? "random" : weights);
  try {
    const onProgress = downloadProgress(IMAGENET_WEIGHTS[baseName].fileName);
    base = await build({ weights, inputShape: [84, 84, 3], onProgress });
  } catch (e) {
    if (weights !== "imagenet" || options.onMissingWeights !== "random") throw e;
    warning(
      `The ImageNet weights could not be loaded, so the base network starts from random initialisation ` +
        `(the results will not be those of transfer learning).\n${(e as Error).message}`,
    );
    base = await build({ weights: null, inputShape: [84, 84, 3] });
    weightsUsed = "random (ImageNet weights unavailable)";
  }
  let model: TF.LayersModel;
  let graph: { input: TF.SymbolicTensor; frontOutput: TF.SymbolicTensor; head: TF.layers.Layer[] };
  try {
    {
      const input = tf.input({ shape: [28, 28, 1], name: "digits" });
      let x = tf.layers.reshape({ targetShape: [28, 28, 1, 1], name: "to_volume" }).apply(input) as TF.SymbolicTensor;
      x = new UpSampling3D({ size: [3, 3, 3], name: "up_sampling3d" }).apply(x) as TF.SymbolicTensor;
      x = tf.layers.reshape({ targetShape: [84, 84, 3], name: "to_image" }).apply(x) as TF.SymbolicTensor;
      // Before the rescaling: the digits are in [0, 1] there, and the fill value 0 is their background.
      for (const layer of augmentation) x = layer.apply(x) as TF.SymbolicTensor;
      if (preprocessing === "keras") {
        // [0, 1] → [-1, 1], the same as Keras's x/127.5 - 1 on 0–255 pixels.
        x = tf.layers.rescaling({ scale: 2, offset: -1, name: "rescaling" }).apply(x) as TF.SymbolicTensor;
      }
      const frontOutput = x;
      x = base.apply(x) as TF.SymbolicTensor;
      // Keras's Dense initialises its kernel with glorot_uniform (TF.js's default is glorot_normal).
      const head = [
        tf.layers.globalAveragePooling2d({ name: "global_average_pooling2d" }),
        tf.layers.dense({
          units: options.denseUnits ?? 1024,
          activation: "relu",
          kernelInitializer: "glorotUniform",
          name: "dense",
        }),
        tf.layers.dropout({ rate: options.dropout ?? 0.5, name: "dropout" }),
        tf.layers.dense({ units: 10, activation: "softmax", kernelInitializer: "glorotUniform", name: "dense_1" }),
      ];
      for (const layer of head) x = layer.apply(x) as TF.SymbolicTensor;
      model = tf.model({ inputs: input, outputs: x, name: `${baseName}_mnist` });
      graph = { input, frontOutput, head };
    }
  } catch (e) {
    base.dispose();
    throw e;
  }
  const tm = new TransferModel({
    model,
    base,
    baseName,
    preprocessing,
    weights: weightsUsed,
    adam: { ...KERAS_ADAM, ...(options.adam ?? {}) },
    batchNorm: options.batchNorm ?? "training",
    ...graph,
  });
  try {
    tm.freeze(options.freeze ?? TUTORIAL_FREEZE[baseName]);
  } catch (e) {
    tm.dispose();
    throw e;
  }
  tm.snapshotWeights();
  return tm;
}

/**
 * The model's front on its own: digits [n, 28, 28, 1] → [n, 84, 84, 3], Keras's
 * `UpSampling3D(size=(3, 3, 3))` on each digit seen as a 28×28×1 volume.
 */
export function upsample(digits: TF.Tensor4D): TF.Tensor4D {
  const [n, h, w, c] = digits.shape;
  if (h !== 28 || w !== 28 || c !== 1)
    throw new Error(`Expected digits of shape [n, 28, 28, 1], got [${digits.shape.join(", ")}].`);
  const layer = new UpSampling3D({ size: [3, 3, 3] });
  return tf.tidy(() =>
    (layer.apply(digits.reshape([n, 28, 28, 1, 1])) as TF.Tensor).reshape([n, 84, 84, 3]),
  ) as TF.Tensor4D;
}
