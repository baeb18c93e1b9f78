/**
 * The model side of Keras's legacy weight files: which variables a layer saves, in Keras's order
 * (`_legacy_weights`: trainable weights, then the others; a nested model as one layer), and loading
 * a file by that order, as Keras's `model.load_weights("x.h5")` does: by position, not by name.
 */
import type * as TF from "@tensorflow/tfjs";
import type { LayerVariable } from "@tensorflow/tfjs";
import { tf } from "../../tfjs/backend";
import { isContainer, ownWeights } from "../../tfjs/internals";
import { KerasWeightsError, readKerasH5, type KerasWeightFile } from "./legacy_h5_read";

type Layer = TF.layers.Layer;

export interface OwnedVariable {
  variable: LayerVariable;
  /** The (innermost) layer that owns it. */
  owner: Layer;
  /** Trainable, with every enclosing layer up to the weighted layer trainable too. */
  trainable: boolean;
}

function collectVariables(
  layer: Layer,
  enclosingTrainable: boolean,
  out: OwnedVariable[],
  seen: Set<LayerVariable>,
): void {
  const trainable = enclosingTrainable && layer.trainable;
  if (isContainer(layer)) {
    for (const sub of layer.layers) collectVariables(sub, trainable, out, seen);
    return;
  }
  for (const v of ownWeights(layer)) {
    if (seen.has(v)) continue;
    seen.add(v);
    out.push({ variable: v, owner: layer, trainable: trainable && v.trainable });
  }
}

/**
 * Every variable of a layer in Keras 3's order (`layer.variables`): a plain layer's own variables in
 * creation order (trainable list first), a nested model's layers in `model.layers` order, in place;
 * each with whether it trains (its layer and every enclosing layer trainable). Keras's
 * `model.trainable_variables`, which orders the optimizer's variables, is this list filtered on it.
 */
export function kerasVariables(layer: Layer): OwnedVariable[] {
  const all: OwnedVariable[] = [];
  collectVariables(layer, true, all, new Set());
  return all;
}

/**
 * A layer's weights in Keras's legacy h5 order (`_legacy_weights`: trainable
 * weights, then non-trainable ones). A nested model counts as one layer whose
 * weights are those of all its layers, in order (all trainable ones first
 * unless the nested model is frozen), as Keras saves and loads it.
 */
export function kerasLegacyWeights(layer: Layer): OwnedVariable[] {
  const all = kerasVariables(layer);
  if (!layer.trainable) return all;
  return [...all.filter((w) => w.trainable), ...all.filter((w) => !w.trainable)];
}

/** The model's layers that have weights, in `model.layers` order, with their weights in Keras's legacy order. */
export function kerasWeightedLayers(model: TF.LayersModel): Array<{ layer: Layer; weights: OwnedVariable[] }> {
  const out: Array<{ layer: Layer; weights: OwnedVariable[] }> = [];
  for (const layer of model.layers) {
    const weights = kerasLegacyWeights(layer);
    if (weights.length > 0) out.push({ layer, weights });
  }
  return out;
}

function shapeStr(s: ReadonlyArray<number | null>): string {
  return `[${s.join(", ")}]`;
}

/** "kernel" for a TF.js variable named "conv2d_1/kernel" (or "conv2d_1/kernel:0"). */
export function shortWeightName(v: LayerVariable): string {
  const n = v.originalName || v.name;
  return n.slice(n.lastIndexOf("/") + 1).replace(/:\d+$/, "");
}

export function sameShape(a: ReadonlyArray<number | null>, b: ReadonlyArray<number>): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Loads a legacy Keras `.h5` weight file into `model` exactly like Keras's
 * `model.load_weights("x.h5")` (topological loading): the layers that have
 * weights, in `model.layers` order, are paired by position with the file's
 * layers that have weights, whatever their names; the counts and every shape
 * must match. Everything is checked before anything is assigned. The model's
 * input size does not matter for convolutional weights, as in Keras.
 */
export async function loadKerasWeights(model: TF.LayersModel, file: string | KerasWeightFile): Promise<void> {
  const wf = typeof file === "string" ? await readKerasH5(file) : file;
  const fileName = wf.file;
  const modelLayers = kerasWeightedLayers(model);
  const fileLayers = wf.weightedLayers;
  if (modelLayers.length !== fileLayers.length) {
    const sample = (names: string[]) => (names.length > 3 ? `${names.slice(0, 3).join(", ")}, …` : names.join(", "));
    throw new KerasWeightsError(
      fileName,
      `Layer count mismatch: ${fileName} has ${fileLayers.length} layers with weights, the model "${model.name}" has ${modelLayers.length}; ` +
        `is it the weights of another model? (file: ${sample(fileLayers.map((l) => l.name))}; model: ${sample(modelLayers.map((l) => l.layer.name))})`,
    );
  }
  for (let k = 0; k < modelLayers.length; k++) {
    const { layer, weights } = modelLayers[k];
    const fl = fileLayers[k];
    const where = `layer #${k} with weights (model: "${layer.name}", file: "${fl.name}")`;
    if (weights.length !== fl.weights.length) {
      throw new KerasWeightsError(
        fileName,
        `Weight count mismatch in ${where}: the model's layer has ${weights.length} weights ` +
          `${weights.map((w) => shapeStr(w.variable.shape)).join(" ")}, the file's has ${fl.weights.length} ` +
          `${fl.weights.map((w) => shapeStr(w.shape)).join(" ")}. Is ${fileName} the weights of another model?`,
      );
    }
    for (let i = 0; i < weights.length; i++) {
      const v = weights[i].variable;
      const fw = fl.weights[i];
      if (!sameShape(v.shape, fw.shape)) {
        throw new KerasWeightsError(
          fileName,
          `Shape mismatch in ${where}, weight ${i} ("${v.originalName ?? v.name}" vs "${fw.name}"): ` +
            `the model expects ${shapeStr(v.shape)}, the file has ${shapeStr(fw.shape)}. Is ${fileName} the weights of another model?`,
        );
      }
    }
  }
  // Everything fits: assign.
  for (let k = 0; k < modelLayers.length; k++) {
    const { weights } = modelLayers[k];
    const fl = fileLayers[k];
    for (let i = 0; i < weights.length; i++) {
      const v = weights[i].variable;
      const fw = fl.weights[i];
      const t = tf.tensor(fw.values, fw.shape, "float32");
      try {
        v.write(t);
      } finally {
        t.dispose();
      }
    }
  }
}
