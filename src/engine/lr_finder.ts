/**
 * The learning-rate finder (fastai's `lr_find`; Smith, "Cyclical Learning Rates for Training Neural
 * Networks", 2015): train on the training digits with a rate that rises exponentially batch by batch,
 * record the smoothed loss at each rate, stop once the loss diverges, then put the model and the
 * optimizer back exactly as they were. The curve of loss against rate shows where the loss falls
 * fastest; fastai's suggestions (./lr_suggestions.ts) pick a rate from it.
 *
 *   checkFinderOptions  the finder's range and length, checked
 *   planFinder          those and the training options it shares with `fit` (./fit_plan.ts), checked
 *                       before anything runs
 *   runFinder           the run: the fit loop (./loop.ts, `runFit`) with a callback that sets each
 *                       batch's rate, records the loss and stops at divergence or after `steps`
 *                       batches; the weights (with batch normalisation's moving statistics) and Adam's
 *                       state are captured before and restored after, also on an error or interrupt
 *
 * As fastai's LRFinder: rate i = start · (end / start)^(i / steps) for i = 0, 1, …; after each batch
 * the smoothed loss is recorded and compared with the best so far (stop when above 4 × it); no
 * validation; as many passes over the training digits as the steps need. Unlike fastai, a loss that
 * is not a number also stops the run (nothing is learned after it; fastai carries on to the end).
 */
import type * as TF from "@tensorflow/tfjs";
import { adamOf } from "../keras/optimizers/adam";
import { tf } from "../tfjs/backend";
import { planFit, type FitOptions, type FitPlan } from "./fit_plan";
import { runFit, type History, type Trainer } from "./loop";
import { diverged, finderRate, smoothLosses, suggestAll, type Suggestion, type SuggestionName } from "./lr_suggestions";
import type { RowSource } from "./row_source";

export interface FinderOptions {
  /** The first batch's rate (default 1e-7, fastai's). */
  startRate?: number;
  /** The rate the run rises towards, reached after `steps` batches (default 10, fastai's). */
  endRate?: number;
  /** Batches over which the rate rises from startRate to endRate (default 100, fastai's; at least 6). */
  steps?: number;
  /** Stop when the smoothed loss exceeds 4 × the best one (default true, fastai's stop_div). */
  stopOnDivergence?: boolean;
}

/**
 * Options of `TransferModel.findLearningRate`: the finder's range (fastai's defaults: 1e-7 to 10 over
 * 100 batches) and, as for `fit`, the batch size, the validation split (the finder trains on the
 * part `fit` trains on), the engine and the frozen-prefix cache.
 */
export interface FindLearningRateOptions
  extends
    FinderOptions,
    Pick<FitOptions, "batchSize" | "validationSplit" | "engine" | "cachePrefix" | "cacheBudgetBytes" | "progress"> {}

/** What the finder found: the curve, why it stopped, and fastai's suggestions. */
export interface LearningRateFinding {
  /** The rate of each batch run. */
  rates: number[];
  /** The smoothed loss after each batch (what fastai records and plots). */
  losses: number[];
  /** Each batch's own loss. */
  rawLosses: number[];
  startRate: number;
  endRate: number;
  steps: number;
  /** "completed" (all steps), "diverged" (the loss ran away), or "interrupted" (a kernel interrupt). */
  stopped: "completed" | "diverged" | "interrupted";
  /** fastai's default suggestion, the valley's rate (undefined when the curve is too short to suggest from). */
  suggestion?: number;
  /** fastai's suggestions: valley, steep (the steepest descent), minimum (a tenth of the lowest loss's rate), slide. */
  suggestions: Record<SuggestionName, Suggestion | undefined>;
  /** Seconds the run took. */
  seconds: number;
}

/** The finder's settings with fastai's defaults, checked: each error says what was wrong and what to pass. */
function checkFinderOptions(options: FinderOptions): Required<FinderOptions> {
  const what = "findLearningRate";
  const startRate = options.startRate ?? 1e-7;
  const endRate = options.endRate ?? 10;
  const steps = options.steps ?? 100;
  for (const [name, v] of [
    ["startRate", startRate],
    ["endRate", endRate],
  ] as const) {
    if (typeof v !== "number" || !Number.isFinite(v) || !(v > 0)) {
      throw new Error(`${what}: ${name} must be a learning rate > 0 (fastai's range is 1e-7 to 10), got ${String(v)}.`);
    }
  }
  if (!(startRate < endRate)) {
    throw new Error(
      `${what}: the rates rise from startRate to endRate, so startRate must be below endRate; got ${startRate} and ${endRate} (fastai: 1e-7 to 10).`,
    );
  }
  if (!Number.isInteger(steps) || steps < 6) {
    throw new Error(
      `${what}: steps must be a whole number of batches ≥ 6 (fastai's least; its default is 100), got ${steps}.`,
    );
  }
  const stop = options.stopOnDivergence ?? true;
  if (typeof stop !== "boolean")
    throw new Error(`${what}: stopOnDivergence must be true or false, got ${JSON.stringify(stop)}.`);
  return { startRate, endRate, steps, stopOnDivergence: stop };
}

