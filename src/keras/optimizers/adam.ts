/**
 * Keras 3's Adam (keras/src/optimizers/adam.py) as a TF.js optimizer, so that the eager engine and
 * the graph engine (src/engine/graph/) update weights the same way, and both the way Keras does:
 *
 *   t      = iterations + 1
 *   alpha  = learning_rate * sqrt(1 - beta_2^t) / (1 - beta_1^t)
 *   m     += (g - m) * (1 - beta_1)
 *   v     += (g² - v) * (1 - beta_2)
 *   w     -= m * alpha / (sqrt(v) + epsilon)
 *
 * TF.js's own `tf.train.adam` divides by `sqrt(v̂) + epsilon` with bias-corrected moments instead,
 * which differs from Keras where v is small. Slots are kept per variable (by name), created at
 * zero on first use; `iterations` counts the updates. `learningRate` and `beta1` can be changed
 * between steps without touching the state, as Keras's `optimizer.learning_rate = ...` does (a
 * schedule sets them before each step: ./rate_control.ts); `1 − beta1` is taken in double, as Keras
 * takes it from its Python float. `captureState` / `restoreState` copy the whole state and put it
 * back bit for bit (the learning-rate finder trains, then restores).
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../../tfjs/backend";

export interface AdamSettings {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** Keras's Adam defaults (`keras.optimizers.Adam()`). */
export const KERAS_ADAM: AdamSettings = { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

/** A tensor with a name, as TF.js optimizers save their state. */
type NamedTensor = { name: string; tensor: TF.Tensor };

export interface AdamSlots {
  m: TF.Variable;
  v: TF.Variable;
}

/** A copy of an optimizer's whole state (`KerasAdam.captureState`); `dispose` frees it. */
export interface AdamState {
  iterations: number;
  learningRate: number;
  beta1: number;
  slots: Map<string, { m: TF.Tensor; v: TF.Tensor }>;
  dispose(): void;
}

export class KerasAdam extends tf.Optimizer {
  static className = "KerasAdam";
  learningRate: number;
  beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  private readonly slots = new Map<string, AdamSlots>();

  constructor(settings: Partial<AdamSettings> = {}) {
    super();
    const s = { ...KERAS_ADAM, ...settings };
    for (const [k, v] of Object.entries(s)) {
      if (!(typeof v === "number" && Number.isFinite(v)))
        throw new Error(`Adam: ${k} must be a finite number, got ${String(v)}.`);
    }
    // 0 is a rate a schedule can end at (CosineDecay's alpha 0), and an optimizer saved then must load again.
    if (!(s.learningRate >= 0)) throw new Error(`Adam: the learning rate must be ≥ 0, got ${s.learningRate}.`);
    if (!(s.beta1 >= 0 && s.beta1 < 1 && s.beta2 >= 0 && s.beta2 < 1))
      throw new Error(`Adam: beta1 and beta2 must be in [0, 1), got ${s.beta1} and ${s.beta2}.`);
    if (!(s.epsilon >= 0)) throw new Error(`Adam: epsilon must be ≥ 0, got ${s.epsilon}.`);
    this.learningRate = s.learningRate;
    this.beta1 = s.beta1;
    this.beta2 = s.beta2;
    this.epsilon = s.epsilon;
  }

  get settings(): AdamSettings {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  /** The first and second moments of `variable`, created at zero on first use. */
  slotsFor(variable: TF.Variable): AdamSlots {
    let s = this.slots.get(variable.name);
    if (!s) {
      s = tf.tidy(() => ({ m: tf.zerosLike(variable).variable(false), v: tf.zerosLike(variable).variable(false) }));
      this.slots.set(variable.name, s);
    }
    return s;
  }

  /** Whether slots exist for `variable` (it has been updated at least once). */
  hasSlots(variable: TF.Variable): boolean {
    return this.slots.has(variable.name);
  }

  /** Sets the update count (the graph engine counts its own steps). */
  setIterations(n: number): void {
    this.iterations_ = n;
  }

  /** `alpha` of the next update, computed in float32 as Keras does. */
  static stepSize(learningRate: number | TF.Scalar, beta1: number, beta2: number, t: TF.Scalar): TF.Scalar {
    return tf.tidy(() => {
      const b1 = tf.pow(tf.scalar(beta1), t);
      const b2 = tf.pow(tf.scalar(beta2), t);
      return tf.div(tf.mul(learningRate, tf.sqrt(tf.sub(1, b2))), tf.sub(1, b1)) as TF.Scalar;
    });
  }

  applyGradients(variableGradients: TF.NamedTensorMap | NamedTensor[]): void {
    const entries = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor] as const)
      : Object.entries(variableGradients);
    tf.tidy(() => {
      const t = tf.scalar(this.iterations + 1);
      const alpha = KerasAdam.stepSize(this.learningRate, this.beta1, this.beta2, t);
      for (const [name, gradient] of entries) {
        if (gradient == null) continue;
        const variable = tf.engine().registeredVariables[name];
        if (!variable) throw new Error(`Adam: no variable named ${name}.`);
        const { m, v } = this.slotsFor(variable);
        m.assign(tf.add(m, tf.mul(tf.sub(gradient, m), 1 - this.beta1)));
        v.assign(tf.add(v, tf.mul(tf.sub(tf.square(gradient), v), 1 - this.beta2)));
        variable.assign(tf.sub(variable, tf.div(tf.mul(m, alpha), tf.add(tf.sqrt(v), this.epsilon))));
      }
    });
    this.incrementIterations();
  }

  /** A copy of the state: step count, rate, β₁ and every slot (new tensors, freed by the copy's `dispose`). */
  captureState(): AdamState {
    const slots = new Map<string, { m: TF.Tensor; v: TF.Tensor }>();
    for (const [name, s] of this.slots) slots.set(name, { m: tf.keep(s.m.clone()), v: tf.keep(s.v.clone()) });
    return {
      iterations: this.iterations,
      learningRate: this.learningRate,
      beta1: this.beta1,
      slots,
      dispose: () => {
        for (const s of slots.values()) tf.dispose([s.m, s.v]);
        slots.clear();
      },
    };
  }

  /** Puts a captured state back exactly: slots made since are freed, the others get their values again. */
  restoreState(state: AdamState): void {
    for (const [name, s] of [...this.slots]) {
      if (state.slots.has(name)) continue;
      tf.dispose([s.m, s.v]);
      this.slots.delete(name);
    }
    for (const [name, saved] of state.slots) {
      const s = this.slots.get(name);
      if (s) {
        s.m.assign(saved.m);
        s.v.assign(saved.v);
      } else {
        this.slots.set(name, { m: saved.m.clone().variable(false), v: saved.v.clone().variable(false) });
      }
    }
    this.iterations_ = state.iterations;
    this.learningRate = state.learningRate;
    this.beta1 = state.beta1;
  }

  override dispose(): void {
    for (const { m, v } of this.slots.values()) tf.dispose([m, v]);
    this.slots.clear();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const list = [...this.slots.entries()];
    return [
      await this.saveIterations(),
      ...list.map(([name, s]) => ({ name: `${name}/m`, tensor: s.m })),
      ...list.map(([name, s]) => ({ name: `${name}/v`, tensor: s.v })),
    ];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const half = rest.length / 2;
    this.dispose();
    for (let i = 0; i < half; i++) {
      const name = rest[i].name.replace(/\/m$/, "");
      this.slots.set(name, { m: rest[i].tensor.variable(false), v: rest[half + i].tensor.variable(false) });
    }
  }

  getConfig(): TF.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  static fromConfig<T extends TF.serialization.Serializable>(
    cls: TF.serialization.SerializableConstructor<T>,
    config: TF.serialization.ConfigDict,
  ): T {
    return new cls(config as never);
  }
}
tf.serialization.registerClass(KerasAdam);

/**
 * The optimizer of a compiled model as Keras's Adam (what every model here is compiled with); a
 * clear error for a model that is not compiled, or compiled with another optimizer.
 */
export function adamOf(model: TF.LayersModel): KerasAdam {
  const optimizer = model.optimizer as TF.Optimizer | undefined;
  if (optimizer instanceof KerasAdam) return optimizer;
  throw new Error(
    `Model ${model.name} is ${optimizer ? `compiled with ${optimizer.getClassName()}` : "not compiled"}: ` +
      "compile it with compileModel(model) (or freeze it), which gives it Keras's Adam.",
  );
}
