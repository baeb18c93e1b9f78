/**
 * Keras applications used by the tutorial, faithful to Keras 3: InceptionV3
 * and Xception without their classification top.
 *
 *  - `buildInceptionV3` / `buildXception`: the network with Keras's random
 *    initialisation (glorot_uniform kernels; batch norm: gamma 1, beta 0,
 *    moving mean 0, moving variance 1), synchronously.
 *  - `inceptionV3` / `xception`: the same, then Keras's ImageNet weights (or
 *    a given .h5 file), like `keras.applications.InceptionV3(include_top=False,
 *    weights=...)`.
 *
 * Layer names, `model.layers` order, classes, output shapes and parameter
 * counts equal Keras 3's, so `model.layers.slice(0, 64)` is Keras's
 * `base_model.layers[:64]` (InceptionV3, up to "mixed1") and `slice(0, 36)`
 * Xception's (up to "add_2").
 */
import * as fs from "node:fs";
import type { LayersModel } from "@tensorflow/tfjs";
import { loadKerasWeights } from "../saving/weight_order";
import type { DownloadProgress } from "../../util/progress";
import { imagenetWeights, type KerasApplicationName } from "./imagenet_weights";
import { inceptionV3Graph, type InceptionV3BuildOptions } from "./inception_v3";
import { xceptionGraph, type XceptionBuildOptions } from "./xception";

export { KerasNames, obtainInputShape } from "./common";
export { layerTable, formatLayerRow, type LayerRow, type ParamCounts } from "./table";
export type { InceptionV3BuildOptions } from "./inception_v3";
export type { XceptionBuildOptions } from "./xception";

/** What weights to load: Keras's ImageNet weights (default), none (random initialisation), or a Keras .h5 file. */
export type WeightsOption = "imagenet" | null | string;

/** How the ImageNet weights are fetched when they are not in Keras's cache. */
export interface WeightsDownloadOptions {
  /** Download progress (default: a line per 10 %); `false`: silent. */
  onProgress?: DownloadProgress | false;
}

export interface InceptionV3Options extends InceptionV3BuildOptions, WeightsDownloadOptions {
  weights?: WeightsOption;
}

export interface XceptionOptions extends XceptionBuildOptions, WeightsDownloadOptions {
  weights?: WeightsOption;
}

/** InceptionV3 without top, randomly initialised like Keras (`InceptionV3(include_top=False, weights=None)`). */
export function buildInceptionV3(options: InceptionV3BuildOptions = {}): LayersModel {
  return inceptionV3Graph(options, null);
}

/** Xception without top, randomly initialised like Keras (`Xception(include_top=False, weights=None)`). */
export function buildXception(options: XceptionBuildOptions = {}): LayersModel {
  return xceptionGraph(options, null);
}

/** InceptionV3 without top, with Keras's ImageNet weights by default (`InceptionV3(include_top=False, ...)`). */
export async function inceptionV3(options: InceptionV3Options = {}): Promise<LayersModel> {
  const weights = checkWeights(options.weights);
  return withWeights(inceptionV3Graph(options, weights), "inception_v3", weights, options);
}

/** Xception without top, with Keras's ImageNet weights by default (`Xception(include_top=False, ...)`). */
export async function xception(options: XceptionOptions = {}): Promise<LayersModel> {
  const weights = checkWeights(options.weights);
  return withWeights(xceptionGraph(options, weights), "xception", weights, options);
}

/** Keras's check of the `weights` argument, with what to pass instead. */
function checkWeights(weights: WeightsOption | undefined): WeightsOption {
  const w = weights === undefined ? "imagenet" : weights;
  if (w === "imagenet" || w === null) return w;
  if (typeof w === "string" && fs.existsSync(w) && fs.statSync(w).isFile()) return w;
  throw new Error(
    "The `weights` argument should be either `None` (random initialization), `imagenet` (pre-training on ImageNet), " +
      `or the path to the weights file to be loaded; Received: weights=${JSON.stringify(w)}. ` +
      (typeof w === "string"
        ? `No file exists at that path: pass "imagenet", null, or the path of an existing Keras .h5 file.`
        : ""),
  );
}

async function withWeights(
  model: LayersModel,
  name: KerasApplicationName,
  weights: WeightsOption,
  download: WeightsDownloadOptions,
): Promise<LayersModel> {
  if (weights === null) return model;
  try {
    const file = weights === "imagenet" ? await imagenetWeights(name, { onProgress: download.onProgress }) : weights;
    await loadKerasWeights(model, file);
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}
