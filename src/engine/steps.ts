/**
 * What a model runs, on one engine, behind one interface, so that the code that trains, evaluates
 * and predicts does not branch on the engine:
 *
 *   trainer(target, part)   the training step of the whole model or of the layers after the
 *                           frozen prefix (`part`), as a `Trainer` of the fit loop
 *   evaluator()             loss and accuracy of the whole model in inference mode
 *   predictor()             the whole model's outputs for a batch
 *   features(split)         the frozen layers' outputs for a batch (./frozen_prefix.ts)
 *
 * The graph engine compiles each on first use, in the model's precision, and keeps it in the model's
 * `ModelGraphs` under a key that names the precision and what it computes ("float32:inference",
 * "mixed_bfloat16:features@<depth>", "float32:train@<depth>/<part>/…"); the eager engine runs
 * TF.js's own `trainOnBatch`, `evaluate` and `predict`, in float32 only (TF.js has no bfloat16
 * tensors): under "mixed_bfloat16" it refuses with an error that says what to do
 * (`checkEngineSupports`).
 */
import type * as TF from "@tensorflow/tfjs";
import type { Precision } from "../keras/dtype_policy";
import { eagerTrainer } from "./eager";
import { prefixOutputs, type PrefixSplit } from "./frozen_prefix";
import { CompiledModel } from "./graph/compiled";
import type { ModelGraphs } from "./graph/model_graphs";
import type { Trainer } from "./loop";
import type { EngineName } from "./select";

export interface ModelSteps {
  trainer(target: TF.LayersModel, part: "whole" | "suffix"): Promise<Trainer>;
  evaluator(): Promise<Pick<Trainer, "evaluateBatch">>;
  predictor(): Promise<(x: TF.Tensor) => TF.Tensor>;
  features(split: PrefixSplit): Promise<(x: TF.Tensor) => TF.Tensor[]>;
}

/**
 * The steps of `model` frozen at `depth` on `engine`, in `precision`; the graph engine keeps its
 * graphs in `graphs`.
 */
export function modelSteps(
  engine: EngineName,
  model: TF.LayersModel,
  graphs: ModelGraphs,
  depth: number,
  precision: Precision,
): ModelSteps {
  checkEngineSupports(engine, precision);
  return engine === "graph" ? graphSteps(model, graphs, depth, precision) : eagerSteps(model);
}

/** Refuses the eager engine under mixed precision, with what to do instead. */
export function checkEngineSupports(engine: EngineName, precision: Precision): void {
  if (engine === "eager" && precision !== "float32") {
    throw new Error(
      `The precision "${precision}" runs on the graph engine only: the eager engine runs TF.js op by op, and TF.js ` +
        `has no bfloat16 tensors. Use engine: "graph" (the default with native TensorFlow; check KT_ENGINE and ` +
        `useEngine), or set the model's precision to "float32" (learner.setPrecision("float32")).`,
    );
  }
}

/** The key of a graph: the precision it computes in, then what it computes. */
function graphKey(precision: Precision, what: string): string {
  return `${precision}:${what}`;
}

/** Whether a graph key is a whole model's inference graph, kept across freeze depths (the only ones that are). */
export function isInferenceGraph(key: string): boolean {
  return key.endsWith(":inference");
}

/** Whether a graph key names a graph of this precision. */
export function isGraphOf(precision: Precision, key: string): boolean {
  return key.startsWith(`${precision}:`);
}

function graphSteps(model: TF.LayersModel, graphs: ModelGraphs, depth: number, precision: Precision): ModelSteps {
  const inference = () =>
    graphs.get(graphKey(precision, "inference"), () =>
      CompiledModel.compile(model, { signatures: ["evaluate", "predict"], precision }),
    );
  return {
    trainer: (target, part) => graphs.trainer(model, target, graphKey(precision, `train@${depth}/${part}`), precision),
    evaluator: inference,
    predictor: async () => {
      const graph = await inference();
      return (x) => graph.predictBatch([x])[0];
    },
    features: async (split) => {
      const graph = await graphs.get(graphKey(precision, `features@${depth}`), () =>
        CompiledModel.compile([split.front, split.prefix], { signatures: ["predict"], precision }),
      );
      return (x) => graph.predictBatch([x]);
    },
  };
}

function eagerSteps(model: TF.LayersModel): ModelSteps {
  return {
    trainer: (target) => Promise.resolve(eagerTrainer(target)),
    evaluator: () => Promise.resolve(eagerTrainer(model)),
    predictor: () => Promise.resolve((x) => model.predict(x, { batchSize: x.shape[0] }) as TF.Tensor),
    features: (split) => Promise.resolve((x) => prefixOutputs(split, x)),
  };
}
