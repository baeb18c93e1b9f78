/**
 * The one place that loads TensorFlow.js. Every other module imports `tf` from
 * here, so the backend is chosen once, before any tensor or model exists.
 *
 * Order of preference:
 *   1. `@tensorflow/tfjs-node-gpu`: native TensorFlow with CUDA,
 *   2. `@tensorflow/tfjs-node`: native TensorFlow on the CPU (on machines that
 *      cannot download Google's binaries, `kernel-setup` builds it against the
 *      TensorFlow wheel in the project's virtualenv),
 *   3. `@tensorflow/tfjs`: the pure-JavaScript `cpu` backend, with a loud
 *      warning: it is two to three orders of magnitude slower.
 *
 * `KT_BACKEND=gpu|node|js` forces one of them (and fails if it cannot load).
 *
 * oneDNN: TensorFlow's CPU kernels built on oneDNN (Intel's deep-learning primitives) are on by
 * default in Python's TensorFlow on x86 Linux, but the C library tfjs-node loads leaves them off
 * unless `TF_ENABLE_ONEDNN_OPTS=1` is in the environment when it starts. With them, a training step
 * of the tutorial's InceptionV3 takes about a third less time (convolution gradients above all;
 * see docs/benchmarks.md). This module sets `TF_ENABLE_ONEDNN_OPTS=1` before loading TensorFlow
 * unless the variable is already set: `TF_ENABLE_ONEDNN_OPTS=0` keeps TensorFlow's own kernels.
 *
 * Node 23 and later: `supplyRemovedNodeUtil()` (below) gives tfjs-node the two `util` functions it
 * still calls, before it loads.
 */
import type * as TF from "@tensorflow/tfjs";
import { nodeKernelBackend, nodeNamespace, type NodeNamespace } from "./internals";

export type BackendKind = "tensorflow-gpu" | "tensorflow" | "cpu";

export interface BackendInfo {
  /** Which of the three builds is in use. */
  kind: BackendKind;
  /** The npm package that provided it. */
  package: string;
  /** `tf.getBackend()`: "tensorflow" for both native builds, "cpu" for pure JS. */
  backend: string;
  /** Human-readable device, e.g. "CPU (native TensorFlow 2.21.0)". */
  device: string;
  /** Version of the native TensorFlow library, when native. */
  tensorflowVersion?: string;
  /** Version of TF.js. */
  tfjsVersion: string;
  /** Whether the native backend actually places ops on a GPU. */
  usingGpu: boolean;
  /** Whether TensorFlow's oneDNN CPU kernels are on (native backends only; see above). */
  oneDNN: boolean;
  /** Why the preferred packages were not used, one line each. */
  skipped: string[];
}

interface Candidate {
  kind: BackendKind;
  pkg: string;
  key: string;
}

const CANDIDATES: Candidate[] = [
  { kind: "tensorflow-gpu", pkg: "@tensorflow/tfjs-node-gpu", key: "gpu" },
  { kind: "tensorflow", pkg: "@tensorflow/tfjs-node", key: "node" },
  { kind: "cpu", pkg: "@tensorflow/tfjs", key: "js" },
];

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n").find((l) => l.trim() !== "") ?? msg;
}

/**
 * tfjs-node 4.22 (`dist/nodejs_kernel_backend.js` on every op, `dist/kernels/TopK.js`) calls
 * `util.isNullOrUndefined` and `util.isArray` from Node's `util` module. Node 22 warns at their first
 * call (DEP0051, DEP0044) and Node 23 removed `isNullOrUndefined`, so there every op throws
 * "util_1.isNullOrUndefined is not a function" (tensorflow/tfjs#8609; fixed in TF.js's sources by
 * tensorflow/tfjs#8425, which no release has shipped). These are the only `util.is*` functions, and
 * the only `util` members Node has removed or deprecated, that the installed TF.js packages call
 * (`promisify`, `types`, `TextEncoder` and `TextDecoder` are current). tfjs-node looks them up on the
 * shared `util` object at each call, so defining them here, before it loads, is enough; they do what
 * Node's did, without the warning.
 *
 * Remove this when a TF.js release no longer calls them: `grep -rn "util_1.is" node_modules/@tensorflow/tfjs-node/dist`
 * finds nothing, and test/backend.test.ts still passes without it.
 */
function supplyRemovedNodeUtil(): void {
  // Node's module object itself (an `import * as` namespace would be a read-only copy).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const util = require("node:util") as Record<string, unknown>;
  util.isNullOrUndefined = (value: unknown): value is null | undefined => value === null || value === undefined;
  util.isArray = Array.isArray;
}

