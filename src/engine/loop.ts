/**
 * Keras's `fit` loop, once, for every engine: the eager TF.js step (`model.trainOnBatch`) and the
 * compiled graph step (./graph/compiled.ts) plug into the same epochs, batches, shuffling,
 * validation, callbacks, progress and interrupt handling.
 *
 *   - validation split: the last fraction of the data, cut before shuffling (`int(n * (1 - split))`
 *     rows train), as Keras and TF.js do;
 *   - shuffling: the training rows in a new random order every epoch (default on);
 *   - logs under Keras's names: `loss`, `accuracy`, `val_loss`, `val_accuracy`; an epoch's loss and
 *     accuracy are means over its examples; and `learning_rate`, the optimizer's rate at the epoch's
 *     end, before callbacks change it (what Keras 3's ReduceLROnPlateau and LearningRateScheduler
 *     log; a schedule (./rate_control.ts) keeps it at the next step's rate, as Keras reads it);
 *   - callbacks: TF.js callback objects (`tf.callbacks.earlyStopping(...)`, `tf.node.tensorBoard(...)`,
 *     `new tf.CustomCallback({...})`), plain `{onEpochEnd, ...}` objects, or lists of them, each
 *     called with the user's model (so `model.stopTraining = true` stops training, as in Keras);
 *   - a kernel interrupt (SIGINT) stops after the current batch; the epoch so far is recorded
 *     (`watchInterrupts`, which the tutorial's model also uses while it prepares training);
 *   - progress goes to the sink it is given (../util/progress.ts; the notebook's display at the top).
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tfjs/backend";
import type { ProgressState, TrainingProgress, TrainingSummary } from "../util/progress";
import type { RowSource } from "./row_source";

/** A Keras-style training history: one value per epoch under each key. */
export interface History {
  loss: number[];
  accuracy: number[];
  val_loss?: number[];
  val_accuracy?: number[];
  /** The optimizer's learning rate at the end of each epoch (Keras's `learning_rate` log). */
  learning_rate?: number[];
  /** Wall-clock seconds of each epoch. */
  seconds: number[];
  /** The epochs run (1-based), e.g. [1, 2, 3]. */
  epoch: number[];
  /** True when training was stopped early (kernel interrupt, a callback, or `stopTraining`). */
  interrupted: boolean;
}

/** A history with no epoch yet (`interrupted`: the fit stopped before its first epoch). */
export function emptyHistory(interrupted = false): History {
  return { loss: [], accuracy: [], seconds: [], epoch: [], interrupted };
}

/** One batch's (or one evaluation's) mean loss and accuracy. */
export interface Metrics {
  loss: number;
  accuracy: number;
}

/** What an engine provides to the loop. */
export interface Trainer {
  /** One training step on a batch. */
  trainBatch(xs: TF.Tensor[], y: TF.Tensor): Promise<Metrics> | Metrics;
  /** Mean loss and accuracy of a batch in inference mode. */
  evaluateBatch(xs: TF.Tensor[], y: TF.Tensor): Promise<Metrics> | Metrics;
}

/** Callbacks as TF.js's `fit` takes them. */
export type Callbacks =
  | TF.CustomCallbackArgs
  | TF.CustomCallbackArgs[]
  | TF.Callback[]
  | TF.Callback
  | Array<TF.Callback | TF.CustomCallbackArgs>;

export interface LoopOptions {
  epochs: number;
  batchSize: number;
  /** Rows [0, splitAt) train, [splitAt, n) validate (`validationSplitIndex`). */
  splitAt: number;
  shuffle: boolean;
  /** Where progress goes (none: silent). */
  progress?: TrainingProgress;
  /** Checked callbacks (`callbackList`). */
  callbacks: CallbackLike[];
  onEpochEnd?: (epoch: number, history: History) => void | Promise<void>;
}

type Logs = Record<string, number>;

/** A callback as the loop calls it: TF.js's methods, each optional. */
export interface CallbackLike {
  setModel?(model: TF.LayersModel): void;
  setParams?(params: Record<string, unknown>): void;
  onTrainBegin?(logs?: Logs): unknown;
  onTrainEnd?(logs?: Logs): unknown;
  onEpochBegin?(epoch: number, logs?: Logs): unknown;
  onEpochEnd?(epoch: number, logs?: Logs): unknown;
  onBatchBegin?(batch: number, logs?: Logs): unknown;
  onBatchEnd?(batch: number, logs?: Logs): unknown;
}

