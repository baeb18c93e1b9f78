/**
 * Which engine trains and predicts:
 *
 *   "graph"  each model is compiled to one TensorFlow graph per task (./graph/): a training step
 *            is one session run, optimised as a whole by TensorFlow (and oneDNN on the CPU). The
 *            default on the native backends (@tensorflow/tfjs-node and -gpu).
 *   "eager"  TF.js runs the model op by op (`model.trainOnBatch`, `model.predict`): the reference,
 *            and the only engine on the pure-JavaScript backend.
 *
 * `KT_ENGINE=graph|eager` in the environment, `useEngine(...)`, or `engine:` in the options of
 * `fit`, `evaluate` and `predict` choose; "auto" (the default) picks the graph engine wherever it
 * can run.
 */
import { adamKernel } from "../tfjs/adam_kernel";
import { backendInfo, describeDevice } from "../tfjs/backend";
import { cpuBfloat16 } from "../util/cpu";

export type EngineName = "graph" | "eager";
export type EngineChoice = EngineName | "auto";

function fromEnvironment(): EngineChoice {
  const v = (process.env.KT_ENGINE ?? "").trim().toLowerCase();
  if (v === "") return "auto";
  if (v === "graph" || v === "eager" || v === "auto") return v;
  throw new Error(
    `KT_ENGINE="${process.env.KT_ENGINE}" is not one of graph, eager, auto; unset it to use the graph engine where it can run.`,
  );
}

let preferred: EngineChoice = fromEnvironment();

/** Whether the graph engine can run here (it needs native TensorFlow). */
export function graphEngineAvailable(): boolean {
  return backendInfo().kind !== "cpu";
}

/** Sets the engine used from now on when a call does not name one; returns the previous choice. */
export function useEngine(choice: EngineChoice): EngineChoice {
  checkChoice(choice);
  const before = preferred;
  preferred = choice;
  return before;
}

function checkChoice(choice: unknown): asserts choice is EngineChoice {
  if (choice !== "graph" && choice !== "eager" && choice !== "auto") {
    throw new Error(`engine must be "graph", "eager" or "auto", got ${JSON.stringify(choice)}.`);
  }
}

/** The engine a call runs on: its own choice, else the preferred one; "auto" is the graph engine where available. */
export function resolveEngine(choice?: EngineChoice): EngineName {
  const c = choice ?? preferred;
  checkChoice(c);
  if (c === "eager") return "eager";
  if (graphEngineAvailable()) return "graph";
  if (c === "graph") {
    throw new Error(
      'The graph engine needs native TensorFlow (@tensorflow/tfjs-node or -gpu), which is not loaded: run `npm run setup`, or use engine: "eager".',
    );
  }
  return "eager";
}

/**
 * One line for logs and notebooks: the backend, the engine and what the CPU does with bfloat16, e.g.
 * "TF.js 4.22.0 on CPU (native TensorFlow 2.21.0, oneDNN) via @tensorflow/tfjs-node; graph engine
 * (…); bfloat16 native on this CPU (avx512_bf16, amx_bf16)".
 */
export function describeBackend(): string {
  const engine = resolveEngine();
  const runs =
    engine === "graph"
      ? `graph engine (each training step is one TensorFlow graph; ${describeAdam()})`
      : "eager engine";
  return `${describeDevice()}; ${runs}; ${describeBfloat16()}`;
}

/** How the graph engine's step updates the weights: the fused Adam kernel, or why not. */
function describeAdam(): string {
  const kernel = adamKernel();
  return kernel.loaded
    ? "Adam in one fused kernel"
    : `Adam in elementwise ops, the fused kernel not used: ${kernel.reason}`;
}

/** What "mixed_bfloat16" does on this machine, in a few words (the CPU's flags; a GPU is not judged). */
function describeBfloat16(): string {
  if (backendInfo().usingGpu) return "bfloat16 on the GPU (mixed_bfloat16: fast on GPUs from NVIDIA Ampere on)";
  const cpu = cpuBfloat16();
  if (cpu.native === undefined) return "bfloat16 support of this CPU unknown (its flags could not be read)";
  if (cpu.native) return `bfloat16 native on this CPU (${cpu.features.join(", ")})`;
  return "bfloat16 not native on this CPU (no avx512_bf16 or amx_bf16): mixed_bfloat16 would run slower than float32";
}
