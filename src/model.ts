/**
 * The tutorial's model, and what a user does with it: build, inspect, freeze.
 *
 *   input 28×28×1 → Reshape (28,28,1,1) → UpSampling3D(3,3,3) → Reshape (84,84,3)
 *   → [RandomRotation, RandomTranslation, RandomZoom, RandomContrast: augmentation, when asked for]
 *   → [Rescaling to [-1, 1], only with Keras's preprocessing]
 *   → base network (InceptionV3 or Xception, ImageNet weights, no top)
 *   → GlobalAveragePooling2D → Dense(1024, relu) → Dropout(0.5) → Dense(10, softmax)
 *
 * compiled with Adam, categorical cross-entropy and accuracy, in float32 or in Keras's mixed
 * precision (`precision`, `setPrecision`: ./engine/graph/ compiles the casts; ./keras/dtype_policy.ts
 * says where they go). `freeze` makes
 * the first N layers of the base untrainable and every other layer trainable,
 * then recompiles, so freezing again at another depth gives the same model as
 * a fresh one frozen there; it also says how the base's batch normalisation runs while
 * training (./model_batch_norm.ts). `save` writes the whole model (architecture, weights,
 * freeze state, Adam's settings and state) as Keras 3's `.keras` archive;
 * ./model_archive.ts reads one back; ./model_build.ts builds the model (`buildTransferModel`).
 * `findLearningRate` is fastai's learning-rate finder (./engine/lr_finder.ts), run on the same
 * trainer `fit` uses (`withTrainer`: the frozen-prefix cache and the engine's step).
 */
import * as os from "node:os";
import type * as TF from "@tensorflow/tfjs";
import { checkDigitSet, checkDigits, scaleImages, take, toTensors, type DigitSet, type Digits } from "./data";
import { BestWeights, ModelCheckpoint } from "./engine/callbacks";
import { checkBatch, checkBatchSize, checkNotEmpty } from "./engine/checks";
import { compileModel } from "./engine/compile";
import { planFit, type FitOptions, type FitPlan } from "./engine/fit_plan";
import { FeatureStore, FLOAT32, featureType, storeBytes } from "./engine/feature_store";
import { compileSuffixLike, randomLayersInFront, splitAtDepth, type PrefixSplit } from "./engine/frozen_prefix";
import { ModelGraphs } from "./engine/graph/model_graphs";
import { predictions, type Evaluation, type Predictions } from "./engine/inference";
import {
  emptyHistory,
  evaluateRows,
  runFit,
  watchInterrupts,
  type History,
  type Interrupts,
  type LoopOptions,
  type Trainer,
} from "./engine/loop";
import { planFinder, runFinder, type FindLearningRateOptions, type LearningRateFinding } from "./engine/lr_finder";
import { fillFeatureStore, openFeatureStore } from "./engine/prefix_cache";
import { describeLearningRate, RateControl, startingRate } from "./engine/rate_control";
import { tensorRows, type RowSource } from "./engine/row_source";
import { resolveEngine, type EngineChoice, type EngineName } from "./engine/select";
import { checkEngineSupports, isGraphOf, isInferenceGraph, modelSteps, type ModelSteps } from "./engine/steps";
import { WeightSnapshot } from "./engine/weight_snapshot";
import { checkPrecision, type Precision } from "./keras/dtype_policy";
import { layerTable, type LayerRow, type ParamCounts } from "./keras/applications/index";
import { setInferenceCall } from "./keras/layers";
import { adamOf, type AdamSettings } from "./keras/optimizers/adam";
import { saveKerasArchive, type SavedArchive } from "./keras/saving/keras_archive";
import { warnIfBfloat16Emulated } from "./precision";
import { TfjsExportError, type TfjsExport } from "./keras/saving/tfjs_export";
import { checkBatchNormMode, type BatchNormMode } from "./model_batch_norm";
import { exportTransferModel, type TransferExportOptions } from "./model_tfjs";
import { warning } from "./notebook/display";
import { createProgress, progressNote, stepProgress } from "./notebook/progress";
import type { FreezeInfo } from "./notebook/report";
import { tf } from "./tfjs/backend";
import { formatBytes, formatSeconds, secondsSince, thousands } from "./util/format";
import { closestNames } from "./util/names";
import type { StepProgress } from "./util/progress";

export type { ParamCounts };

/** The two base networks. */
export type BaseName = "inception_v3" | "xception";

/**
 * How pixels reach the base network:
 *  - "tutorial": the [0, 1] values as they are (what the tutorial does),
 *  - "keras": scaled to [-1, 1] (`x/127.5 - 1` on 0–255), what Keras's ImageNet weights were trained with.
 */
