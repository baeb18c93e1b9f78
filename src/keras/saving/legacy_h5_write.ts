/**
 * Writing Keras's legacy HDF5 weight files (the layout of the `keras.applications` weight files;
 * see ./legacy_h5_read.ts), which Python Keras's `model.load_weights(path)` loads into a model of the
 * same architecture. Written to a temporary name beside the file, read back, then renamed.
 */
import type * as TF from "@tensorflow/tfjs";
import type * as H5 from "h5wasm";
import { checkWritable, PathError, writeAtomically } from "../../util/files";
import { describeError, h5wasm, withH5Errors, type H5Module } from "./h5wasm";
import { groupAt } from "./h5_store";
import { KerasWeightsError, readKerasH5 } from "./legacy_h5_read";
import { kerasLegacyWeights, shortWeightName } from "./weight_order";

/** Keras's limit for one attribute (keras/src/legacy/saving/legacy_h5_format.py). */
const HDF5_OBJECT_HEADER_LIMIT = 64512;

/** The Keras version whose legacy layout the written files follow (their weights need no conversion). */
const WRITTEN_KERAS_VERSION = "2.15.0";

/**
 * Writes a list of strings as a fixed-length ASCII array attribute, split like
 * Keras into `name0`, `name1`, … when it would exceed 64 KB.
 */
function writeStringListAttr(obj: H5.Group, name: string, values: string[]): void {
  if (values.length === 0) {
    // What Keras writes for a layer without weights: an empty array.
    obj.create_attribute(name, new Float32Array(0), [0], "<f4");
    return;
  }
  const itemSize = Math.max(1, ...values.map((v) => Buffer.byteLength(v, "utf8")));
  if (itemSize > HDF5_OBJECT_HEADER_LIMIT)
    throw new Error(
      `The name "${values.find((v) => Buffer.byteLength(v) === itemSize)}" is too long for an HDF5 attribute.`,
    );
  const nonAscii = values.some((v) => /\P{ASCII}/u.test(v));
  const dtype = `${nonAscii ? "S" : "A"}${itemSize}`;
  // numpy.array_split: the first (n % k) chunks get one more item.
  let chunks = 1;
  const chunkBytes = (k: number) => Math.ceil(values.length / k) * itemSize;
  while (chunkBytes(chunks) > HDF5_OBJECT_HEADER_LIMIT) chunks++;
  if (chunks === 1) {
    obj.create_attribute(name, values, [values.length], dtype);
    return;
  }
  const base = Math.floor(values.length / chunks);
  const extra = values.length % chunks;
  let pos = 0;
  for (let c = 0; c < chunks; c++) {
    const n = base + (c < extra ? 1 : 0);
    const part = values.slice(pos, pos + n);
    pos += n;
    obj.create_attribute(`${name}${c}`, part, [part.length], dtype);
  }
}

function writeScalarStringAttr(obj: H5.Group, name: string, value: string): void {
  obj.create_attribute(name, value, null, `A${Math.max(1, Buffer.byteLength(value))}`);
}

type LayerToWrite = { name: string; weights: Array<{ name: string; shape: number[]; values: Float32Array }> };

function writeLayers(h5: H5Module, f: H5.File, layers: LayerToWrite[]): void {
  const names = layers.map((l) => l.name);
  writeStringListAttr(f, "layer_names", names);
  writeScalarStringAttr(f, "backend", "tensorflow");
  writeScalarStringAttr(f, "keras_version", WRITTEN_KERAS_VERSION);
  for (const layer of [...layers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const g = f.create_group(layer.name);
    writeStringListAttr(
      g,
      "weight_names",
      layer.weights.map((w) => w.name),
    );
    for (const w of layer.weights) {
      const slash = w.name.lastIndexOf("/");
      groupAt(g, h5, w.name.slice(0, Math.max(slash, 0))).create_dataset({
        name: w.name.slice(slash + 1),
        data: w.values,
        shape: w.shape,
        dtype: "<f4",
      });
    }
  }
}

/**
 * Saves the model's weights as a legacy Keras `.h5` file (the layout of the
 * `keras.applications` weight files), which Python Keras's
 * `model.load_weights(path)` loads into a model of the same architecture.
 * Weights are named `<layer>/<weight>:0` as Keras 2 named them. Whether `file`
 * can be written is tried first; the file is written to a temporary name in the
 * same folder, then renamed.
 */
export async function saveKerasWeights(model: TF.LayersModel, file: string): Promise<void> {
  // Tried first (the folders made, a probe written and removed): a path that cannot work fails before anything is read.
  try {
    checkWritable(file);
  } catch (e) {
    if (!(e instanceof PathError)) throw e;
    throw new KerasWeightsError(file, `Cannot save the weights to ${file}: ${e.reason}. Choose another path.`);
  }
  const h5 = await h5wasm();
  // Read the values first (async), then write synchronously.
  const layers: LayerToWrite[] = [];
  for (const layer of model.layers) {
    const owned = kerasLegacyWeights(layer);
    const used = new Set<string>();
    const weights: Array<{ name: string; shape: number[]; values: Float32Array }> = [];
    for (const w of owned) {
      let name = `${w.owner.name}/${shortWeightName(w.variable)}`;
      for (let i = 1; used.has(name); i++) name = `${w.owner.name}/${shortWeightName(w.variable)}_${i}`;
      used.add(name);
      const t = w.variable.read();
      const data = t.dtype === "float32" ? ((await t.data()) as Float32Array) : Float32Array.from(await t.data());
      weights.push({ name: `${name}:0`, shape: [...t.shape], values: data });
    }
    layers.push({ name: layer.name, weights });
  }
  const names = layers.map((l) => l.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`Two layers of the model are named "${dup}"; Keras weight files need unique layer names.`);
  try {
    await writeAtomically(file, "tmp", async (tmp) => {
      withH5Errors(h5, () => {
        const f = new h5.File(tmp, "w", { libver: ["earliest", "v110"] });
        try {
          writeLayers(h5, f, layers);
        } finally {
          f.close();
        }
      });
      // Check that everything landed (h5wasm can fail silently).
      const back = await readKerasH5(tmp);
      const lost = layers.find(
        (l, i) => back.layers[i]?.name !== l.name || back.layers[i].weights.length !== l.weights.length,
      );
      if (lost || back.layers.length !== layers.length)
        throw new Error(`the written file does not read back as written (layer "${lost?.name ?? "?"}")`);
    });
  } catch (e) {
    throw new KerasWeightsError(file, `Could not save the weights to ${file}: ${describeError(e)}`);
  }
}
