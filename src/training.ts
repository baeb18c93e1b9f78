/**
 * Compiling, training, evaluating and predicting, with Keras's defaults and
 * Keras's names: `fit` returns a history with `loss`, `accuracy`, `val_loss`,
 * `val_accuracy`; the validation split is the last fraction of the data,
 * taken before shuffling, as in Keras.
 *
 * These functions work on any TF.js LayersModel with a softmax output; the
 * tutorial's model (src/model.ts) wraps them.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "./backend";
import { digitPixels, type DigitSet } from "./data";
import { createProgress, type ProgressState } from "./display";

/** Keras's Adam defaults. */
export interface AdamSettings {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export const KERAS_ADAM: AdamSettings = { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

/**
 * Compiles `model` with a fresh Adam optimizer, categorical cross-entropy and
 * accuracy (the tutorial's `compile`), disposing the optimizer it had before
 * (TF.js's `model.dispose()` does not free optimizer slots).
 */
export function compileModel(model: TF.LayersModel, adam: Partial<AdamSettings> = {}): AdamSettings {
  const settings = { ...KERAS_ADAM, ...adam };
  const previous = model.optimizer as TF.Optimizer | undefined;
  const optimizer = tf.train.adam(settings.learningRate, settings.beta1, settings.beta2, settings.epsilon);
  model.compile({ optimizer, loss: "categoricalCrossentropy", metrics: ["accuracy"] });
  if (previous && previous !== optimizer) previous.dispose();
  return settings;
}

/** A Keras-style training history: one value per epoch under each key. */
export interface History {
  loss: number[];
  accuracy: number[];
  val_loss?: number[];
  val_accuracy?: number[];
  /** Wall-clock seconds of each epoch. */
  seconds: number[];
  /** The epochs run (1-based), e.g. [1, 2, 3]. */
  epoch: number[];
  /** True when training was stopped early (kernel interrupt or `stopTraining`). */
  interrupted: boolean;
}

export interface FitOptions {
  /** Default 5 (the tutorial's). */
  epochs?: number;
  /** Default 64 (the tutorial's). */
  batchSize?: number;
  /** The last fraction of the data, before shuffling, used for validation (default 0.2, as in the tutorial). */
  validationSplit?: number;
  /** Shuffle the training part before each epoch (default true, like Keras). */
  shuffle?: boolean;
  /** Show live progress (default true): in place in a notebook, one line per epoch in a terminal. */
  progress?: boolean;
  /** Called after each epoch with the history so far. */
  onEpochEnd?: (epoch: number, history: History) => void | Promise<void>;
  /** Extra TF.js callbacks. */
  callbacks?: TF.CustomCallbackArgs;
}

/** Maps TF.js's log names to Keras's (acc → accuracy, val_acc → val_accuracy). */
export function kerasLogName(name: string): string {
  const map: Record<string, string> = { acc: "accuracy", val_acc: "val_accuracy", valLoss: "val_loss", valAcc: "val_accuracy" };
  return map[name] ?? name;
}

/**
 * Where Keras (and TF.js) cut the data for `validationSplit`: rows [0, index) train, rows [index, n)
 * validate; `int(n * (1 - validation_split))` in Keras.
 */
export function validationSplitIndex(n: number, validationSplit: number): number {
  return validationSplit > 0 ? Math.floor(n * (1 - validationSplit)) : n;
}

/** A batch size given to `what` ("fit", "evaluate", "predict"), checked: a whole number ≥ 1. */
export function checkBatchSize(batchSize: number, what: string): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`${what}: batchSize must be a whole number ≥ 1 (digits per step; the tutorial uses 64), got ${batchSize}.`);
  }
  return batchSize;
}

/** Throws when `what` ("fit", "evaluate", "predict") is given no examples at all. */
export function checkNotEmpty(n: number, what: string): void {
  if (n === 0) {
    const example = what === "fit" ? "mnist.train, or take(mnist.train, 600) for a quick run" : "mnist.test";
    throw new Error(`${what}: the set of digits is empty (0 digits), so there is nothing to ${what === "fit" ? "train on" : what}; pass a set with at least one digit, e.g. ${example}.`);
  }
}

/**
 * The settings of a `fit` on `n` examples, with Keras's defaults filled in, checked before anything
 * runs: each error says what was wrong and what to pass instead.
 */