export type Preprocessing = "tutorial" | "keras";

/** Options of `TransferModel.fit`: the tutorial's `fit` arguments, the frozen-prefix cache, callbacks. */
export type TransferFitOptions = FitOptions;

/** Options of `TransferModel.freeze`. */
export interface FreezeOptions {
  /** Learning rate of the fresh Adam optimizer (default: the model's, 0.001 unless built with another). */
  learningRate?: number;
  /** How the base's batch normalisation runs while training (default: as built; "training" unless built otherwise). */
  batchNorm?: BatchNormMode;
}

/** Options of `TransferModel.evaluate` and `predict`. */
export interface InferenceOptions {
  /** Default 64. */
  batchSize?: number;
  engine?: EngineChoice;
  /**
   * Show progress: in place in a notebook, a line now and then and a closing line elsewhere. By
   * default shown when the set takes more than one batch; false never, true always.
   */
  progress?: boolean;
}

/** One training run, for comparing freeze depths side by side. */
export interface RunRecord {
  run: number;
  freezeDepth: number;
  /** Name of the last frozen layer ("—" when nothing is frozen). */
  frozenUpTo: string;
  trainableParams: number;
  epochs: number;
  trainImages: number;
  seconds: number;
  valAccuracy?: number;
  /** Whether the frozen layers' output was computed once and reused (see `TransferFitOptions.cachePrefix`). */
  prefixCached: boolean;
  /** Where that output was kept: "in memory, 590.0 MB" or "on disk, 4.1 GB" (absent: not cached). */
  prefixCache?: string;
  /** The engine that trained ("graph" or "eager"). */
  engine: EngineName;
  /** The precision it trained in ("float32", or "mixed_bfloat16": Keras's mixed precision). */
  precision: Precision;
  /** Adam's learning rate during the run. */
  /** Adam's learning rate during the run (at its first step, when a schedule changed it). */
  learningRate: number;
  /** How the rate changed during the run, when it did: "one cycle, peak 0.0001", "CosineDecay from 0.001", … */
  schedule?: string;
  /** How the base's batch normalisation ran. */
  batchNorm: BatchNormMode;
  /** The run whose trained weights this one started from (absent: the weights the model was built with). */
  startedFrom?: number;
  /** With `bestWeights`: the epoch (1-based) whose weights the model kept. */
  bestEpoch?: number;
  /** Filled in by `evaluate` after the run. */
  testAccuracy?: number;
  testLoss?: number;
}

/**
 * What `freeze` did: the freeze point (depth, last frozen and first trainable base layer), the
 * batch-normalisation mode and the parameter counts after it.
 */
export interface FreezeReport extends ParamCounts, FreezeInfo {
  batchNorm: BatchNormMode;
}

/** The models alive, by key (see `buildTransferModel`'s `key`); a model leaves when disposed. */
export const liveModels = new Map<string, TransferModel>();

/** The tutorial's model: an upsampling front, a pre-trained base and a new classification head. */
export class TransferModel {
  /** The whole model: 28×28×1 digits in, 10 class probabilities out. */
  readonly model: TF.LayersModel;
  /** The base network (a layer of `model`). */
  readonly base: TF.LayersModel;
  readonly baseName: BaseName;
  readonly preprocessing: Preprocessing;
  /** What the base's weights are: "imagenet", "random", the .h5 path, or the .keras archive the model was loaded from. */
  readonly weights: string;
  /** Every training run of this model, with its freeze depth, time and accuracy. */
  readonly runs: RunRecord[] = [];
  /** The history of the latest `fit` (kept even when training was interrupted). */
  lastHistory?: History;
  private adam: AdamSettings;
  private policy: Precision;
  /** The batch-normalisation mode the model was built with (`freeze`'s default), and the current one. */
  private readonly batchNormDefault: BatchNormMode;
  private batchNormNow: BatchNormMode = "training";
  private depth = 0;
  private disposed = false;
  /** The weights it was built with (`snapshotWeights`), for `resetWeights`. */
  private initialWeights?: WeightSnapshot;

  private readonly graph: { input: TF.SymbolicTensor; frontOutput: TF.SymbolicTensor; head: TF.layers.Layer[] };
  private split?: PrefixSplit;
  private pending?: Promise<unknown>;
  /** The run whose weights the model holds now (undefined: the weights it was built with, or reset to). */
  private trainedBy?: number;
  /**
   * Compiled graphs of this model, made on first use and kept (one TensorFlow session each), under
   * keys that start with the precision ("float32:", "mixed_bfloat16:"; ./engine/steps.ts):
   *   "…:inference"          the whole model, for evaluate and predict (any depth);
   *   "…:features@<depth>"   the front and the frozen layers, for the frozen-prefix cache;
   *   "…:train@<depth>/..."  the training step of the whole model or of the layers after the cut.
   * All but the inference graphs are released when the depth changes, all of another precision
   * when the precision changes.
   */
  private readonly graphs = new ModelGraphs();

