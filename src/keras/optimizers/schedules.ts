/**
 * Keras 3's learning-rate schedules (keras/src/optimizers/schedules/learning_rate_schedule.py), with
 * Keras's names, defaults and formulas, as plain functions of the step:
 *
 *   exponentialDecay        initial · decay_rate^(step / decay_steps)            (floored with staircase)
 *   piecewiseConstantDecay  values[i] while boundaries[i-1] < step ≤ boundaries[i]
 *   polynomialDecay         (initial − end) · (1 − step / decay_steps)^power + end   (cycle: restarts)
 *   inverseTimeDecay        initial / (1 + decay_rate · step / decay_steps)
 *   cosineDecay             a linear warm-up from initial to warmup_target over warmup_steps (optional),
 *                           then ½(1 + cos(π · step / decay_steps)) from the peak down to alpha · peak
 *   cosineDecayRestarts     SGDR: cosine decays restarted after first_decay_steps · t_mul^i steps,
 *                           each peak m_mul times the one before
 *
 * The step is the optimizer's update count before the update, as Keras evaluates
 * `learning_rate(optimizer.iterations)`. Keras computes each formula in float32 tensors; `rate` does
 * the same arithmetic operation by operation, rounding to float32 after each (`Math.fround`), so the
 * results equal Keras's to the last bit except where a transcendental function (cos, pow, log) is
 * rounded differently by TensorFlow's kernels (a few float32 ulps; see test/schedules.test.ts).
 *
 * Arguments are checked as Keras checks them (decay steps > 0, one value more than boundaries), and
 * also: rates that set a schedule's scale (the initial rate, the warm-up target, every piecewise
 * value) must be positive — an initial rate of 0 is allowed only before a warm-up, as in Keras's
 * own example; the rates a decay ends at (alpha, end_learning_rate) may be 0.
 */

/** A learning rate as a function of the optimizer's step (Keras's `LearningRateSchedule`). */
export interface LearningRateSchedule {
  /** Keras's class name, e.g. "CosineDecay". */
  readonly className: string;
  /** Keras's `get_config()`, under Keras's names. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The rate of the update made at optimizer step `step` (0 for the first update). */
  rate(step: number): number;
}

/** Whether `x` is a schedule made by this module (or shaped like one). */
export function isLearningRateSchedule(x: unknown): x is LearningRateSchedule {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as LearningRateSchedule).rate === "function" &&
    typeof (x as LearningRateSchedule).className === "string"
  );
}

const f = Math.fround;
/** `math.pi` as a float32 tensor holds it (Keras: `ops.array(math.pi, dtype=dtype)`). */
const PI = f(Math.PI);

function schedule(
  className: string,
  config: Record<string, unknown>,
  rate: (step: number) => number,
): LearningRateSchedule {
  return Object.freeze({
    className,
    config: Object.freeze(config),
    rate(step: number): number {
      if (!(Number.isInteger(step) && step >= 0)) {
        throw new Error(
          `${className}: the step must be a whole number ≥ 0 (the optimizer's update count), got ${step}.`,
        );
      }
      return rate(step);
    },
  });
}

// ---------------------------------------------------------------------------
// Argument checks: each error says which argument, what it got and what it takes.

function finite(what: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new Error(`${what}: ${name} must be a finite number, got ${String(v)}.`);
  return v;
}

function positiveRate(what: string, name: string, v: unknown): number {
  const x = finite(what, name, v);
  if (!(x > 0)) {
    throw new Error(`${what}: ${name} must be a learning rate > 0 (Keras's Adam default is 0.001), got ${x}.`);
  }
  return x;
}

function nonNegative(what: string, name: string, v: unknown): number {
  const x = finite(what, name, v);
  if (!(x >= 0)) throw new Error(`${what}: ${name} must be ≥ 0, got ${x}.`);
  return x;
}

