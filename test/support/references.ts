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
 *                           test processes do not both generate it; a damaged one is made again
 *   referenceKey(spec)      the key, and what it was made of (written to reference.json)
 *   referenceDamage(dir)    what is wrong with a reference folder, or undefined when every file
 *                           has the size and sha256 reference.json recorded for it
 *   machineFacts()          the CPU and package facts of the key
 *
 * Verified once per process and folder: reference.json lists every file the script wrote with its
 * size and sha256, and each is checked before the folder is used (a full disk, an interrupted copy
 * or a sync tool can leave a file cut short or altered, which would otherwise fail a test with an
 * unrelated message). Measured on a shared 2-core Intel Xeon (load average 11), files in the page
 * cache: 0.5–0.7 s for the 178 MB of goldens (reading them 0.2–0.4 s, which the tests then do
 * anyway; sha256 0.35 s), once per test process that uses them, beside tens of seconds of work in
 * each. Sizes alone, or sizes and times, would cost a millisecond but miss bytes altered in place.
 * A damaged folder is made again, with one warning saying what was wrong; when that fails, the
 * error names the folder and what to do.
 *
 * Exact facts (layer tables, parameter counts, shapes) and inputs (weight files written by Keras)
 * are committed under test/fixtures/ instead: they do not depend on float kernels.
 */
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { makeFolders } from "../../src/util/files";
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
  /** The folder that holds the references (default: .cache/ in the project). */
  cache?: string;
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

/** A file's size and sha256, as reference.json records them. */
interface FileRecord {
  bytes: number;
  sha256: string;
}

/** Every file under `dir` but reference.json, as paths relative to it, sorted. */
function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f !== REFERENCE_INFO && fs.statSync(path.join(dir, f)).isFile())
    .sort();
}

/** The sizes and hashes of the files a script wrote into `dir`. */
function recordFiles(dir: string): Record<string, FileRecord> {
  return Object.fromEntries(
    filesUnder(dir).map((f) => {
      const bytes = fs.readFileSync(path.join(dir, f));
      return [f, { bytes: bytes.length, sha256: sha256(bytes) }];
    }),
  );
}

/**
 * What is wrong with the reference folder `dir` ("absent" when it has no reference.json: never
 * completed), or undefined when every file reference.json records has its size and sha256.
 */
export function referenceDamage(dir: string): string | undefined {
  const infoFile = path.join(dir, REFERENCE_INFO);
  if (!fs.existsSync(infoFile)) return "absent";
  let files: Record<string, FileRecord> | undefined;
  try {
    files = (JSON.parse(fs.readFileSync(infoFile, "utf8")) as { files?: Record<string, FileRecord> }).files;
  } catch (e) {
    return `its ${REFERENCE_INFO} cannot be read (${(e as Error).message})`;
  }
  if (!files || typeof files !== "object") {
    return `its ${REFERENCE_INFO} records no sizes and hashes of its files (made by an older version of the tests)`;
  }
  for (const [name, want] of Object.entries(files)) {
    const file = path.join(dir, name);
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
      return `${name} ${missing ? "is missing" : `cannot be read (${(e as Error).message})`}`;
    }
    if (bytes.length !== want.bytes) return `${name} has ${bytes.length} bytes where ${want.bytes} were written`;
    if (sha256(bytes) !== want.sha256) return `${name} is not what was written (its sha256 differs)`;
  }
  return undefined;
}

/** Reference folders verified in this process; damage reported (one warning each). */
const verified = new Set<string>();
const reported = new Set<string>();

/** The folder of the reference `spec` describes, generating it first if this machine has none yet, or a damaged one. */
export function ensureReference(spec: ReferenceSpec): string {
  const log = spec.log ?? (() => undefined);
  const { key, made } = referenceKey(spec);
  const parent = path.join(spec.cache ?? CACHE, spec.name);
  const dir = path.join(parent, key);
  const show = (p: string) => (p.startsWith(ROOT + path.sep) ? path.relative(ROOT, p) : p);
  let damage: string | undefined;
  const done = () => {
    if (verified.has(dir)) return true;
    damage = referenceDamage(dir);
    if (damage === undefined) verified.add(dir);
    return damage === undefined;
  };
  if (done()) return dir;
  const lock = `${dir}.lock`;
  makeFolders(parent);
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
        throw new Error(
          `Timed out waiting for ${lock}: process ${pid} is generating the ${spec.name} references. Wait for it, or stop it and delete the lock folder.`,
          { cause: e },
        );
      }
      sleep(2000);
    }
  }
  try {
    if (done()) return dir;
    if (damage !== "absent" && !reported.has(dir)) {
      reported.add(dir);
      console.warn(`The ${spec.name} references in ${show(dir)} were damaged (${damage}); making them again.`);
    }
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
    log(
      `generating the ${spec.name} references with Keras into ${show(dir)}${spec.duration ? ` (${spec.duration})` : ""}`,
    );
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
      throw new Error(
        `${path.relative(ROOT, spec.script)} failed (exit ${r.status}) making the ${spec.name} references in ${show(dir)}. ` +
          `Is the set-up complete (npm run setup)? If it is, delete ${show(parent)} and run the tests again.\n${why}`,
      );
    }
    const seconds = (Date.now() - t0) / 1000;
    const files = recordFiles(tmp);
    const info = { key, ...made, seconds, date: new Date().toISOString(), files };
    fs.writeFileSync(path.join(tmp, REFERENCE_INFO), JSON.stringify(info, null, 1) + "\n");
    // The old folder (incomplete or damaged) moved aside, the new one renamed into place: one step each.
    const aside = `${dir}.damaged-${process.pid}`;
    if (fs.existsSync(dir)) fs.renameSync(dir, aside);
    fs.renameSync(tmp, dir);
    fs.rmSync(aside, { recursive: true, force: true });
    verified.add(dir);
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
