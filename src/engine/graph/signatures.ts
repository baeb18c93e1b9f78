/**
 * The entry points of a compiled model, as signatures of one TensorFlow graph built from the model
 * by ./lower.ts:
 *
 *   "train"     one training step: the forward pass in training mode, categorical cross-entropy on
 *               the softmax's logits, the gradients of the trainable weights (./gradients.ts),
 *               Keras 3's Adam update (`adamUpdate`), Keras 3's moving averages of batch
 *               normalisation (`movingAverages`); returns the loss, the accuracy and the new
 *               weights, Adam slots and moving statistics (`trainSignature`).
 *   "evaluate"  loss and accuracy in inference mode (`inferenceSignatures`).
 *   "predict"   the model's outputs in inference mode.
 *
 * The graph holds no state: each weight, slot and statistic is an input, and what changes comes
 * back as an output. Each signature is one list of bindings per side, `{ name, tensor, role }`: the
 * SavedModel's SignatureDef, the order ./compiled.ts feeds the inputs in and the order it writes the
 * outputs back in all come from that list. `t` (the optimizer's update count), the learning rate
 * and Adam's β₁ (with 1 − β₁, taken in double as Keras takes it from its Python float) are inputs
 * too, so a schedule that changes them from step to step needs no new graph.
 *
 * Precision (`precision`, Keras's dtype policy names): under "mixed_bfloat16" the layers compute in
 * bfloat16 (./lower.ts casts as Keras does) while every input and output of a signature stays
 * float32: the weights, the slots, the statistics, the loss, the class probabilities, and the
 * "predict" outputs of a chain (the frozen-prefix cache's features: bfloat16 values held in float32,
 * which a later graph casts back to bfloat16 exactly). "float32" emits the same graph as without
 * a precision, byte for byte.
 */
import type * as TF from "@tensorflow/tfjs";
import { computeDtype, layerPolicy, type Precision } from "../../keras/dtype_policy";
import type { BatchNormalization } from "../../keras/layers";
import { gradients } from "./gradients";
import { Graph, type SymTensor } from "./graph";
import { GraphCompileError, lowerModel, type LoweringContext } from "./lower";
import * as ops from "./ops";

export type SignatureName = "train" | "evaluate" | "predict";

/** What feeds a signature's input. */
export type InputRole =
  | { kind: "x"; index: number }
  | { kind: "y" }
  | { kind: "weight"; variable: TF.LayerVariable }
  | { kind: "learningRate" }
  | { kind: "beta1" }
  | { kind: "oneMinusBeta1" }
  | { kind: "iterations" }
  | { kind: "seed" }
  | { kind: "slot"; slot: "m" | "v"; variable: TF.LayerVariable };

/** Where a signature's output goes. */
export type OutputRole =
  | { kind: "loss" }
  | { kind: "accuracy" }
  | { kind: "output"; index: number }
  | { kind: "weight"; variable: TF.LayerVariable }
  | { kind: "slot"; slot: "m" | "v"; variable: TF.LayerVariable };

/** One input or output of a signature: its name in the SignatureDef, its graph tensor, and its role. */
export interface Binding<Role> {
  name: string;
  tensor: SymTensor;
  role: Role;
}

export interface Signature {
  inputs: Array<Binding<InputRole>>;
  outputs: Array<Binding<OutputRole>>;
}

/** A graph and its signatures. */
export interface SignatureGraph {
  graph: Graph;
  signatures: Partial<Record<SignatureName, Signature>>;
}

export interface AdamConstants {
  beta2: number;
  epsilon: number;
  /**
   * Each weight's update as the project's fused kernel (`KtAdam`, src/tfjs/adam_kernel.ts; the same
   * results bit for bit) instead of twelve elementwise ops. Only where that kernel is loaded.
   */
  fused?: boolean;
}

export interface SignatureOptions {
  /** The signatures to build. */
  signatures: SignatureName[];
  /** "train": the weights to train, in the optimizer's order. */
  trainable?: TF.LayerVariable[];
  /** "train": Adam's constants (the learning rate and β₁ are inputs). */
  adam?: AdamConstants;
  /** Keras's dtype policy of the model (default "float32"). */
  precision?: Precision;
}

/**
 * The inputs every signature shares: one placeholder per model input, the labels, and one per
 * weight (made on first use, in first-use order). The batch is left unknown: one graph serves every
 * batch size, the last smaller batch included.
 */
