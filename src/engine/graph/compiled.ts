/**
 * A model compiled to a TensorFlow graph, ready to run: the signatures of ./signatures.ts written as a
 * SavedModel into the graph cache, loaded once (one TensorFlow session), and run with the TF.js
 * model's own variables.
 *
 *   const compiled = await CompiledModel.compile(model, { signatures: ["train", "evaluate"], trainable, adam });
 *   compiled.trainStep([x], y, optimizer)  // one step; the model's variables and the optimizer's slots hold the result
 *   compiled.evaluateBatch([x], y)  // { loss, accuracy }
 *   compiled.predictBatch([x])      // the model's outputs
 *   compiled.dispose()              // releases the session (the model is untouched)
 *
 * The TF.js model stays the source of truth: each step feeds the current values of the variables
 * and, once TensorFlow has returned, assigns the new values to them (an assignment hands the
 * returned buffer to the variable; nothing is copied). A step that fails changes nothing.
 *
 * The graph cache (./cache.ts): `.cache/graphs/<hash>/` in the project (or `KT_GRAPH_CACHE`), the hash
 * taken over the serialised graph and the TensorFlow version, so a folder is reused for the same
 * architecture, freeze depth and signatures and never goes stale; a damaged folder is written again.
 */
import * as crypto from "node:crypto";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { backendInfo, tf } from "../../tfjs/backend";
import type { KerasAdam } from "../../keras/optimizers/adam";
import { graphCacheDir, openCachedGraph } from "./cache";
import { serializeSavedModel, type GraphSession } from "./savedmodel";
import {
  buildSignatures,
  type AdamConstants,
  type Binding,
  type InputRole,
  type OutputRole,
  type Signature,
  type SignatureGraph,
  type SignatureName,
} from "./signatures";

export interface CompileOptions {
  signatures: SignatureName[];
  /** "train": the weights to train, in the optimizer's order (default: the model's trainable weights). */
  trainable?: TF.LayerVariable[];
  /** "train": Adam's constants (the learning rate, β₁, the step count and the slots are fed at each step). */
  adam?: AdamConstants;
}

/** How long the phases of a compilation took (the first step at a new depth includes them). */
export interface CompileTimings {
  buildMs: number;
  writeMs: number;
  loadMs: number;
  nodes: number;
  bytes: number;
  cached: boolean;
  /** Whether the cached folder was damaged and written again. */
  rebuilt: boolean;
}

export interface StepResult {
  loss: number;
  accuracy: number;
}

/** What a signature's inputs are fed from, besides the model's own variables. */
interface FeedSources {
  xs: TF.Tensor[];
  y?: TF.Tensor;
  /** The train signature: Adam, whose rate, step count and slots are inputs. */
  optimizer?: KerasAdam;
  /** The train signature: dropout's seed. */
  seed?: [number, number];
}

export class CompiledModel {
  private constructor(
    private readonly compiled: SignatureGraph,
    private readonly session: GraphSession,
    readonly timings: CompileTimings,
    /** The SavedModel's folder in the graph cache. */
    readonly directory: string,
  ) {}

  /** Builds, writes (unless cached) and loads the graph of `model` (or of a chain of models, for prediction). */
  static async compile(model: TF.LayersModel | TF.LayersModel[], options: CompileOptions): Promise<CompiledModel> {
    const t0 = Date.now();
    const first = Array.isArray(model) ? model[0] : model;
    const trainable = options.trainable ?? first.trainableWeights;
    const compiled = buildSignatures(model, { signatures: options.signatures, trainable, adam: options.adam });
    const signatures = definedSignatures(compiled);
    const bytes = serializeSavedModel(compiled.graph, signatures);
    const t1 = Date.now();
    const hash = crypto
      .createHash("sha256")
      .update(bytes)
      .update(backendInfo().tensorflowVersion ?? "")
      .digest("hex")
      .slice(0, 24);
    const dir = path.join(graphCacheDir(), hash);
    const { session, state, writeMs, loadMs } = await openCachedGraph(dir, bytes, signatures);
    const timings: CompileTimings = {
      buildMs: t1 - t0,
      writeMs,
      loadMs,
      nodes: compiled.graph.nodes.length,
      bytes: bytes.length,
      cached: state === "cached",
      rebuilt: state === "rebuilt",
    };
    return new CompiledModel(compiled, session, timings, dir);
  }

