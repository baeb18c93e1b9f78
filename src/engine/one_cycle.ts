/**
 * fastai's one-cycle policy (`Learner.fit_one_cycle`, fastai/callback/schedule.py) as plain
 * arithmetic over a fit's position `pos` = batches done / batches in the fit, in [0, 1]:
 *
 *   learning rate  cosine from maxRate / div up to maxRate over the first pctStart of the fit,
 *                  then cosine down to maxRate / divFinal            (fastai: combined_cos(pct_start,
 *                                                                      lr_max/div, lr_max, lr_max/div_final))
 *   momentum       cosine from moms[0] down to moms[1], then back up to moms[2]   (combined_cos(pct_start, *moms))
 *
 * with fastai's defaults div 25, divFinal 1e5, pctStart 0.25, moms (0.95, 0.85, 0.95). For Adam,
 * fastai's momentum is β₁, and Keras's Adam uses β₁ the way fastai's does (in the moving average
 * and in its bias correction 1 − β₁ᵗ, both at the current step), so the fit loop cycles KerasAdam's
 * `beta1` too (on both engines: the graph engine feeds β₁ at each step).
 *
 * fastai's `sched_cos(start, end, pos) = start + (1 + cos(π(1 − pos))) (end − start) / 2`; its
 * `combine_scheds` finds the phase and the position within it with float32 tensors, which
 * `phasePosition` mirrors (`Math.fround`). Rates are computed in double, as fastai does.
 */

export interface OneCycleOptions {
  /** The peak learning rate (fastai's lr_max). */
  maxRate: number;
  /** The rate starts at maxRate / div (default 25). */
  div?: number;
  /** The rate ends at maxRate / divFinal (default 1e5). */
  divFinal?: number;
  /** The fraction of the fit spent warming up (default 0.25). */
  pctStart?: number;
  /**
   * Adam's β₁ at the start, the peak rate and the end (default [0.95, 0.85, 0.95], fastai's);
   * `null` leaves β₁ as the optimizer has it.
   */
  moms?: readonly [number, number, number] | null;
}

/** A one-cycle schedule: given to `fit` as `learningRate`, it spans that fit's batches. */
export interface OneCycleSchedule {
  readonly className: "OneCycle";
  readonly config: Readonly<
    Required<Omit<OneCycleOptions, "moms">> & { moms: readonly [number, number, number] | null }
  >;
}

const FASTAI_MOMS: readonly [number, number, number] = [0.95, 0.85, 0.95];

/** Whether `x` is a schedule made by `oneCycle`. */
export function isOneCycle(x: unknown): x is OneCycleSchedule {
  return (
    typeof x === "object" &&
    x !== null &&
    (x as OneCycleSchedule).className === "OneCycle" &&
    typeof (x as OneCycleSchedule).config === "object"
  );
}

/**
 * fastai's `fit_one_cycle` as a schedule for `fit`: `fit(train, { learningRate: oneCycle({ maxRate: 1e-4 }) })`.
 * Checked here: every rate and divisor positive, pctStart in [0, 1], each momentum in [0, 1).
 */
export function oneCycle(options: OneCycleOptions): OneCycleSchedule {
  const what = "oneCycle";
  const num = (name: string, v: unknown): number => {
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new Error(`${what}: ${name} must be a finite number, got ${String(v)}.`);
    return v;
  };
  if (typeof options !== "object" || options === null)
    throw new Error(`${what}: pass { maxRate }, e.g. oneCycle({ maxRate: 1e-4 }).`);
  const maxRate = num("maxRate", options.maxRate);
  if (!(maxRate > 0))
    throw new Error(
      `${what}: maxRate must be a learning rate > 0 (the peak; findLearningRate suggests one), got ${maxRate}.`,
    );
  const div = num("div", options.div ?? 25);
  const divFinal = num("divFinal", options.divFinal ?? 1e5);
  if (!(div > 0) || !(divFinal > 0))
    throw new Error(
      `${what}: div and divFinal must be > 0 (the rate starts at maxRate / div and ends at maxRate / divFinal), got ${div} and ${divFinal}.`,
    );
  const pctStart = num("pctStart", options.pctStart ?? 0.25);
  if (!(pctStart >= 0 && pctStart <= 1))
    throw new Error(
      `${what}: pctStart must be a fraction in [0, 1] (the part of the fit spent warming up), got ${pctStart}.`,
    );
  let moms: readonly [number, number, number] | null = FASTAI_MOMS;
  if (options.moms === null) moms = null;
  else if (options.moms !== undefined) {
    const m = options.moms as unknown;
    if (!Array.isArray(m) || m.length !== 3)
      throw new Error(
        `${what}: moms must be three numbers [start, middle, end] (fastai's [0.95, 0.85, 0.95]) or null, got ${JSON.stringify(m)}.`,
      );
    m.forEach((v, i) => {
      if (!(num(`moms[${i}]`, v) >= 0 && v < 1))
        throw new Error(`${what}: moms[${i}] is Adam's beta1, in [0, 1), got ${v}.`);
    });
    moms = [m[0], m[1], m[2]];
  }
  return Object.freeze({
    className: "OneCycle" as const,
    config: Object.freeze({ maxRate, div, divFinal, pctStart, moms }),
  });
}

/** fastai's `sched_cos`: from `start` (pos 0) to `end` (pos 1) along half a cosine. */
function schedCos(start: number, end: number, pos: number): number {
  return start + ((1 + Math.cos(Math.PI * (1 - pos))) * (end - start)) / 2;
}

/**
 * fastai's `combine_scheds([pct, 1 − pct], ...)`: which of the two phases `pos` falls in (the second
 * from pos ≥ pct on) and the position within it, computed in float32 as fastai's tensors do.
 */
function phasePosition(pct: number, pos: number): { phase: 0 | 1; within: number } {
  const f = Math.fround;
  const edges = [0, f(pct), f(f(pct) + f(1 - pct))];
  const p = f(pos);
  const phase: 0 | 1 = p >= edges[1] ? 1 : 0;
  const length = f(edges[phase + 1] - edges[phase]);
  // A phase of no length (pctStart 1, at the fit's very end) is complete; fastai would divide 0 by 0.
  return { phase, within: length > 0 ? f(f(p - edges[phase]) / length) : 1 };
}

/** fastai's `combined_cos(pct, start, middle, end)` at `pos`. */
function combinedCos(pct: number, start: number, middle: number, end: number, pos: number): number {
  const { phase, within } = phasePosition(pct, pos);
  return phase === 0 ? schedCos(start, middle, within) : schedCos(middle, end, within);
}

/** The learning rate at `pos` (batches done / batches in the fit), clamped to [0, 1]. */
export function oneCycleRate(config: OneCycleSchedule["config"], pos: number): number {
  const { maxRate, div, divFinal, pctStart } = config;
  return combinedCos(pctStart, maxRate / div, maxRate, maxRate / divFinal, Math.min(1, Math.max(0, pos)));
}

/** Adam's β₁ at `pos`, or undefined when the schedule leaves it alone. */
export function oneCycleMomentum(config: OneCycleSchedule["config"], pos: number): number | undefined {
  if (!config.moms) return undefined;
  const [a, b, c] = config.moms;
  return combinedCos(config.pctStart, a, b, c, Math.min(1, Math.max(0, pos)));
}