class SharedInputs {
  readonly xs: SymTensor[];
  readonly y: SymTensor;
  private readonly weights = new Map<TF.LayerVariable, SymTensor>();

  constructor(
    readonly g: Graph,
    first: TF.LayersModel,
    last: TF.LayersModel,
    /** The model's dtype policy (what each layer computes in). */
    readonly precision: Precision,
  ) {
    const batchOf = (shape: Array<number | null>) => [null, ...shape.slice(1).map((d) => d ?? null)];
    this.xs = first.inputs.map((t, i) => g.placeholder(`x${i}`, "float32", batchOf(t.shape)));
    this.y = g.placeholder("y", "float32", batchOf(last.outputs[0].shape));
  }

  /** The placeholder holding `variable`'s value. */
  readonly weight = (variable: TF.LayerVariable): SymTensor => {
    let t = this.weights.get(variable);
    if (!t) {
      t = this.g.placeholder(`w${this.weights.size}`, "float32", variable.shape as number[]);
      this.weights.set(variable, t);
    }
    return t;
  };

  xBindings(): Array<Binding<InputRole>> {
    return this.xs.map((tensor, index) => ({ name: `x${index}`, tensor, role: { kind: "x", index } }));
  }

  yBinding(): Binding<InputRole> {
    return { name: "y", tensor: this.y, role: { kind: "y" } };
  }

  weightBindings(): Array<Binding<InputRole>> {
    return [...this.weights].map(([variable, tensor]) => ({
      name: tensor.node.name,
      tensor,
      role: { kind: "weight", variable },
    }));
  }
}

/**
 * Builds the graph and the signatures of `model`, or of a chain of models (each one's outputs are
 * the next one's inputs; inference signatures only), such as the tutorial's front and frozen layers.
 */
export function buildSignatures(chain: TF.LayersModel | TF.LayersModel[], options: SignatureOptions): SignatureGraph {
  const models = Array.isArray(chain) ? chain : [chain];
  if (models.length === 0) throw new Error("buildSignatures: no model.");
  const wanted = new Set(options.signatures);
  if (models.length > 1 && (wanted.has("train") || wanted.has("evaluate"))) {
    throw new Error("buildSignatures: a chain of models compiles for prediction only.");
  }
  const g = new Graph();
  const shared = new SharedInputs(g, models[0], models[models.length - 1], options.precision ?? "float32");
  const result: SignatureGraph = { graph: g, signatures: {} };
  if (wanted.has("predict") || wanted.has("evaluate")) {
    Object.assign(result.signatures, inferenceSignatures(shared, models, wanted));
  }
  if (wanted.has("train")) {
    if (!options.adam) throw new Error("buildSignatures: the train signature needs Adam's constants.");
    result.signatures.train = trainSignature(shared, models[0], options.trainable ?? [], options.adam);
  }
  return result;
}

/** The lowering context's `dtypeOf` for a precision: none for float32 (no Cast is emitted). */
function dtypeOf(precision: Precision): LoweringContext["dtypeOf"] {
  if (precision === "float32") return undefined;
  return (layer) => computeDtype(layerPolicy(precision, layer));
}

/** A signature output in float32 (a bfloat16 layer output is cast; a float32 one is the tensor itself). */
function asFloat32(g: Graph, t: SymTensor): SymTensor {
  return t.dtype === "bfloat16" ? ops.cast(g, t, "float32") : t;
}

/** "predict" and "evaluate", over one forward pass in inference mode. */
function inferenceSignatures(
  shared: SharedInputs,
  models: TF.LayersModel[],
  wanted: Set<SignatureName>,
): Partial<Record<SignatureName, Signature>> {
  const g = shared.g;
  const ctx: LoweringContext = { g, mode: "inference", weight: shared.weight, dtypeOf: dtypeOf(shared.precision) };
  const outputs = g.scope("inference", () => models.reduce((inputs, m) => lowerModel(ctx, m, inputs), shared.xs));
  const signatures: Partial<Record<SignatureName, Signature>> = {};
  if (wanted.has("predict")) {
    signatures.predict = {
      inputs: [...shared.xBindings(), ...shared.weightBindings()],
      outputs: outputs.map((tensor, index) => ({
        name: `output${index}`,
        tensor: ops.identity(g, asFloat32(g, tensor), `predict_output${index}`),
        role: { kind: "output", index },
      })),
    };
  }
  if (wanted.has("evaluate")) {
    const logits = softmaxLogits(outputs[0], models[0]);
    const { loss, accuracy } = g.scope("evaluate", () => lossAndAccuracy(g, logits, shared.y));
    signatures.evaluate = {
      inputs: [...shared.xBindings(), shared.yBinding(), ...shared.weightBindings()],
      outputs: [
        { name: "loss", tensor: ops.identity(g, loss, "evaluate_loss"), role: { kind: "loss" } },
        { name: "accuracy", tensor: ops.identity(g, accuracy, "evaluate_accuracy"), role: { kind: "accuracy" } },
      ],
    };
  }
  return signatures;
}

