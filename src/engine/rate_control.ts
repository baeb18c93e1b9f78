/**
 * `fit`'s `learningRate` option: a number, a Keras schedule (../keras/optimizers/schedules.ts) or
 * fastai's one cycle (./one_cycle.ts), applied to the optimizer step by step by a callback the fit
 * loop (./loop.ts) runs first, on either engine (both read the optimizer's `learningRate` and
 * `beta1` at each step; the graph engine feeds them, so nothing is recompiled).
 *
 *   checkFitLearningRate   the option checked against the fit's callbacks, before anything runs
 *   RateControl            the callback: sets the rate (and β₁) for each step
 *   describeLearningRate   a short text for the record of a run
 *
 * The rules, as Keras has them:
 *   - a schedule is evaluated at the optimizer's update count (`optimizer.iterations`), as Keras's
 *     optimizer evaluates `learning_rate(iterations)`: after `freeze` (a fresh Adam) it starts at 0,
 *     after an earlier fit with the same optimizer it goes on from there. One cycle spans the fit it
 *     is given to (fastai's `fit_one_cycle`): its position is the batches done in this fit over
 *     epochs × batches per epoch.
 *   - between steps the optimizer holds the rate of its next step, what Keras's
 *     `optimizer.learning_rate` reads; so the history's `learning_rate` at an epoch's end is that,
 *     and after the fit the optimizer keeps the schedule's value at its step count (a Keras optimizer
 *     built with the schedule would go on with it; fastai too leaves the last value). A later fit
 *     without `learningRate` trains at it; `setLearningRate` or `freeze` set another. One cycle's β₁
 *     stays likewise (its last value, 0.95 by default).
 *   - a number is the rate for this fit, and stays afterwards (as `setLearningRate`).
 *   - the rate is set once per fit, by one thing: a schedule together with `reduceLROnPlateau` (Keras:
 *     "This optimizer was created with a `LearningRateSchedule` ... its learning rate is not
 *     settable"), or two `reduceLROnPlateau` callbacks, are refused before anything runs. A number
 *     with `reduceLROnPlateau` is fine: the number is where the plateau rule starts.
 */
import type * as TF from "@tensorflow/tfjs";
import { isLearningRateSchedule, type LearningRateSchedule } from "../keras/optimizers/schedules";
import { isOneCycle, oneCycleMomentum, oneCycleRate, type OneCycleSchedule } from "./one_cycle";
import { ReduceLROnPlateau } from "./reduce_lr_on_plateau";

/** What `fit`'s `learningRate` takes. */
export type FitLearningRate = number | LearningRateSchedule | OneCycleSchedule;

/** The optimizer's fields a schedule drives (KerasAdam's). */
interface Driven {
  learningRate: number;
  beta1: number;
  readonly iterations: number;
}

/**
 * Checks `fit`'s `learningRate` and the fit's callbacks together: a valid rate or schedule, and the
 * rate driven by one thing only. Throws an error that says what to change.
 */
export function checkFitLearningRate(learningRate: unknown, callbacks: readonly unknown[]): void {
  const plateaus = callbacks.filter((c) => c instanceof ReduceLROnPlateau);
  if (plateaus.length > 1) {
    throw new Error(
      `fit: ${plateaus.length} reduceLROnPlateau callbacks were given; the learning rate can follow one rule at a time: keep one.`,
    );
  }
  if (learningRate === undefined) return;
  if (typeof learningRate === "number") {
    if (!(Number.isFinite(learningRate) && learningRate > 0)) {
      throw new Error(
        `fit: learningRate must be a rate > 0 (Keras's Adam default is 0.001) or a schedule (kt.schedules.cosineDecay({...}), kt.schedules.oneCycle({...})), got ${learningRate}.`,
      );
    }
    return;
  }
  if (!isLearningRateSchedule(learningRate) && !isOneCycle(learningRate)) {
    throw new Error(
      `fit: learningRate must be a number or a schedule from kt.schedules (cosineDecay, exponentialDecay, piecewiseConstantDecay, polynomialDecay, inverseTimeDecay, cosineDecayRestarts, oneCycle), got ${JSON.stringify(learningRate)}.`,
    );
  }
  if (plateaus.length > 0) {
    throw new Error(
      `fit: learningRate is a schedule (${(learningRate as { className: string }).className}) and a reduceLROnPlateau callback was given too: ` +
        "both would set the learning rate. Use one: the schedule, or a number as learningRate with reduceLROnPlateau.",
    );
  }
}

/** The per-step rate (and β₁) of a fit's `learningRate`, given the fit's length and the optimizer's step at its start. */
export function planRates(
  learningRate: FitLearningRate,
  steps: number,
  startStep: number,
): { rate(step: number): number; beta1?(step: number): number | undefined } {
  if (typeof learningRate === "number") return { rate: () => learningRate };
  if (isOneCycle(learningRate)) {
    const pos = (step: number) => (step - startStep) / steps;
    return {
      rate: (step) => oneCycleRate(learningRate.config, pos(step)),
      beta1: (step) => oneCycleMomentum(learningRate.config, pos(step)),
    };
  }
  return { rate: (step) => learningRate.rate(step) };
}

/** The rate of the first step of a fit given `learningRate`, for an optimizer at step `iterations`. */
export function startingRate(learningRate: FitLearningRate, iterations: number): number {
  return planRates(learningRate, 1, iterations).rate(iterations);
}

/**
 * The callback that applies `fit`'s `learningRate`: at the start of training and after each batch,
 * the optimizer gets the rate (and β₁) of its next step. Placed first among the fit's callbacks, so
 * the others see the rate of the coming step.
 */
export class RateControl {
  private optimizer?: Driven;
  private plan?: ReturnType<typeof planRates>;

  /** `steps`: the fit's batches, epochs × batches per epoch (one cycle spans them). */
  constructor(
    readonly learningRate: FitLearningRate,
    private readonly steps: number,
  ) {}

  setModel(model: TF.LayersModel): void {
    this.optimizer = model.optimizer as unknown as Driven;
  }

  onTrainBegin(): void {
    if (!this.optimizer) return;
    this.plan = planRates(this.learningRate, this.steps, this.optimizer.iterations);
    this.apply();
  }

  onBatchEnd(): void {
    if (typeof this.learningRate !== "number") this.apply();
  }

  private apply(): void {
    const optimizer = this.optimizer;
    if (!optimizer || !this.plan) return;
    const step = optimizer.iterations;
    optimizer.learningRate = this.plan.rate(step);
    const beta1 = this.plan.beta1?.(step);
    if (beta1 !== undefined) optimizer.beta1 = beta1;
  }
}

/** A short description of a fit's rate for the record of a run: "one cycle, peak 0.0001", "CosineDecay from 0.001". */
export function describeLearningRate(
  learningRate: FitLearningRate | undefined,
  callbacks: readonly unknown[],
  current: number,
): string | undefined {
  const plateau = callbacks.find((c) => c instanceof ReduceLROnPlateau) as ReduceLROnPlateau | undefined;
  const start = typeof learningRate === "number" ? learningRate : current;
  if (plateau) return `${start}, reduced on a plateau of ${plateau.config.monitor}`;
  if (learningRate === undefined || typeof learningRate === "number") return undefined;
  if (isOneCycle(learningRate)) return `one cycle, peak ${learningRate.config.maxRate}`;
  const c = learningRate.config as Record<string, unknown>;
  const from = c.warmup_target ?? c.initial_learning_rate;
  return typeof from === "number" || typeof from === "string"
    ? `${learningRate.className} from ${from}`
    : learningRate.className;
}
