/**
 * Keras 3's `.keras` model archive, after keras/src/saving/saving_lib.py: a zip (./zip_archive.ts)
 * of three members, stored uncompressed,
 *
 *   metadata.json      {"keras_version": "3.15.1", "date_saved": "2026-11-28@09:37:07"}
 *   config.json        the model's architecture and compile settings (./serialization.ts)
 *   model.weights.h5   every variable, at the path of the object that owns it (./h5_store.ts)
 *
 * Paths in the weights file follow saving_lib's `_save_state`: the model's own variables at "", its
 * layers under `layers/<name>`, where <name> is the layer's *class* in snake case, numbered in
 * order within one container (`conv2d`, `conv2d_1`, …; not the layer's name, which varies between
 * sessions); a nested model's layers under its own path (`layers/functional/layers/conv2d`); the
 * optimizer's variables under `optimizer`: Keras 3's Adam keeps the step count (int64), the learning
 * rate, then each trainable variable's first and second moments, in `model.trainable_variables`
 * order. An optimizer that has not taken a step keeps only the first two; Keras's `load_model` then
 * warns that it skips them and starts Adam afresh, which is what resuming from that state means.
 *
 *   saveKerasArchive(model, file, optimizer)   writes the archive atomically: the weights file and
 *                                              the zip go to temporary names beside `file`, which is
 *                                              replaced only when the new archive is complete
 *   openKerasArchive(file)                     the config, the metadata and the weights file (copied
 *                                              out of the zip to a temporary folder until `close()`)
 *   checkModelWeights / assignModelWeights     the stored variables against a model (counts, shapes,
 *                                              types; everything is checked before anything is set)
 *   readOptimizerState / assignOptimizerState  the same for Adam's step count, rate and moments
 *
 * Errors are `KerasArchiveError`s that say what was wrong and what to do.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import type { LayerVariable } from "@tensorflow/tfjs";
import { tf } from "../../tfjs/backend";
import type { KerasAdam } from "../optimizers/adam";
import { formatBytes, formatShape } from "../../util/format";
import { checkWritable, PathError, tempPathBeside, writeAtomically } from "../../util/files";
import { KerasArchiveError } from "./archive_error";
import { describeError } from "./h5wasm";
import { H5StoreReader, writeH5Store, type StoreEntry } from "./h5_store";
import { kerasLayerInfo, serializeModel, SerializationError, toSnakeCase, type JsonObject } from "./serialization";
import { isContainer } from "../../tfjs/internals";
import { kerasVariables, sameShape, shortWeightName } from "./weight_order";
import { ZipError, ZipReader, writeZip } from "./zip_archive";

export { KerasArchiveError };

const CONFIG_FILE = "config.json";
const METADATA_FILE = "metadata.json";
const WEIGHTS_FILE = "model.weights.h5";
/** The Keras version whose archive format is written (saving_lib.py of Keras 3.15.1). */
const ARCHIVE_KERAS_VERSION = "3.15.1";

type Layer = TF.layers.Layer;

/** One layer's place in the weights file: its path and its variables in Keras's order. */
export interface LayerSlot {
  path: string;
  layer: Layer;
  /** The Keras class (for messages). */
  kerasClass: string;
  variables: LayerVariable[];
}

/** A plain layer's variables in Keras's order, found by name (an unexpected set of variables is an error). */
function layerVariables(layer: Layer, names: string[]): LayerVariable[] {
  const own = layer.weights;
  const byName = new Map(own.map((v) => [shortWeightName(v), v]));
  if (own.length !== names.length || names.some((n) => !byName.has(n))) {
    throw new SerializationError(
      `layer "${layer.name}" has the variables [${own.map(shortWeightName).join(", ")}], where Keras's ${kerasLayerInfo(layer).kerasClass} has [${names.join(", ")}]`,
    );
  }
  return names.map((n) => byName.get(n)!);
}

