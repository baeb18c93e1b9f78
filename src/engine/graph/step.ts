/**
 * The graphs of a compiled model: what `fit`, `evaluate` and `predict` run, as signatures of one
 * TensorFlow graph, built from the model by ./lower.ts.
 *
 *   "train"     one training step: the forward pass in training mode, categorical cross-entropy on
 *               the softmax's logits, the gradients of the trainable weights (./gradients.ts),
 *               Keras 3's Adam update, Keras 3's moving averages of batch normalisation; returns the
 *               loss, the accuracy and the new weights, Adam slots and moving statistics.
 *   "evaluate"  loss and accuracy in inference mode.
 *   "predict"   the model's outputs in inference mode.
 *
 * The graph holds no state: each weight, slot and statistic is an input, and what changes comes
 * back as an output (`GraphPlan` says which is which, for src/engine/graph/compiled.ts to feed and
 * write back). `t` (the optimizer's update count) and the learning rate are inputs too, so changing
 * the learning rate needs no new graph.
 */
import type * as TF from "@tensorflow/tfjs";
import { BatchNormalization } from "../../keras/layers";
import { gradients } from "./gradients";
import { Graph, type SymTensor } from "./graph";
import { GraphCompileError, lowerModel, type LoweringContext } from "./lower";
import * as ops from "./ops";
import type { Signature } from "./savedmodel";

export type SignatureName = "train" | "evaluate" | "predict";

/** What each input of a signature is fed with, and where each output goes. */
export type Feed =
  | { kind: "x"; index: number }
  | { kind: "y" }
  | { kind: "learningRate" }
  | { kind: "iterations" }
  | { kind: "seed" }
  | { kind: "weight"; variable: TF.LayerVariable }
  | { kind: "m" | "v"; variable: TF.LayerVariable };

export type Fetch =
  | { kind: "loss" }
  | { kind: "accuracy" }
  | { kind: "output"; index: number }
  | { kind: "weight"; variable: TF.LayerVariable }
  | { kind: "m" | "v"; variable: TF.LayerVariable };

export interface GraphPlan {
  graph: Graph;
  signatures: Partial<Record<SignatureName, Signature>>;
  feeds: Partial<Record<SignatureName, Feed[]>>;
  fetches: Partial<Record<SignatureName, Fetch[]>>;
}

export interface AdamConstants {
  beta1: number;
  beta2: number;
  epsilon: number;
}

export interface PlanOptions {
  /** The signatures to build. */
  signatures: SignatureName[];
  /** "train": the weights to train, in the optimizer's order. */
  trainable?: TF.LayerVariable[];
  /** "train": Adam's constants (the learning rate is an input). */
  adam?: AdamConstants;
}

function softmaxLogits(output: SymTensor, model: TF.LayersModel): SymTensor {
  if (output.node.op !== "Softmax") {
    throw new GraphCompileError(
      `Model ${model.name}: the graph engine trains models whose output is a softmax (categorical cross-entropy on its logits).`,
    );
  }
  return output.node.inputs[0];
}

/**
 * Builds the graph and the signatures of `model`, or of a chain of models (each one's outputs are
 * the next one's inputs; inference signatures only), such as the tutorial's front and frozen layers.
 */
