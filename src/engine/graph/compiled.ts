/**
 * A model compiled to a TensorFlow graph, ready to run: the graph of ./step.ts written as a
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
import { backendInfo, tf } from "../backend";
import type { KerasAdam } from "../adam";
import { graphCacheDir, openCachedGraph } from "./cache";
import { serializeSavedModel, type GraphSession } from "./savedmodel";
import { planGraph, type AdamConstants, type Feed, type Fetch, type GraphPlan, type SignatureName } from "./step";

export interface CompileOptions {
  signatures: SignatureName[];
  /** "train": the weights to train, in the optimizer's order (default: the model's trainable weights). */
  trainable?: TF.LayerVariable[];
  /** "train": Adam's constants (the learning rate, the step count and the slots are fed at each step). */
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

export class CompiledModel {
  private constructor(
    private readonly plan: GraphPlan,
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
    const plan = planGraph(model, { signatures: options.signatures, trainable, adam: options.adam });
    const signatures = plan.signatures as Record<string, NonNullable<GraphPlan["signatures"]["train"]>>;
    const bytes = serializeSavedModel(plan.graph, signatures);
    const t1 = Date.now();
    const hash = crypto
      .createHash("sha256")
      .update(bytes)
      .update(backendInfo().tensorflowVersion ?? "")
      .digest("hex")
      .slice(0, 24);
    const dir = path.join(graphCacheDir(), hash);
    const { session, state, writeMs, loadMs } = await openCachedGraph(dir, bytes, signatures);
    return new CompiledModel(
      plan,
      session,
      {
        buildMs: t1 - t0,
        writeMs,
        loadMs,
        nodes: plan.graph.nodes.length,
        bytes: bytes.length,
        cached: state === "cached",
        rebuilt: state === "rebuilt",
      },
      dir,
    );
  }

  get isDisposed(): boolean {
    return this.session.isDisposed;
  }

  /** Releases the TensorFlow session. */
  dispose(): void {
    this.session.dispose();
  }

  private feed(
    signature: SignatureName,
    xs: TF.Tensor[],
    y: TF.Tensor | undefined,
    extra: { seed?: [number, number]; optimizer?: KerasAdam },
  ): { inputs: TF.Tensor[]; temporary: TF.Tensor[] } {
    const feeds = this.plan.feeds[signature];
    if (!feeds) throw new Error(`This compiled model has no "${signature}" graph.`);
    const temporary: TF.Tensor[] = [];
    const opt = extra.optimizer;
    const inputs = feeds.map((f: Feed): TF.Tensor => {
      switch (f.kind) {
        case "x":
          return xs[f.index];
        case "y":
          if (!y) throw new Error("Labels are needed.");
          return y;
        case "weight":
          return f.variable.read();
        case "m":
        case "v":
          return opt!.slotsFor(f.variable.read() as TF.Variable)[f.kind];
        case "learningRate": {
          const t = tf.scalar(opt!.learningRate);
          temporary.push(t);
          return t;
        }
        case "iterations": {
          const t = tf.scalar(opt!.iterations);
          temporary.push(t);
          return t;
        }
        case "seed": {
          const s = extra.seed ?? [Math.floor(Math.random() * 2 ** 30), Math.floor(Math.random() * 2 ** 30)];
          const t = tf.tensor1d(s, "int32");
          temporary.push(t);
          return t;
        }
      }
    });
    return { inputs, temporary };
  }

  /**
   * One training step on a batch; the model's trainable weights, its moving statistics and the
   * optimizer's slots and step count hold the new values afterwards. `seed` fixes dropout's mask.
   */
  trainStep(xs: TF.Tensor[], y: TF.Tensor, optimizer: KerasAdam, seed?: [number, number]): StepResult {
    const { inputs, temporary } = this.feed("train", xs, y, { seed, optimizer });
    let outputs: TF.Tensor[];
    try {
      outputs = this.session.run("train", inputs);
    } finally {
      tf.dispose(temporary);
    }
    const fetches = this.plan.fetches.train!;
    let loss = NaN;
    let accuracy = NaN;
    const opt = optimizer;
    // Everything is computed: from here on only assignments, which do not fail.
    fetches.forEach((f: Fetch, i) => {
      const t = outputs[i];
      switch (f.kind) {
        case "loss":
          loss = t.dataSync()[0];
          break;
        case "accuracy":
          accuracy = t.dataSync()[0];
          break;
        case "weight":
          f.variable.write(t);
          break;
        case "m":
        case "v":
          opt.slotsFor(f.variable.read() as TF.Variable)[f.kind].assign(t);
          break;
        default:
          break;
      }
      t.dispose();
    });
    opt.setIterations(opt.iterations + 1);
    return { loss, accuracy };
  }

  /** Mean loss and accuracy of a batch, in inference mode. */
  evaluateBatch(xs: TF.Tensor[], y: TF.Tensor): StepResult {
    const { inputs } = this.feed("evaluate", xs, y, {});
    const [loss, accuracy] = this.session.run("evaluate", inputs);
    const result = { loss: loss.dataSync()[0], accuracy: accuracy.dataSync()[0] };
    tf.dispose([loss, accuracy]);
    return result;
  }

  /** The model's outputs for a batch, in inference mode (new tensors, to dispose). */
  predictBatch(xs: TF.Tensor[]): TF.Tensor[] {
    const { inputs } = this.feed("predict", xs, undefined, {});
    return this.session.run("predict", inputs);
  }
}