/** saving_lib's walk: the model ("" and each layer, nested models' layers in place), with the variables each keeps. */
export function layerSlots(model: TF.LayersModel, prefix = ""): LayerSlot[] {
  const out: LayerSlot[] = [{ path: prefix, layer: model, kerasClass: "Functional", variables: [] }];
  const used = new Map<string, number>();
  for (const layer of model.layers) {
    const info = kerasLayerInfo(layer);
    const base = toSnakeCase(info.kerasClass);
    // saving_lib.py, _get_unique_name: the first is "conv2d", the next "conv2d_1", …
    const n = used.get(base);
    used.set(base, n === undefined ? 0 : n + 1);
    const name = n === undefined ? base : `${base}_${n + 1}`;
    const p = `${prefix ? `${prefix}/` : ""}layers/${name}`;
    if (isContainer(layer)) out.push(...layerSlots(layer, p));
    else out.push({ path: p, layer, kerasClass: info.kerasClass, variables: layerVariables(layer, info.variables) });
  }
  return out;
}

/** Keras's `model.trainable_variables`: every variable that trains, in layer order (nested models in place). */
export function trainableVariables(model: TF.LayersModel): LayerVariable[] {
  return kerasVariables(model)
    .filter((v) => v.trainable)
    .map((v) => v.variable);
}

function sizeOf(shape: ReadonlyArray<number | null>): number {
  return shape.reduce((a: number, b) => a * (b ?? 0), 1);
}

/**
 * Where Keras 3's Adam keeps its variables in the archive's "optimizer" entry (`vars/<i>`): the step
 * count (int64), the learning rate, then each trainable variable's first and second moments, in
 * `model.trainable_variables` order; before its first step, only the first two.
 */
const adamLayout = {
  iterations: 0,
  learningRate: 1,
  /** The index of the `k`-th trainable variable's first ("m") or second ("v") moment. */
  moment: (k: number, which: "m" | "v"): number => 2 + 2 * k + (which === "v" ? 1 : 0),
  /** How many variables Adam keeps for `trainable` variables, once it has taken a step (`built`) or before. */
  count: (trainable: number, built: boolean): number => (built ? 2 + 2 * trainable : 2),
};

/** The optimizer's variables as Keras 3's Adam keeps them (`adamLayout`). */
function optimizerEntry(model: TF.LayersModel, optimizer: KerasAdam): StoreEntry {
  const trainable = trainableVariables(model);
  const built = optimizer.iterations > 0 || trainable.some((v) => optimizer.hasSlots(v.read() as TF.Variable));
  const variables = new Array<StoreEntry["variables"][number]>(adamLayout.count(trainable.length, built));
  variables[adamLayout.iterations] = {
    shape: [],
    dtype: "int64",
    values: () => BigInt64Array.of(BigInt(optimizer.iterations)),
  };
  variables[adamLayout.learningRate] = {
    shape: [],
    dtype: "float32",
    values: () => Float32Array.of(optimizer.learningRate),
  };
  if (built) {
    trainable.forEach((v, k) => {
      const shape = v.shape as number[];
      // A variable without moments yet has them at zero, as Keras creates them.
      const moment = (which: "m" | "v") => () =>
        optimizer.hasSlots(v.read() as TF.Variable)
          ? (optimizer.slotsFor(v.read() as TF.Variable)[which].dataSync() as Float32Array)
          : new Float32Array(sizeOf(shape));
      for (const which of ["m", "v"] as const) {
        variables[adamLayout.moment(k, which)] = { shape, dtype: "float32", values: moment(which) };
      }
    });
  }
  return { path: "optimizer", name: "adam", variables };
}

function storeEntries(model: TF.LayersModel, optimizer: KerasAdam): StoreEntry[] {
  const layers = layerSlots(model).map((slot): StoreEntry => ({
    path: slot.path,
    name: slot.layer.name,
    variables: slot.variables.map((v) => ({
      shape: v.shape as number[],
      dtype: "float32",
      values: () => {
        const t = v.read();
        return t.dtype === "float32" ? (t.dataSync() as Float32Array) : Float32Array.from(t.dataSync());
      },
    })),
  }));
  return [...layers, optimizerEntry(model, optimizer)];
}

