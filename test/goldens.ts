/**
 * Golden reference files made by Keras (scripts/keras_goldens.py): weights of
 * InceptionV3 and Xception in the legacy h5 layout, an input batch and
 * Keras's outputs. About 170 MB, so they are not in the repository: they are
 * generated on first use into .cache/goldens/<hash of the script>/ (about a
 * minute), written to a temporary folder and renamed when complete, under a
 * lock so that two test processes do not both generate them.
 * `KT_GOLDENS_DIR` points at an existing set instead.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseNpy } from "../src/npy";
import { PYTHON, ROOT } from "./helpers";

export const GOLDENS_SCRIPT = path.join(ROOT, "scripts", "keras_goldens.py");
const CACHE = path.join(ROOT, ".cache", "goldens");

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

function scriptKey(): string {
  return crypto.createHash("sha256").update(fs.readFileSync(GOLDENS_SCRIPT)).digest("hex").slice(0, 16);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The folder of the golden files, generating them first if needed. */
export function ensureGoldens(log: (msg: string) => void = () => undefined): string {
  const fromEnv = process.env.KT_GOLDENS_DIR;
  if (fromEnv) {
    if (!fs.existsSync(path.join(fromEnv, "manifest.json"))) throw new Error(`KT_GOLDENS_DIR=${fromEnv} has no manifest.json`);
    return fromEnv;
  }
  const key = scriptKey();
  const dir = path.join(CACHE, key);
  const lock = `${dir}.lock`;
  fs.mkdirSync(CACHE, { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    if (fs.existsSync(path.join(dir, "manifest.json"))) return dir;
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, "pid"), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(fs.readFileSync(path.join(lock, "pid"), { encoding: "utf8", flag: "a+" }) || "0");
      if (pid && !alive(pid)) {
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`Timed out waiting for ${lock} (process ${pid} is generating the golden files).`);
      sleep(2000);
    }
  }
  try {
    if (fs.existsSync(path.join(dir, "manifest.json"))) return dir;
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    log(`generating the Keras golden files into ${dir} (about a minute)`);
    const t0 = Date.now();
    const r = spawnSync(PYTHON, [GOLDENS_SCRIPT, tmp], {
      cwd: ROOT,
      encoding: "utf8",
      // TensorFlow's plain kernels (no oneDNN): the reference our plain-kernel run must equal exactly.
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "3", TF_ENABLE_ONEDNN_OPTS: "0" },
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw new Error(`${GOLDENS_SCRIPT} failed (exit ${r.status}):\n${(r.stderr ?? "").split("\n").slice(-30).join("\n")}`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    log(`golden files made in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    // Sets made by earlier versions of the script are of no use any more.
    for (const name of fs.readdirSync(CACHE)) {
      if (/^[0-9a-f]{16}$/.test(name) && name !== key) fs.rmSync(path.join(CACHE, name), { recursive: true, force: true });
    }
    return dir;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
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
