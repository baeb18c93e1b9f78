/**
 * A TF.js LayersModel written for the web: the folder `tf.loadLayersModel(url + "/model.json")`
 * loads, as TF.js's own `model.save` and TensorFlow.js's converter write it.
 *
 *   model.json              { modelTopology, format: "layers-model", generatedBy, convertedBy,
 *                             weightsManifest: [{ paths, weights: [{ name, shape, dtype,
 *                             quantization? }] }], userDefinedMetadata? }
 *   group1-shard1of5.bin …  the weights' bytes, in the manifest's order, cut into shards of 4 MiB
 *                           (the converter's `write_weights`, whose default is 4 MiB: "the max file
 *                           size for caching for all major browsers"); the last one shorter
 *
 * - `checkExportOptions`   the options, checked before anything is computed
 * - `checkExportFolder`    the folder: new, empty, or an earlier export (replaced); never a folder
 *                          holding anything else, and its parent writable
 * - `layersModelArtifacts` the topology and weights exactly as TF.js's `model.save` makes them
 *                          (through `tf.io.withSaveHandler`), so names and order are TF.js's own
 * - `packWeights`          each float32 weight quantized (./tfjs_quantization.ts) or kept, the
 *                          bytes concatenated, the manifest entries
 * - `shardSizes`           where the bytes are cut
 * - `exportLayersModel`    all of it, written into a temporary folder beside the target, which
 *                          then takes its place (../../util/files.ts `writeFolderAtomically`)
 *
 * Custom layers (this project's `KerasBatchNormalization`, `UpSampling3D`) are written under their
 * registered class names; a page registers the same classes (../layers.ts, bundled for the browser)
 * before loading.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../../tfjs/backend";
import { MessageError } from "../../util/errors";
import { writableFolder, writeFolderAtomically } from "../../util/files";
import { formatBytes } from "../../util/format";
import {
  QUANTIZATION_DTYPES,
  quantizeWeight,
  type ManifestQuantization,
  type QuantizationDtype,
} from "./tfjs_quantization";

/** `false`: the weights as they are (float32); otherwise the type they are quantized to. */
export type TfjsQuantization = false | QuantizationDtype;

export interface TfjsExportOptions {
  /** `false` (default): float32; "float16": half the size; "uint8": a quarter; "uint16": half (affine). */
  quantize?: TfjsQuantization;
  /** Bytes per weight shard (default 4 MiB, the converter's). */
  shardBytes?: number;
  /** Written as model.json's `userDefinedMetadata` (TF.js: `model.getUserDefinedMetadata()`). */
  metadata?: Record<string, unknown>;
  /** model.json's `convertedBy` (TF.js's `model.save` writes null). */
  convertedBy?: string | null;
}

/** What `exportLayersModel` wrote. */
export interface TfjsExport {
  /** The folder (absolute). */
  dir: string;
  /** Its model.json, to give `tf.loadLayersModel` (as a URL where it is served). */
  modelJson: string;
  quantize: TfjsQuantization;
  /** model.json and the shards, in that order, with their sizes. */
  files: Array<{ name: string; bytes: number }>;
  /** The shards' bytes together. */
  weightBytes: number;
  /** Every file's bytes together. */
  bytes: number;
  /** `bytes` for people: "22.5 MB". */
  size: string;
  /** Number of weight tensors, and of values in them. */
  weights: number;
  parameters: number;
  seconds: number;
}

/** Any export that cannot be done: what was wrong, and what to do. Nothing is left half-written. */
export class TfjsExportError extends MessageError {
  declare readonly dir: string;
  constructor(dir: string, message: string) {
    super("TfjsExportError", message, { dir });
  }
}

/** The converter's shard size: 4 MiB. */
export const SHARD_BYTES = 4 * 1024 * 1024;
const MODEL_JSON = "model.json";
/** A shard's name, as the converter writes it: group1-shard3of22.bin. */
const SHARD_NAME = /^group\d+-shard\d+of\d+\.bin$/;

