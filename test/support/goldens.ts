/**
 * Golden reference files made by Keras (scripts/keras_goldens.py): weights of
 * InceptionV3 and Xception in the legacy h5 layout, an input batch and
 * Keras's outputs. About 170 MB, and Keras's outputs depend on the CPU, so
 * they are not in the repository: they are generated on first use into
 * .cache/goldens/<key>/ (up to a minute; see ./references for the key and the
 * locking). `KT_GOLDENS_DIR` points at an existing set instead.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseNpy } from "../../src/util/npy";
import { ROOT } from "./helpers";
import { ensureReference } from "./references";

export const GOLDENS_SCRIPT = path.join(ROOT, "scripts", "keras_goldens.py");

export interface GoldenOutput {
  layer: string;
  shape: number[];
  data: Float32Array;
  maxAbs: number;
}

export interface GoldenModel {
  name: string;
  dir: string;
  weights: string;
  inputShape: number[];
  input: Float32Array;
  /** Keras's outputs of named layers, the model's output last. */
  outputs: GoldenOutput[];
  manifest: Record<string, unknown>;
}

/** The folder of the golden files, generating them first if needed. */
export function ensureGoldens(log: (msg: string) => void = () => undefined): string {
  const fromEnv = process.env.KT_GOLDENS_DIR;
  if (fromEnv) {
    if (!fs.existsSync(path.join(fromEnv, "manifest.json")))
      throw new Error(
        `KT_GOLDENS_DIR=${fromEnv} has no manifest.json: point it at a folder made by scripts/keras_goldens.py, or unset it.`,
      );
    return fromEnv;
  }
  return ensureReference({
    name: "goldens",
    script: GOLDENS_SCRIPT,
    // TensorFlow's plain kernels (no oneDNN): the reference our plain-kernel run must equal exactly.
    env: { TF_ENABLE_ONEDNN_OPTS: "0" },
    duration: "up to a minute",
    log,
  });
}

function readF32(file: string): { shape: number[]; data: Float32Array } {
  const a = parseNpy(fs.readFileSync(file), file);
  if (!(a.data instanceof Float32Array)) throw new Error(`${file}: expected float32, got ${a.dtype}`);
  return { shape: a.shape, data: a.data };
}

export function loadGolden(root: string, name: string): GoldenModel {
  const dir = path.join(root, name);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
    input: string;
    weights: string;
    inputShape: number[];
    outputs: Array<{ layer: string; file: string; shape: number[]; maxAbs: number }>;
  };
  const input = readF32(path.join(dir, manifest.input));
  const outputs = manifest.outputs.map((o) => {
    const a = readF32(path.join(dir, o.file));
    return { layer: o.layer, shape: a.shape, data: a.data, maxAbs: o.maxAbs };
  });
  return {
    name,
    dir,
    weights: path.join(dir, manifest.weights),
    inputShape: input.shape,
    input: input.data,
    outputs,
    manifest: manifest as unknown as Record<string, unknown>,
  };
}
