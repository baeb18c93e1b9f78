/**
 * Keras's `ReduceLROnPlateau` callback (keras/src/callbacks/reduce_lr_on_plateau.py and
 * monitor_callback.py) for the fit loop (./loop.ts): when the monitored metric has not improved for
 * `patience` epochs, the optimizer's learning rate is multiplied by `factor` (not below `minLR`),
 * then `cooldown` epochs pass before waiting starts again.
 *
 *   plateauStep   Keras's on_epoch_end as a plain function: the state after an epoch's value, and
 *                 the new rate if it reduces
 *   ReduceLROnPlateau / reduceLROnPlateau   the callback (TF.js's callback shape), a thin shell
 *
 * As in Keras: the first value always counts as an improvement; an improvement is a value better
 * than the best by more than `minDelta`, compared in float32 (Keras compares Python floats with
 * `ops.less` / `ops.greater`, which makes float32 tensors of them); the rate is read as its float32
 * value, reduced only while above `minLR`; a reduction resets the wait and starts the cooldown. The
 * rate it sets stays after the fit (Keras sets `optimizer.learning_rate`). Mode "auto" minimises a
 * loss and maximises an accuracy; other monitors need mode "min" or "max".
 */
import type * as TF from "@tensorflow/tfjs";

export interface ReduceLROnPlateauOptions {
  /** The log to watch (default "val_loss"): "loss", "accuracy", "val_loss", "val_accuracy". */
  monitor?: string;
  /** new rate = rate × factor, with 0 < factor < 1 (default 0.1). */
  factor?: number;
  /** Epochs without improvement before the rate is reduced (default 10). */
  patience?: number;
  /** Whether the metric should fall ("min"), rise ("max"), or as its name says ("auto", the default). */
  mode?: "auto" | "min" | "max";
  /** The least change that counts as an improvement (default 1e-4). */
  minDelta?: number;
  /** Epochs after a reduction before waiting starts again (default 0). */
  cooldown?: number;
  /** The rate is never reduced below this (default 0). */
  minLR?: number;
  /** Print a line at each reduction, as Keras's verbose=1 (default false). */
  verbose?: boolean;
}

/** The checked settings, with Keras's defaults. */
export interface PlateauConfig {
  monitor: string;
  factor: number;
  patience: number;
  mode: "min" | "max";
  minDelta: number;
  cooldown: number;
  minLR: number;
}

/** What the callback remembers between epochs (Keras's best, wait, cooldown_counter). */
export interface PlateauState {
  best: number | undefined;
  wait: number;
  cooldownCounter: number;
}

const INITIAL_PLATEAU_STATE: PlateauState = { best: undefined, wait: 0, cooldownCounter: 0 };

/** Keras's mode "auto": minimise losses, maximise accuracies; undefined for a name it cannot tell. */
function autoMode(monitor: string): "min" | "max" | undefined {
  const name = monitor.startsWith("val_") ? monitor.slice(4) : monitor;
  if (name === "loss") return "min";
  if (name === "accuracy" || name === "acc") return "max";
  return undefined;
}

/** The settings of `reduceLROnPlateau(options)`, checked: each error says what was wrong. */
function plateauConfig(options: ReduceLROnPlateauOptions = {}): PlateauConfig {
  const what = "reduceLROnPlateau";
  const monitor = options.monitor ?? "val_loss";
  if (typeof monitor !== "string" || monitor === "")
    throw new Error(
      `${what}: monitor must be a log name such as "val_loss" or "val_accuracy", got ${JSON.stringify(monitor)}.`,
    );
  const num = (name: string, v: unknown) => {
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new Error(`${what}: ${name} must be a finite number, got ${String(v)}.`);
    return v;
  };
  const whole = (name: string, v: unknown) => {
    const x = num(name, v);
    if (!(Number.isInteger(x) && x >= 0))
      throw new Error(`${what}: ${name} must be a whole number of epochs ≥ 0, got ${x}.`);
    return x;
  };
  const factor = num("factor", options.factor ?? 0.1);
  // Keras: "ReduceLROnPlateau does not support a factor >= 1.0"; a factor ≤ 0 would make the rate ≤ 0.
  if (!(factor > 0 && factor < 1))
    throw new Error(
      `${what}: factor must be in (0, 1) (new rate = rate × factor; Keras's default 0.1), got ${factor}.`,
    );
  const minLR = num("minLR", options.minLR ?? 0);
  if (!(minLR >= 0)) throw new Error(`${what}: minLR must be a rate ≥ 0, got ${minLR}.`);
  const mode = options.mode ?? "auto";
  if (mode !== "auto" && mode !== "min" && mode !== "max")
    throw new Error(`${what}: mode must be "auto", "min" or "max", got ${JSON.stringify(mode)}.`);
  const resolved = mode === "auto" ? autoMode(monitor) : mode;
  if (!resolved) {
    throw new Error(
      `${what}: cannot tell whether ${JSON.stringify(monitor)} should be minimised or maximised; pass mode: "min" or mode: "max".`,
    );
  }
  return {
    monitor,
    factor,
    patience: whole("patience", options.patience ?? 10),
    mode: resolved,
    minDelta: Math.abs(num("minDelta", options.minDelta ?? 1e-4)),
    cooldown: whole("cooldown", options.cooldown ?? 0),
    minLR,
  };
}