/** `date_saved` as saving_lib.py writes it: local time, "%Y-%m-%d@%H:%M:%S". */
function dateSaved(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}@${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** What `saveKerasArchive` wrote. */
export interface SavedArchive {
  /** The archive's path, as given. */
  file: string;
  bytes: number;
  /** `bytes` for people: "92.3 MB". */
  size: string;
  seconds: number;
  /** Whether Adam's moments were saved (the optimizer has taken a step), or only its step count and rate. */
  optimizerState: boolean;
}

/** The checks Keras makes of a path to save to, and whether it can be written, before anything is computed. */
function checkSavePath(file: string): void {
  if (typeof file !== "string" || !file.endsWith(".keras")) {
    throw new KerasArchiveError(
      String(file),
      `Invalid path ${JSON.stringify(file)}: a Keras model archive's name ends in ".keras" (Keras's load_model accepts nothing else), e.g. "out/digits.keras".`,
    );
  }
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) {
    throw new KerasArchiveError(
      file,
      `Cannot save the model to ${file}: that is a folder. Give the path of a file ending in ".keras" inside it, or remove the folder.`,
    );
  }
  // Tried, not guessed: the folders made, a probe written and removed (nothing is left behind).
  try {
    checkWritable(file);
  } catch (e) {
    if (!(e instanceof PathError)) throw e;
    throw new KerasArchiveError(file, `Cannot save the model to ${file}: ${e.reason}. Choose another path.`);
  }
}

/**
 * Writes `model` (a functional TF.js model made of the layers ./serialization.ts maps) with its
 * optimizer's state as a Keras 3 `.keras` archive that Python's `keras.saving.load_model` opens.
 * Atomic: on any failure nothing is left behind and an existing `file` is untouched. The model is
 * only read.
 */
export async function saveKerasArchive(
  model: TF.LayersModel,
  file: string,
  optimizer: KerasAdam,
): Promise<SavedArchive> {
  const started = Date.now();
  checkSavePath(file);
  let config: JsonObject;
  let entries: StoreEntry[];
  try {
    config = serializeModel(model, { adam: optimizer.settings });
    entries = storeEntries(model, optimizer);
  } catch (e) {
    if (!(e instanceof SerializationError)) throw e;
    throw new KerasArchiveError(
      file,
      `Cannot save the model "${model.name}" as a Keras archive: ${e.message}. Nothing was written.`,
    );
  }
  // The weights file is made beside the archive, then zipped into it.
  const weightsTmp = tempPathBeside(path.resolve(file), "weights.h5.tmp");
  try {
    await writeAtomically(file, "tmp", async (archiveTmp) => {
      await writeH5Store(weightsTmp, entries);
      // h5wasm can fail silently: read back what was written (the layout, not the values) before using it.
      const reader = await H5StoreReader.open(weightsTmp);
      try {
        for (const entry of entries) {
          const stored = reader.entry(entry.path);
          if (!stored || stored.count !== entry.variables.length)
            throw new Error(`${entry.path || "the model's own entry"} did not land in the weights file`);
        }
      } finally {
        reader.close();
      }
      const metadata = { keras_version: ARCHIVE_KERAS_VERSION, date_saved: dateSaved() };
      writeZip(archiveTmp, [
        { name: METADATA_FILE, data: Buffer.from(JSON.stringify(metadata)) },
        { name: CONFIG_FILE, data: Buffer.from(JSON.stringify(config)) },
        { name: WEIGHTS_FILE, file: weightsTmp },
      ]);
    });
  } catch (e) {
    const existed = fs.existsSync(file);
    throw new KerasArchiveError(
      file,
      `Could not save the model to ${file}: ${e instanceof KerasArchiveError ? e.message : describeError(e)}. ` +
        (existed ? `The file that was there is unchanged.` : `Nothing was written.`),
    );
  } finally {
    fs.rmSync(weightsTmp, { force: true });
  }
  const bytes = fs.statSync(file).size;
  const optimizerState = entries[entries.length - 1].variables.length > 2;
  return { file, bytes, size: formatBytes(bytes), seconds: (Date.now() - started) / 1000, optimizerState };
}

/** An archive opened for reading: its config and metadata, parsed, and its weights. `close()` removes the temporary copy. */
export interface KerasArchive {
  file: string;
  config: unknown;
  metadata?: unknown;
  weights: H5StoreReader;
  close(): void;
}

/** Where to look, in an error message about `file`. */
const WHAT_TO_PASS = `Pass a .keras file written by learner.save() or by Keras's model.save("….keras").`;

/**
 * Opens a `.keras` archive: checks that it is a zip with config.json (valid JSON) and
 * model.weights.h5 (HDF5), and copies the weights out to a temporary folder for HDF5 to read.
 */