/** A batch statistic of a trainable batch-normalisation layer, for its moving average. */
interface BatchStatistic {
  variable: TF.LayerVariable;
  momentum: number;
  batch: SymTensor;
}

/** "train": the forward pass in training mode, the loss, the gradients, Adam and the moving averages. */
function trainSignature(
  shared: SharedInputs,
  model: TF.LayersModel,
  trainable: TF.LayerVariable[],
  adam: AdamConstants,
): Signature {
  const g = shared.g;
  const step = {
    learningRate: g.placeholder("learning_rate", "float32", []),
    beta1: g.placeholder("beta_1", "float32", []),
    oneMinusBeta1: g.placeholder("one_minus_beta_1", "float32", []),
    iterations: g.placeholder("iterations", "float32", []),
    seed: g.placeholder("seed", "int32", [2]),
  };
  const statistics: BatchStatistic[] = [];
  const ctx: LoweringContext = {
    g,
    mode: "train",
    weight: shared.weight,
    seed: step.seed,
    dtypeOf: dtypeOf(shared.precision),
    onBatchStatistics: (layer: BatchNormalization, mean: SymTensor, variance: SymTensor) => {
      const v = layer.variables();
      statistics.push({ variable: v.movingMean, momentum: layer.momentum, batch: mean });
      statistics.push({ variable: v.movingVariance, momentum: layer.momentum, batch: variance });
    },
  };
  const [output] = g.scope("train", () => lowerModel(ctx, model, shared.xs));
  const { loss, accuracy } = g.scope("train/loss", () => lossAndAccuracy(g, softmaxLogits(output, model), shared.y));
  const params = trainable.map((variable, i) => ({
    variable,
    w: shared.weight(variable),
    m: g.placeholder(`m${i}`, "float32", variable.shape as number[]),
    v: g.placeholder(`v${i}`, "float32", variable.shape as number[]),
  }));
  const grads = gradients(
    g,
    [loss],
    [g.constant(1)],
    params.map((p) => p.w),
  );
  const updated = g.scope("adam", () => adamUpdate(g, step, adam, params, grads));
  const averaged = movingAverages(g, shared.weight, statistics);

  const slotInputs = params.flatMap(({ variable, m, v }): Array<Binding<InputRole>> => [
    { name: m.node.name, tensor: m, role: { kind: "slot", slot: "m", variable } },
    { name: v.node.name, tensor: v, role: { kind: "slot", slot: "v", variable } },
  ]);
  const outputs: Array<Binding<OutputRole>> = [
    { name: "loss", tensor: ops.identity(g, loss, "train_loss"), role: { kind: "loss" } },
    { name: "accuracy", tensor: ops.identity(g, accuracy, "train_accuracy"), role: { kind: "accuracy" } },
  ];
  updated.forEach((u, i) => {
    if (!u) return; // no gradient: Keras skips the variable
    const variable = params[i].variable;
    outputs.push(
      { name: `new_w${i}`, tensor: ops.identity(g, u.w, `new_w${i}`), role: { kind: "weight", variable } },
      { name: `new_m${i}`, tensor: ops.identity(g, u.m, `new_m${i}`), role: { kind: "slot", slot: "m", variable } },
      { name: `new_v${i}`, tensor: ops.identity(g, u.v, `new_v${i}`), role: { kind: "slot", slot: "v", variable } },
    );
  });
  averaged.forEach(({ variable, value }, i) => {
    outputs.push({
      name: `new_s${i}`,
      tensor: ops.identity(g, value, `new_s${i}`),
      role: { kind: "weight", variable },
    });
  });
  const inputs: Array<Binding<InputRole>> = [
    ...shared.xBindings(),
    shared.yBinding(),
    { name: "learning_rate", tensor: step.learningRate, role: { kind: "learningRate" } },
    { name: "beta_1", tensor: step.beta1, role: { kind: "beta1" } },
    { name: "one_minus_beta_1", tensor: step.oneMinusBeta1, role: { kind: "oneMinusBeta1" } },
    { name: "iterations", tensor: step.iterations, role: { kind: "iterations" } },
    { name: "seed", tensor: step.seed, role: { kind: "seed" } },
    ...shared.weightBindings(),
    ...slotInputs,
  ];
  return { inputs, outputs };
}

