/**
 * Keras weight files: the ImageNet weights of Keras's applications, and the
 * legacy Keras HDF5 weight layout, read and written.
 *
 * - `kerasCacheDir()`: Keras's cache folder (`$KERAS_HOME`, else `~/.keras`,
 *   else `/tmp/.keras`), so files a Python Keras already downloaded are reused.
 * - `imagenetWeights(name)`: the path of Keras's "notop" ImageNet weights for
 *   InceptionV3 or Xception, from the cache (`<cache>/models/`, Keras's file
 *   names) or downloaded from Keras's URL with its md5 checked.
 * - `readKerasH5(file)`: the layers of a legacy Keras `.h5` weight file, in
 *   order, with their weights.
 * - `loadKerasWeights(model, file)`: assigns them like Keras's legacy
 *   `model.load_weights("x.h5")`: by position, not by name.
 * - `saveKerasWeights(model, file)`: writes a legacy `.h5` that Python
 *   Keras's `model.load_weights()` reads into a model of the same architecture.
 *
 * The legacy layout (Keras 1/2, and Keras 3's `legacy_h5_format`): root
 * attributes `layer_names` (every layer, in `model.layers` order; split into
 * `layer_names0`, `layer_names1`, … when over 64 KB), `backend` and
 * `keras_version`; a group per layer with an attribute `weight_names`; each
 * weight a dataset at `<layer>/<weight name>` (e.g. `conv2d_1/conv2d_1/kernel:0`).
 * A whole-model file keeps the same under the group `model_weights`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type * as TF from "@tensorflow/tfjs";
import type { LayerVariable } from "@tensorflow/tfjs";
import type * as H5 from "h5wasm";
import { tf } from "../engine/backend";
import { DownloadError, ProgressCallback, cachedFile } from "./download";
import { downloadProgress } from "../notebook/progress";

// ---------------------------------------------------------------------------
// Keras's cache and the ImageNet weights
// ---------------------------------------------------------------------------

export type KerasApplicationName = "inception_v3" | "xception";

interface WeightsSpec {
  fileName: string;
  md5: string;
  /** Keras's download folder for the file (the URL minus the file name). */
  baseUrl: string;
}

/** Keras's "notop" ImageNet weights (keras/src/applications/*.py: WEIGHTS_PATH_NO_TOP and file_hash). */
export const IMAGENET_WEIGHTS: Readonly<Record<KerasApplicationName, Readonly<WeightsSpec>>> = {
  inception_v3: {
    fileName: "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5: "bcbd6486424b2319ff4ef7d526e38f63",
    baseUrl: "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/",
  },
  xception: {
    fileName: "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5: "b0042744bf5b25fce3cb969f33bebb97",
    baseUrl: "https://storage.googleapis.com/tensorflow/keras-applications/xception/",
  },
};

/** Environment variable that replaces Keras's download folder (e.g. a local mirror): the file name is appended. */
export const WEIGHTS_BASE_URL_ENV = "KT_WEIGHTS_BASE_URL";

function expandUser(p: string): string {
  if (p === "~") return os.homedir();
  if (p.startsWith("~/")) return path.join(os.homedir(), p.slice(2));
  return p;
}

function isWritable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function nearestExistingWritable(dir: string): boolean {
  let cur = path.resolve(dir);
  for (;;) {
    if (fs.existsSync(cur)) {
      try {
        return fs.statSync(cur).isDirectory() && isWritable(cur);
      } catch {
        return false;
      }
    }
    const up = path.dirname(cur);
    if (up === cur) return false;
    cur = up;
  }
}

function tmpKerasDir(): string {
  let isDir = false;
  try {
    isDir = fs.statSync("/tmp").isDirectory();
  } catch {
    isDir = false;
  }
  return path.join(isDir ? "/tmp" : os.tmpdir(), ".keras");
}

/** Keras's home before the writability fallback of `get_file`: `$KERAS_HOME`, else `~/.keras` (or `/tmp/.keras` when `~` is not writable). */
function kerasHome(): string {
  const env = process.env.KERAS_HOME;
  if (env !== undefined) return expandUser(env);
  const home = os.homedir();
  return isWritable(home) ? path.join(home, ".keras") : path.join("/tmp", ".keras");
}

