/**
 * What a model keeps of the graph engine: its compiled graphs, by what they compute, each made on
 * first use and kept (one TensorFlow session each) until released; and a compiled training step as
 * a `Trainer` of the fit loop (../loop.ts), the graph engine's counterpart of ../eager.ts's
 * `eagerTrainer`, with Adam's constants as that step compiles them (`adamConstants`, which
 * bench/graph_profile.ts uses too).
 */
import type * as TF from "@tensorflow/tfjs";
import type { Precision } from "../../keras/dtype_policy";
import { adamOf } from "../../keras/optimizers/adam";
import { adamKernel } from "../../tfjs/adam_kernel";
import { trainedWeights } from "../../tfjs/internals";
import type { Trainer } from "../loop";
import { CompiledModel } from "./compiled";
import type { AdamConstants } from "./signatures";

/**
 * The Adam constants of `model`'s training graph, as fit compiles it: β₂ and ε (β₁ is fed at each
 * step, since a schedule may change it), and the update as the fused kernel where it is loaded (the
 * same results, in fewer passes).
 */
export function adamConstants(model: TF.LayersModel): AdamConstants {
  const optimizer = adamOf(model);
  return { beta2: optimizer.beta2, epsilon: optimizer.epsilon, fused: adamKernel().loaded };
}

/** One model's compiled graphs, by key. */
export class ModelGraphs {
  private readonly graphs = new Map<string, Promise<CompiledModel>>();

  /** The graph under `key`, compiled by `make` on first use; a compilation that fails is forgotten. */
  get(key: string, make: () => Promise<CompiledModel>): Promise<CompiledModel> {
    let p = this.graphs.get(key);
    if (!p) {
      p = make();
      this.graphs.set(key, p);
      p.catch(() => this.graphs.delete(key));
    }
    return p;
  }

  /** Releases the TensorFlow sessions of the graphs whose key passes `which` (all of them by default). */
  release(which: (key: string) => boolean = () => true): void {
    for (const [key, p] of [...this.graphs]) {
      if (!which(key)) continue;
      this.graphs.delete(key);
      p.then((c) => c.dispose()).catch(() => undefined);
    }
  }

  /**
   * The training step of `target` (`model` itself, or the layers after its frozen prefix, which
   * share its weights) as a trainer: `model`'s trainable weights and Keras 3 Adam optimizer, a step
   * seed for dropout, in `precision`. Kept under `scope` (which names the precision) with the
   * weights and Adam's constants in the key.
   */
  async trainer(model: TF.LayersModel, target: TF.LayersModel, scope: string, precision: Precision): Promise<Trainer> {
    const trainable = trainedWeights(model);
    const adam = adamConstants(model);
    const key = `${scope}/${trainable.map((v) => v.id).join(",")}/${adam.beta2},${adam.epsilon},${adam.fused}`;
    const compiled = await this.get(key, () =>
      CompiledModel.compile(target, { signatures: ["train", "evaluate"], trainable, adam, precision }),
    );
    const seed = Math.floor(Math.random() * 2 ** 30);
    let step = 0;
    return {
      trainBatch: (xs, y) => compiled.trainStep(xs, y, adamOf(model), [seed, step++ % 2 ** 30]),
      evaluateBatch: (xs, y) => compiled.evaluateBatch(xs, y),
    };
  }
}