function decaySteps(what: string, name: string, v: unknown): number {
  const x = finite(what, name, v);
  // Keras: "Argument `decay_steps` must be > 0."
  if (!(x > 0)) throw new Error(`${what}: ${name} must be > 0 (a number of optimizer steps), got ${x}.`);
  return x;
}

function fraction(what: string, name: string, v: unknown): number {
  const x = finite(what, name, v);
  if (!(x >= 0 && x <= 1)) throw new Error(`${what}: ${name} must be a fraction in [0, 1], got ${x}.`);
  return x;
}

// ---------------------------------------------------------------------------
// The schedules

export interface ExponentialDecayOptions {
  initialLearningRate: number;
  decaySteps: number;
  decayRate: number;
  /** Decay in whole steps of `decaySteps` (default false). */
  staircase?: boolean;
}

/** Keras's `ExponentialDecay`: initial · decay_rate^(step / decay_steps). */
export function exponentialDecay(options: ExponentialDecayOptions): LearningRateSchedule {
  const what = "exponentialDecay";
  const initial = positiveRate(what, "initialLearningRate", options.initialLearningRate);
  const steps = decaySteps(what, "decaySteps", options.decaySteps);
  const rate = finite(what, "decayRate", options.decayRate);
  if (!(rate > 0))
    throw new Error(`${what}: decayRate must be > 0 (e.g. 0.96: the rate shrinks 4 % every decaySteps), got ${rate}.`);
  const staircase = options.staircase ?? false;
  const config = {
    initial_learning_rate: initial,
    decay_steps: steps,
    decay_rate: rate,
    staircase,
    name: "ExponentialDecay",
  };
  return schedule("ExponentialDecay", config, (step) => {
    let p = f(f(step) / f(steps));
    if (staircase) p = Math.floor(p);
    return f(f(initial) * f(Math.pow(f(rate), p)));
  });
}

export interface PiecewiseConstantDecayOptions {
  /** Steps at which the rate changes, increasing. */
  boundaries: number[];
  /** One more than `boundaries`: the rate up to the first boundary, between each two, and after the last. */
  values: number[];
}

/**
 * Keras's `PiecewiseConstantDecay`: values[0] while step ≤ boundaries[0], values[i] while
 * boundaries[i−1] < step ≤ boundaries[i], the last value after.
 */
export function piecewiseConstantDecay(options: PiecewiseConstantDecayOptions): LearningRateSchedule {
  const what = "piecewiseConstantDecay";
  const { boundaries, values } = options;
  if (!Array.isArray(boundaries) || !Array.isArray(values))
    throw new Error(`${what}: boundaries and values must be arrays of numbers.`);
  if (boundaries.length !== values.length - 1) {
    throw new Error(
      `${what}: the length of boundaries should be 1 less than the length of values (Keras's rule), got ${boundaries.length} boundaries and ${values.length} values.`,
    );
  }
  boundaries.forEach((b, i) => {
    finite(what, `boundaries[${i}]`, b);
    if (i > 0 && !(b > boundaries[i - 1]))
      throw new Error(`${what}: boundaries must increase, got ${boundaries[i - 1]} then ${b}.`);
  });
  values.forEach((v, i) => positiveRate(what, `values[${i}]`, v));
  const b = boundaries.slice();
  const v = values.slice();
  const config = { boundaries: b, values: v, name: "PiecewiseConstant" };
  return schedule("PiecewiseConstantDecay", config, (step) => {
    let i = 0;
    while (i < b.length && step > b[i]) i++;
    return f(v[i]);
  });
}

export interface PolynomialDecayOptions {
  initialLearningRate: number;
  decaySteps: number;
  /** Default 0.0001 (Keras's). */
  endLearningRate?: number;
  /** Default 1 (linear). */
  power?: number;
  /** Go on past decaySteps with a longer decay, restarting from the initial rate (default false). */
  cycle?: boolean;
}

/**
 * Keras's `PolynomialDecay`: (initial − end) · (1 − step / decay_steps)^power + end, held at end
 * after decay_steps (or cycled).
 */