/**
 * Keras's `on_epoch_end` for a monitored value `current` and the optimizer's rate `rate`: the next
 * state, and `newRate` when the rate is reduced.
 */
function plateauStep(
  config: PlateauConfig,
  state: PlateauState,
  current: number,
  rate: number,
): { state: PlateauState; newRate?: number } {
  const f = Math.fround;
  let { best, wait, cooldownCounter } = state;
  if (cooldownCounter > 0) {
    cooldownCounter -= 1;
    wait = 0;
  }
  // MonitorCallback._is_improvement: monitor_op(current − min_delta, best), min_delta negated for "min".
  const improved =
    best === undefined ||
    (config.mode === "min" ? f(current + config.minDelta) < f(best) : f(current - config.minDelta) > f(best));
  let newRate: number | undefined;
  if (improved) {
    best = current;
    wait = 0;
  } else if (!(cooldownCounter > 0)) {
    wait += 1;
    if (wait >= config.patience) {
      const old = f(rate); // Keras reads the rate from its float32 variable
      if (old > f(config.minLR)) {
        newRate = Math.max(old * config.factor, config.minLR);
        cooldownCounter = config.cooldown;
        wait = 0;
      }
    }
  }
  return { state: { best, wait, cooldownCounter }, newRate };
}

/** Keras's `ReduceLROnPlateau` as a callback of `fit`; `reductions` lists what it did. */
export class ReduceLROnPlateau {
  readonly config: PlateauConfig;
  private readonly verbose: boolean;
  private model?: TF.LayersModel;
  private state: PlateauState = INITIAL_PLATEAU_STATE;
  private warned = false;
  /** Each reduction: the epoch (0-based) at whose end it happened and the new rate. */
  readonly reductions: Array<{ epoch: number; learningRate: number }> = [];

  constructor(options: ReduceLROnPlateauOptions = {}) {
    this.config = plateauConfig(options);
    this.verbose = options.verbose ?? false;
  }

  setModel(model: TF.LayersModel): void {
    this.model = model;
  }

  onTrainBegin(): void {
    this.state = INITIAL_PLATEAU_STATE;
  }

  onEpochEnd(epoch: number, logs?: Record<string, number>): void {
    const optimizer = this.model?.optimizer as unknown as { learningRate: number } | undefined;
    if (!optimizer) return;
    const current = logs?.[this.config.monitor];
    if (typeof current !== "number") {
      // Keras warns and goes on; once is enough here.
      if (!this.warned)
        console.warn(
          `reduceLROnPlateau: the logs have no ${this.config.monitor} (they have ${Object.keys(logs ?? {}).join(", ")}); the rate is left alone.`,
        );
      this.warned = true;
      return;
    }
    const { state, newRate } = plateauStep(this.config, this.state, current, optimizer.learningRate);
    this.state = state;
    if (newRate === undefined) return;
    optimizer.learningRate = newRate;
    this.reductions.push({ epoch, learningRate: newRate });
    if (this.verbose) console.log(`Epoch ${epoch + 1}: ReduceLROnPlateau reducing learning rate to ${newRate}.`);
  }
}

/** `kt.callbacks.reduceLROnPlateau({ monitor: "val_loss", factor: 0.2, patience: 2 })`, for `fit`'s callbacks. */
export function reduceLROnPlateau(options: ReduceLROnPlateauOptions = {}): ReduceLROnPlateau {
  return new ReduceLROnPlateau(options);
}