/**
 * The finder's settings and its training on `n` digits planned as `fit` plans a fit of one epoch
 * (the batch size, the validation split, the engine, the frozen-prefix cache, progress), every option
 * checked before anything runs; each error names `findLearningRate`.
 */
export function planFinder(
  n: number,
  options: FindLearningRateOptions,
): { finder: Required<FinderOptions>; plan: FitPlan } {
  const finder = checkFinderOptions(options);
  const { batchSize, validationSplit, engine, cachePrefix, cacheBudgetBytes, progress } = options;
  const plan = planFit(
    n,
    { epochs: 1, batchSize, validationSplit, engine, cachePrefix, cacheBudgetBytes, progress },
    "findLearningRate",
  );
  if (progress !== undefined && typeof progress !== "boolean") {
    throw new Error(`findLearningRate: progress must be true or false, got ${JSON.stringify(progress)}.`);
  }
  return { finder, plan };
}

/** A copy of the model's weights (all of them, moving statistics included) and of its optimizer's state. */
function capture(model: TF.LayersModel): () => void {
  const weights = model.weights.map((variable) => ({ variable, value: tf.keep(variable.read().clone()) }));
  const optimizer = adamOf(model);
  const state = optimizer.captureState();
  return () => {
    for (const { variable, value } of weights) variable.write(value);
    optimizer.restoreState(state);
    tf.dispose(weights.map((w) => w.value));
    state.dispose();
  };
}

/**
 * Runs the finder with `trainer` on (xs, y) — the training digits only — in batches of `batchSize`,
 * reshuffled at each pass; `model` is the user's model (its optimizer's rate is set batch by batch,
 * and it is restored afterwards). `onBatch` is told the batches done and the steps.
 */
export async function runFinder(
  model: TF.LayersModel,
  trainer: Trainer,
  xs: RowSource,
  y: TF.Tensor,
  options: FinderOptions & { batchSize: number; onBatch?: (done: number, steps: number) => void },
): Promise<LearningRateFinding> {
  const { startRate, endRate, steps, stopOnDivergence } = checkFinderOptions(options);
  const started = Date.now();
  const optimizer = adamOf(model);
  const rates: number[] = [];
  const rawLosses: number[] = [];
  let smoothed: number[] = [];
  let best = Infinity;
  let stop: LearningRateFinding["stopped"] | undefined;
  const finder = {
    onBatchBegin: () => {
      optimizer.learningRate = finderRate(startRate, endRate, steps, rates.length);
    },
    onBatchEnd: (_batch: number, logs?: Record<string, number>) => {
      rates.push(optimizer.learningRate);
      rawLosses.push(logs?.loss ?? NaN);
      smoothed = smoothLosses(rawLosses);
      const s = smoothed[smoothed.length - 1];
      if (s < best) best = s;
      if (stopOnDivergence && diverged(s, best)) stop = "diverged";
      else if (rates.length >= steps) stop = "completed";
      options.onBatch?.(rates.length, steps);
      if (stop) model.stopTraining = true;
    },
  };
  const batches = Math.ceil(y.shape[0] / options.batchSize);
  const restore = capture(model);
  let history: History;
  try {
    history = await runFit(model, trainer, xs, y, {
      epochs: Math.ceil(steps / batches),
      batchSize: options.batchSize,
      splitAt: y.shape[0], // no validation
      shuffle: true,
      callbacks: [finder],
    });
  } finally {
    restore();
  }
  const stopped = stop ?? (history.interrupted ? "interrupted" : "completed");
  const suggestions = suggestAll(rates, smoothed, steps);
  return {
    rates,
    losses: smoothed,
    rawLosses,
    startRate,
    endRate,
    steps,
    stopped,
    suggestion: suggestions.valley?.rate,
    suggestions,
    seconds: (Date.now() - started) / 1000,
  };
}