export async function openKerasArchive(file: string): Promise<KerasArchive> {
  const zip = openZip(file);
  let tmpDir: string | undefined;
  let weights: H5StoreReader | undefined;
  try {
    checkMembers(file, zip);
    const config = readJson(file, zip, CONFIG_FILE);
    let metadata: unknown;
    try {
      metadata = zip.has(METADATA_FILE) ? readJson(file, zip, METADATA_FILE) : undefined;
    } catch {
      metadata = undefined; // Keras does not read it either
    }
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "kt-keras-archive-"));
    const weightsPath = path.join(tmpDir, WEIGHTS_FILE);
    try {
      zip.extract(WEIGHTS_FILE, weightsPath);
      weights = await H5StoreReader.open(weightsPath);
    } catch (e) {
      const reason = e instanceof ZipError ? e.message : `it is ${(e as Error).message}`;
      throw new KerasArchiveError(
        file,
        `${WEIGHTS_FILE} in ${file} cannot be read: ${reason}. The archive is damaged; save the model again.`,
      );
    }
    const dir = tmpDir;
    const reader = weights;
    return {
      file,
      config,
      metadata,
      weights: reader,
      close: () => {
        reader.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    weights?.close();
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
    throw e;
  } finally {
    zip.close();
  }
}

/** The archive's zip, with clear errors for no file, a folder, or a file that is not a zip. */
function openZip(file: string): ZipReader {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    const from = path.isAbsolute(file) ? "" : ` (from ${process.cwd()})`;
    throw new KerasArchiveError(file, `No file at ${file}${from}. Check the path; learner.save(path) writes one.`);
  }
  if (st.isDirectory()) throw new KerasArchiveError(file, `${file} is a folder, not a .keras file. ${WHAT_TO_PASS}`);
  try {
    return ZipReader.open(file);
  } catch (e) {
    if (!(e instanceof ZipError)) throw e;
    throw new KerasArchiveError(
      file,
      `${file} is not a Keras model archive: ${e.message} (${formatBytes(st.size)}). ${WHAT_TO_PASS}`,
    );
  }
}

/** Throws unless the zip holds the config and the weights a Keras archive has. */
function checkMembers(file: string, zip: ZipReader): void {
  const names = zip.members.map((m) => m.name);
  const listing = names.length > 0 ? names.join(", ") : "none";
  if (!zip.has(CONFIG_FILE)) {
    throw new KerasArchiveError(
      file,
      `${file} is a zip archive but not a Keras model archive: it has no ${CONFIG_FILE} (its members: ${listing}). ${WHAT_TO_PASS}`,
    );
  }
  if (!zip.has(WEIGHTS_FILE)) {
    const npz = zip.has("model.weights.npz");
    throw new KerasArchiveError(
      file,
      npz
        ? `${file} keeps its weights as model.weights.npz (Keras's weights_format="npz"), which is not read here: save it again with Keras's default format.`
        : `${file} has no ${WEIGHTS_FILE} (its members: ${listing}): the weights are missing. Save the model again.`,
    );
  }
}

/** A JSON member of the archive; a clear error when it is not JSON. */
function readJson(file: string, zip: ZipReader, member: string): unknown {
  try {
    return JSON.parse(zip.read(member).toString("utf8"));
  } catch (e) {
    throw new KerasArchiveError(
      file,
      `${member} in ${file} cannot be read: ${(e as Error).message}. The archive is damaged; save the model again.`,
    );
  }
}

/** A stored variable that does not fit, in words: which object, which variable, what was expected. */
function misfit(file: string, slot: LayerSlot, detail: string): KerasArchiveError {
  return new KerasArchiveError(
    file,
    `The weights in ${file} do not fit the model: ${slot.kerasClass} layer "${slot.layer.name}" (${WEIGHTS_FILE}: ${slot.path || "/"}/vars) ${detail}. ` +
      `The archive's config.json and its weights disagree: it is damaged, or was edited; save the model again.`,
  );
}

/**
 * Checks every layer's stored variables against `model` (how many, shapes, float32), as Keras's
 * `Layer._check_load_own_variables` does, before anything is assigned.
 */