export function polynomialDecay(options: PolynomialDecayOptions): LearningRateSchedule {
  const what = "polynomialDecay";
  const initial = positiveRate(what, "initialLearningRate", options.initialLearningRate);
  const steps = decaySteps(what, "decaySteps", options.decaySteps);
  const end = nonNegative(what, "endLearningRate", options.endLearningRate ?? 0.0001);
  const power = finite(what, "power", options.power ?? 1);
  if (!(power > 0)) throw new Error(`${what}: power must be > 0 (1 decays linearly), got ${power}.`);
  const cycle = options.cycle ?? false;
  const config = {
    initial_learning_rate: initial,
    decay_steps: steps,
    end_learning_rate: end,
    power,
    cycle,
    name: "PolynomialDecay",
  };
  return schedule("PolynomialDecay", config, (step) => {
    let s = f(step);
    let d = f(steps);
    if (cycle) {
      const multiplier = s === 0 ? 1 : Math.ceil(f(s / f(steps)));
      d = f(d * multiplier);
    } else {
      s = Math.min(s, d);
    }
    const p = f(s / d);
    return f(f(f(f(initial) - f(end)) * f(Math.pow(f(1 - p), f(power)))) + f(end));
  });
}

export interface InverseTimeDecayOptions {
  initialLearningRate: number;
  decaySteps: number;
  decayRate: number;
  staircase?: boolean;
}

/** Keras's `InverseTimeDecay`: initial / (1 + decay_rate · step / decay_steps). */
export function inverseTimeDecay(options: InverseTimeDecayOptions): LearningRateSchedule {
  const what = "inverseTimeDecay";
  const initial = positiveRate(what, "initialLearningRate", options.initialLearningRate);
  const steps = decaySteps(what, "decaySteps", options.decaySteps);
  const rate = nonNegative(what, "decayRate", options.decayRate);
  const staircase = options.staircase ?? false;
  const config = {
    initial_learning_rate: initial,
    decay_steps: steps,
    decay_rate: rate,
    staircase,
    name: "InverseTimeDecay",
  };
  return schedule("InverseTimeDecay", config, (step) => {
    let p = f(f(step) / f(steps));
    if (staircase) p = Math.floor(p);
    return f(f(initial) / f(1 + f(f(rate) * p)));
  });
}

export interface CosineDecayOptions {
  /** The rate at step 0: where the decay starts, or, with a warm-up, where the warm-up starts (may be 0 then). */
  initialLearningRate: number;
  /** Steps of the cosine decay (after the warm-up). */
  decaySteps: number;
  /** The decay ends at alpha × its starting rate (default 0). */
  alpha?: number;
  /** With a warm-up: the rate it rises to, linearly, and the decay starts from. */
  warmupTarget?: number;
  /** Steps of the warm-up (default 0). */
  warmupSteps?: number;
}

/** ½(1 + cos(π · step / decay_steps)), from `from` down to alpha · `from`, in Keras's float32 arithmetic. */
function cosineDecayed(step: number, steps: number, from: number, alpha: number): number {
  const completed = f(step / steps);
  const cosine = f(0.5 * f(1 + f(Math.cos(f(PI * completed)))));
  const decayed = f(f(f(1 - alpha) * cosine) + f(alpha));
  return f(from * decayed);
}

/**
 * Keras's `CosineDecay`: without `warmupTarget`, ½(1 + cos(π · min(step, decay_steps) / decay_steps))
 * from the initial rate down to alpha × it; with it, first a linear warm-up from the initial rate to
 * `warmupTarget` over `warmupSteps`, then that decay from `warmupTarget`.
 */