function load(): { tf: typeof TF; info: BackendInfo } {
  supplyRemovedNodeUtil();
  if (process.env.TF_CPP_MIN_LOG_LEVEL === undefined) process.env.TF_CPP_MIN_LOG_LEVEL = "2";
  // Read by TensorFlow when it starts, so before the native package is loaded.
  if (process.env.TF_ENABLE_ONEDNN_OPTS === undefined) process.env.TF_ENABLE_ONEDNN_OPTS = "1";
  const forced = process.env.KT_BACKEND?.trim();
  if (forced && !CANDIDATES.some((c) => c.key === forced)) {
    throw new Error(
      `KT_BACKEND="${forced}" is not one of gpu, node, js; unset it to pick the best backend automatically.`,
    );
  }
  const skipped: string[] = [];
  for (const c of CANDIDATES) {
    if (forced && c.key !== forced) continue;
    let mod: typeof TF;
    try {
      // Chosen at run time, so loaded by name; the first one that loads wins.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require(c.pkg) as typeof TF;
    } catch (e) {
      skipped.push(`${c.pkg}: ${firstLine(e)}`);
      if (forced) {
        throw new Error(
          `KT_BACKEND=${forced} asks for ${c.pkg}, which does not load: ${firstLine(e)}. ` +
            `Run "npm run setup" (it builds the native backend when needed) or unset KT_BACKEND.`,
          { cause: e },
        );
      }
      continue;
    }
    const tf = mod;
    if (c.kind !== "cpu") {
      // Both backends are ready at once: setBackend's promise has nothing left to wait for.
      if (tf.getBackend() !== "tensorflow") void tf.setBackend("tensorflow");
    } else {
      // Without a native package, nothing but the pure-JS backend is usable in Node.
      void tf.setBackend("cpu");
    }
    const native = c.kind === "cpu" ? null : nodeKernelBackend(tf.backend());
    const tensorflowVersion = native?.binding.TF_Version;
    const usingGpu = Boolean(native?.isUsingGpuDevice);
    const oneDNN =
      c.kind !== "cpu" && ["1", "true", "on", "yes"].includes(process.env.TF_ENABLE_ONEDNN_OPTS!.trim().toLowerCase());
    const device =
      c.kind === "cpu"
        ? "CPU (pure JavaScript, no native TensorFlow)"
        : `${usingGpu ? "GPU" : "CPU"} (native TensorFlow ${tensorflowVersion ?? "?"}${oneDNN && !usingGpu ? ", oneDNN" : ""})`;
    const info: BackendInfo = {
      kind: c.kind,
      package: c.pkg,
      backend: tf.getBackend(),
      device,
      tensorflowVersion,
      tfjsVersion: tf.version.tfjs,
      usingGpu,
      oneDNN,
      skipped,
    };
    if (c.kind === "cpu") {
      console.warn(
        "WARNING: no native TensorFlow backend could be loaded; TF.js falls back to pure JavaScript, " +
          "which is far too slow to train InceptionV3 or Xception. Run `npm run setup` to build the native backend.\n" +
          skipped.map((s) => `  - ${s}`).join("\n"),
      );
    } else if (c.kind === "tensorflow-gpu" && !usingGpu) {
      console.warn(
        "WARNING: @tensorflow/tfjs-node-gpu loaded but TensorFlow found no usable GPU (check CUDA and cuDNN); running on the CPU.",
      );
    }
    return { tf, info };
  }
  throw new Error(`No TensorFlow.js package could be loaded:\n${skipped.join("\n")}`);
}

const loaded = load();

/** TensorFlow.js, on the best backend available. */
export const tf: typeof TF = loaded.tf;

/** Which backend and device are in use, and why better ones were skipped. */
export function backendInfo(): BackendInfo {
  return { ...loaded.info, skipped: [...loaded.info.skipped] };
}

/**
 * The backend in one line, e.g. "TF.js 4.22.0 on CPU (native TensorFlow 2.21.0) via @tensorflow/tfjs-node"
 * (the public `describeBackend()` of src/engine/select.ts adds the engine).
 */
export function describeDevice(): string {
  const i = loaded.info;
  return `TF.js ${i.tfjsVersion} on ${i.device} via ${i.package}`;
}

/** tfjs-node's image codecs (`tf.node.decodeImage`, `tf.node.encodePng`, `encodeJpeg`). */
export type ImageCodecs = Pick<NodeNamespace, "decodeImage" | "encodePng" | "encodeJpeg">;

/** The native backend's image codecs; a clear error on the pure-JavaScript backend, which has none. */
export function imageCodecs(): ImageCodecs {
  const node = nodeNamespace(loaded.tf);
  if (!node) {
    throw new Error(
      `Reading images needs the native TensorFlow backend (tf.node.decodeImage), but ${loaded.info.package} is in use. ` +
        `Run "npm run setup" (it builds the native backend when needed), or unset KT_BACKEND.`,
    );
  }
  return node;
}