/**
 * The callbacks as a list of objects with TF.js's callback methods. Class instances are kept as they
 * are (their methods live on the prototype: spreading them would lose them).
 */
export function callbackList(callbacks: Callbacks | undefined): CallbackLike[] {
  if (callbacks === undefined || callbacks === null) return [];
  const list = (Array.isArray(callbacks) ? callbacks : [callbacks]) as unknown[];
  return list.map((c, i) => {
    if (typeof c !== "object" || c === null) {
      throw new Error(
        `callbacks[${i}] is not a callback: pass TF.js callbacks (tf.callbacks.earlyStopping(...), new tf.CustomCallback({...})) or objects with onEpochEnd, onBatchEnd, ... methods.`,
      );
    }
    const known = [
      "setModel",
      "setParams",
      "onTrainBegin",
      "onTrainEnd",
      "onEpochBegin",
      "onEpochEnd",
      "onBatchBegin",
      "onBatchEnd",
      "onYield",
    ];
    const has = known.some((k) => typeof (c as Record<string, unknown>)[k] === "function");
    if (!has)
      throw new Error(`callbacks[${i}] has none of the callback methods (onEpochEnd, onBatchEnd, onTrainBegin, ...).`);
    return c as CallbackLike;
  });
}

/** Where Keras cuts the data for `validationSplit`: rows [0, index) train, [index, n) validate. */
export function validationSplitIndex(n: number, validationSplit: number): number {
  return validationSplit > 0 ? Math.floor(n * (1 - validationSplit)) : n;
}

/** A batch: the inputs of `rows` from the row source, their labels from y. */
function gatherRows(xs: RowSource, y: TF.Tensor, rows: Int32Array): { xb: TF.Tensor[]; yb: TF.Tensor } {
  const xb = xs.rows(rows);
  try {
    const yb = tf.tidy(() => tf.gather(y, tf.tensor1d(rows, "int32")));
    return { xb, yb };
  } catch (e) {
    tf.dispose(xb);
    throw e;
  }
}

/**
 * Mean loss and accuracy over `rows`, batch by batch, in inference mode; `onProgress` is told the
 * rows done after each batch.
 */
