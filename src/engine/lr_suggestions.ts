/**
 * The arithmetic of the learning-rate finder (fastai's `lr_find`, fastai/callback/schedule.py and
 * fastai/learner.py), as plain functions of the curve:
 *
 *   finderRate        the rate of batch i: start · (end / start)^(i / steps)       (fastai's SchedExp)
 *   smoothLosses      the loss recorded per batch: an exponential moving average, β = 0.98, debiased
 *                     by 1 − βⁿ                                                    (fastai's AvgSmoothLoss)
 *   diverged          the stopping rule: a smoothed loss above 4 × the best one so far (fastai's
 *                     LRFinder, stop_div), or not a number (fastai goes on there; nothing can be
 *                     learned after it)
 *   suggestionWindow  the part of the curve fastai suggests from: without the first steps // 10 points
 *                     and the last 5, and cut at the first NaN
 *   valley            the rate at 2/3… of the way down the longest valley (fastai's default suggestion)
 *   steep             the rate where the loss falls fastest against log(rate)
 *   minimum           a tenth of the rate at the lowest loss
 *   slide             fastai's interval slide rule on the loss's gradient
 *
 * fastai works on float32 tensors: the suggestion functions here round the curve to float32 first
 * and do their comparisons and differences in float32 (`Math.fround`), so that they pick the same
 * points as fastai on the same curve (test/lr_suggestions.test.ts checks them against numpy).
 * Each returns undefined where fastai would fail (an empty curve, or fewer points than slide needs).
 */

const f = Math.fround;

/** A suggested rate, and the point of the curve it refers to (where fastai's plot marks it). */
export interface Suggestion {
  rate: number;
  point: { rate: number; loss: number };
}

/** The finder's rate for batch `i` (from 0) of `steps`: exponential from `start` towards `end` (pos = i / steps). */
export function finderRate(start: number, end: number, steps: number, i: number): number {
  return start * (end / start) ** (i / steps);
}

/** fastai's smoothed loss after each batch: avg ← β·avg + (1 − β)·loss, reported as avg / (1 − βⁿ). */
export function smoothLosses(raw: readonly number[], beta = 0.98): number[] {
  let avg = 0;
  return raw.map((loss, i) => {
    avg = beta * avg + (1 - beta) * loss;
    return avg / (1 - beta ** (i + 1));
  });
}

/** Whether the finder stops after a batch of smoothed loss `smoothed`, `best` the lowest so far (with it). */
export function diverged(smoothed: number, best: number): boolean {
  return !Number.isFinite(smoothed) || smoothed > 4 * best;
}

/**
 * fastai's `lr_find`: the suggestions come from the curve without its first `steps // 10` points and
 * its last 5 (a rising rate's first batches say little, its last ones are the divergence), cut at
 * the first NaN.
 */
function suggestionWindow(
  rates: readonly number[],
  losses: readonly number[],
  steps: number,
): { rates: number[]; losses: number[] } {
  const from = Math.floor(steps / 10);
  const to = Math.max(from, losses.length - 5);
  let r = rates.slice(from, to);
  let l = losses.slice(from, to);
  const nan = l.findIndex((v) => Number.isNaN(v));
  if (nan >= 0) {
    r = r.slice(0, nan);
    l = l.slice(0, nan);
  }
  return { rates: r, losses: l };
}

/** Python's `a[i]` for i in [-n, n). */
function at<T>(a: readonly T[], i: number): T {
  return a[i < 0 ? i + a.length : i];
}