/**
 * Keras's cache folder, by Keras's rule: `$KERAS_HOME` if set, else `~/.keras`
 * (`/tmp/.keras` when the home folder is not writable); and, like Keras's
 * `get_file`, `/tmp/.keras` when that folder is not writable. (Keras creates
 * its folder when it is imported; here a folder that does not exist yet
 * counts as writable when its nearest existing parent is.)
 */
export function kerasCacheDir(): string {
  const base = kerasHome();
  return base !== "" && nearestExistingWritable(base) ? base : tmpKerasDir();
}

export interface ImagenetWeightsOptions {
  /** Folder holding `models/` (default: `kerasCacheDir()`, the same as Python Keras). */
  cacheDir?: string;
  /** Download folder instead of Keras's (the file name is appended); also `$KT_WEIGHTS_BASE_URL`. */
  baseUrl?: string;
  /** Download progress (default: a line per 10 %); `false`: silent. */
  onProgress?: ProgressCallback | false;
  /** Messages ("Downloading data from …"); default console.log. */
  log?: (message: string) => void;
}

/**
 * The path of Keras's ImageNet "notop" weights for `name`: the copy in Keras's
 * cache (`<cache>/models/<Keras's file name>`) when its md5 is right, else a
 * fresh download from Keras's URL (md5 checked, written atomically). A cached
 * copy with a wrong md5 is downloaded again. Offline with no cached copy, the
 * error says which file to put where, and its URL.
 */
