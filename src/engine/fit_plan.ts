/**
 * A `fit`'s options, checked once and turned into a plan that every engine follows, before anything
 * is made or trained: a bad option is an error that says what to pass instead, and nothing changes.
 *
 *   FitOptions            what a user passes (Keras's `fit` arguments and the project's own)
 *   planFit(n, options)   → FitPlan: the tutorial's defaults filled in, every option checked,
 *                         the callbacks listed, the learning rate checked against them (a schedule
 *                         given twice is refused: ./rate_control.ts), the engine resolved, the files
 *                         training will write tried (./output_paths.ts)
 *
 * Defaults are the tutorial's: 5 epochs, batch 64, the last 20 % for validation, shuffled.
 */
import {
  BestWeights,
  checkCheckpointPath,
  ModelCheckpoint,
  type ModelCheckpointOptions,
  type Monitor,
} from "./callbacks";
import { checkBatchSize, checkNotEmpty } from "./checks";
import { callbackList, validationSplitIndex, type CallbackLike, type Callbacks, type History } from "./loop";
import { checkOutputFile, checkTensorBoardFolders } from "./output_paths";
import { featureCacheDir, type CachePlan } from "./prefix_cache";
import { checkFitLearningRate, type FitLearningRate } from "./rate_control";
import { resolveEngine, type EngineChoice, type EngineName } from "./select";

/** The options of `fit`. */
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
  /**
   * TF.js callbacks, as Keras's `callbacks=[...]`: `tf.callbacks.earlyStopping({monitor: "val_loss"})`,
   * `tf.node.tensorBoard(dir)`, `new tf.CustomCallback({...})`, plain `{onEpochEnd(epoch, logs) {...}}`
   * objects, or a list of them. They see the model being trained and Keras's log names.
   */
  callbacks?: Callbacks;
  /**
   * Compute the frozen layers' output once per `fit` and train only the layers after them (default
   * "auto"). Exact for this model; false runs the whole model at every step, as Keras does. The
   * output is kept in memory when it fits in `cacheBudgetBytes` and in half the memory free, else in
   * a file in `cacheDir` that only this fit uses and that is gone when it ends. "auto" trains the
   * whole model, and says so, when that disk cannot take it; true is then an error.
   */
  cachePrefix?: boolean | "auto";
  /** Most memory the cached output may take before it goes to disk (default 2 GiB, or KT_PREFIX_CACHE_MB). */
  cacheBudgetBytes?: number;
  /** The folder of the cache's file (default `.cache/features` in the project, or KT_FEATURE_CACHE). */
  cacheDir?: string;
  /** "graph" (the default on native TensorFlow), "eager", or "auto"; see ./select.ts. */
  engine?: EngineChoice;
  /**
   * Keep the weights of the best epoch and put them back when training ends (Keras's
   * `EarlyStopping(restore_best_weights=True)` without the stopping): true monitors "val_loss"
   * (or "loss" without validation), or name the metric ("val_accuracy", ...).
   */
  bestWeights?: boolean | Monitor;
  /**
   * Write the model during training (Keras's `ModelCheckpoint`): a path (written when the validation
   * loss improves), or `{ filepath, monitor, saveBestOnly }`; `{epoch:02d}` in the path is the epoch.
   * A `.keras` path holds the whole model (`loadTransferModel`), a `.h5` path the weights only
   * (Keras's legacy layout, `loadKerasWeights` / Keras's `load_weights`).
   */
  checkpoint?: string | ModelCheckpointOptions;
  /**
   * The learning rate for this fit: a number, or a schedule evaluated at the optimizer's step count
   * (`kt.schedules.cosineDecay({...})`, `exponentialDecay`, `piecewiseConstantDecay`, …, as Keras's)
   * or fastai's one cycle over this fit (`kt.schedules.oneCycle({ maxRate })`). Afterwards the
   * optimizer keeps the rate of its next step (see ./rate_control.ts). Default: the optimizer's own
   * rate.
   */
  learningRate?: FitLearningRate;
}

/** A `fit`, checked and with its defaults filled in. */
export interface FitPlan {
  epochs: number;
  batchSize: number;
  validationSplit: number;
  /** Rows [0, splitAt) train, [splitAt, n) validate. */
  splitAt: number;
  shuffle: boolean;
  showProgress: boolean;
  /** The user's callbacks, checked; `bestWeights` and `checkpoint` add theirs at each fit. */
  callbacks: CallbackLike[];
  onEpochEnd?: FitOptions["onEpochEnd"];
  engine: EngineName;
  cache: CachePlan;
  /** The metric whose best epoch's weights are kept (`bestWeights`). */
  bestWeights?: Monitor;
  checkpoint?: ModelCheckpointOptions;
  /** The fit's learning rate or schedule, checked (applied by ./rate_control.ts's `RateControl`, run first). */
  learningRate?: FitLearningRate;
}