export function cosineDecay(options: CosineDecayOptions): LearningRateSchedule {
  const what = "cosineDecay";
  const warm = options.warmupTarget !== undefined && options.warmupTarget !== null;
  const initial = warm
    ? nonNegative(what, "initialLearningRate (where the warm-up starts)", options.initialLearningRate)
    : positiveRate(what, "initialLearningRate", options.initialLearningRate);
  const steps = decaySteps(what, "decaySteps", options.decaySteps);
  const alpha = fraction(what, "alpha", options.alpha ?? 0);
  const target = warm ? positiveRate(what, "warmupTarget", options.warmupTarget) : undefined;
  const warmupSteps = nonNegative(what, "warmupSteps", options.warmupSteps ?? 0);
  if (!warm && warmupSteps > 0) {
    throw new Error(
      `${what}: warmupSteps needs warmupTarget (the rate the warm-up rises to), as in Keras; got warmupSteps ${warmupSteps} and no warmupTarget.`,
    );
  }
  const config = {
    initial_learning_rate: initial,
    decay_steps: steps,
    alpha,
    name: "CosineDecay",
    warmup_target: target ?? null,
    warmup_steps: warmupSteps,
  };
  return schedule("CosineDecay", config, (step) => {
    const d = f(steps);
    if (target === undefined) return cosineDecayed(Math.min(f(step), d), d, f(initial), alpha);
    const w = f(warmupSteps);
    const s = Math.min(f(step), f(d + w));
    if (s < w) {
      // Keras's _warmup_function: (target − initial) · step / warmup_steps + initial.
      const completed = f(s / w);
      return f(f(f(f(target) - f(initial)) * completed) + f(initial));
    }
    return cosineDecayed(f(s - w), d, f(target), alpha);
  });
}

export interface CosineDecayRestartsOptions {
  initialLearningRate: number;
  /** Steps of the first decay. */
  firstDecaySteps: number;
  /** Each decay lasts t_mul times the one before (default 2). */
  tMul?: number;
  /** Each restart peaks at m_mul times the one before (default 1). */
  mMul?: number;
  /** Each decay ends at alpha × the initial rate (default 0). */
  alpha?: number;
}

/** Keras's `CosineDecayRestarts` (SGDR, Loshchilov & Hutter): cosine decays, restarted. */
export function cosineDecayRestarts(options: CosineDecayRestartsOptions): LearningRateSchedule {
  const what = "cosineDecayRestarts";
  const initial = positiveRate(what, "initialLearningRate", options.initialLearningRate);
  const first = decaySteps(what, "firstDecaySteps", options.firstDecaySteps);
  const tMul = finite(what, "tMul", options.tMul ?? 2);
  if (!(tMul > 0))
    throw new Error(
      `${what}: tMul must be > 0 (each decay lasts tMul times the one before; 1 repeats it), got ${tMul}.`,
    );
  const mMul = nonNegative(what, "mMul", options.mMul ?? 1);
  const alpha = fraction(what, "alpha", options.alpha ?? 0);
  const config = {
    initial_learning_rate: initial,
    first_decay_steps: first,
    t_mul: tMul,
    m_mul: mMul,
    alpha,
    name: "SGDRDecay",
  };
  return schedule("CosineDecayRestarts", config, (step) => {
    const t = f(tMul);
    let completed = f(f(step) / f(first));
    let restart: number;
    if (t === 1) {
      restart = Math.floor(completed);
      completed = f(completed - restart);
    } else {
      // The i-th decay starts at fraction (1 − t^i) / (1 − t) of the first one's length.
      restart = Math.floor(f(f(Math.log(f(1 - f(completed * f(1 - t))))) / f(Math.log(t))));
      const sum = f(f(1 - f(Math.pow(t, restart))) / f(1 - t));
      completed = f(f(completed - sum) / f(Math.pow(t, restart)));
    }
    const mFac = f(Math.pow(f(mMul), restart));
    const cosine = f(f(0.5 * mFac) * f(1 + f(Math.cos(f(PI * completed)))));
    const a = f(alpha);
    const decayed = f(f(f(1 - a) * cosine) + a);
    return f(f(initial) * decayed);
  });
}