export function checkModelWeights(archive: KerasArchive, model: TF.LayersModel): LayerSlot[] {
  const slots = layerSlots(model);
  for (const slot of slots) {
    const stored = archive.weights.entry(slot.path);
    const count = stored?.count ?? 0;
    if (count !== slot.variables.length) {
      throw misfit(
        archive.file,
        slot,
        `holds ${count} variables, where the model's layer has ${slot.variables.length} (${slot.variables.map(shortWeightName).join(", ") || "none"})`,
      );
    }
    slot.variables.forEach((v, i) => {
      const info = stored!.info(i);
      const want = v.shape as number[];
      if (!sameShape(info.shape, want)) {
        throw misfit(
          archive.file,
          slot,
          `has ${shortWeightName(v)} (vars/${i}) of shape ${formatShape(info.shape)}, where the model's is ${formatShape(want)}`,
        );
      }
      if (info.dtype !== "float32")
        throw misfit(
          archive.file,
          slot,
          `has ${shortWeightName(v)} (vars/${i}) in ${info.dtype}; only float32 weights are read`,
        );
    });
  }
  return slots;
}

/** Assigns the stored variables to the model (after `checkModelWeights`). */
export function assignModelWeights(archive: KerasArchive, slots: LayerSlot[]): void {
  for (const slot of slots) {
    if (slot.variables.length === 0) continue;
    const stored = archive.weights.entry(slot.path)!;
    slot.variables.forEach((v, i) => {
      const t = tf.tensor(stored.read(i) as Float32Array, v.shape as number[], "float32");
      try {
        v.write(t);
      } finally {
        t.dispose();
      }
    });
  }
}

/** Adam's state as stored: the step count and (once it has taken a step) the moments; `storedLearningRate` reads the rate. */
export interface OptimizerState {
  iterations: number;
  /** Per trainable variable, in `trainableVariables(model)` order. */
  moments?: Array<{ variable: LayerVariable; m: Float32Array; v: Float32Array }>;
  /** Why the stored moments were not used, as Keras's load_model would warn. */
  skipped?: string;
}

/**
 * The optimizer's state in the archive, for `model` as it now trains. Like Keras's
 * `Optimizer.load_own_variables`: a number of variables other than the model needs (2 + 2 per
 * trainable variable) is skipped with a reason; otherwise every moment's shape must fit.
 */
export function readOptimizerState(archive: KerasArchive, model: TF.LayersModel): OptimizerState | undefined {
  const stored = archive.weights.entry("optimizer");
  if (!stored || stored.count === 0) return undefined;
  const trainable = trainableVariables(model);
  const needed = adamLayout.count(trainable.length, true);
  if (stored.count === adamLayout.count(trainable.length, false)) return { iterations: 0 };
  if (stored.count !== needed) {
    return {
      iterations: 0,
      skipped:
        `the optimizer state in ${archive.file} has ${stored.count} variables, where Adam needs ${needed} for the ${trainable.length} trainable variables ` +
        `of the model as it is frozen in the archive; Adam starts afresh (Keras's load_model skips it the same way)`,
    };
  }
  const moments = trainable.map((variable, k) => {
    const want = variable.shape as number[];
    const [m, v] = [adamLayout.moment(k, "m"), adamLayout.moment(k, "v")];
    for (const i of [m, v]) {
      const info = stored.info(i);
      if (!sameShape(info.shape, want)) {
        throw new KerasArchiveError(
          archive.file,
          `The optimizer state in ${archive.file} does not fit the model: optimizer/vars/${i} (a moment of "${variable.originalName}") has shape ${formatShape(info.shape)}, ` +
            `where the variable's is ${formatShape(want)}. The archive is damaged or was edited; save the model again.`,
        );
      }
    }
    return { variable, m: stored.read(m) as Float32Array, v: stored.read(v) as Float32Array };
  });
  return { iterations: Number(stored.read(adamLayout.iterations)[0]), moments };
}

/** The learning rate the optimizer had when saved (its float32 variable), if the archive keeps it. */
export function storedLearningRate(archive: KerasArchive): number | undefined {
  const stored = archive.weights.entry("optimizer");
  if (!stored || stored.count <= adamLayout.learningRate) return undefined;
  const v = Number(stored.read(adamLayout.learningRate)[0]);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/** Sets Adam's step count and moments (the rate is set when the optimizer is made). */
export function assignOptimizerState(optimizer: KerasAdam, state: OptimizerState): void {
  optimizer.setIterations(state.iterations);
  for (const { variable, m, v } of state.moments ?? []) {
    const slots = optimizer.slotsFor(variable.read() as TF.Variable);
    const shape = variable.shape as number[];
    tf.tidy(() => {
      slots.m.assign(tf.tensor(m, shape, "float32"));
      slots.v.assign(tf.tensor(v, shape, "float32"));
    });
  }
}
