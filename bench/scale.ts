/**
 * The benchmark's scale row: training speed and peak memory at 2,000, 16,000 and 60,000 digits (the
 * tutorial trains on Keras's 60,000), ours with the frozen-prefix cache as `fit` chooses it by
 * default, and Keras's, each size in a fresh process of its own.
 *
 *   scaleDigits(train, count)   the 60,000-digit set: offline there is no Keras MNIST, so it is made
 *                               from the bundled 8,000 training digits, each as it is and shifted by
 *                               one pixel in 7 directions (64,000), in a seeded random order, the
 *                               first `count` kept
 *   runScaleWorker(...)         ours at one size (`bench.ts --worker scale`): one `fit` of one epoch
 *                               with the tutorial's settings, stopped after `warmup + timed` training
 *                               batches (see below)
 *   scaleTable(results)         the table for docs/benchmarks.md
 *
 * What is measured at each size (both frameworks alike): the fit of one epoch on the first n digits
 * of the set, batch 64, the last 20 % for validation, shuffled; the wall time of `timed` consecutive
 * training batches after `warmup` batches (the first batches of a fit warm up kernels, and Keras
 * traces its training function in the first), as seconds per 1,000 training digits. The batches draw
 * their rows at random from the whole training part, so ours read the cached features from all over
 * the file. That is a steady-state portion of the epoch's training; validation is not run (ours:
 * the fit is stopped as an interrupt stops it; Keras: `validation_freq=2` on a one-epoch fit), so the
 * figure leaves out the epoch's validation pass (20 % of the digits, inference only). Ours also pay,
 * once per fit, for computing the frozen layers' output: reported apart, per 1,000 digits. Peak RSS is
 * the process's high-water mark at the end (it includes building the model, the digits, the features
 * and the batches).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { DigitSet } from "../src/data";

/** The sizes measured (the tutorial's is 60,000). */
export const SCALE_SIZES = [2000, 16000, 60000];

/** The pixel shifts of the scale set: none, then one pixel right, left, down, up and along three diagonals. */
export const SHIFTS: ReadonlyArray<readonly [number, number]> = [
  [0, 0],
  [1, 0],
  [-1, 0],
  [0, 1],
  [0, -1],
  [1, 1],
  [-1, -1],
  [1, -1],
];

const SIDE = 28;

/** A 28×28 image moved by (dx, dy) pixels (right and down positive); what comes in from the edge is black. */
export function shiftImage(image: Uint8Array, dx: number, dy: number): Uint8Array {
  const out = new Uint8Array(SIDE * SIDE);
  for (let y = 0; y < SIDE; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= SIDE) continue;
    for (let x = 0; x < SIDE; x++) {
      const sx = x - dx;
      if (sx >= 0 && sx < SIDE) out[y * SIDE + x] = image[sy * SIDE + sx];
    }
  }
  return out;
}

/** `count` digits (at most 8 × the training digits): every digit under every shift, in a seeded random order. */
export function scaleDigits(train: DigitSet, count: number, seed = 60000): DigitSet {
  const total = train.count * SHIFTS.length;
  if (count > total) throw new Error(`The scale set holds at most ${total} digits, not ${count}.`);
  const pixels = SIDE * SIDE;
  // Deterministic order without the project's loader: a seeded Fisher–Yates (mulberry32), as data.ts's permutation.
  const order = Uint32Array.from({ length: total }, (_, i) => i);
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = total - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const images = new Uint8Array(count * pixels);
  const labels = new Uint8Array(count);
  for (let k = 0; k < count; k++) {
    const shift = Math.floor(order[k] / train.count);
    const digit = order[k] % train.count;
    const [dx, dy] = SHIFTS[shift];
    images.set(shiftImage(train.images.subarray(digit * pixels, (digit + 1) * pixels), dx, dy), k * pixels);
    labels[k] = train.labels[digit];
  }
  return { images, labels, count };
}

/** One framework at one size. */
export interface ScaleFigures {
  framework: "ours" | "keras";
  model: string;
  digits: number;
  train_digits: number;
  warmup_batches: number;
  timed_batches: number;
  /** Wall time of the timed batches, in order. */
  batch_seconds: number[];
  /** The timed batches' wall time per 1,000 training digits. */
  seconds_per_1000: number;
  /** Ours: the one-off pass over the frozen layers. */
  feature_seconds?: number;
  /** Ours: where `fit` kept the features ("in memory, …", "on disk, …"), or undefined when it did not cache. */
  prefix_cache?: string;
  peak_rss_bytes: number;
  seconds: number;
}

/** Timestamps of batch ends: `warmup` batches, then `timed`; calls `stop` after the last. */
export class BatchClock {
  readonly ends: number[] = [];
  started = 0;

  constructor(
    private readonly warmup: number,
    private readonly timed: number,
    private readonly stop: () => void,
  ) {}

  begin(now: number): void {
    this.started = now;
  }

  /** Records a batch's end; true when the timed batches are done. */
  batchEnd(now: number): boolean {
    this.ends.push(now);
    if (this.ends.length < this.warmup + this.timed) return false;
    this.stop();
    return true;
  }