export function checkFitOptions(
  n: number,
  options: FitOptions = {},
): { epochs: number; batchSize: number; validationSplit: number; splitAt: number } {
  const epochs = options.epochs ?? 5;
  const batchSize = checkBatchSize(options.batchSize ?? 64, "fit");
  const validationSplit = options.validationSplit ?? 0.2;
  checkNotEmpty(n, "fit");
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`fit: epochs must be a whole number ≥ 1 (the tutorial uses 5), got ${epochs}.`);
  if (typeof validationSplit !== "number" || !(validationSplit >= 0 && validationSplit < 1)) {
    throw new Error(`fit: validationSplit must be a fraction in [0, 1) (the tutorial uses 0.2; 0 for no validation), got ${validationSplit}.`);
  }
  const splitAt = validationSplitIndex(n, validationSplit);
  if (splitAt < 1) {
    throw new Error(
      `fit: ${n} digit${n === 1 ? "" : "s"} with validationSplit ${validationSplit} leave${n === 1 ? "s" : ""} none for training; ` +
        "pass more digits, or a smaller validationSplit (0 for no validation).",
    );
  }
  return { epochs, batchSize, validationSplit, splitAt };
}

const running = new WeakMap<TF.LayersModel, Promise<unknown>>();

/** Waits until a training run of `model` that was interrupted has really finished its last batch. */
export async function settle(model: TF.LayersModel): Promise<void> {
  const pending = running.get(model);
  if (pending) await pending.catch(() => undefined);
}

/**
 * Trains `model` on x, y like Keras's `fit` and returns a Keras-style history.
 *
 * Interrupting the kernel (SIGINT) stops training at the end of the current
 * batch; the model stays usable and the history so far is kept.
 */
export async function fit(model: TF.LayersModel, x: TF.Tensor | TF.Tensor[], y: TF.Tensor, options: FitOptions = {}): Promise<History> {
  const { epochs, batchSize, validationSplit, splitAt } = checkFitOptions(y.shape[0], options);
  if (!model.optimizer) throw new Error("The model is not compiled: call compileModel(model) (or freeze it) before training.");
  await settle(model);

  const batches = Math.ceil(splitAt / batchSize);
  const history: History = { loss: [], accuracy: [], seconds: [], epoch: [], interrupted: false };
  const progress = options.progress === false ? undefined : createProgress();
  let epochStart = Date.now();
  const trainStart = Date.now();
  let epochIndex = 0;
  let stoppedByUser = false;
  const onSigint = () => {
    stoppedByUser = true;
    model.stopTraining = true;
  };
  process.on("SIGINT", onSigint);

  const state = (batch: number, logs: Record<string, number>): ProgressState => {
    const elapsed = (Date.now() - trainStart) / 1000;
    const done = epochIndex * batches + batch;
    const total = epochs * batches;
    return {
      epoch: epochIndex + 1,
      epochs,
      batch,
      batches,
      seconds: elapsed,
      eta: done > 0 ? (elapsed / done) * (total - done) : undefined,
      logs,
    };
  };

  const user = options.callbacks ?? {};
  const run = model.fit(x, y, {
    epochs,
    batchSize,
    validationSplit,
    shuffle: options.shuffle ?? true,
    verbose: 0,
    callbacks: {
      ...user,
      onEpochBegin: async (epoch, logs) => {
        epochIndex = epoch;
        epochStart = Date.now();
        if (user.onEpochBegin) await user.onEpochBegin(epoch, logs);
      },
      onBatchEnd: async (batch, logs) => {
        if (progress) {
          const named: Record<string, number> = {};
          for (const [k, v] of Object.entries(logs ?? {})) if (k !== "batch" && k !== "size") named[kerasLogName(k)] = v;
          progress.update(state(batch + 1, named));
        }
        if (user.onBatchEnd) await user.onBatchEnd(batch, logs);
      },
      onEpochEnd: async (epoch, logs) => {
        const l = logs ?? {};
        history.epoch.push(epoch + 1);
        history.seconds.push((Date.now() - epochStart) / 1000);
        for (const [k, v] of Object.entries(l)) {
          const key = kerasLogName(k) as keyof History;
          if (key === "loss" || key === "accuracy" || key === "val_loss" || key === "val_accuracy") {
            (history[key] ??= []).push(v);
          }
        }
        if (progress) progress.epochEnd?.(state(batches, Object.fromEntries(Object.entries(l).map(([k, v]) => [kerasLogName(k), v]))));
        if (user.onEpochEnd) await user.onEpochEnd(epoch, logs);
        if (options.onEpochEnd) await options.onEpochEnd(epoch + 1, history);
      },
    },
  });
  running.set(model, run);
  try {
    await run;
  } finally {
    process.removeListener("SIGINT", onSigint);
    running.delete(model);
    model.stopTraining = false;
  }
  history.interrupted = stoppedByUser || history.epoch.length < epochs;
  progress?.done(
    `${history.interrupted ? "Stopped" : "Trained"} ${history.epoch.length} of ${epochs} epoch${epochs === 1 ? "" : "s"} in ` +
      `${((Date.now() - trainStart) / 1000).toFixed(1)} s` +
      (history.accuracy.length ? ` — accuracy ${last(history.accuracy).toFixed(4)}` : "") +
      (history.val_accuracy?.length ? `, validation accuracy ${last(history.val_accuracy).toFixed(4)}` : ""),
  );
  return history;
}

