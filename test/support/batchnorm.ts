/**
 * Batch normalisation computed in JavaScript's doubles, on channels-last arrays: the tests' reference;
 * and the small input and statistics the batch-norm tests share.
 */
import { randomArray } from "./numeric";

/** Channels of the shared input. */
export const C = 3;
/** The shared input: 4 examples of 2×2 pixels with C channels (channels last), values in [-1.5, 2.5). */
export const X_SHAPE = [4, 2, 2, C];
export const X = randomArray(4 * 2 * 2 * C, 1, 2, 0.5);
/** Per-channel scale, offset and statistics (a negative gamma and unequal variances on purpose). */
export const GAMMA = [1.5, 0.5, -2];
export const BETA = [0.1, -0.3, 2];
export const MEAN = [0.2, -0.1, 0.4];
export const VAR = [0.5, 2, 1.5];

/** Per-channel statistics of a channels-last array with `c` channels (biased variance). */
export function channelStats(x: number[], c: number): { mean: number[]; variance: number[] } {
  const n = x.length / c;
  const mean = new Array<number>(c).fill(0);
  const variance = new Array<number>(c).fill(0);
  for (let i = 0; i < x.length; i++) mean[i % c] += x[i] / n;
  for (let i = 0; i < x.length; i++) variance[i % c] += (x[i] - mean[i % c]) ** 2 / n;
  return { mean, variance };
}

/** (x - mean) / sqrt(variance + eps) * gamma + beta per channel (no gamma: 1, no beta: 0). */
export function normalise(
  x: number[],
  c: number,
  mean: number[],
  variance: number[],
  eps: number,
  gamma?: number[],
  beta?: number[],
): number[] {
  return x.map((v, i) => {
    const k = i % c;
    return ((v - mean[k]) / Math.sqrt(variance[k] + eps)) * (gamma ? gamma[k] : 1) + (beta ? beta[k] : 0);
  });
}
