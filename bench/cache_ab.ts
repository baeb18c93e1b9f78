/**
 * What the frozen-prefix cache saves per training batch, in one process: fits of one epoch with and
 * without the cache, alternating (whole, cached, whole, cached), so that other jobs on a shared
 * machine slow both alike (docs/benchmarks.md, "The frozen-prefix cache at scale").
 *
 *   node --import tsx bench/cache_ab.ts [inception_v3|xception] [digits, default 1600]
 *
 * Each fit: the first `digits` bundled training digits, batch 64, the last 20 % for validation,
 * random weights. Prints per fit the median wall time of a training batch after 3 warm-up batches
 * (batch end to batch end), seconds per 1,000 training digits, and the process's CPU time over the
 * fit's wall time (2.0: both cores of this machine kept busy).
 */
import { loadMnist } from "../src/data";
import { buildTransferModel } from "../src/model_build";

const WARMUP = 3;

async function main(): Promise<void> {
  const model = process.argv[2] === "xception" ? "xception" : "inception_v3";
  const digits = Number(process.argv[3] ?? 1600);
  const mnist = await loadMnist({ trainLimit: digits });
  const tm = await buildTransferModel({ base: model, weights: null, key: `bench-cache-ab-${model}` });
  const now = () => performance.now() / 1000;
  for (const cachePrefix of [false, true, false, true]) {
    const ends: number[] = [];
    const cpu0 = process.cpuUsage();
    let started = 0;
    await tm.fit(mnist.train, {
      epochs: 1,
      batchSize: 64,
      validationSplit: 0.2,
      progress: false,
      cachePrefix,
      callbacks: {
        onTrainBegin: () => void (started = now()),
        onBatchEnd: () => void ends.push(now()),
      },
    });
    const batches = ends
      .slice(WARMUP)
      .map((end, i) => end - ends[i + WARMUP - 1])
      .sort((a, b) => a - b);
    const cpu = process.cpuUsage(cpu0);
    const mean = batches.reduce((a, b) => a + b, 0) / batches.length;
    console.log(
      `${model} ${cachePrefix ? "cached" : "whole "}: median batch ${batches[batches.length >> 1].toFixed(3)} s ` +
        `(${batches.length} batches, fastest ${batches[0].toFixed(3)} s), ${((mean / 64) * 1000).toFixed(2)} s per 1,000 ` +
        `training digits; CPU ÷ wall ${((cpu.user + cpu.system) / 1e6 / (now() - started)).toFixed(2)}; ` +
        `${tm.runs[tm.runs.length - 1].prefixCache ?? "not cached"}`,
    );
  }
  tm.dispose();
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
