/** Batch normalisation computed in JavaScript's doubles, on channels-last arrays: the tests' reference. */

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
export function normalise(x: number[], c: number, mean: number[], variance: number[], eps: number, gamma?: number[], beta?: number[]): number[] {
  return x.map((v, i) => {
    const k = i % c;
    return ((v - mean[k]) / Math.sqrt(variance[k] + eps)) * (gamma ? gamma[k] : 1) + (beta ? beta[k] : 0);
  });
}
