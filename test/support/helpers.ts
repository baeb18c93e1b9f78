/** Helpers shared by the tests: paths, running notebooks through the project's kernel, and file operations that fail as a full disk does. */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { FileIo } from "../../src/util/scratch_file";

export const ROOT = path.resolve(__dirname, "..", "..");
export const PYTHON = path.join(ROOT, ".venv", "bin", "python");

/** A fresh temporary folder under the test output folder (out/test), kept after the run for inspection. */
export function outDir(name: string): string {
  const dir = path.join(ROOT, "out", "test", name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

const madeTmpDirs: string[] = [];

/**
 * A fresh folder in the system's temporary folder, removed when the test file's process exits
 * (each test file runs in a process of its own); `KT_KEEP_TEST_TMP=1` keeps them for inspection.
 */
export function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kt-${prefix}-`));
  if (madeTmpDirs.length === 0 && !process.env.KT_KEEP_TEST_TMP) process.once("exit", removeTmpDirs);
  madeTmpDirs.push(dir);
  return dir;
}

function removeTmpDirs(): void {
  for (const dir of madeTmpDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // A folder a test left unwritable stays behind; removing the others matters more than an error at exit.
    }
  }
}

export interface NotebookRun {
  status: number | null;
  stderr: string;
  stdout: string;
  /** The executed notebook, parsed (undefined if none was written). */
  notebook?: Notebook;
  out: string;
}

export interface NotebookOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  metadata?: Record<string, unknown>;
}

export interface NotebookCell {
  cell_type: string;
  source: string | string[];
  metadata: { tags?: string[] };
  outputs?: NotebookOutput[];
}

export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
}

export function joined(t: string | string[] | undefined): string {
  return Array.isArray(t) ? t.join("") : (t ?? "");
}

/** All text a cell printed (stdout and stderr). */
export function cellText(cell: NotebookCell): string {
  return (cell.outputs ?? [])
    .filter((o) => o.output_type === "stream")
    .map((o) => joined(o.text))
    .join("");
}

/** Runs the headless runner on one notebook with parameters, into `out`. */
export function runNotebook(
  notebook: string,
  params: Record<string, string | number | boolean | null> = {},
  out: string,
  env: NodeJS.ProcessEnv = {},
): NotebookRun {
  const args = [path.join(ROOT, "kernel-setup", "run_notebook.py"), notebook, "--out", out];
  for (const [k, v] of Object.entries(params))
    args.push("--param", `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  const r = spawnSync(PYTHON, args, {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env },
    maxBuffer: 64 << 20,
  });
  const file = path.join(out, path.basename(notebook));
  const nb = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as Notebook) : undefined;
  return { status: r.status, stderr: r.stderr, stdout: r.stdout, notebook: nb, out };
}

/**
 * Whether this process runs TensorFlow's plain kernels: oneDNN off and the fused kernels of
 * src/tfjs/native_ops.ts off, so that every op is the one Keras's reference run used. With the
 * defaults (both on) results differ from Keras's by float rounding, which grows through the
 * networks' ~100 layers; the comparisons with Keras then allow for it, and run once more, strictly,
 * in a child process with plain kernels (`runWithPlainKernels`).
 */
export const PLAIN_KERNELS = process.env.TF_ENABLE_ONEDNN_OPTS === "0" && process.env.KT_FUSED_KERNELS === "0";

/** Runs the tests of `file` whose names match `pattern` in a child process with TensorFlow's plain kernels. */
export function runWithPlainKernels(file: string, pattern: string): { status: number | null; output: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, TF_ENABLE_ONEDNN_OPTS: "0", KT_FUSED_KERNELS: "0" };
  delete env.NODE_TEST_CONTEXT; // set for test files run by node --test; a child runner would refuse to run
  // TAP, whose summary ("# pass 1") and diagnostics the callers read: since Node 23 the default
  // reporter is "spec" even when the output is not a terminal.
  const args = [
    "--import",
    "tsx",
    "--test",
    "--test-reporter=tap",
    `--test-name-pattern=${pattern}`,
    path.join(ROOT, "test", file),
  ];
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    env,
    encoding: "utf8",
  });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

/** Node's fs with writes cut short to `chunk` bytes, and failing with ENOSPC once `capacity` bytes were written. */
export function limitedIo(chunk: number, capacity = Infinity): FileIo & { written: number } {
  const io = {
    written: 0,
    openSync: (file: string, flags: string) => fs.openSync(file, flags),
    readSync: (fd: number, b: Uint8Array, o: number, l: number, p: number) => fs.readSync(fd, b, o, l, p),
    closeSync: (fd: number) => fs.closeSync(fd),
    unlinkSync: (file: string) => fs.unlinkSync(file),
    writeSync: (fd: number, b: Uint8Array, o: number, l: number, p: number) => {
      if (io.written + Math.min(l, chunk) > capacity) {
        throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28 });
      }
      const n = fs.writeSync(fd, b, o, Math.min(l, chunk), p);
      io.written += n;
      return n;
    },
  };
  return io;
}