/** fastai's `valley`: the longest valley (a decreasing run, gaps allowed), the rate 1/3 + 1/6 of the way along. */
function valley(rates: readonly number[], losses: readonly number[]): Suggestion | undefined {
  const n = losses.length;
  if (n === 0) return undefined;
  const l = losses.map(f);
  let maxStart = 0;
  let maxEnd = 0;
  const lds = new Array<number>(n).fill(1);
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (l[i] < l[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
      // As fastai: checked inside the inner loop, so maxStart keeps the length lds[i] had then.
      if (lds[maxEnd] < lds[i]) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd];
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  const idx = maxStart + Math.trunc(sections) + Math.trunc(sections / 2);
  const rate = at(rates, idx);
  return { rate, point: { rate, loss: at(l, idx) } };
}

/** fastai's `steep`: the rate at the start of the steepest fall of the loss against log(rate). */
function steep(rates: readonly number[], losses: readonly number[]): Suggestion | undefined {
  if (losses.length < 2) return undefined;
  const r = rates.map(f);
  const l = losses.map(f);
  let best = 0;
  let bestGrad = Infinity;
  for (let i = 0; i + 1 < l.length; i++) {
    const g = f(f(l[i + 1] - l[i]) / f(f(Math.log(r[i + 1])) - f(Math.log(r[i]))));
    // torch's argmin: the first of equal minima; a NaN is the minimum.
    if (Number.isNaN(g)) {
      if (!Number.isNaN(bestGrad)) {
        best = i;
        bestGrad = g;
      }
    } else if (g < bestGrad) {
      best = i;
      bestGrad = g;
    }
  }
  return { rate: rates[best], point: { rate: rates[best], loss: l[best] } };
}

/** fastai's `minimum`: a tenth of the rate with the lowest loss (the point marked is that rate). */
function minimum(rates: readonly number[], losses: readonly number[]): Suggestion | undefined {
  if (losses.length === 0) return undefined;
  const l = losses.map(f);
  let best = 0;
  for (let i = 1; i < l.length; i++) if (l[i] < l[best]) best = i;
  return { rate: rates[best] / 10, point: { rate: rates[best], loss: l[best] } };
}

/** numpy's `gradient` of evenly spaced values (float32 in, float32 out): one-sided at the ends, central inside. */
function gradient32(values: readonly number[]): number[] {
  const v = values.map(f);
  const n = v.length;
  if (n < 2) throw new Error("gradient32: needs at least two values.");
  return v.map((_, i) =>
    i === 0 ? f(v[1] - v[0]) : i === n - 1 ? f(v[n - 1] - v[n - 2]) : f(f(v[i + 1] - v[i - 1]) / 2),
  );
}

/**
 * fastai's `slide`: walking left from the end with two points `lrDiff` apart, the rate at the left
 * point once their loss gradients differ by at most `thresh`; the point marked is the loss
 * interpolated there against log10(rate).
 */
function slide(
  rates: readonly number[],
  losses: readonly number[],
  lrDiff = 15,
  thresh = 0.005,
  adjustValue = 1,
): Suggestion | undefined {
  const n = losses.length;
  if (n < lrDiff + 1 || n < 2) return undefined;
  const grad = gradient32(losses);
  let r = -1;
  let l = r - lrDiff;
  let local = at(rates, l);
  while (l >= -n && Math.abs(f(at(grad, r) - at(grad, l))) > thresh) {
    local = at(rates, l);
    r -= 1;
    l -= 1;
  }
  const rate = local * adjustValue;
  // fastai: np.interp(np.log10(suggestion), np.log10(lrs), losses), lrs and losses float32.
  return {
    rate,
    point: {
      rate,
      loss: interp(
        Math.log10(rate),
        rates.map((r) => f(Math.log10(f(r)))),
        losses.map(f),
      ),
    },
  };
}

/** numpy's `interp`: piecewise-linear, held at the ends; `xs` increasing. */
function interp(x: number, xs: readonly number[], ys: readonly number[]): number {
  if (x <= xs[0]) return ys[0];
  const n = xs.length;
  if (x >= xs[n - 1]) return ys[n - 1];
  let i = 1;
  while (xs[i] < x) i++;
  const t = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
  return ys[i - 1] + t * (ys[i] - ys[i - 1]);
}

export type SuggestionName = "valley" | "steep" | "minimum" | "slide";

/** Every suggestion fastai offers, from the suggestion window of a finder's curve. */
export function suggestAll(
  rates: readonly number[],
  losses: readonly number[],
  steps: number,
): Record<SuggestionName, Suggestion | undefined> {
  const w = suggestionWindow(rates, losses, steps);
  return {
    valley: valley(w.rates, w.losses),
    steep: steep(w.rates, w.losses),
    minimum: minimum(w.rates, w.losses),
    slide: slide(w.rates, w.losses),
  };
}