/** The default memory for the frozen layers' features: KT_PREFIX_CACHE_MB, else 2 GiB. */
function defaultCacheBudget(): number {
  const mb = process.env.KT_PREFIX_CACHE_MB;
  return mb !== undefined && mb.trim() !== "" && Number(mb) >= 0 ? Number(mb) * 2 ** 20 : 2 * 2 ** 30;
}

/**
 * The plan of a `fit` on `n` examples: every option checked (each error says what was wrong and
 * what to pass instead), the defaults filled in, the files it will write tried. `what` names the
 * caller in the errors (`findLearningRate` plans its training the same way).
 */
export function planFit(n: number, options: FitOptions = {}, what = "fit"): FitPlan {
  const epochs = options.epochs ?? 5;
  const batchSize = checkBatchSize(options.batchSize ?? 64, what);
  const validationSplit = options.validationSplit ?? 0.2;
  checkNotEmpty(n, what);
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new Error(`${what}: epochs must be a whole number ≥ 1 (the tutorial uses 5), got ${epochs}.`);
  if (typeof validationSplit !== "number" || !(validationSplit >= 0 && validationSplit < 1)) {
    throw new Error(
      `${what}: validationSplit must be a fraction in [0, 1) (the tutorial uses 0.2; 0 for no validation), got ${validationSplit}.`,
    );
  }
  const splitAt = validationSplitIndex(n, validationSplit);
  if (splitAt < 1) {
    throw new Error(
      `${what}: ${n} digit${n === 1 ? "" : "s"} with validationSplit ${validationSplit} leave${n === 1 ? "s" : ""} none for training; ` +
        "pass more digits, or a smaller validationSplit (0 for no validation).",
    );
  }
  const callbacks = callbackList(options.callbacks);
  checkFitLearningRate(options.learningRate, callbacks);
  const plan: FitPlan = {
    epochs,
    batchSize,
    validationSplit,
    splitAt,
    shuffle: options.shuffle ?? true,
    showProgress: options.progress !== false,
    callbacks,
    onEpochEnd: options.onEpochEnd,
    engine: resolveEngine(options.engine),
    cache: checkCache(options, what),
    bestWeights: bestWeightsMonitor(options.bestWeights, splitAt < n),
    checkpoint: checkpointOptions(options.checkpoint),
    learningRate: options.learningRate,
  };
  // The files training will write, tried before it starts (a path that cannot work fails now, not after an epoch).
  if (plan.checkpoint) checkOutputFile(new ModelCheckpoint(plan.checkpoint).pathFor(0), "checkpoint");
  checkTensorBoardFolders(callbacks);
  return plan;
}

function checkCache(options: FitOptions, what: string): CachePlan {
  const budget = options.cacheBudgetBytes;
  if (budget !== undefined && !(typeof budget === "number" && budget >= 0)) {
    throw new Error(`${what}: cacheBudgetBytes must be a number of bytes ≥ 0 (default 2 GiB), got ${budget}.`);
  }
  const mode = options.cachePrefix ?? "auto";
  if (mode !== true && mode !== false && mode !== "auto") {
    throw new Error(`${what}: cachePrefix must be true, false or "auto" (the default), got ${JSON.stringify(mode)}.`);
  }
  const dir = options.cacheDir;
  if (dir !== undefined && !(typeof dir === "string" && dir.length > 0)) {
    throw new Error(
      `${what}: cacheDir must be the path of a folder (default .cache/features), got ${JSON.stringify(dir)}.`,
    );
  }
  return { mode, budgetBytes: budget ?? defaultCacheBudget(), dir: dir ?? featureCacheDir() };
}

/** The monitored metric of `bestWeights` (true: "val_loss", or "loss" without validation), checked. */
function bestWeightsMonitor(option: FitOptions["bestWeights"], validates: boolean): Monitor | undefined {
  if (!option) return undefined;
  const monitor = option === true ? (validates ? "val_loss" : "loss") : option;
  return new BestWeights(monitor).monitor;
}

/** The checkpoint option as ModelCheckpoint's options, checked (a path, its ending, its monitor). */
function checkpointOptions(option: FitOptions["checkpoint"]): ModelCheckpointOptions | undefined {
  if (!option) return undefined;
  const options = typeof option === "string" ? { filepath: option } : option;
  checkCheckpointPath(new ModelCheckpoint(options).pathFor(0));
  return options;
}