  constructor(args: {
    model: TF.LayersModel;
    base: TF.LayersModel;
    baseName: BaseName;
    preprocessing: Preprocessing;
    weights: string;
    adam: AdamSettings;
    precision?: Precision;
    batchNorm?: BatchNormMode;
    input: TF.SymbolicTensor;
    frontOutput: TF.SymbolicTensor;
    head: TF.layers.Layer[];
  }) {
    this.policy = args.precision ?? "float32";
    this.graph = { input: args.input, frontOutput: args.frontOutput, head: args.head };
    this.model = args.model;
    this.base = args.base;
    this.baseName = args.baseName;
    this.preprocessing = args.preprocessing;
    this.weights = args.weights;
    this.adam = args.adam;
    this.batchNormDefault = args.batchNorm ?? "training";
  }

  /** Number of base layers currently frozen. */
  get freezeDepth(): number {
    return this.depth;
  }

  /** How the base's batch normalisation runs while training (see `BatchNormMode`; set by `freeze`). */
  get batchNorm(): BatchNormMode {
    return this.batchNormNow;
  }

  /** The Adam settings every (re)compilation uses (`freeze` may give another learning rate). */
  get optimizerSettings(): AdamSettings {
    return { ...this.adam };
  }

  /** The precision the model computes in: "float32" (the default) or "mixed_bfloat16" (Keras's mixed precision). */
  get precision(): Precision {
    return this.policy;
  }

  /**
   * Sets the precision of the next fits, evaluations and predictions, as Keras's
   * `set_global_policy` does before a model is built: "mixed_bfloat16" computes the layers in
   * bfloat16 and keeps the weights (and Adam's state, batch normalisation's statistics, the
   * softmax and the loss) in float32, on the graph engine; "float32" computes everything in float32.
   * The weights and the optimizer's state are kept. Not while a fit is running.
   */
  setPrecision(precision: Precision): void {
    this.assertUsable();
    const p = checkPrecision(precision, "setPrecision");
    if (this.pending)
      throw new Error("setPrecision: a fit is still running; wait for it (await learner.settled()) first.");
    if (p === this.policy) return;
    warnIfBfloat16Emulated(p);
    this.policy = p;
    this.graphs.release((key) => !isGraphOf(p, key));
  }

  /** The learning rate of the current optimizer. */
  get learningRate(): number {
    return adamOf(this.model).learningRate;
  }

  /**
   * Changes the current optimizer's learning rate, keeping its state (Adam's moments and step
   * count), as Keras's `model.optimizer.learning_rate = lr` does; the next `freeze` or
   * `resetWeights` compiles a fresh optimizer with the model's own rate again.
   */
  setLearningRate(learningRate: number): void {
    this.assertUsable();
    checkLearningRate(learningRate, "setLearningRate");
    adamOf(this.model).learningRate = learningRate;
  }

  /**
   * Freezes the first layers of the base and unfreezes all others, then recompiles with a fresh Adam
   * of the same settings (or `options.learningRate`: a second fine-tuning stage's smaller rate), as
   * Keras needs `compile()` after changing `trainable`. `upTo` is a layer count (the tutorial's 64 /
   * 36) or a layer name, frozen up to and including it (`"mixed1"` is the same as 64 for InceptionV3).
   * `options.batchNorm` says how the base's batch normalisation runs while training (default: as built).
   */
  freeze(upTo: number | string, options: FreezeOptions = {}): FreezeReport {
    this.assertUsable();
    if (options.learningRate !== undefined) checkLearningRate(options.learningRate, "freeze");
    const batchNorm = checkBatchNormMode(options.batchNorm ?? this.batchNormDefault, "freeze");
    const layers = this.base.layers;
    const depth = resolveDepth(layers, upTo, this.baseName);
    layers.forEach((layer, i) => {
      layer.trainable = i >= depth;
    });
    this.base.trainable = true;
    for (const layer of this.model.layers) if (layer !== this.base) layer.trainable = true;
    // Keras's base_model(x, training=False): kept on the base's batch normalisation layers.
    setInferenceCall(this.base, batchNorm === "inference");
    if (depth !== this.depth || batchNorm !== this.batchNormNow) this.graphs.release((key) => !isInferenceGraph(key));
    this.batchNormNow = batchNorm;
    this.depth = depth;
    this.split?.release();
    this.split = undefined;
    compileModel(this.model, { ...this.adam, learningRate: options.learningRate ?? this.adam.learningRate });
    return {
      depth,
      lastFrozen: depth > 0 ? layers[depth - 1].name : undefined,
      firstTrainable: depth < layers.length ? layers[depth].name : undefined,
      batchNorm,
      ...this.countParams(),
    };
  }

