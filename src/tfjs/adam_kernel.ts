/**
 * The project's fused Adam kernel (`KtAdam`, ./native/adam.cc): Keras 3's Adam update of one weight
 * in one pass over its memory, where TensorFlow's ops take twelve. The graph engine's train step
 * uses it when `adamKernel()` says it is loaded; its results equal the twelve ops' bit for bit
 * (test/adam_kernel.test.ts), so it changes a step's speed and nothing else.
 *
 *   adamKernel()          whether `KtAdam` is registered in this process's TensorFlow, loading it on
 *                         first call; when not, the reason in words
 *   adamKernelFile()      where the built kernel is (build/native/adam.node)
 *   adamKernelBuildProblem(file)
 *                         what is wrong with a build (not built, stale), or undefined
 *
 * `npm run setup` builds it (kernel-setup/native-kernels.sh) against the TensorFlow library that
 * @tensorflow/tfjs-node runs on and records what it built from in build/native/adam.json. It is
 * loaded only on that backend, and only when the record still matches the source and the library:
 * a stale or damaged build is passed over, never half-used. Elsewhere the step runs the twelve
 * ops: on @tensorflow/tfjs-node-gpu (the kernel is a CPU kernel, and on a GPU the update's ops run
 * there), without a build, or with `KT_FUSED_ADAM=0` in the environment (to compare).
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { switchedOff } from "../util/env";
import { backendInfo } from "./backend";

const ROOT = path.resolve(__dirname, "..", "..");

/** Where `npm run setup` writes the built kernel. */
export function adamKernelFile(): string {
  return path.join(ROOT, "build", "native", "adam.node");
}

/** The kernel's C++ source. */
const SOURCE = path.join(__dirname, "native", "adam.cc");

/** Loaded, or not and why (`reason` is on both sides so that non-strict compilers such as tslab's read it too). */
export type AdamKernelState = { loaded: true; reason?: undefined } | { loaded: false; reason: string };

let state: AdamKernelState | undefined;

/**
 * Whether the fused Adam kernel is registered in this process's TensorFlow (loaded on the first
 * call, once per process), or why not.
 */
export function adamKernel(): AdamKernelState {
  if (switchedOff(process.env.KT_FUSED_ADAM)) return { loaded: false, reason: "switched off by KT_FUSED_ADAM" };
  state ??= load();
  return state;
}

function load(): AdamKernelState {
  const info = backendInfo();
  if (info.kind !== "tensorflow")
    return { loaded: false, reason: `it is a kernel for @tensorflow/tfjs-node, and ${info.package} is in use` };
  const file = adamKernelFile();
  const stale = adamKernelBuildProblem(file);
  if (stale) return { loaded: false, reason: `${stale}; run "npm run setup" to build it` };
  try {
    process.dlopen({ exports: {} }, file);
  } catch (e) {
    return {
      loaded: false,
      reason: `${file} did not load (${(e as Error).message.split("\n")[0]}); run "npm run setup" to build it again`,
    };
  }
  return { loaded: true };
}

/**
 * What is wrong with the kernel built in `file` (its record beside it, adam.json) against the
 * source and the TensorFlow library in use, or undefined when it matches them.
 */
export function adamKernelBuildProblem(file: string): string | undefined {
  let record: { source?: unknown; library?: unknown };
  try {
    record = JSON.parse(fs.readFileSync(path.join(path.dirname(file), "adam.json"), "utf8")) as typeof record;
  } catch {
    return `${file} is not built`;
  }
  if (!fs.existsSync(file)) return `${file} is not built`;
  const source = crypto.createHash("sha256").update(fs.readFileSync(SOURCE)).digest("hex");
  if (record.source !== source) return `${file} was built from another version of ${path.basename(SOURCE)}`;
  let library: string;
  try {
    const pkg = path.dirname(require.resolve("@tensorflow/tfjs-node/package.json"));
    library = fs.realpathSync(path.join(pkg, "deps", "lib", "libtensorflow_framework.so.2"));
  } catch {
    return "the TensorFlow library of @tensorflow/tfjs-node was not found";
  }
  if (record.library !== library)
    return `${file} was built against another TensorFlow library (${String(record.library)})`;
  return undefined;
}
