/**
 * Reading Keras's legacy HDF5 weight files (Keras 1/2, and Keras 3's
 * `keras/src/legacy/saving/legacy_h5_format.py`): root attributes `layer_names`
 * (every layer, in `model.layers` order; split into `layer_names0`,
 * `layer_names1`, … when over 64 KB), `backend` and `keras_version`; a group
 * per layer with an attribute `weight_names`; each weight a dataset at
 * `<layer>/<weight name>` (e.g. `conv2d_1/conv2d_1/kernel:0`). A whole-model
 * file keeps the same under the group `model_weights`.
 *
 * A file that is not HDF5, is truncated, or is not a Keras weight file gets an
 * error that says so (and what to do), before the HDF5 library sees it.
 */
import * as fs from "node:fs";
import type * as H5 from "h5wasm";
import { MessageError } from "../../util/errors";
import { describeError, h5wasm, withH5Errors, type H5Module } from "./h5wasm";

/** An error about a weight file or its fit to a model; its stack is the message alone. */
export class KerasWeightsError extends MessageError {
  declare readonly file: string;
  constructor(file: string, message: string) {
    super("KerasWeightsError", message, { file });
  }
}

interface KerasWeight {
  /** The name in the file, e.g. "conv2d_1/kernel:0". */
  name: string;
  shape: number[];
  values: Float32Array;
}

interface KerasLayerWeights {
  /** The layer's name in the file. */
  name: string;
  /** In the file's order (Keras's legacy order: trainable weights, then the others). */
  weights: KerasWeight[];
}

export interface KerasWeightFile {
  file: string;
  /** The `keras_version` attribute ("1" when absent, as Keras assumes). */
  kerasVersion: string;
  backend?: string;
  /** Every layer in the file, in order, with or without weights. */
  layers: KerasLayerWeights[];
  /** The layers that have weights, in order: what Keras matches with the model's layers. */
  weightedLayers: KerasLayerWeights[];
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

function readUint(buf: Buffer, off: number, size: number): number | undefined {
  if (off + size > buf.length) return undefined;
  let v = 0n;
  let allOnes = true;
  for (let i = size - 1; i >= 0; i--) {
    const b = buf[off + i];
    if (b !== 0xff) allOnes = false;
    v = (v << 8n) | BigInt(b);
  }
  return allOnes ? undefined : Number(v);
}

/**
 * Checks the HDF5 signature and, from the superblock, that the file is as long
 * as HDF5 says; throws a clear error otherwise.
 */
function checkHdf5File(file: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new KerasWeightsError(file, `No weight file at ${file}.`);
  }
  if (!st.isFile()) throw new KerasWeightsError(file, `${file} is not a file.`);
  const size = st.size;
  const fd = fs.openSync(file, "r");
  try {
    const read = (pos: number, len: number): Buffer => {
      const b = Buffer.alloc(Math.max(0, Math.min(len, size - pos)));
      if (b.length > 0) fs.readSync(fd, b, 0, b.length, pos);
      return b;
    };
    // The superblock is at 0, or after a user block of 512, 1024, 2048, … bytes.
    let sbOffset = -1;
    for (let off = 0; off + 8 <= size; off = off === 0 ? 512 : off * 2) {
      if (read(off, 8).equals(HDF5_SIGNATURE)) {
        sbOffset = off;
        break;
      }
    }
    if (sbOffset < 0) {
      const head = read(0, 64).toString("latin1");
      const looksHtml = /<!doctype html|<html/i.test(head);
      throw new KerasWeightsError(
        file,
        `${file} is not an HDF5 file (${size} bytes, no HDF5 signature)` +
          (looksHtml ? "; it looks like an HTML page, e.g. a saved error page instead of the weights." : ".") +
          " Delete it and download the weights again.",
      );
    }
    const sb = read(sbOffset, 128);
    const version = sb[8];
    let sizeOfOffsets: number;
    let addrPos: number;
    if (version === 0 || version === 1) {
      sizeOfOffsets = sb[13];
      addrPos = version === 0 ? 24 : 28;
    } else if (version === 2 || version === 3) {
      sizeOfOffsets = sb[9];
      addrPos = 12;
    } else {
      return; // An unknown superblock version: let the HDF5 library judge.
    }
    if (![2, 4, 8].includes(sizeOfOffsets)) return;
    const baseAddress = readUint(sb, addrPos, sizeOfOffsets) ?? 0;
    // Base address, then (free-space or extension address), then end-of-file address.
    const eof = readUint(sb, addrPos + 2 * sizeOfOffsets, sizeOfOffsets);
    if (eof !== undefined && baseAddress + eof > size) {
      throw new KerasWeightsError(
        file,
        `${file} is truncated: it has ${size} bytes, its HDF5 header says ${baseAddress + eof}. ` +
          "An interrupted download or copy? Delete it and download the weights again.",
      );
    }
  } finally {
    fs.closeSync(fd);
  }
}