  /** Wall time of each timed batch (from the previous batch's end). */
  timedSeconds(): number[] {
    const out: number[] = [];
    for (let i = this.warmup; i < this.warmup + this.timed && i < this.ends.length; i++)
      out.push(this.ends[i] - this.ends[i - 1]);
    return out;
  }
}

/** Seconds per 1,000 digits of batches of `batchSize` that took `seconds` each. */
export function secondsPer1000(seconds: number[], batchSize: number): number {
  return (seconds.reduce((a, b) => a + b, 0) / (seconds.length * batchSize)) * 1000;
}

/** Ours at one size: the figures above, for `bench.ts --worker scale`. */
export async function runScaleWorker(
  model: "inception_v3" | "xception",
  digits: number,
  warmup: number,
  timed: number,
): Promise<ScaleFigures> {
  const { loadMnist } = await import("../src/data");
  const { buildTransferModel } = await import("../src/model_build");
  const started = performance.now() / 1000;
  const now = () => performance.now() / 1000;
  const train = scaleDigits((await loadMnist()).train, digits);
  const tm = await buildTransferModel({ base: model, weights: null, key: `bench-scale-${model}` });
  // The fit stops as a kernel interrupt stops it: after the current batch, without validation.
  const clock = new BatchClock(warmup, timed, () => process.emit("SIGINT"));
  const fitStart = now();
  let trainStart = 0;
  await tm.fit(train, {
    epochs: 1,
    batchSize: 64,
    validationSplit: 0.2,
    progress: false,
    callbacks: {
      onTrainBegin: () => {
        trainStart = now();
        clock.begin(trainStart);
      },
      onBatchEnd: () => void clock.batchEnd(now()),
    },
  });
  const record = tm.runs[tm.runs.length - 1];
  tm.dispose();
  const seconds = clock.timedSeconds();
  return {
    framework: "ours",
    model,
    digits,
    train_digits: Math.floor(digits * 0.8),
    warmup_batches: warmup,
    timed_batches: seconds.length,
    batch_seconds: seconds,
    seconds_per_1000: secondsPer1000(seconds, 64),
    feature_seconds: record?.prefixCached ? trainStart - fitStart : undefined,
    prefix_cache: record?.prefixCache,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    seconds: now() - started,
  };
}

/** Writes the whole scale set (the largest size) where keras_bench.py reads it; returns the two paths. */
export async function writeScaleDigits(
  dir: string,
  count: number,
  npy: (data: Uint8Array, shape: number[]) => Buffer,
): Promise<{ x: string; y: string }> {
  const { loadMnist } = await import("../src/data");
  const set = scaleDigits((await loadMnist()).train, count);
  const x = path.join(dir, "scale-x.npy");
  const y = path.join(dir, "scale-y.npy");
  fs.writeFileSync(x, npy(set.images, [set.count, 28, 28]));
  fs.writeFileSync(y, npy(set.labels, [set.count]));
  return { x, y };
}

/** Results of one model at every size. */
export interface ScaleResults {
  model: string;
  sizes: Array<{
    digits: number;
    ours?: ScaleFigures;
    keras?: ScaleFigures;
    errors: string[];
    /** The 1-minute load average when ours, then Keras's, measurement started. */
    load: number[];
  }>;
}

const fmt = (v: number | undefined, digits = 1) => (v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(digits));
const mib = (b: number | undefined) => (b === undefined ? undefined : b / 2 ** 20);

/** The scale table of one model: a row per size. */
export function scaleTable(r: ScaleResults): string {
  const lines = [
    "| digits (train + val.) | ours, s per 1,000 training digits | Keras, s per 1,000 | Keras ÷ ours (speed) | ours ÷ ours at the smallest | ours: frozen layers' output, s per 1,000 digits (once per fit) | kept | peak RSS ours, MiB | peak RSS Keras, MiB | RSS ours ÷ Keras | load at start, ours / Keras |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |",
  ];
  const first = r.sizes.find((s) => s.ours)?.ours?.seconds_per_1000;
  for (const s of r.sizes) {
    const o = s.ours;
    const k = s.keras;
    const split = `${s.digits.toLocaleString("en-US")} (${Math.floor(s.digits * 0.8).toLocaleString("en-US")} + ${(s.digits - Math.floor(s.digits * 0.8)).toLocaleString("en-US")})`;
    const speed = o && k ? `${(k.seconds_per_1000 / o.seconds_per_1000).toFixed(2)}×` : "—";
    const flat = o && first ? `${(o.seconds_per_1000 / first).toFixed(2)}×` : "—";
    const features = o?.feature_seconds !== undefined ? fmt((o.feature_seconds / s.digits) * 1000, 2) : "—";
    const rss = o && k ? `${(o.peak_rss_bytes / k.peak_rss_bytes).toFixed(2)}×` : "—";
    lines.push(
      `| ${split} | ${fmt(o?.seconds_per_1000, 2)} | ${fmt(k?.seconds_per_1000, 2)} | ${speed} | ${flat} | ${features} | ` +
        `${o ? (o.prefix_cache ?? "not cached") : "—"} | ${fmt(mib(o?.peak_rss_bytes), 0)} | ${fmt(mib(k?.peak_rss_bytes), 0)} | ${rss} | ` +
        `${s.load.map((l) => l.toFixed(1)).join(" / ")} |`,
    );
  }
  return lines.join("\n");
}