  /** Total, trainable and non-trainable parameters, counted like Keras's `summary`. */
  countParams(): ParamCounts {
    this.assertUsable();
    const size = (ws: TF.LayerVariable[]) =>
      ws.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b as number), 1), 0);
    const trainable = size(this.model.trainableWeights);
    const nonTrainable = size(this.model.nonTrainableWeights);
    return { total: trainable + nonTrainable, trainable, nonTrainable };
  }

  /** The numbered list of base layers (the tutorial's `for i, layer in enumerate(base_model.layers)`), with trainability. */
  baseLayers(): LayerRow[] {
    this.assertUsable();
    return layerTable(this.base);
  }

  /** The top-level layers of the whole model, like Keras's `model.summary()`, and the parameter counts. */
  summary(): { rows: LayerRow[]; counts: ParamCounts } {
    this.assertUsable();
    return { rows: layerTable(this.model), counts: this.countParams() };
  }

  /**
   * Remembers the current weights (the pre-trained base and the freshly initialised head, right after
   * building) so that `resetWeights()` can go back to them: comparing freeze depths is only fair when
   * every run starts from the same weights.
   */
  snapshotWeights(): void {
    this.assertUsable();
    this.initialWeights?.dispose();
    this.initialWeights = undefined; // a take that fails leaves none, not a disposed one
    // Kept per variable: the order of model.getWeights() changes with trainability. On disk, so that a
    // trained model does not hold a second copy of its trainable weights (./engine/weight_snapshot.ts).
    this.initialWeights = WeightSnapshot.take(this.model.weights);
  }

  /** Puts back the weights of `snapshotWeights()` (taken when the model was built). Freezing is unchanged. */
  resetWeights(): void {
    this.assertUsable();
    if (!this.initialWeights) throw new Error("No weights were remembered: call snapshotWeights() first.");
    this.initialWeights.restore();
    compileModel(this.model, this.adam);
    this.trainedBy = undefined;
  }

  /**
   * Trains on a set of digits (the tutorial's `fit`: 5 epochs, batch 64, the last 20 % for validation)
   * and records the run for the freeze-depth comparison.
   */
  async fit(train: DigitSet, options: TransferFitOptions = {}): Promise<History> {
    this.assertUsable();
    // Before anything is computed (the frozen layers' output comes first): nothing changes on bad input.
    checkDigitSet(train, "fit: the training set");
    const plan = planFit(train.count, options);
    checkEngineSupports(plan.engine, this.policy);
    await this.settled();
    const run = this.fitWith(train, plan);
    this.pending = run;
    try {
      return await run;
    } finally {
      if (this.pending === run) this.pending = undefined;
    }
  }

  /**
   * fastai's learning-rate finder (`lr_find`): trains on the training part of `train` with a rate
   * rising exponentially from `startRate` (1e-7) towards `endRate` (10) over `steps` (100) batches,
   * stops when the loss diverges, and returns the curve of smoothed loss against rate with fastai's
   * suggestions (`suggestion` is the valley's rate; `kt.lrFinderPlot` draws it). The weights, batch
   * normalisation's statistics and the optimizer's state are put back exactly afterwards, also when it
   * is interrupted; no run is recorded. Checked before anything runs: nothing changes on bad input.
   */
  async findLearningRate(train: DigitSet, options: FindLearningRateOptions = {}): Promise<LearningRateFinding> {
    this.assertUsable();
    checkDigitSet(train, "findLearningRate: the training set");
    const { finder, plan } = planFinder(train.count, options);
    await this.settled();
    // Made at the first batch, so that it shows below the frozen layers' progress.
    let shown: StepProgress | undefined;
    const progress = () =>
      plan.showProgress ? (shown ??= stepProgress("Learning-rate finder", "batches")) : undefined;
    const run = (async () => {
      // Keras's validation split: the last fraction is held out; the finder sees what fit trains on.
      const { result } = await this.withTrainer(take(train, plan.splitAt), plan, (trainer, xs, y) =>
        runFinder(this.model, trainer, xs, y, {
          ...finder,
          batchSize: plan.batchSize,
          onBatch: (done, steps) => progress()?.update(done, steps),
        }),
      );
      return result;
    })();
    this.pending = run;
    try {
      const found = await run;
      if (!found) {
        progress()?.finish("Learning-rate finder: interrupted before training.");
        throw new Error(
          "findLearningRate: interrupted while the frozen layers' output was computed; nothing was trained. Run it again.",
        );
      }
      progress()?.finish(finderSummary(found));
      return found;
    } catch (e) {
      progress()?.finish(`Learning-rate finder failed: ${(e as Error).message}`);
      throw e;
    } finally {
      if (this.pending === run) this.pending = undefined;
    }
  }

  /** Waits until an interrupted `fit` has finished its last batch. */
  async settled(): Promise<void> {
    if (this.pending) await this.pending.catch(() => undefined);
  }

  /** The split used by the frozen-prefix cache at the current depth (built on first use). */
  prefixSplit(): PrefixSplit | undefined {
    this.assertUsable();
    if (!this.split || this.split.depth !== this.depth) {
      this.split?.release();
      this.split = splitAtDepth({ model: this.model, base: this.base, ...this.graph }, this.depth);
    }
    return this.split;
  }

  /** What this model runs on `engine` at its current depth. */
  private steps(engine: EngineName): ModelSteps {
    return modelSteps(engine, this.model, this.graphs, this.depth, this.policy);
  }

  private async fitWith(train: DigitSet, plan: FitPlan): Promise<History> {
    const best = plan.bestWeights ? new BestWeights(plan.bestWeights) : undefined;
    const checkpoint = plan.checkpoint ? new ModelCheckpoint(plan.checkpoint) : undefined;
    // The fit's learning rate is applied by a callback that runs first (./engine/rate_control.ts).
    const batches = plan.epochs * Math.ceil(plan.splitAt / plan.batchSize);
    const rate = plan.learningRate === undefined ? undefined : new RateControl(plan.learningRate, batches);
    const loop: LoopOptions = {
      epochs: plan.epochs,
      batchSize: plan.batchSize,
      splitAt: plan.splitAt,
      shuffle: plan.shuffle,
      callbacks: [
        ...(rate ? [rate] : []),
        ...plan.callbacks,
        ...(best ? [best] : []),
        ...(checkpoint ? [checkpoint] : []),
      ],
      onEpochEnd: plan.onEpochEnd,
    };
    const started = Date.now();
    const record = this.startRecord(train, plan);
    try {
      const { result, prefixCached, prefixCache } = await this.withTrainer(train, plan, (trainer, xs, y) => {
        // Made once the frozen layers' output is there, so that it shows below their progress.
        loop.progress = plan.showProgress ? createProgress() : undefined;
        return runFit(this.model, trainer, xs, y, loop);
      });
      record.prefixCached = prefixCached;
      if (prefixCache !== undefined) record.prefixCache = prefixCache;
      const history = result ?? emptyHistory(true);
      this.endRecord(record, history, best, started);
      return history;
    } finally {
      best?.release();
    }
  }

  /**
   * What a training loop on `train` needs, made, handed to `body`, and freed: the digits as tensors,
   * the frozen layers' output computed once when the frozen-prefix cache is used (with its progress;
   * in memory or in a scratch file, `prefixCache` says which),
   * and the engine's trainer (of the layers after the cut, or of the whole model). `result` is
   * undefined when a kernel interrupt (SIGINT) came while the frozen layers' output was computed;
   * during `body`, the loop stops after the current batch. Either way the model stays usable.
   */
  private async withTrainer<T>(
    train: DigitSet,
    plan: FitPlan,
    body: (trainer: Trainer, xs: RowSource, y: TF.Tensor) => Promise<T>,
  ): Promise<{ result?: T; prefixCached: boolean; prefixCache?: string }> {
    const { x, y } = toTensors(train);
    let features: FeatureStore | "interrupted" | undefined;
    const interrupts = watchInterrupts();
    try {
      const steps = this.steps(plan.engine);
      const split = this.cacheSplit(plan);
      if (split) features = await this.frozenFeatures(split, x, steps, plan, interrupts);
      if (features === "interrupted") return { prefixCached: true };
      if (!split || !features) {
        const result = await body(await steps.trainer(this.model, "whole"), tensorRows([x]), y);
        return { result, prefixCached: false };
      }
      // The digits are not needed again: the layers after the cut train on the stored features.
      x.dispose();
      compileSuffixLike(split, this.model);
      const result = await body(await steps.trainer(split.suffix, "suffix"), features, y);
      return { result, prefixCached: true, prefixCache: cacheText(features) };
    } finally {
      interrupts.stop();
      tf.dispose([x, y]);
      if (features instanceof FeatureStore) features.close();
    }
  }

  /**
   * The split of the frozen-prefix cache when this fit uses it (where its output is kept, memory or
   * disk, is decided by its size: ./engine/prefix_cache.ts). With data augmentation before the frozen
   * layers there is none (`splitAtDepth`), and the fit says so.
   */
  private cacheSplit(plan: FitPlan): PrefixSplit | undefined {
    if (plan.cache.mode === false) return undefined;
    const augmentation = this.depth === 0 ? [] : randomLayersInFront(this.graph);
    if (augmentation.length > 0 && plan.showProgress) {
      progressNote(
        `Data augmentation (${augmentation.map((l) => l.name).join(", ")}) comes before the frozen layers, ` +
          `so their output changes at every step and cannot be computed once: the whole model runs at every step ` +
          `(as Keras's transfer-learning guide says).`,
      );
    }
    return this.prefixSplit();
  }

  /**
   * The frozen layers' output for every digit, with progress, in memory or on disk
   * (engine/prefix_cache.ts); "interrupted" when an interrupt stopped it; undefined when it cannot be
   * kept (cachePrefix "auto", said once: the whole model trains).
   */
  private async frozenFeatures(
    split: PrefixSplit,
    x: TF.Tensor,
    steps: ModelSteps,
    plan: FitPlan,
    interrupts: Interrupts,
  ): Promise<FeatureStore | "interrupted" | undefined> {
    const n = x.shape[0];
    const type = featureType(this.policy);
    const opened = openFeatureStore(split, n, { cache: plan.cache, freeMemory: os.freemem(), type });
    if ("reason" in opened) {
      warning(
        `The frozen layers' output for ${thousands(n)} digits (${formatBytes(storeBytes(split.featureShapes, n, type))}) is more than ` +
          `the memory it may take, and it cannot go to disk: ${opened.reason}. This fit trains the whole model at ` +
          `every step (slower; the same result). Pass cacheDir (or set KT_FEATURE_CACHE) to a folder on a disk ` +
          `with room, or a larger cacheBudgetBytes.`,
      );
      return undefined;
    }
    const store = opened.store;
    const progress = plan.showProgress
      ? stepProgress("Frozen layers: computing their output once", "digits")
      : undefined;
    const started = Date.now();
    let complete: boolean;
    try {
      complete = await fillFeatureStore(store, split, x, {
        batchSize: plan.batchSize,
        shouldStop: () => interrupts.interrupted,
        onProgress: (done, total) => progress?.update(done, total),
        predictBatch: await steps.features(split),
      });
    } catch (e) {
      store.close();
      progress?.finish(`Computing the frozen layers' output failed: ${(e as Error).message}`);
      throw e;
    }
    progress?.finish(
      complete
        ? `Frozen layers' output computed once for ${n} digits in ${secondsSince(started)} ` +
            `(${cacheText(store)}); training the layers after them.`
        : "Interrupted.",
    );
    return complete ? store : "interrupted";
  }

  /** A new run's record, before it trains. */
  private startRecord(train: DigitSet, plan: FitPlan): RunRecord {
    const schedule = describeLearningRate(plan.learningRate, plan.callbacks, this.learningRate);
    return {
      run: this.runs.length + 1,
      freezeDepth: this.depth,
      frozenUpTo: this.depth > 0 ? this.base.layers[this.depth - 1].name : "—",
      trainableParams: this.countParams().trainable,
      epochs: 0,
      trainImages: train.count,
      seconds: 0,
      prefixCached: false,
      engine: plan.engine,
      precision: this.policy,
      learningRate:
        plan.learningRate === undefined
          ? this.learningRate
          : startingRate(plan.learningRate, adamOf(this.model).iterations),
      ...(schedule !== undefined ? { schedule } : {}),
      batchNorm: this.batchNormNow,
      startedFrom: this.trainedBy,
    };
  }

  /** Completes a run's record from its history and keeps it. */
  private endRecord(record: RunRecord, history: History, best: BestWeights | undefined, started: number): void {
    this.lastHistory = history;
    if (history.epoch.length > 0) this.trainedBy = record.run;
    if (best && best.bestEpoch >= 0) record.bestEpoch = best.bestEpoch + 1;
    record.epochs = history.epoch.length;
    record.seconds = (Date.now() - started) / 1000;
    const val = history.val_accuracy;
    if (val && val.length) record.valAccuracy = val[val.length - 1];
    this.runs.push(record);
  }

  /**
   * What `evaluate` and `predict` do first: check their arguments (nothing runs on bad input) and
   * wait for an interrupted `fit` to finish; the batch size, the engine's steps and the progress.
   */
  private async inferenceSetup(
    what: "evaluate" | "predict",
    set: Digits,
    options: InferenceOptions | number,
  ): Promise<{ batchSize: number; steps: ModelSteps; progress?: StepProgress; started: number }> {
    this.assertUsable();
    if (what === "evaluate") checkDigitSet(set as DigitSet, "evaluate: the test set");
    else checkDigits(set, "predict: the set");
    const o = typeof options === "number" ? { batchSize: options } : options;
    const batchSize = checkBatchSize(o.batchSize ?? 64, what);
    checkNotEmpty(set.count, what);
    const engine = resolveEngine(o.engine);
    if (o.progress !== undefined && typeof o.progress !== "boolean") {
      throw new Error(
        `${what}: progress must be true or false (default: shown when the digits take more than one batch), ` +
          `got ${JSON.stringify(o.progress)}.`,
      );
    }
    await this.settled();
    const show = o.progress ?? set.count > batchSize;
    const progress = show ? stepProgress(what === "evaluate" ? "Evaluating" : "Predicting", "digits") : undefined;
    return { batchSize, steps: this.steps(engine), progress, started: Date.now() };
  }

  /** Test loss and accuracy; also completes the latest run's record. */
  async evaluate(test: DigitSet, options: InferenceOptions | number = {}): Promise<Evaluation> {
    const { batchSize, steps, progress, started } = await this.inferenceSetup("evaluate", test, options);
    const { x, y } = toTensors(test);
    try {
      const rows = Int32Array.from({ length: test.count }, (_, i) => i);
      const onProgress = progress && ((done: number, total: number) => progress.update(done, total));
      const m = await evaluateRows(await steps.evaluator(), tensorRows([x]), y, rows, batchSize, onProgress);
      const result: Evaluation = { loss: m.loss, accuracy: m.accuracy, count: test.count };
      progress?.finish(
        `Evaluated ${thousands(test.count)} digits in ${secondsSince(started)}: ` +
          `loss ${result.loss.toFixed(4)} · accuracy ${result.accuracy.toFixed(4)}`,
      );
      const latest = this.runs[this.runs.length - 1];
      if (latest) {
        latest.testAccuracy = result.accuracy;
        latest.testLoss = result.loss;
      }
      return result;
    } catch (e) {
      progress?.finish(`Evaluation failed: ${(e as Error).message}`);
      throw e;
    } finally {
      tf.dispose([x, y]);
    }
  }

  /**
   * Class probabilities and predicted classes for a set of digits, labelled or not (your own
   * images, from `readDigits`).
   */
  async predict(set: Digits, options: InferenceOptions | number = {}): Promise<Predictions> {
    const { batchSize, steps, progress, started } = await this.inferenceSetup("predict", set, options);
    const x = scaleImages(set.images, set.count);
    try {
      const onProgress = progress && ((done: number, total: number) => progress.update(done, total));
      const result = await predictions(await steps.predictor(), x, 10, batchSize, onProgress);
      progress?.finish(`Predicted ${thousands(set.count)} digits in ${secondsSince(started)}`);
      return result;
    } catch (e) {
      progress?.finish(`Prediction failed: ${(e as Error).message}`);
      throw e;
    } finally {
      tf.dispose(x);
    }
  }

  /**
   * One training step on a batch (Keras's `train_on_batch`): digits [n, 28, 28, 1] in [0, 1] and
   * one-hot labels [n, 10]; the whole model runs (no frozen-prefix cache). Returns the batch's loss
   * and accuracy.
   */
  async trainOnBatch(
    x: TF.Tensor,
    y: TF.Tensor,
    options: { engine?: EngineChoice } = {},
  ): Promise<{ loss: number; accuracy: number }> {
    this.assertUsable();
    await this.settled();
    checkBatch(x, y);
    const trainer = await this.steps(resolveEngine(options.engine)).trainer(this.model, "whole");
    return trainer.trainBatch([x], y);
  }

  /** Class probabilities [n, 10] of a batch of digits [n, 28, 28, 1] (Keras's `predict_on_batch`); a new tensor. */
  async predictOnBatch(x: TF.Tensor, options: { engine?: EngineChoice } = {}): Promise<TF.Tensor> {
    this.assertUsable();
    await this.settled();
    checkBatch(x);
    return (await this.steps(resolveEngine(options.engine)).predictor())(x);
  }

  /**
   * Saves the whole model as Keras 3's `.keras` archive (`model.save("digits.keras")` in Keras): the
   * architecture with the base nested, the freeze state and each layer's dtype policy, the weights,
   * Adam's settings and, once it has trained, its state. Python's `keras.saving.load_model(file)` opens it, and
   * `loadTransferModel(file)` reads it back here. The path must end in ".keras"; the file is written
   * under a temporary name and renamed, so an existing file is replaced only by a complete archive.
   * The model is only read.
   */
  async save(file: string): Promise<SavedArchive> {
    this.assertUsable();
    await this.settled();
    return saveKerasArchive(this.model, file, adamOf(this.model), this.policy);
  }

  /**
   * Writes the whole model for a web page, in TF.js's LayersModel format: `dir`/model.json and
   * weight shards of 4 MiB, the float32 weights quantized as TensorFlow.js's converter does when
   * `quantize` is "float16" or "uint8" (see ./model_tfjs.ts). `tf.loadLayersModel` loads it in a
   * browser once the project's layers are registered (`npm run demo`). Written into a temporary
   * folder and renamed into place; an error while the model is training.
   */
  async exportTfjs(dir: string, options: TransferExportOptions = {}): Promise<TfjsExport> {
    this.assertUsable();
    // A fit called just before (not awaited) marks the model as training once its checks are done.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.pending) {
      throw new TfjsExportError(
        dir,
        "exportTfjs: the model is still training; wait for fit to finish (await it, or await learner.settled()) " +
          "and export then. Nothing was written.",
      );
    }
    return exportTransferModel(this, dir, options);
  }

  /** Frees the weights and the optimizer's state. The model cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.graphs.release();
    this.split?.release();
    this.split = undefined;
    const optimizer = this.model.optimizer as TF.Optimizer | undefined;
    this.model.dispose();
    optimizer?.dispose();
    this.initialWeights?.dispose();
    this.initialWeights = undefined;
    for (const [k, v] of liveModels) if (v === this) liveModels.delete(k);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private assertUsable(): void {
    if (this.disposed)
      throw new Error(
        "This model was disposed (a newer one was built with the same key, or dispose() was called); build it again.",
      );
  }
}

/** Where the frozen layers' output is kept, for the fit's message and its record: "on disk, 4.1 GB" ("on disk, 2.2 GB of bfloat16" under mixed_bfloat16). */
function cacheText(store: FeatureStore): string {
  const type = store.type === FLOAT32 ? "" : ` of ${store.type.name}`;
  return `${store.place === "memory" ? "in memory" : "on disk"}, ${formatBytes(store.bytes)}${type}`;
}