export function planGraph(chain: TF.LayersModel | TF.LayersModel[], options: PlanOptions): GraphPlan {
  const models = Array.isArray(chain) ? chain : [chain];
  if (models.length === 0) throw new Error("planGraph: no model.");
  if (models.length > 1 && (options.signatures.includes("train") || options.signatures.includes("evaluate"))) {
    throw new Error("planGraph: a chain of models compiles for prediction only.");
  }
  const model = models[0];
  const g = new Graph();
  const plan: GraphPlan = { graph: g, signatures: {}, feeds: {}, fetches: {} };
  // One placeholder per model input and per weight, shared by every signature.
  // The batch is left unknown: one graph serves every batch size, the last smaller batch included.
  const xs = model.inputs.map((t, i) =>
    g.placeholder(`x${i}`, "float32", [null, ...t.shape.slice(1).map((d) => d ?? null)]),
  );
  const y = g.placeholder("y", "float32", [
    null,
    ...models[models.length - 1].outputs[0].shape.slice(1).map((d) => d ?? null),
  ]);
  const weightInputs = new Map<TF.LayerVariable, SymTensor>();
  const order: TF.LayerVariable[] = [];
  const weight = (variable: TF.LayerVariable) => {
    let t = weightInputs.get(variable);
    if (!t) {
      t = g.placeholder(
        `w${weightInputs.size}`,
        "float32",
        variable.shape.map((d) => d as number),
      );
      weightInputs.set(variable, t);
      order.push(variable);
    }
    return t;
  };
  const weightFeeds = (): { inputs: Signature["inputs"]; feeds: Feed[] } => ({
    inputs: order.map((v) => ({ name: weightInputs.get(v)!.node.name, tensor: weightInputs.get(v)! })),
    feeds: order.map((variable) => ({ kind: "weight", variable })),
  });
  const xFeeds = () => ({
    inputs: xs.map((t, i) => ({ name: `x${i}`, tensor: t })),
    feeds: xs.map((_, index): Feed => ({ kind: "x", index })),
  });

  const wantInference = options.signatures.includes("evaluate") || options.signatures.includes("predict");
  if (wantInference) {
    const outputs = g.scope("inference", () =>
      models.reduce((inputs, m) => lowerModel({ g, mode: "inference", weight }, m, inputs), xs),
    );
    if (options.signatures.includes("predict")) {
      const w = weightFeeds();
      const x = xFeeds();
      plan.signatures.predict = {
        inputs: [...x.inputs, ...w.inputs],
        outputs: outputs.map((tensor, i) => ({
          name: `output${i}`,
          tensor: ops.identity(g, tensor, `predict_output${i}`),
        })),
      };
      plan.feeds.predict = [...x.feeds, ...w.feeds];
      plan.fetches.predict = outputs.map((_, index): Fetch => ({ kind: "output", index }));
    }
    if (options.signatures.includes("evaluate")) {
      const { loss, accuracy } = g.scope("evaluate", () => lossAndAccuracy(g, softmaxLogits(outputs[0], model), y));
      const w = weightFeeds();
      const x = xFeeds();
      plan.signatures.evaluate = {
        inputs: [...x.inputs, { name: "y", tensor: y }, ...w.inputs],
        outputs: [
          { name: "loss", tensor: ops.identity(g, loss, "evaluate_loss") },
          { name: "accuracy", tensor: ops.identity(g, accuracy, "evaluate_accuracy") },
        ],
      };
      plan.feeds.evaluate = [...x.feeds, { kind: "y" }, ...w.feeds];
      plan.fetches.evaluate = [{ kind: "loss" }, { kind: "accuracy" }];
    }
  }

  if (options.signatures.includes("train")) {
    const trainable = options.trainable ?? [];
    const adam = options.adam;
    if (!adam) throw new Error("planGraph: the train signature needs Adam's constants.");
    const learningRate = g.placeholder("learning_rate", "float32", []);
    const iterations = g.placeholder("iterations", "float32", []);
    const seed = g.placeholder("seed", "int32", [2]);
    const statistics: Array<{ variable: TF.LayerVariable; value: SymTensor }> = [];
    const ctx: LoweringContext = {
      g,
      mode: "train",
      weight,
      seed,
      onBatchStatistics: (layer: BatchNormalization, mean: SymTensor, variance: SymTensor) => {
        const v = layer.variables();
        const m = layer.momentum;
        // Keras 3: moving = moving * momentum + batch * (1 - momentum).
        const update = (variable: TF.LayerVariable, batch: SymTensor) =>
          statistics.push({
            variable,
            value: ops.add(g, ops.mul(g, weight(variable), g.constant(m)), ops.mul(g, batch, g.constant(1 - m))),
          });
        update(v.movingMean, mean);
        update(v.movingVariance, variance);
      },
    };
    const [output] = g.scope("train", () => lowerModel(ctx, model, xs));
    const { loss, accuracy } = g.scope("train/loss", () => lossAndAccuracy(g, softmaxLogits(output, model), y));
    for (const v of trainable) weight(v);
    const wrt = trainable.map((v) => weightInputs.get(v)!);
    const grads = gradients(g, [loss], [g.constant(1)], wrt);
    const slotInputs = trainable.map((v, i) => ({
      m: g.placeholder(`m${i}`, "float32", v.shape as number[]),
      v: g.placeholder(`v${i}`, "float32", v.shape as number[]),
    }));
    const updated = g.scope("adam", () => {
      // Keras 3's Adam (keras/src/optimizers/adam.py), the same arithmetic as src/engine/adam.ts.
      const t = ops.add(g, iterations, g.constant(1));
      const b1 = ops.pow(g, g.constant(adam.beta1), t);
      const b2 = ops.pow(g, g.constant(adam.beta2), t);
      const alpha = ops.div(
        g,
        ops.mul(g, learningRate, ops.sqrt(g, ops.sub(g, g.constant(1), b2))),
        ops.sub(g, g.constant(1), b1),
      );
      return trainable.map((variable, i) => {
        const grad = grads[i];
        const w = wrt[i];
        const { m, v } = slotInputs[i];
        if (grad === null) return { w, m, v }; // no gradient: Keras skips the variable
        const m1 = ops.add(g, m, ops.mul(g, ops.sub(g, grad, m), g.constant(1 - adam.beta1)));
        const v1 = ops.add(g, v, ops.mul(g, ops.sub(g, ops.square(g, grad), v), g.constant(1 - adam.beta2)));
        const w1 = ops.sub(
          g,
          w,
          ops.div(g, ops.mul(g, m1, alpha), ops.add(g, ops.sqrt(g, v1), g.constant(adam.epsilon))),
        );
        return { w: w1, m: m1, v: v1 };
      });
    });
    const w = weightFeeds();
    const x = xFeeds();
    const inputs: Signature["inputs"] = [
      ...x.inputs,
      { name: "y", tensor: y },
      { name: "learning_rate", tensor: learningRate },
      { name: "iterations", tensor: iterations },
      { name: "seed", tensor: seed },
      ...w.inputs,
      ...slotInputs.flatMap((s, i) => [
        { name: `m${i}`, tensor: s.m },
        { name: `v${i}`, tensor: s.v },
      ]),
    ];
    const feeds: Feed[] = [
      ...x.feeds,
      { kind: "y" },
      { kind: "learningRate" },
      { kind: "iterations" },
      { kind: "seed" },
      ...w.feeds,
      ...trainable.flatMap((variable): Feed[] => [
        { kind: "m", variable },
        { kind: "v", variable },
      ]),
    ];
    const outputs: Signature["outputs"] = [
      { name: "loss", tensor: ops.identity(g, loss, "train_loss") },
      { name: "accuracy", tensor: ops.identity(g, accuracy, "train_accuracy") },
    ];
    const fetches: Fetch[] = [{ kind: "loss" }, { kind: "accuracy" }];
    trainable.forEach((variable, i) => {
      if (grads[i] === null) return;
      outputs.push({ name: `new_w${i}`, tensor: ops.identity(g, updated[i].w, `new_w${i}`) });
      outputs.push({ name: `new_m${i}`, tensor: ops.identity(g, updated[i].m, `new_m${i}`) });
      outputs.push({ name: `new_v${i}`, tensor: ops.identity(g, updated[i].v, `new_v${i}`) });
      fetches.push({ kind: "weight", variable }, { kind: "m", variable }, { kind: "v", variable });
    });
    statistics.forEach(({ variable, value }, i) => {
      outputs.push({ name: `new_s${i}`, tensor: ops.identity(g, value, `new_s${i}`) });
      fetches.push({ kind: "weight", variable });
    });
    plan.signatures.train = { inputs, outputs };
    plan.feeds.train = feeds;
    plan.fetches.train = fetches;
  }
  return plan;
}

/** Mean categorical cross-entropy (on logits, as Keras computes it for a softmax output) and mean accuracy. */
function lossAndAccuracy(g: Graph, logits: SymTensor, y: SymTensor): { loss: SymTensor; accuracy: SymTensor } {
  const { loss } = ops.softmaxCrossEntropyWithLogits(g, logits, y);
  const correct = ops.cast(g, ops.equal(g, ops.argMax(g, logits, -1), ops.argMax(g, y, -1)), "float32");
  return { loss: ops.mean(g, loss, [0]), accuracy: ops.mean(g, correct, [0]) };
}
