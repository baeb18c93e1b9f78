/**
 * What every figure function returns, and what they share: the `Figure` (a standalone SVG and what
 * it shows), the pixel arrays the digit figures take, and the check of whole-number options.
 */

/** One figure: a standalone SVG document (with xmlns) and what it shows. */
export interface Figure {
  /** The SVG text, `<svg xmlns="http://www.w3.org/2000/svg" …>…</svg>`. */
  svg: string;
  width: number;
  height: number;
  /** Short name, usable in a file name: "history-accuracy", "digit-grid", … */
  name: string;
  title?: string;
  /** The caption printed under the figure, if any. */
  caption?: string;
}

/** Pixels of one image, row-major, channels interleaved (HWC). */
export type PixelData = ArrayLike<number>;

/** Throws unless `v` is a whole number ≥ `min` ("columns must be a whole number ≥ 1, got 0."). */
export function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number ≥ ${min}, got ${v}.`);
}
