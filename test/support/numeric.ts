/**
 * Numeric helpers shared by the tests: comparing arrays or tensors, and deterministic pseudo-random
 * inputs. Tensors are read with `dataSync()`; differences are computed in JavaScript's doubles.
 */
import * as assert from "node:assert/strict";
import type { Tensor } from "@tensorflow/tfjs";

/** Numbers to compare: an array, a typed array or a tensor (its values, row-major). */
export type Values = ArrayLike<number> | Tensor;

function valuesOf(v: Values): ArrayLike<number> {
  return typeof (v as Tensor).dataSync === "function"
    ? ((v as Tensor).dataSync() as ArrayLike<number>)
    : (v as ArrayLike<number>);
}

/** The largest |a[i] − b[i]| (NaN when a difference is NaN); the lengths must be equal. */
export function maxAbsDiff(a: Values, b: Values): number {
  const x = valuesOf(a);
  const y = valuesOf(b);
  assert.equal(x.length, y.length, "different lengths");
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** `maxAbsDiff(a, b)` relative to the largest |b[i]| (1e-12 at least). */
export function maxRelDiff(a: Values, b: Values): number {
  const y = valuesOf(b);
  let scale = 0;
  for (let i = 0; i < y.length; i++) scale = Math.max(scale, Math.abs(y[i]));
  return maxAbsDiff(a, y) / Math.max(1e-12, scale);
}

/** ‖a − b‖₂ / ‖b‖₂: the root-mean-square difference relative to b's (1e-30 at least). */
export function relRms(a: Values, b: Values): number {
  const x = valuesOf(a);
  const y = valuesOf(b);
  assert.equal(x.length, y.length, "different lengths");
  let d = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    d += (x[i] - y[i]) ** 2;
    n += y[i] ** 2;
  }
  return Math.sqrt(d / Math.max(1e-30, n));
}

/** Fails at the first value of `actual` farther than `tol` × max(1, |expected|) from `expected`. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)))) {
      assert.fail(`${what}[${i}]: got ${a}, expected ${e} (tolerance ${tol})`);
    }
  }
}

/**
 * The Euclidean distance between two sets of weights: arrays paired by position (the same order, the
 * same lengths), or maps paired by name; in doubles.
 */
export function weightDistance(
  a: readonly ArrayLike<number>[] | ReadonlyMap<string, ArrayLike<number>>,
  b: readonly ArrayLike<number>[] | ReadonlyMap<string, ArrayLike<number>>,
): number {
  const pairs: Array<[ArrayLike<number>, ArrayLike<number> | undefined]> =
    a instanceof Map
      ? [...a].map(([name, v]) => [v, (b as ReadonlyMap<string, ArrayLike<number>>).get(name)])
      : (a as readonly ArrayLike<number>[]).map((v, i) => [v, (b as readonly ArrayLike<number>[])[i]]);
  let s = 0;
  pairs.forEach(([x, y], i) => {
    assert.ok(y !== undefined && y.length === x.length, `weight ${i}: no counterpart of the same length`);
    for (let k = 0; k < x.length; k++) s += (x[k] - y[k]) ** 2;
  });
  return Math.sqrt(s);
}

/** The spacing of float32 numbers at `x` (a normal, non-zero float32): one ulp. */
export function ulpOf(x: number): number {
  return 2 ** (Math.floor(Math.log2(Math.abs(x))) - 23);
}

/** Deterministic pseudo-random numbers in [-1, 1). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

/** `n` numbers `offset + scale * lcg(seed)()`. */
export function randomArray(n: number, seed: number, scale = 1, offset = 0): number[] {
  const r = lcg(seed);
  return Array.from({ length: n }, () => offset + scale * r());
}

/**
 * `values` with every non-zero value moved by exactly one ulp (its float's bits ± 1), up or down as
 * `sign()` says (a fresh copy): the smallest change float32 can make, the tests' yardstick of rounding.
 */
export function nudgeByOneUlp(values: Float32Array, sign: () => number): Float32Array {
  const out = values.slice();
  const bits = new Int32Array(out.buffer, out.byteOffset, out.length);
  for (let k = 0; k < out.length; k++) if (out[k] !== 0) bits[k] += sign() < 0 ? -1 : 1;
  return out;
}
