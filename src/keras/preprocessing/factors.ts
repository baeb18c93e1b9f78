/**
 * The arguments of Keras's augmentation layers, checked and read as Keras 3.15 reads them
 * (keras/src/layers/preprocessing/image_preprocessing/), with errors that say what to pass:
 *
 *   factorRange(factor, rule)   a factor as the range [lower, upper] its layer draws from: one number
 *                               f is [-f, f] (RandomContrast: [0, f]), two numbers are sorted; each
 *                               bound within the layer's limits
 *   checkFillMode, checkInterpolation, checkSeed, checkFillValue, checkChannelsLast
 *
 * The limits: RandomRotation and RandomTranslation [-1, 1] (a full turn; the image's size),
 * RandomZoom (-1, 1] (a zoom factor of 1 + f must stay positive), RandomContrast [0, 1].
 */

/** One number, or the two ends of a range. */
export type Factor = number | readonly [number, number];

/** The range a layer draws a parameter from (uniformly, lower ≤ upper). */
export interface Range {
  lower: number;
  upper: number;
}

/** How a layer's factor is read. */
export interface FactorRule {
  /** "RandomRotation: factor", for messages. */
  what: string;
  /** What the factor means, for messages ("a fraction of a full turn: 0.05 is ±18°"). */
  meaning: string;
  min: number;
  max: number;
  /** Whether `min` itself is excluded (RandomZoom). */
  minOpen?: boolean;
  /** One number f gives [0, f] instead of [-f, f] (RandomContrast, as Keras's `_set_factor` with bounds (0, 1)). */
  fromZero?: boolean;
}

const FILL_MODES = ["reflect", "wrap", "constant", "nearest"] as const;
export type FillMode = (typeof FILL_MODES)[number];
const INTERPOLATIONS = ["nearest", "bilinear"] as const;
export type Interpolation = (typeof INTERPOLATIONS)[number];

function inside(x: number, rule: FactorRule): boolean {
  return Number.isFinite(x) && (rule.minOpen ? x > rule.min : x >= rule.min) && x <= rule.max;
}

function limits(rule: FactorRule): string {
  return `${rule.minOpen ? "(" : "["}${rule.min}, ${rule.max}]`;
}

/** The range a factor stands for (see the module comment), or an error naming the layer and the limits. */
export function factorRange(factor: unknown, rule: FactorRule): Range {
  const expected = `a number in ${limits(rule)} or two such numbers [lower, upper] (${rule.meaning})`;
  if (typeof factor === "number") {
    if (!inside(factor, rule)) {
      const sign = factor < 0 && rule.min >= 0 ? " It cannot be negative." : "";
      throw new Error(`${rule.what} must be ${expected}, got ${factor}.${sign}`);
    }
    const f = Math.abs(factor);
    return rule.fromZero ? { lower: Math.max(-f, rule.min), upper: f } : { lower: -f, upper: f };
  }
  if (Array.isArray(factor) && factor.length === 2 && factor.every((x) => typeof x === "number")) {
    const [a, b] = factor as [number, number];
    const bad = [a, b].find((x) => !inside(x, rule));
    if (bad !== undefined)
      throw new Error(`${rule.what} must be ${expected}, got [${a}, ${b}]: ${bad} is outside ${limits(rule)}.`);
    return { lower: Math.min(a, b), upper: Math.max(a, b) };
  }
  throw new Error(`${rule.what} must be ${expected}, got ${JSON.stringify(factor)}.`);
}

export function checkFillMode(fillMode: unknown, layer: string): FillMode {
  if (!FILL_MODES.includes(fillMode as FillMode)) {
    throw new Error(
      `${layer}: unknown fillMode ${JSON.stringify(fillMode)}; use one of "${FILL_MODES.join('", "')}" ` +
        `(how pixels outside the image are filled).`,
    );
  }
  return fillMode as FillMode;
}

export function checkInterpolation(interpolation: unknown, layer: string): Interpolation {
  if (!INTERPOLATIONS.includes(interpolation as Interpolation)) {
    throw new Error(`${layer}: unknown interpolation ${JSON.stringify(interpolation)}; use "nearest" or "bilinear".`);
  }
  return interpolation as Interpolation;
}

/** A seed: null (a random one, as Keras picks) or a whole number ≥ 0. */
export function checkSeed(seed: unknown, layer: string): number | null {
  if (seed === null || seed === undefined) return null;
  if (typeof seed !== "number" || !Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(
      `${layer}: seed must be a whole number ≥ 0, or null for a random one, got ${JSON.stringify(seed)}.`,
    );
  }
  return seed;
}

export function checkFillValue(fillValue: unknown, layer: string): number {
  if (typeof fillValue !== "number" || !Number.isFinite(fillValue)) {
    throw new Error(
      `${layer}: fillValue must be a number (the value of pixels outside the image with fillMode "constant"), ` +
        `got ${JSON.stringify(fillValue)}.`,
    );
  }
  return fillValue;
}

/** Only channels-last images are augmented here (Keras's default image data format). */
export function checkChannelsLast(dataFormat: unknown, layer: string): void {
  if (
    dataFormat !== undefined &&
    dataFormat !== null &&
    dataFormat !== "channelsLast" &&
    dataFormat !== "channels_last"
  ) {
    throw new Error(
      `${layer}: only channels-last images (batch, height, width, channels) are supported, ` +
        `got dataFormat ${JSON.stringify(dataFormat)}.`,
    );
  }
}
