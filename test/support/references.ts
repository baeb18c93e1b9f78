/**
 * Reference files that Keras computes, made where the tests run.
 *
 * TensorFlow's float kernels pick code paths by CPU features, so what Keras computes differs
 * between machines by rounding, and in ill-conditioned spots far beyond it: a float reference
 * committed from one machine fails on the next. So every reference made of Keras's outputs is
 * generated on first use, by the script kept in scripts/, into
 *
 *   .cache/<name>/<key>/
 *
 * where the key is a hash of everything that determines the numbers: the script's text, its
 * arguments and environment, the files it reads, the versions of TensorFlow, Keras, numpy and h5py
 * in the project's virtualenv, the CPU's architecture and feature flags (/proc/cpuinfo). A change in
 * any of them makes a new reference; older ones of the same name are deleted then.
 *
 *   ensureReference(spec)   the folder of a reference, generating it first if needed: into a
 *                           temporary folder renamed when complete, under a lock so that two
 *                           test processes do not both generate it
 *   referenceKey(spec)      the key, and what it was made of (written to reference.json)
 *   machineFacts()          the CPU and package facts of the key
 *
 * Exact facts (layer tables, parameter counts, shapes) and inputs (weight files written by Keras)
 * are committed under test/fixtures/ instead: they do not depend on float kernels.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PYTHON, ROOT } from "./helpers";

export const CACHE = path.join(ROOT, ".cache");
/** The file written last into a reference folder: its presence means the folder is complete. */
export const REFERENCE_INFO = "reference.json";

export interface ReferenceSpec {
  /** The folder under .cache/ that holds this reference's versions (e.g. "goldens"). */
  name: string;
  /** The generating Python script; it is run as `python script ...args OUT_DIR` from the project root. */
  script: string;
  args?: string[];
  /** Environment set for the script (on top of the test's own). */
  env?: Record<string, string>;
  /** Files the script reads whose content determines the reference (besides the script). */
  inputs?: string[];
  /** How long generating takes, for the log line (e.g. "about a minute"). */
  duration?: string;
  /** How long to wait for another process that is generating the same reference. */
  waitMs?: number;
  log?: (msg: string) => void;
}

export interface MachineFacts {
  arch: string;
  /** sha256 of the CPU's feature flags (the first processor's "flags" line of /proc/cpuinfo). */
  cpuFlags: string;
  cpuModel: string;
  /** Versions of the Python packages that compute the references, from the virtualenv's dist-info folders. */
  packages: Record<string, string>;
}

const sha256 = (data: string | Buffer) => crypto.createHash("sha256").update(data).digest("hex");

function cpuinfoField(field: string): string | undefined {
  try {
    const text = fs.readFileSync("/proc/cpuinfo", "utf8");
    return new RegExp(`^${field}\\s*:\\s*(.*)$`, "m").exec(text)?.[1]?.trim();
  } catch {
    return undefined;
  }
}

function sitePackages(): string[] {
  const lib = path.join(ROOT, ".venv", "lib");
  if (!fs.existsSync(lib)) return [];
  return fs
    .readdirSync(lib)
    .filter((d) => d.startsWith("python"))
    .map((d) => path.join(lib, d, "site-packages"))
    .filter((d) => fs.existsSync(d));
}

/** The CPU and package facts a reference depends on. */
export function machineFacts(): MachineFacts {
  const packages: Record<string, string> = {};
  for (const dir of sitePackages()) {
    for (const entry of fs.readdirSync(dir)) {
      const m = /^(tensorflow(?:[_-](?:cpu|gpu|intel))?|keras|numpy|h5py)-([^-]+)\.dist-info$/i.exec(entry);
      if (m) packages[m[1].toLowerCase()] = m[2];
    }
  }
  // Flags are "flags" on x86, "Features" on ARM; elsewhere the CPU's model name has to do.
  const flags = cpuinfoField("flags") ?? cpuinfoField("Features") ?? os.cpus()[0]?.model ?? "unknown";
  return {
    arch: os.arch(),
    cpuFlags: sha256(flags.split(/\s+/).sort().join(" ")).slice(0, 16),
    cpuModel: cpuinfoField("model name") ?? os.cpus()[0]?.model ?? "unknown",
    packages,
  };
}

/** The key of a reference and what it was computed from. */
export function referenceKey(spec: ReferenceSpec): { key: string; made: Record<string, unknown> } {
  const facts = machineFacts();
  const rel = (f: string) => path.relative(ROOT, f);
  const made = {
    script: rel(spec.script),
    scriptSha256: sha256(fs.readFileSync(spec.script)),
    args: spec.args ?? [],
    env: spec.env ?? {},
    inputs: Object.fromEntries((spec.inputs ?? []).map((f) => [rel(f), sha256(fs.readFileSync(f))])),
    arch: facts.arch,
    cpuFlags: facts.cpuFlags,
    packages: facts.packages,
  };
  // cpuModel is informative only: machines with the same flags run the same code paths.
  return { key: sha256(JSON.stringify(made)).slice(0, 16), made: { ...made, cpuModel: facts.cpuModel } };
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

/** The folder of the reference `spec` describes, generating it first if this machine has none yet. */
export function ensureReference(spec: ReferenceSpec): string {
  const log = spec.log ?? (() => undefined);
  const { key, made } = referenceKey(spec);
  const parent = path.join(CACHE, spec.name);
  const dir = path.join(parent, key);
  const done = () => fs.existsSync(path.join(dir, REFERENCE_INFO));
  if (done()) return dir;
  const lock = `${dir}.lock`;
  fs.mkdirSync(parent, { recursive: true });
  const deadline = Date.now() + (spec.waitMs ?? 15 * 60_000);
  for (;;) {
    if (done()) return dir;
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, "pid"), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      // The lock's owner writes its pid right after creating it: an empty file is a lock being taken.
      const pid = Number(fs.readFileSync(path.join(lock, "pid"), { encoding: "utf8", flag: "a+" }) || "0");
      if (pid && !alive(pid)) {
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for ${lock}: process ${pid} is generating the ${spec.name} references. Wait for it, or stop it and delete the lock folder.`);
      }
      sleep(2000);
    }
  }
  try {
    if (done()) return dir;
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    log(`generating the ${spec.name} references with Keras into ${path.relative(ROOT, dir)}${spec.duration ? ` (${spec.duration})` : ""}`);
    const t0 = Date.now();
    const r = spawnSync(PYTHON, [spec.script, ...(spec.args ?? []), tmp], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "3", ...(spec.env ?? {}) },
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0) {
      fs.rmSync(tmp, { recursive: true, force: true });
      const why = r.error ? String(r.error) : (r.stderr ?? "").split("\n").slice(-30).join("\n");
      throw new Error(`${path.relative(ROOT, spec.script)} failed (exit ${r.status}) making the ${spec.name} references; is the set-up complete (npm run setup)?\n${why}`);
    }
    const seconds = (Date.now() - t0) / 1000;
    fs.writeFileSync(path.join(tmp, REFERENCE_INFO), JSON.stringify({ key, ...made, seconds, date: new Date().toISOString() }, null, 1) + "\n");
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    log(`${spec.name} references made in ${seconds.toFixed(0)} s`);
    // References of this name made before a change of script, packages or CPU are of no use any more.
    for (const entry of fs.readdirSync(parent)) {
      if (/^[0-9a-f]{16}$/.test(entry) && entry !== key && !fs.existsSync(path.join(parent, `${entry}.lock`))) {
        fs.rmSync(path.join(parent, entry), { recursive: true, force: true });
      }
    }
    return dir;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}