/** The options with their defaults, checked: a clear error for an unknown quantization or shard size. */
export function checkExportOptions(
  dir: string,
  options: TfjsExportOptions,
): Required<Pick<TfjsExportOptions, "quantize" | "shardBytes">> {
  if (options === null || typeof options !== "object") {
    throw new TfjsExportError(
      String(dir),
      `exportTfjs: the options must be an object such as { quantize: "float16" }, got ${JSON.stringify(options)}.`,
    );
  }
  const quantize = options.quantize ?? false;
  if (quantize !== false && !QUANTIZATION_DTYPES.includes(quantize)) {
    throw new TfjsExportError(
      String(dir),
      `exportTfjs: unknown quantization ${JSON.stringify(quantize)}: use false (float32 weights), ` +
        `"float16" (half the size), "uint8" (a quarter) or "uint16". Nothing was written.`,
    );
  }
  const shardBytes = options.shardBytes ?? SHARD_BYTES;
  if (!Number.isInteger(shardBytes) || shardBytes < 1) {
    throw new TfjsExportError(
      String(dir),
      `exportTfjs: shardBytes must be a whole number of bytes ≥ 1 (default 4 MiB), got ${shardBytes}. ` +
        `Nothing was written.`,
    );
  }
  return { quantize, shardBytes };
}

/**
 * Throws unless `dir` can take an export: a path whose parent can be written to, and which is free,
 * an empty folder, or an earlier export (model.json and shards only, replaced as a whole).
 */
function checkExportFolder(dir: string): void {
  if (typeof dir !== "string" || dir.trim() === "") {
    throw new TfjsExportError(
      String(dir),
      `exportTfjs: give the folder to write to, e.g. "out/web-models/inception_v3-float16".`,
    );
  }
  const target = path.resolve(dir);
  if (fs.existsSync(target)) {
    if (!fs.statSync(target).isDirectory()) {
      throw new TfjsExportError(
        dir,
        `Cannot export the model to ${dir}: a file is in the way (a TF.js model is a folder). ` +
          `Choose another path. Nothing was written.`,
      );
    }
    const others = fs.readdirSync(target).filter((f) => f !== MODEL_JSON && !SHARD_NAME.test(f));
    if (others.length > 0) {
      throw new TfjsExportError(
        dir,
        `Cannot export the model to ${dir}: the folder holds other files than an earlier export ` +
          `(${others.slice(0, 3).join(", ")}${others.length > 3 ? ", …" : ""}), which replacing it would delete. ` +
          `Choose a new or empty folder. Nothing was written.`,
      );
    }
  }
  const parent = path.dirname(target);
  if (!writableFolder(parent)) {
    throw new TfjsExportError(
      dir,
      `Cannot export the model to ${dir}: the folder ${parent} cannot be written to (or a file is in the way). ` +
        `Choose another path. Nothing was written.`,
    );
  }
}

/** The topology and the weights (specs and bytes) of `model`, as TF.js's `model.save` hands them to a save handler. */
export async function layersModelArtifacts(
  model: TF.LayersModel,
): Promise<TF.io.ModelArtifacts & { weightSpecs: TF.io.WeightsManifestEntry[]; weightData: ArrayBuffer }> {
  let captured: TF.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler((artifacts) => {
      captured = artifacts;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } });
    }),
  );
  if (!captured || !captured.weightSpecs || captured.weightData === undefined)
    throw new Error("TF.js's model.save handed over no weights");
  const data = captured.weightData;
  const weightData = Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
  return { ...captured, weightSpecs: captured.weightSpecs, weightData };
}

/** A weight's entry in model.json's manifest. */
interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: ManifestQuantization;
}

/**
 * The weights' bytes for the shards and their manifest entries: float32 weights quantized to
 * `quantize` (when given), every other weight as it is, in the order of `specs`.
 */
function packWeights(
  specs: TF.io.WeightsManifestEntry[],
  data: ArrayBuffer,
  quantize: TfjsQuantization,
): { bytes: Uint8Array; weights: ManifestWeight[]; parameters: number } {
  const parts: Uint8Array[] = [];
  const weights: ManifestWeight[] = [];
  let offset = 0;
  let parameters = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytesPer = spec.dtype === "float32" || spec.dtype === "int32" ? 4 : spec.dtype === "bool" ? 1 : NaN;
    if (Number.isNaN(bytesPer) || spec.quantization)
      throw new Error(
        `The weight ${spec.name} has dtype ${spec.dtype}${spec.quantization ? " and is quantized" : ""}, ` +
          `which this export does not handle.`,
      );
    const raw = new Uint8Array(data, offset, count * bytesPer);
    offset += count * bytesPer;
    parameters += count;
    const entry: ManifestWeight = { name: spec.name, shape: [...spec.shape], dtype: spec.dtype };
    if (quantize !== false && spec.dtype === "float32") {
      // A copy: the slice of `data` need not be 4-byte aligned for a Float32Array view.
      const values = new Float32Array(raw.slice().buffer);
      const q = quantizeWeight(values, quantize, spec.name);
      parts.push(q.bytes);
      entry.quantization = q.quantization;
    } else {
      parts.push(raw);
    }
    weights.push(entry);
  }
  if (offset !== data.byteLength)
    throw new Error(`The weights' specs cover ${offset} bytes but TF.js handed over ${data.byteLength}.`);
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.byteLength;
  }
  return { bytes, weights, parameters };
}