/** The finder's closing line: how far it went, why it stopped, and the suggestion. */
function finderSummary(found: LearningRateFinding): string {
  const rate = (r: number) => r.toExponential(1).replace("e+", "e");
  const n = found.rates.length;
  const why =
    found.stopped === "diverged"
      ? "stopped when the loss diverged"
      : found.stopped === "interrupted"
        ? "interrupted"
        : "all steps run";
  const range = n > 0 ? `, rates ${rate(found.rates[0])} to ${rate(found.rates[n - 1])}` : "";
  const suggestion =
    found.suggestion !== undefined
      ? `; suggested rate (valley) ${rate(found.suggestion)}`
      : "; too few points for a suggestion";
  return `Learning-rate finder: ${n} batch${n === 1 ? "" : "es"}${range} in ${formatSeconds(found.seconds)} (${why})${suggestion}. Weights and optimizer restored.`;
}

/** A learning rate given to `what`, checked: a positive finite number. */
function checkLearningRate(learningRate: number, what: string): void {
  if (!(typeof learningRate === "number" && Number.isFinite(learningRate) && learningRate > 0)) {
    throw new Error(
      `${what}: the learning rate must be a positive number (Keras's Adam default is 0.001; a second fine-tuning stage often uses 1e-4 or 1e-5), got ${String(learningRate)}.`,
    );
  }
}

/** Resolves a freeze point (count or layer name) to a number of layers, with clear errors. */
export function resolveDepth(layers: TF.layers.Layer[], upTo: number | string, modelName = "the base"): number {
  if (typeof upTo === "number") {
    if (!Number.isInteger(upTo) || upTo < 0 || upTo > layers.length) {
      throw new Error(
        `Freeze depth ${upTo} is out of range: ${modelName} has ${layers.length} layers, so use a whole number from 0 (train everything) to ${layers.length} (freeze everything), or a layer name.`,
      );
    }
    return upTo;
  }
  const index = layers.findIndex((l) => l.name === upTo);
  if (index < 0) {
    const close = closestNames(
      upTo,
      layers.map((l) => l.name),
      5,
    );
    throw new Error(`${modelName} has no layer named "${upTo}". Closest names: ${close.join(", ")}.`);
  }
  return index + 1;
}