  get isDisposed(): boolean {
    return this.session.isDisposed;
  }

  /** Releases the TensorFlow session. */
  dispose(): void {
    this.session.dispose();
  }

  private signature(name: SignatureName): Signature {
    const s = this.compiled.signatures[name];
    if (!s) throw new Error(`This compiled model has no "${name}" graph.`);
    return s;
  }

  /**
   * Runs a signature with its inputs fed in its bindings' order; returns its outputs in its bindings'
   * order, each beside its binding. The temporary scalars made for the feed are freed either way.
   */
  private run(name: SignatureName, from: FeedSources): Array<{ binding: Binding<OutputRole>; value: TF.Tensor }> {
    const signature = this.signature(name);
    const temporary: TF.Tensor[] = [];
    let values: TF.Tensor[];
    try {
      const inputs = signature.inputs.map((b) => inputValue(b.role, from, temporary));
      values = this.session.run(name, inputs);
    } finally {
      tf.dispose(temporary);
    }
    return signature.outputs.map((binding, i) => ({ binding, value: values[i] }));
  }

  /**
   * One training step on a batch; the model's trainable weights, its moving statistics and the
   * optimizer's slots and step count hold the new values afterwards. `seed` fixes dropout's mask.
   */
  trainStep(xs: TF.Tensor[], y: TF.Tensor, optimizer: KerasAdam, seed?: [number, number]): StepResult {
    const outputs = this.run("train", { xs, y, optimizer, seed });
    const result: StepResult = { loss: NaN, accuracy: NaN };
    // Everything is computed: from here on only assignments, which do not fail.
    for (const { binding, value } of outputs) {
      const role = binding.role;
      if (role.kind === "loss" || role.kind === "accuracy") result[role.kind] = value.dataSync()[0];
      else if (role.kind === "weight") role.variable.write(value);
      else if (role.kind === "slot") optimizer.slotsFor(role.variable.read() as TF.Variable)[role.slot].assign(value);
      value.dispose();
    }
    optimizer.setIterations(optimizer.iterations + 1);
    return result;
  }

  /** Mean loss and accuracy of a batch, in inference mode. */
  evaluateBatch(xs: TF.Tensor[], y: TF.Tensor): StepResult {
    const result: StepResult = { loss: NaN, accuracy: NaN };
    for (const { binding, value } of this.run("evaluate", { xs, y })) {
      if (binding.role.kind === "loss" || binding.role.kind === "accuracy")
        result[binding.role.kind] = value.dataSync()[0];
      value.dispose();
    }
    return result;
  }

  /** The model's outputs for a batch, in inference mode (new tensors, to dispose). */
  predictBatch(xs: TF.Tensor[]): TF.Tensor[] {
    return this.run("predict", { xs }).map((o) => o.value);
  }
}

/** The signatures that were built, by name. */
function definedSignatures(compiled: SignatureGraph): Record<string, Signature> {
  const out: Record<string, Signature> = {};
  for (const [name, s] of Object.entries(compiled.signatures)) if (s) out[name] = s;
  return out;
}

/** The tensor that feeds an input of this role; scalars made here are added to `temporary`. */
function inputValue(role: InputRole, from: FeedSources, temporary: TF.Tensor[]): TF.Tensor {
  const made = (t: TF.Tensor) => {
    temporary.push(t);
    return t;
  };
  const optimizer = () => {
    if (!from.optimizer) throw new Error("The train signature needs the optimizer.");
    return from.optimizer;
  };
  switch (role.kind) {
    case "x":
      return from.xs[role.index];
    case "y":
      if (!from.y) throw new Error("Labels are needed.");
      return from.y;
    case "weight":
      return role.variable.read();
    case "slot":
      return optimizer().slotsFor(role.variable.read() as TF.Variable)[role.slot];
    case "learningRate":
      return made(tf.scalar(optimizer().learningRate));
    case "beta1":
      return made(tf.scalar(optimizer().beta1));
    case "oneMinusBeta1":
      // In double, then rounded once to float32, as Keras takes 1 − β₁ from its Python float.
      return made(tf.scalar(1 - optimizer().beta1));
    case "iterations":
      return made(tf.scalar(optimizer().iterations));
    case "seed":
      return made(tf.tensor1d(from.seed ?? [randomSeed(), randomSeed()], "int32"));
  }
}

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 30);
}