/** The sizes of the shards `total` bytes are cut into: full ones of `shardBytes`, then the rest (none for 0 bytes). */
export function shardSizes(total: number, shardBytes: number): number[] {
  const sizes: number[] = [];
  for (let at = 0; at < total; at += shardBytes) sizes.push(Math.min(shardBytes, total - at));
  return sizes;
}

/** The converter's shard names: group1-shard1of3.bin, … (one group). */
export function shardNames(count: number, group = 1): string[] {
  return Array.from({ length: count }, (_, i) => `group${group}-shard${i + 1}of${count}.bin`);
}

/**
 * Writes `model` as a TF.js LayersModel into the folder `dir` (see the module comment), with its
 * float32 weights quantized as `options.quantize` says. The folder is written under a temporary
 * name beside it and then takes its place, so a failed export leaves nothing behind and an earlier
 * export at `dir` as it was. The model is only read.
 */
export async function exportLayersModel(
  model: TF.LayersModel,
  dir: string,
  options: TfjsExportOptions = {},
): Promise<TfjsExport> {
  const started = Date.now();
  const { quantize, shardBytes } = checkExportOptions(dir, options);
  checkExportFolder(dir);
  const target = path.resolve(dir);
  let packed: ReturnType<typeof packWeights>;
  let artifacts: Awaited<ReturnType<typeof layersModelArtifacts>>;
  try {
    artifacts = await layersModelArtifacts(model);
    packed = packWeights(artifacts.weightSpecs, artifacts.weightData, quantize);
  } catch (e) {
    throw new TfjsExportError(
      dir,
      `Cannot export the model "${model.name}" to ${dir}: ${(e as Error).message}. Nothing was written.`,
    );
  }
  const sizes = shardSizes(packed.bytes.byteLength, shardBytes);
  const names = shardNames(sizes.length);
  const modelJson: Record<string, unknown> = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format ?? "layers-model",
    generatedBy: artifacts.generatedBy,
    convertedBy: options.convertedBy ?? null,
    weightsManifest: [{ paths: names, weights: packed.weights }],
  };
  if (options.metadata !== undefined) modelJson.userDefinedMetadata = options.metadata;
  const json = Buffer.from(JSON.stringify(modelJson));
  try {
    await writeFolderAtomically(target, "tfjs.tmp", (tmp) => {
      let at = 0;
      sizes.forEach((size, i) => {
        fs.writeFileSync(path.join(tmp, names[i]), packed.bytes.subarray(at, at + size));
        at += size;
      });
      // Last: a folder with a model.json is a complete one.
      fs.writeFileSync(path.join(tmp, MODEL_JSON), json);
    });
  } catch (e) {
    throw new TfjsExportError(
      dir,
      `Could not export the model to ${dir}: ${(e as Error).message}. ` +
        (fs.existsSync(path.join(target, MODEL_JSON))
          ? "The export that was there is unchanged."
          : "Nothing was written."),
    );
  }
  const files = [{ name: MODEL_JSON, bytes: json.byteLength }, ...names.map((name, i) => ({ name, bytes: sizes[i] }))];
  const bytes = files.reduce((s, f) => s + f.bytes, 0);
  return {
    dir: target,
    modelJson: path.join(target, MODEL_JSON),
    quantize,
    files,
    weightBytes: packed.bytes.byteLength,
    bytes,
    size: formatBytes(bytes),
    weights: packed.weights.length,
    parameters: packed.parameters,
    seconds: (Date.now() - started) / 1000,
  };
}