export async function evaluateRows(
  trainer: Pick<Trainer, "evaluateBatch">,
  xs: RowSource,
  y: TF.Tensor,
  rows: Int32Array,
  batchSize: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Metrics> {
  let loss = 0;
  let accuracy = 0;
  for (let start = 0; start < rows.length; start += batchSize) {
    const part = rows.subarray(start, Math.min(rows.length, start + batchSize));
    const { xb, yb } = gatherRows(xs, y, part);
    try {
      const m = await trainer.evaluateBatch(xb, yb);
      loss += m.loss * part.length;
      accuracy += m.accuracy * part.length;
    } finally {
      tf.dispose([...xb, yb]);
    }
    if (onProgress) {
      onProgress(start + part.length, rows.length);
      // Let the event loop run: the display refreshes.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return { loss: loss / rows.length, accuracy: accuracy / rows.length };
}

/** Kernel interrupts (SIGINT), watched from `watchInterrupts()` until `stop()`. */
export interface Interrupts {
  /** True once an interrupt arrived. */
  readonly interrupted: boolean;
  /** Stops listening. */
  stop(): void;
}

/**
 * Listens for kernel interrupts (SIGINT, what Jupyter's "interrupt" sends) until `stop()`:
 * `interrupted` turns true at the first one and `onInterrupt` runs at each. While anything listens,
 * an interrupt does not end the process: the code that listens decides where to stop.
 */
export function watchInterrupts(onInterrupt?: () => void): Interrupts {
  let interrupted = false;
  const listener = () => {
    interrupted = true;
    onInterrupt?.();
  };
  process.on("SIGINT", listener);
  return {
    get interrupted() {
      return interrupted;
    },
    stop: () => {
      process.removeListener("SIGINT", listener);
    },
  };
}

const running = new WeakMap<TF.LayersModel, Promise<unknown>>();

/** Waits until a training run of `model` that was interrupted has really finished its last batch. */
export async function settle(model: TF.LayersModel): Promise<void> {
  const pending = running.get(model);
  if (pending) await pending.catch(() => undefined);
}

/** The learning rate `model`'s optimizer holds now (undefined for an optimizer without a numeric one). */
function learningRateOf(model: TF.LayersModel): number | undefined {
  const optimizer: unknown = model.optimizer;
  if (typeof optimizer !== "object" || optimizer === null || !("learningRate" in optimizer)) return undefined;
  return typeof optimizer.learningRate === "number" ? optimizer.learningRate : undefined;
}

/**
 * Trains with `trainer` on (xs, y) like Keras's `fit`, each batch's inputs taken from the row source
 * `xs` (tensors, or the frozen layers' output in memory or on disk); `model` is the user's model:
 * callbacks see it, and setting its `stopTraining` stops the loop after the current batch.
 */
export async function runFit(
  model: TF.LayersModel,
  trainer: Trainer,
  xs: RowSource,
  y: TF.Tensor,
  options: LoopOptions,
): Promise<History> {
  if (xs.count !== y.shape[0]) throw new Error(`fit: ${xs.count} rows of inputs but ${y.shape[0]} labels.`);
  await settle(model);
  const run = loop(model, trainer, xs, y, options);
  running.set(model, run);
  try {
    return await run;
  } finally {
    if (running.get(model) === run) running.delete(model);
  }
}

/** One fit in progress: the data, the rows, the history and the callbacks. */
interface Run {
  model: TF.LayersModel;
  trainer: Trainer;
  xs: RowSource;
  y: TF.Tensor;
  options: LoopOptions;
  trainRows: Int32Array;
  valRows: Int32Array;
  batches: number;
  history: History;
  started: number;
  interrupts: Interrupts;
}

async function loop(
  model: TF.LayersModel,
  trainer: Trainer,
  xs: RowSource,
  y: TF.Tensor,
  options: LoopOptions,
): Promise<History> {
  const n = y.shape[0];
  const run: Run = {
    model,
    trainer,
    xs,
    y,
    options,
    trainRows: Int32Array.from({ length: options.splitAt }, (_, i) => i),
    valRows: Int32Array.from({ length: n - options.splitAt }, (_, i) => options.splitAt + i),
    batches: Math.ceil(options.splitAt / options.batchSize),
    history: emptyHistory(),
    started: Date.now(),
    interrupts: watchInterrupts(() => {
      model.stopTraining = true;
    }),
  };
  model.stopTraining = false;
  startCallbacks(run);
  try {
    await callEach(run, (c) => c.onTrainBegin?.({}));
    for (let epoch = 0; epoch < options.epochs && !model.stopTraining; epoch++) {
      if (!(await runEpoch(run, epoch))) break;
    }
    await callEach(run, (c) => c.onTrainEnd?.({}));
  } finally {
    run.interrupts.stop();
    run.history.interrupted =
      run.interrupts.interrupted || model.stopTraining || run.history.epoch.length < options.epochs;
    model.stopTraining = false;
  }
  options.progress?.done(summary(run));
  return run.history;
}

/** Keras's `params`, and the model, for every callback. */
function startCallbacks(run: Run): void {
  const { epochs, batchSize, splitAt } = run.options;
  const validates = run.valRows.length > 0;
  const params = {
    epochs,
    initialEpoch: 0,
    samples: splitAt,
    steps: null,
    batchSize,
    verbose: 0,
    doValidation: validates,
    metrics: ["loss", "accuracy", ...(validates ? ["val_loss", "val_accuracy"] : [])],
  };
  for (const c of run.options.callbacks) {
    c.setParams?.(params);
    c.setModel?.(run.model);
  }
}

async function callEach(run: Run, f: (c: CallbackLike) => unknown): Promise<void> {
  for (const c of run.options.callbacks) await f(c);
}

/** Where training stands, for the progress sink (which works out the time left). */
function state(run: Run, epochIndex: number, batch: number, logs: Logs): ProgressState {
  const seconds = (Date.now() - run.started) / 1000;
  return { epoch: epochIndex + 1, epochs: run.options.epochs, batch, batches: run.batches, seconds, logs };
}

/** One epoch: its batches, then validation and the callbacks; false when no batch ran (stopped). */
async function runEpoch(run: Run, epoch: number): Promise<boolean> {
  const epochStart = Date.now();
  await callEach(run, (c) => c.onEpochBegin?.(epoch, {}));
  const { seen, logs } = await trainBatches(run, epoch);
  if (seen === 0) return false;
  if (run.valRows.length > 0 && !run.interrupts.interrupted) {
    const v = await evaluateRows(run.trainer, run.xs, run.y, run.valRows, run.options.batchSize);
    logs.val_loss = v.loss;
    logs.val_accuracy = v.accuracy;
  }
  const rate = learningRateOf(run.model);
  if (rate !== undefined) logs.learning_rate = rate;
  const h = run.history;
  h.epoch.push(epoch + 1);
  h.seconds.push((Date.now() - epochStart) / 1000);
  h.loss.push(logs.loss);
  h.accuracy.push(logs.accuracy);
  if (logs.val_loss !== undefined) (h.val_loss ??= []).push(logs.val_loss);
  if (logs.val_accuracy !== undefined) (h.val_accuracy ??= []).push(logs.val_accuracy);
  if (logs.learning_rate !== undefined) (h.learning_rate ??= []).push(logs.learning_rate);
  // A whole epoch gets its line now; a stopped one is closed by `done`, marked as stopped.
  const progress = run.options.progress;
  if (seen === run.options.splitAt) progress?.epochEnd(state(run, epoch, run.batches, logs));
  else progress?.update(state(run, epoch, Math.ceil(seen / run.options.batchSize), logs));
  await callEach(run, (c) => c.onEpochEnd?.(epoch, { ...logs }));
  if (run.options.onEpochEnd) await run.options.onEpochEnd(epoch + 1, h);
  return true;
}

/** The training batches of an epoch, in a new order when shuffling; their mean loss and accuracy. */
async function trainBatches(run: Run, epoch: number): Promise<{ seen: number; logs: Logs }> {
  const { batchSize, splitAt } = run.options;
  const order = run.trainRows.slice();
  if (run.options.shuffle) tf.util.shuffle(order);
  let seen = 0;
  let lossSum = 0;
  let accuracySum = 0;
  for (let b = 0; b < run.batches; b++) {
    const rows = order.subarray(b * batchSize, Math.min(splitAt, (b + 1) * batchSize));
    await callEach(run, (c) => c.onBatchBegin?.(b, { batch: b, size: rows.length }));
    const { xb, yb } = gatherRows(run.xs, run.y, rows);
    let m: Metrics;
    try {
      m = await run.trainer.trainBatch(xb, yb);
    } finally {
      tf.dispose([...xb, yb]);
    }
    seen += rows.length;
    lossSum += m.loss * rows.length;
    accuracySum += m.accuracy * rows.length;
    const batchLogs = { batch: b, size: rows.length, loss: m.loss, accuracy: m.accuracy };
    await callEach(run, (c) => c.onBatchEnd?.(b, batchLogs));
    run.options.progress?.update(state(run, epoch, b + 1, { loss: lossSum / seen, accuracy: accuracySum / seen }));
    // Let the event loop run: displays refresh, and an interrupt can arrive.
    await new Promise((resolve) => setImmediate(resolve));
    if (run.model.stopTraining) break;
  }
  return { seen, logs: seen > 0 ? { loss: lossSum / seen, accuracy: accuracySum / seen } : {} };
}

/** How the fit ended, for the progress sink's closing line. */
function summary(run: Run): TrainingSummary {
  const last = (a: number[] | undefined) => (a && a.length ? a[a.length - 1] : undefined);
  const h = run.history;
  return {
    stopped: h.interrupted,
    epochsRun: h.epoch.length,
    epochs: run.options.epochs,
    seconds: (Date.now() - run.started) / 1000,
    accuracy: last(h.accuracy),
    valAccuracy: last(h.val_accuracy),
  };
}