/**
 * Keras 3's Adam (keras/src/optimizers/adam.py), the same arithmetic as src/keras/optimizers/adam.ts:
 * the new weight and moments of each parameter, or null where the loss gives it no gradient. Twelve
 * elementwise ops per weight, or with `adam.fused` one `KtAdam` node that computes the same.
 */
function adamUpdate(
  g: Graph,
  step: { learningRate: SymTensor; beta1: SymTensor; oneMinusBeta1: SymTensor; iterations: SymTensor },
  adam: AdamConstants,
  params: Array<{ w: SymTensor; m: SymTensor; v: SymTensor }>,
  grads: Array<SymTensor | null>,
): Array<{ w: SymTensor; m: SymTensor; v: SymTensor } | null> {
  const one = g.constant(1);
  const t = ops.add(g, step.iterations, one);
  const b1 = ops.pow(g, step.beta1, t);
  const b2 = ops.pow(g, g.constant(adam.beta2), t);
  const alpha = ops.div(g, ops.mul(g, step.learningRate, ops.sqrt(g, ops.sub(g, one, b2))), ops.sub(g, one, b1));
  return params.map(({ w, m, v }, i) => {
    const grad = grads[i];
    if (grad === null) return null;
    if (adam.fused) {
      // A weight that a layer computes with in bfloat16 has the Cast's gradient, a widening of a
      // bfloat16 gradient: the kernel widens it as it reads it (exactly the same values), one pass fewer.
      const widened = grad.node.op === "Cast" && grad.node.inputs[0].dtype === "bfloat16" && grad.dtype === "float32";
      return ops.ktAdam(g, { w, m, v, grad: widened ? grad.node.inputs[0] : grad }, alpha, step.oneMinusBeta1, {
        oneMinusBeta2: 1 - adam.beta2,
        epsilon: adam.epsilon,
      });
    }
    const m1 = ops.add(g, m, ops.mul(g, ops.sub(g, grad, m), step.oneMinusBeta1));
    const v1 = ops.add(g, v, ops.mul(g, ops.sub(g, ops.square(g, grad), v), g.constant(1 - adam.beta2)));
    const w1 = ops.sub(g, w, ops.div(g, ops.mul(g, m1, alpha), ops.add(g, ops.sqrt(g, v1), g.constant(adam.epsilon))));
    return { w: w1, m: m1, v: v1 };
  });
}

/** Keras 3's moving averages of batch normalisation: moving = moving * momentum + batch * (1 - momentum). */
function movingAverages(
  g: Graph,
  weight: (variable: TF.LayerVariable) => SymTensor,
  statistics: BatchStatistic[],
): Array<{ variable: TF.LayerVariable; value: SymTensor }> {
  return statistics.map(({ variable, momentum, batch }) => ({
    variable,
    value: ops.add(g, ops.mul(g, weight(variable), g.constant(momentum)), ops.mul(g, batch, g.constant(1 - momentum))),
  }));
}

function softmaxLogits(output: SymTensor, model: TF.LayersModel): SymTensor {
  if (output.node.op !== "Softmax") {
    throw new GraphCompileError(
      `Model ${model.name}: the graph engine trains models whose output is a softmax (categorical cross-entropy on its logits).`,
    );
  }
  return output.node.inputs[0];
}

/** Mean categorical cross-entropy (on logits, as Keras computes it for a softmax output) and mean accuracy. */
function lossAndAccuracy(g: Graph, logits: SymTensor, y: SymTensor): { loss: SymTensor; accuracy: SymTensor } {
  const { loss } = ops.softmaxCrossEntropyWithLogits(g, logits, y);
  const correct = ops.cast(g, ops.equal(g, ops.argMax(g, logits, -1), ops.argMax(g, y, -1)), "float32");
  return { loss: ops.mean(g, loss, [0]), accuracy: ops.mean(g, correct, [0]) };
}