function asStringList(v: unknown): string[] {
  if (v === null || v === undefined) return [];
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.map((x) => (x instanceof Uint8Array ? Buffer.from(x).toString("utf8") : String(x)));
  if (ArrayBuffer.isView(v) && (v as Uint8Array).length === 0) return [];
  return [String(v as string | number)];
}

/** An attribute that Keras may have split into `name0`, `name1`, … (each under 64 KB). */
function readSplitStringAttr(obj: H5.Group, name: string): string[] | undefined {
  const attrs = obj.attrs;
  if (name in attrs) return asStringList(attrs[name].value);
  if (!(`${name}0` in attrs)) return undefined;
  const out: string[] = [];
  for (let i = 0; `${name}${i}` in attrs; i++) out.push(...asStringList(attrs[`${name}${i}`].value));
  return out;
}

function scalarStringAttr(obj: H5.Group, name: string): string | undefined {
  if (!(name in obj.attrs)) return undefined;
  const v = obj.attrs[name].value;
  if (typeof v === "string") return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8");
  const list = asStringList(v);
  return list.length === 1 ? list[0] : undefined;
}

function toFloat32(v: unknown, file: string, where: string): Float32Array {
  if (v instanceof Float32Array) return v;
  if (
    v instanceof Float64Array ||
    v instanceof Int8Array ||
    v instanceof Uint8Array ||
    v instanceof Int16Array ||
    v instanceof Uint16Array ||
    v instanceof Int32Array ||
    v instanceof Uint32Array
  ) {
    return Float32Array.from(v as ArrayLike<number>);
  }
  if (typeof v === "number") return Float32Array.of(v);
  throw new KerasWeightsError(file, `${file}: the dataset ${where} is not numeric (or of an unsupported type).`);
}

/**
 * Reads a legacy Keras HDF5 weight file (what `model.save_weights("x.h5")` of
 * Keras 1/2 and the `keras.applications` downloads are; a whole-model `.h5` is
 * read from its `model_weights` group). Layers come in the file's order.
 */
export async function readKerasH5(file: string): Promise<KerasWeightFile> {
  checkHdf5File(file);
  const h5 = await h5wasm();
  return withH5Errors(h5, () => readOpenedFile(h5, file));
}

function readOpenedFile(h5: H5Module, file: string): KerasWeightFile {
  let f: H5.File;
  try {
    f = new h5.File(file, "r");
  } catch (e) {
    throw new KerasWeightsError(file, `${file} could not be opened as HDF5: ${describeError(e)}`);
  }
  try {
    if (!f.file_id || f.file_id < 0n) throw new Error("the HDF5 library could not open it");
    let root: H5.Group = f;
    if (!("layer_names" in f.attrs) && !("layer_names0" in f.attrs)) {
      const mw = f.keys().includes("model_weights") ? f.get("model_weights") : null;
      if (mw instanceof h5.Group) root = mw;
    }
    const layerNames = readSplitStringAttr(root, "layer_names");
    if (!layerNames) {
      throw new KerasWeightsError(
        file,
        `${file} is an HDF5 file but not a Keras weight file: it has no "layer_names" attribute ` +
          `(a Keras 3 ".weights.h5" file has another layout, which this reader does not handle).`,
      );
    }
    const layers: KerasLayerWeights[] = [];
    for (const layerName of layerNames) {
      const g = root.get(layerName);
      if (!(g instanceof h5.Group)) {
        throw new KerasWeightsError(
          file,
          `${file} lists the layer "${layerName}" but has no group for it (a damaged file?).`,
        );
      }
      const weightNames = readSplitStringAttr(g, "weight_names") ?? [];
      const weights: KerasWeight[] = [];
      for (const wn of weightNames) {
        const ds = g.get(wn);
        if (!(ds instanceof h5.Dataset)) {
          throw new KerasWeightsError(
            file,
            `${file}: layer "${layerName}" lists the weight "${wn}" but has no such dataset.`,
          );
        }
        const shape = (ds.shape ?? []).map(Number);
        const values = toFloat32(ds.value, file, `${layerName}/${wn}`);
        const expected = shape.reduce((a, b) => a * b, 1);
        if (values.length !== expected) {
          throw new KerasWeightsError(
            file,
            `${file}: ${layerName}/${wn} has ${values.length} values for shape [${shape.join(", ")}].`,
          );
        }
        weights.push({ name: wn, shape, values });
      }
      layers.push({ name: layerName, weights });
    }
    return {
      file,
      kerasVersion: scalarStringAttr(root, "keras_version") ?? "1",
      backend: scalarStringAttr(root, "backend"),
      layers,
      weightedLayers: layers.filter((l) => l.weights.length > 0),
    };
  } catch (e) {
    if (e instanceof KerasWeightsError) throw e;
    throw new KerasWeightsError(file, `${file} could not be read as a Keras weight file: ${describeError(e)}`);
  } finally {
    try {
      f.close();
    } catch {
      /* already closed or never opened */
    }
  }
}
