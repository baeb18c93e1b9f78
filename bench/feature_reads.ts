/**
 * What a shuffled batch of cached features costs to fetch, at the tutorial's scale, from each place
 * the frozen-prefix cache could keep them: the measurement behind src/engine/prefix_cache.ts's
 * choice (docs/benchmarks.md, "The frozen-prefix cache at scale").
 *
 *   node --import tsx bench/feature_reads.ts [--digits 60000] [--shape 8,8,288] [--batches 200] [--dir PATH]
 *
 * For each place, in this process, one after the other: the store is filled with `--digits` rows of
 * pseudo-random features in batches of 64 (InceptionV3 at 64 by default: 8×8×288 float32, 73,728
 * bytes a row), then `--batches` batches of 64 rows drawn at random are fetched as a tensor and made
 * to reach TensorFlow (a one-element slice read back). Places:
 *   - "TF.js tensor + gather": the features in one TF.js tensor, rows taken with tf.gather (how the
 *     cache kept them before it could use the disk); at most 16,000 rows (1.1 GiB; filling it holds
 *     the values twice, in JavaScript and in TensorFlow): a random row of memory costs the same
 *     whatever the size;
 *   - "memory": `FeatureStore.inMemory` (one block of JavaScript memory, rows copied out);
 *   - "disk": `FeatureStore.onDisk` (a scratch file, positioned reads; the pages just written are in
 *     the system's page cache while memory allows).
 * Prints the fill time, the median and 90th percentile of a batch, and this process's resident
 * memory after filling (the page cache is not in it).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { tf } from "../src/tfjs/backend";
import { FeatureStore } from "../src/engine/feature_store";
import type * as TF from "@tensorflow/tfjs";

interface Options {
  digits: number;
  shape: number[];
  batches: number;
  dir: string;
}

function parse(argv: string[]): Options {
  const o: Options = {
    digits: 60000,
    shape: [8, 8, 288],
    batches: 200,
    dir: path.resolve(__dirname, "..", ".cache", "features"),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (argv[i] === "--digits") o.digits = Number(v);
    else if (argv[i] === "--shape") o.shape = v.split(",").map(Number);
    else if (argv[i] === "--batches") o.batches = Number(v);
    else if (argv[i] === "--dir") o.dir = path.resolve(v);
    else throw new Error(`Unknown argument ${argv[i]}: see the comment at the top of bench/feature_reads.ts.`);
  }
  return o;
}

const rss = () => process.memoryUsage.rss() / 2 ** 20;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** A batch of `n` rows of pseudo-random features. */
function batchOf(n: number, per: number, seed: number): Float32Array {
  const out = new Float32Array(n * per);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i += 97) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

/** Times `fetch` on random batches; each result made to reach TensorFlow, then disposed. */
function timeBatches(o: Options, fetch: (rows: Int32Array) => TF.Tensor): number[] {
  const times: number[] = [];
  for (let b = 0; b < o.batches; b++) {
    const rows = Int32Array.from({ length: 64 }, () => Math.floor(Math.random() * o.digits));
    const t0 = performance.now();
    const t = fetch(rows);
    tf.tidy(() => t.reshape([-1]).slice(0, 1).dataSync());
    times.push(performance.now() - t0);
    t.dispose();
  }
  return times;
}

function report(place: string, fillSeconds: number, rssAfterFill: number, times: number[], bytes: number): void {
  console.log(
    `${place.padEnd(22)} fill ${fillSeconds.toFixed(1)} s (${(bytes / 2 ** 20 / fillSeconds).toFixed(0)} MiB/s) · ` +
      `batch median ${quantile(times, 0.5).toFixed(2)} ms, p90 ${quantile(times, 0.9).toFixed(2)} ms · ` +
      `RSS after filling ${rssAfterFill.toFixed(0)} MiB`,
  );
}

function measureStore(o: Options, place: "memory" | "disk"): void {
  const per = o.shape.reduce((a, b) => a * b, 1);
  const store =
    place === "memory" ? FeatureStore.inMemory([o.shape], o.digits) : FeatureStore.onDisk(o.dir, [o.shape], o.digits);
  try {
    const t0 = performance.now();
    for (let start = 0; start < o.digits; start += 64) {
      const n = Math.min(64, o.digits - start);
      const t = tf.tensor(batchOf(n, per, start + 1), [n, ...o.shape]);
      store.write(start, [t]);
      t.dispose();
    }
    const fill = (performance.now() - t0) / 1000;
    const after = rss();
    report(
      place,
      fill,
      after,
      timeBatches(o, (rows) => store.rows(rows)[0]),
      store.bytes,
    );
  } finally {
    store.close();
  }
}

function measureGather(o: Options): void {
  const per = o.shape.reduce((a, b) => a * b, 1);
  const digits = Math.min(o.digits, 16000);
  const t0 = performance.now();
  const values = new Float32Array(digits * per);
  for (let start = 0; start < digits; start += 64)
    values.set(batchOf(Math.min(64, digits - start), per, start + 1), start * per);
  const all = tf.tensor(values, [digits, ...o.shape]);
  all.reshape([-1]).slice(0, 1).dataSync();
  const fill = (performance.now() - t0) / 1000;
  const after = rss();
  const times = timeBatches({ ...o, digits }, (rows) => tf.tidy(() => tf.gather(all, tf.tensor1d(rows, "int32"))));
  report(`TF.js tensor + gather (${digits} rows)`, fill, after, times, digits * per * 4);
  all.dispose();
}

function main(): void {
  const o = parse(process.argv.slice(2));
  fs.mkdirSync(o.dir, { recursive: true });
  const bytes = o.digits * o.shape.reduce((a, b) => a * b, 4);
  console.log(
    `${o.digits} rows of [${o.shape.join(", ")}] float32: ${(bytes / 2 ** 30).toFixed(2)} GiB; ${o.batches} random batches of 64; RSS at the start ${rss().toFixed(0)} MiB`,
  );
  measureStore(o, "disk");
  measureStore(o, "memory");
  measureGather(o);
}

main();