export async function imagenetWeights(name: KerasApplicationName, options: ImagenetWeightsOptions = {}): Promise<string> {
  const spec = IMAGENET_WEIGHTS[name];
  if (!spec) throw new Error(`Unknown Keras application "${String(name)}"; expected one of ${Object.keys(IMAGENET_WEIGHTS).join(", ")}.`);
  let base = options.baseUrl ?? process.env[WEIGHTS_BASE_URL_ENV] ?? spec.baseUrl;
  if (!base.endsWith("/")) base += "/";
  const url = base + spec.fileName;
  const dirs: string[] = [];
  if (options.cacheDir !== undefined) {
    dirs.push(path.join(options.cacheDir, "models"));
  } else {
    // Where Keras downloads to, then where it would have read from if that differs (e.g. a read-only ~/.keras).
    dirs.push(path.join(kerasCacheDir(), "models"));
    const home = path.join(kerasHome(), "models");
    if (!dirs.includes(home)) dirs.push(home);
  }
  try {
    return await cachedFile({
      fileName: spec.fileName,
      url,
      hash: spec.md5,
      hashAlgorithm: "md5",
      cacheDirs: dirs,
      onProgress: options.onProgress ?? downloadProgress(spec.fileName),
      log: options.log,
    });
  } catch (e) {
    if (e instanceof DownloadError && (e.kind === "network" || e.kind === "http" || e.kind === "io")) {
      const msg =
        `No valid copy of the ImageNet weights of ${name} is in Keras's cache, and they could not be downloaded.\n` +
        `  ${e.message}\n` +
        `Put the file ${spec.fileName} (${url}, md5 ${spec.md5}) in ${dirs[0]}` +
        ` — the folder Python Keras uses too ($KERAS_HOME/models or ~/.keras/models).`;
      throw new DownloadError(e.kind, e.url, e.dest, msg, e.status);
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------
// h5wasm (an ES module; this project compiles to CommonJS)
// ---------------------------------------------------------------------------

type H5Module = typeof H5;
let h5Loading: Promise<H5Module> | undefined;

function h5wasmEntry(): string {
  // h5wasm's package.json exports "./node" for `import` only, so `require("h5wasm/node")`
  // fails; find the package folder along the usual node_modules paths instead.
  const dirs = [...(require.resolve.paths("h5wasm") ?? [])];
  for (let d = __dirname; ; d = path.dirname(d)) {
    dirs.push(path.join(d, "node_modules"));
    if (path.dirname(d) === d) break;
  }
  for (const d of dirs) {
    const entry = path.join(d, "h5wasm", "dist", "node", "hdf5_hl.js");
    if (fs.existsSync(entry)) return entry;
  }
  throw new Error('The npm package "h5wasm" is not installed (npm install h5wasm).');
}

/** Loads h5wasm once: `require()` of its ES module (Node >= 20.19), else a real dynamic `import()`. */
export function h5wasm(): Promise<H5Module> {
  if (!h5Loading) {
    h5Loading = (async () => {
      const entry = h5wasmEntry();
      let mod: H5Module;
      try {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        mod = require(entry) as H5Module;
      } catch {
        // A `Function` keeps `import()` from being rewritten into `require()` by CommonJS compilers.
        const dynamicImport = new Function("u", "return import(u)") as (u: string) => Promise<H5Module>;
        mod = await dynamicImport(pathToFileURL(entry).href);
      }
      await mod.ready;
      return mod;
    })();
    h5Loading.catch(() => {
      h5Loading = undefined;
    });
  }
  return h5Loading;
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/** An error about a weight file or its fit to a model; its stack is the message alone. */
export class KerasWeightsError extends Error {
  declare readonly file: string;
  constructor(file: string, message: string) {
    super(message);
    this.name = "KerasWeightsError";
    // Not enumerable: a notebook prints the message alone.
    Object.defineProperty(this, "file", { value: file, enumerable: false });
    this.stack = `${this.name}: ${message}`;
  }
}

export interface KerasWeight {
  /** The name in the file, e.g. "conv2d_1/kernel:0". */
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface KerasLayerWeights {
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
  return [String(v)];
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
  if (v instanceof Float64Array || v instanceof Int8Array || v instanceof Uint8Array || v instanceof Int16Array ||
      v instanceof Uint16Array || v instanceof Int32Array || v instanceof Uint32Array) {
    return Float32Array.from(v as ArrayLike<number>);
  }
  if (typeof v === "number") return Float32Array.of(v);
  throw new KerasWeightsError(file, `${file}: the dataset ${where} is not numeric (or of an unsupported type).`);
}

/** A one-line reason from an error, shortening HDF5's error stacks to their innermost message. */
function describeError(e: unknown): string {
  const text = e instanceof Error ? e.message : typeof e === "string" ? e : String((e as { message?: unknown })?.message ?? e);
  const frames = [...text.matchAll(/#\d+: .*? in [\w.]+\(\): (.*)$/gm)];
  if (frames.length > 0) return `HDF5 error: ${frames[frames.length - 1][1].trim()}`;
  return text.split("\n")[0];
}

let throwingDepth = 0;

/** Runs `fn` with HDF5 errors thrown as exceptions (not printed to stderr and ignored). */
function withH5Errors<T>(h5: H5Module, fn: () => T): T {
  if (throwingDepth++ === 0) h5.Module.activate_throwing_error_handler();
  try {
    return fn();
  } finally {
    if (--throwingDepth === 0) h5.Module.deactivate_throwing_error_handler();
  }
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
        throw new KerasWeightsError(file, `${file} lists the layer "${layerName}" but has no group for it (a damaged file?).`);
      }
      const weightNames = readSplitStringAttr(g, "weight_names") ?? [];
      const weights: KerasWeight[] = [];
      for (const wn of weightNames) {
        const ds = g.get(wn);
        if (!(ds instanceof h5.Dataset)) {
          throw new KerasWeightsError(file, `${file}: layer "${layerName}" lists the weight "${wn}" but has no such dataset.`);
        }
        const shape = (ds.shape ?? []).map(Number);
        const values = toFloat32(ds.value, file, `${layerName}/${wn}`);
        const expected = shape.reduce((a, b) => a * b, 1);
        if (values.length !== expected) {
          throw new KerasWeightsError(file, `${file}: ${layerName}/${wn} has ${values.length} values for shape [${shape.join(", ")}].`);
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

// ---------------------------------------------------------------------------
// The model side: Keras's legacy weight order
// ---------------------------------------------------------------------------

type Layer = TF.layers.Layer;

interface OwnedVariable {
  variable: LayerVariable;
  /** The (innermost) layer that owns it. */
  owner: Layer;
  /** Trainable, with every enclosing layer up to the weighted layer trainable too. */
  trainable: boolean;
}

function isContainer(layer: Layer): layer is TF.LayersModel {
  return Array.isArray((layer as unknown as { layers?: unknown }).layers);
}

/** A plain layer's weights in creation order (trainable list first), whatever its trainable state. */
function ownWeights(layer: Layer): LayerVariable[] {
  const l = layer as unknown as { _trainableWeights?: LayerVariable[]; _nonTrainableWeights?: LayerVariable[] };
  if (Array.isArray(l._trainableWeights) && Array.isArray(l._nonTrainableWeights)) {
    return [...l._trainableWeights, ...l._nonTrainableWeights];
  }
  return layer.weights;
}

function collectVariables(layer: Layer, enclosingTrainable: boolean, out: OwnedVariable[], seen: Set<LayerVariable>): void {
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
 * A layer's weights in Keras's legacy h5 order (`_legacy_weights`: trainable
 * weights, then non-trainable ones). A nested model counts as one layer whose
 * weights are those of all its layers, in order (all trainable ones first
 * unless the nested model is frozen), as Keras saves and loads it.
 */
export function kerasLegacyWeights(layer: Layer): OwnedVariable[] {
  const all: OwnedVariable[] = [];
  collectVariables(layer, true, all, new Set());
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

function sameShape(a: ReadonlyArray<number | null>, b: ReadonlyArray<number>): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** "kernel" for a TF.js variable originally named "conv2d_1/kernel". */
function shortWeightName(v: LayerVariable): string {
  const n = v.originalName || v.name;
  return n.slice(n.lastIndexOf("/") + 1).replace(/:\d+$/, "");
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

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/** Keras's limit for one attribute (keras/src/legacy/saving/legacy_h5_format.py). */
const HDF5_OBJECT_HEADER_LIMIT = 64512;

/** The Keras version whose legacy layout the written files follow (their weights need no conversion). */
export const WRITTEN_KERAS_VERSION = "2.15.0";

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
  if (itemSize > HDF5_OBJECT_HEADER_LIMIT) throw new Error(`The name "${values.find((v) => Buffer.byteLength(v) === itemSize)}" is too long for an HDF5 attribute.`);
  const nonAscii = values.some((v) => /[^\x00-\x7f]/.test(v));
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

function writeLayers(f: H5.File, layers: LayerToWrite[]): void {
  const names = layers.map((l) => l.name);
  writeStringListAttr(f, "layer_names", names);
  writeScalarStringAttr(f, "backend", "tensorflow");
  writeScalarStringAttr(f, "keras_version", WRITTEN_KERAS_VERSION);
  for (const layer of [...layers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const g = f.create_group(layer.name);
    writeStringListAttr(g, "weight_names", layer.weights.map((w) => w.name));
    const made = new Set<string>();
    for (const w of layer.weights) {
      // h5wasm does not create intermediate groups.
      const parts = w.name.split("/");
      for (let i = 1; i < parts.length; i++) {
        const sub = parts.slice(0, i).join("/");
        if (!made.has(sub)) {
          g.create_group(sub);
          made.add(sub);
        }
      }
      g.create_dataset({ name: w.name, data: w.values, shape: w.shape, dtype: "<f4" });
    }
  }
}

/**
 * Saves the model's weights as a legacy Keras `.h5` file (the layout of the
 * `keras.applications` weight files), which Python Keras's
 * `model.load_weights(path)` loads into a model of the same architecture.
 * Weights are named `<layer>/<weight>:0` as Keras 2 named them. The file is
 * written to a temporary name in the same folder, then renamed.
 */
export async function saveKerasWeights(model: TF.LayersModel, file: string): Promise<void> {
  const h5 = await h5wasm();
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
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
    withH5Errors(h5, () => {
      const f = new h5.File(tmp, "w", { libver: ["earliest", "v110"] });
      try {
        writeLayers(f, layers);
      } finally {
        f.close();
      }
    });
    // Check that everything landed (h5wasm can fail silently).
    const back = await readKerasH5(tmp);
    const lost = layers.find((l, i) => back.layers[i]?.name !== l.name || back.layers[i].weights.length !== l.weights.length);
    if (lost || back.layers.length !== layers.length) throw new Error(`the written file does not read back as written (layer "${lost?.name ?? "?"}")`);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new KerasWeightsError(file, `Could not save the weights to ${file}: ${describeError(e)}`);
  }
}