function last(a: number[]): number {
  return a[a.length - 1];
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  count: number;
}

/** Test loss and accuracy (Keras's `evaluate`). */
export async function evaluate(model: TF.LayersModel, x: TF.Tensor, y: TF.Tensor, batchSize = 64): Promise<Evaluation> {
  checkBatchSize(batchSize, "evaluate");
  checkNotEmpty(y.shape[0], "evaluate");
  await settle(model);
  const out = model.evaluate(x, y, { batchSize }) as TF.Scalar[];
  const [loss, accuracy] = await Promise.all(out.map((t) => t.data()));
  out.forEach((t) => t.dispose());
  return { loss: loss[0], accuracy: accuracy[0], count: y.shape[0] };
}

export interface Predictions {
  /** Softmax outputs, row-major [count, classes]. */
  probabilities: Float32Array;
  /** The most probable class of each example. */
  classes: Uint8Array;
  /** The probability of that class. */
  confidence: Float32Array;
  count: number;
  numClasses: number;
}

/** Class probabilities and predicted classes, computed in batches. */
export async function predict(model: TF.LayersModel, x: TF.Tensor, batchSize = 64): Promise<Predictions> {
  checkBatchSize(batchSize, "predict");
  const n = x.shape[0];
  checkNotEmpty(n, "predict");
  await settle(model);
  const numClasses = (model.outputs[0].shape[1] as number) ?? 0;
  const probabilities = new Float32Array(n * numClasses);
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const p = tf.tidy(() => model.predict(x.slice(start, size)) as TF.Tensor);
    probabilities.set(await p.data(), start * numClasses);
    p.dispose();
  }
  const classes = new Uint8Array(n);
  const confidence = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (probabilities[i * numClasses + c] > probabilities[i * numClasses + best]) best = c;
    classes[i] = best;
    confidence[i] = probabilities[i * numClasses + best];
  }
  return { probabilities, classes, confidence, count: n, numClasses };
}

export type ExamplePick = "first" | "misclassified" | "confident-mistakes" | "correct";

/**
 * Indices of the examples a user wants to look at:
 *  - "first": the first n,
 *  - "correct": the first n predicted right,
 *  - "misclassified": the first n predicted wrong,
 *  - "confident-mistakes": the n wrong predictions with the highest confidence, most confident first.
 */
export function pickExamples(labels: ArrayLike<number>, predictions: Predictions, pick: ExamplePick = "first", n = 16): number[] {
  if (labels.length !== predictions.count) {
    throw new Error(`${labels.length} labels but ${predictions.count} predictions; they must match.`);
  }
  const all = Array.from({ length: labels.length }, (_, i) => i);
  switch (pick) {
    case "first":
      return all.slice(0, n);
    case "correct":
      return all.filter((i) => predictions.classes[i] === labels[i]).slice(0, n);
    case "misclassified":
      return all.filter((i) => predictions.classes[i] !== labels[i]).slice(0, n);
    case "confident-mistakes":
      return all
        .filter((i) => predictions.classes[i] !== labels[i])
        .sort((a, b) => predictions.confidence[b] - predictions.confidence[a] || a - b)
        .slice(0, n);
    default:
      throw new Error(`Unknown pick "${String(pick)}": use "first", "correct", "misclassified" or "confident-mistakes".`);
  }
}

/** A digit with its true label and, when predicted, the predicted class and its probability (for plots). */
export interface LabelledDigit {
  index: number;
  pixels: Float32Array;
  label: number;
  predicted?: number;
  probability?: number;
}

/** The digits at `indices`, scaled to [0, 1], with their labels and predictions, ready for `digitGrid`. */
export function labelledDigits(set: DigitSet, predictions: Predictions | undefined, indices: number[]): LabelledDigit[] {
  if (predictions && predictions.count !== set.count) {
    throw new Error(`${set.count} digits but ${predictions.count} predictions: predict on the same set of digits.`);
  }
  return indices.map((index) => ({
    index,
    pixels: digitPixels(set, index),
    label: set.labels[index],
    predicted: predictions ? predictions.classes[index] : undefined,
    probability: predictions ? predictions.confidence[index] : undefined,
  }));
}
