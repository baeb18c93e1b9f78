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
 * The graph engine compiles each on first use and keeps it in the model's `ModelGraphs` under a key
 * that names what it computes ("inference", "features@<depth>", "train@<depth>/<part>/…"); the
 * eager engine runs TF.js's own `trainOnBatch`, `evaluate` and `predict`.
 */
import type * as TF from "@tensorflow/tfjs";
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

/** The steps of `model` frozen at `depth` on `engine`; the graph engine keeps its graphs in `graphs`. */
export function modelSteps(engine: EngineName, model: TF.LayersModel, graphs: ModelGraphs, depth: number): ModelSteps {
  return engine === "graph" ? graphSteps(model, graphs, depth) : eagerSteps(model);
}

/** The key of the whole model's inference graph, kept across freeze depths (the only one that is). */
export const INFERENCE_GRAPH = "inference";

function graphSteps(model: TF.LayersModel, graphs: ModelGraphs, depth: number): ModelSteps {
  const inference = () =>
    graphs.get(INFERENCE_GRAPH, () => CompiledModel.compile(model, { signatures: ["evaluate", "predict"] }));
  return {
    trainer: (target, part) => graphs.trainer(model, target, `train@${depth}/${part}`),
    evaluator: inference,
    predictor: async () => {
      const graph = await inference();
      return (x) => graph.predictBatch([x])[0];
    },
    features: async (split) => {
      const graph = await graphs.get(`features@${depth}`, () =>
        CompiledModel.compile([split.front, split.prefix], { signatures: ["predict"] }),
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
