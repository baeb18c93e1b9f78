/**
 * Callbacks a Keras user reaches for, for the fit loop (./loop.ts), in TF.js's callback shape
 * (`setModel`, `onEpochEnd`, `onTrainEnd`, ...), so that they mix with TF.js's own
 * (`tf.callbacks.earlyStopping`, `tf.node.tensorBoard`):
 *
 *   - `BestWeights`: keeps the weights of the best epoch by a monitored metric and puts them back
 *     when training ends (Keras's `EarlyStopping(restore_best_weights=True)`, without stopping);
 *   - `ModelCheckpoint`: writes the model whenever the monitored metric improves (or after every
 *     epoch), like Keras's `ModelCheckpoint(filepath, monitor, save_best_only)`; `{epoch}` and
 *     `{epoch:02d}` in the path are the epoch number, as in Keras; a `.keras` path gets the whole
 *     model, a `.h5` path the weights (`saveCheckpoint`).
 *
 * Monitors are Keras's log names: "val_loss" (the default), "val_accuracy", "loss", "accuracy";
 * a name with "acc" in it is maximised, any other minimised (Keras's mode "auto").
 */
import type * as TF from "@tensorflow/tfjs";
import { adamOf } from "../keras/optimizers/adam";
import { saveKerasArchive } from "../keras/saving/keras_archive";
import { saveKerasWeights } from "../keras/saving/legacy_h5_write";
import { tf } from "../tfjs/backend";

export type Monitor = "loss" | "accuracy" | "val_loss" | "val_accuracy";

const MONITORS: Monitor[] = ["loss", "accuracy", "val_loss", "val_accuracy"];

/** "max" for accuracies, "min" for losses (Keras's mode "auto"). */
function monitorMode(monitor: string): "min" | "max" {
  return monitor.includes("acc") ? "max" : "min";
}

function checkMonitor(monitor: unknown, what: string): Monitor {
  if (!MONITORS.includes(monitor as Monitor)) {
    throw new Error(
      `${what}: monitor must be one of ${MONITORS.join(", ")} (Keras's log names), got ${JSON.stringify(monitor)}.`,
    );
  }
  return monitor as Monitor;
}

/** Tracks the best value of a monitored metric over epochs. */
class Best {
  value: number;
  epoch = -1;
  constructor(
    readonly monitor: Monitor,
    readonly mode = monitorMode(monitor),
  ) {
    this.value = mode === "max" ? -Infinity : Infinity;
  }

  /** Whether `logs` improve on the best so far (and then record them). */
  improves(epoch: number, logs: Record<string, number> | undefined): boolean {
    const v = logs?.[this.monitor];
    if (typeof v !== "number" || Number.isNaN(v)) return false;
    const better = this.mode === "max" ? v > this.value : v < this.value;
    if (better) {
      this.value = v;
      this.epoch = epoch;
    }
    return better;
  }
}

/**
 * Keeps a copy of the weights of the best epoch and restores it at the end of training (also when
 * training was stopped early or interrupted). `bestEpoch` is the (0-based) epoch restored.
 */
export class BestWeights {
  private model?: TF.LayersModel;
  private snapshot?: Array<{ variable: TF.LayerVariable; value: TF.Tensor }>;
  private readonly best: Best;

  constructor(monitor: Monitor = "val_loss") {
    this.best = new Best(checkMonitor(monitor, "bestWeights"));
  }

  get monitor(): Monitor {
    return this.best.monitor;
  }

  /** The epoch (0-based) whose weights are kept, -1 before any. */
  get bestEpoch(): number {
    return this.best.epoch;
  }

  get bestValue(): number {
    return this.best.value;
  }

  setModel(model: TF.LayersModel): void {
    this.model = model;
  }

  onEpochEnd(epoch: number, logs?: Record<string, number>): void {
    if (!this.model || !this.best.improves(epoch, logs)) return;
    this.release();
    this.snapshot = this.model.weights.map((variable) => ({ variable, value: tf.keep(variable.read().clone()) }));
  }

  onTrainEnd(): void {
    this.restore();
  }

  /** Puts the best epoch's weights back (nothing when no epoch ended with the monitored metric). */
  restore(): void {
    if (!this.snapshot) return;
    for (const { variable, value } of this.snapshot) variable.write(value);
    this.release();
  }

  /** Frees the copy without restoring it. */
  release(): void {
    if (this.snapshot) tf.dispose(this.snapshot.map((s) => s.value));
    this.snapshot = undefined;
  }
}

export interface ModelCheckpointOptions {
  /** Where to write; `{epoch}` / `{epoch:02d}` are replaced by the epoch number (from 1). */
  filepath: string;
  /** Default "val_loss". */
  monitor?: Monitor;
  /** Only write when the monitored metric improves (default true). */
  saveBestOnly?: boolean;
}

/** Writes the model to a file during training; `save` does the writing (atomically). */
export class ModelCheckpoint {
  private model?: TF.LayersModel;
  private readonly best: Best;
  private readonly saveBestOnly: boolean;
  /** The files written, in order. */
  readonly written: string[] = [];

  constructor(
    private readonly options: ModelCheckpointOptions,
    private readonly save: (model: TF.LayersModel, filepath: string) => Promise<void> = saveCheckpoint,
  ) {
    if (typeof options.filepath !== "string" || options.filepath.trim() === "") {
      throw new Error('checkpoint: filepath must be the path of the file to write, e.g. "out/best.h5".');
    }
    this.best = new Best(checkMonitor(options.monitor ?? "val_loss", "checkpoint"));
    this.saveBestOnly = options.saveBestOnly ?? true;
  }

  setModel(model: TF.LayersModel): void {
    this.model = model;
  }

  /** The path for an epoch (0-based), Keras's `{epoch}` / `{epoch:02d}` filled in with epoch + 1. */
  pathFor(epoch: number): string {
    return this.options.filepath.replace(/\{epoch(?::0?(\d+)d)?\}/g, (_, width?: string) =>
      String(epoch + 1).padStart(width ? Number(width) : 0, "0"),
    );
  }

  async onEpochEnd(epoch: number, logs?: Record<string, number>): Promise<void> {
    if (!this.model) return;
    const improved = this.best.improves(epoch, logs);
    if (this.saveBestOnly && !improved) return;
    const file = this.pathFor(epoch);
    await this.save(this.model, file);
    this.written.push(file);
  }
}

/** Throws unless a checkpoint path ends in one of the two endings `saveCheckpoint` writes. */
export function checkCheckpointPath(file: string): void {
  if (!file.endsWith(".keras") && !file.endsWith(".h5")) {
    throw new Error(
      `checkpoint: "${file}" should end in .keras (the whole model, as Keras's ModelCheckpoint writes it) or .h5 ` +
        "(the weights only, in Keras's legacy layout).",
    );
  }
}

/**
 * Writes a checkpoint (its path checked by `checkCheckpointPath`), atomically: a `.keras` path gets
 * the whole model (as Keras's ModelCheckpoint writes it; `kt.loadTransferModel` or Keras's
 * `load_model` open it), a `.h5` path the weights only (Keras's legacy layout: `loadKerasWeights`,
 * Keras's `load_weights`).
 */
async function saveCheckpoint(model: TF.LayersModel, file: string): Promise<void> {
  checkCheckpointPath(file);
  if (file.endsWith(".keras")) await saveKerasArchive(model, file, adamOf(model));
  else await saveKerasWeights(model, file);
}
