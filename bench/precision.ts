/**
 * The benchmark's precision row: the tutorial's fit and prediction in float32 and in Keras's
 * `mixed_bfloat16`, ours and Keras's, each precision of each framework in a process of its own (so
 * that its peak memory is its own).
 *
 *   runPrecisionWorker(...)   ours in one precision (`bench.ts --worker precision`): the graph engine
 *                             with the frozen-prefix cache, as `fit` chooses them by default
 *   precisionTable(result)    the table of one model for docs/benchmarks.md
 *
 * What is measured (both frameworks alike, random weights, the same first `digits` bundled digits):
 *  - the fit: `epochs` epochs, batch 64, the last 20 % for validation, shuffled; its wall time ÷
 *    `epochs`, after a short fit that compiles (ours) or traces (Keras) the fit's functions. Ours
 *    includes the one pass over the frozen layers that fills the cache; Keras runs those layers at
 *    every step;
 *  - inference, images per second: ours `predict` on the 1,000 test digits after a warm-up call;
 *    Keras's `predict_on_batch`, the median of its timed batches of 64 (bench/keras_bench.py);
 *  - peak RSS: the process's high-water mark at the end.
 */
import type { Precision } from "../src/keras/dtype_policy";

/** The digits each fit uses, and its epochs (the tutorial's 5). */
export const PRECISION_DIGITS = 3200;
export const PRECISION_EPOCHS = 5;

/** One framework in one precision: what `--worker precision` prints, or what is read from keras_bench.py's JSON. */
export interface PrecisionFigures {
  framework: "ours" | "keras";
  precision: Precision;
  fit_seconds_per_epoch: number;
  infer_images_per_second: number;
  peak_rss_bytes: number;
}

/** One model's runs, with the 1-minute load average when each started and each run's error, if any. */
export interface PrecisionResults {
  model: string;
  digits: number;
  epochs: number;
  runs: Array<{
    framework: "ours" | "keras";
    precision: Precision;
    figures?: PrecisionFigures;
    error?: string;
    load: number;
    /** The CPU's matrix-product throughput just before the run (bench/matmul_probe.py), if Python ran it. */
    probe?: MatmulProbe;
  }>;
  /** The same after the model's last run. */
  endProbe?: MatmulProbe;
}

/** bench/matmul_probe.py's figures: TFLOP/s of a 2048³ product in bfloat16 and in float32. */
export interface MatmulProbe {
  bf16_tflops: number;
  f32_tflops: number;
}

/** A run as the lines under a table name it: "ours float32", "Keras mixed_bfloat16". */
export function runLabel(run: PrecisionResults["runs"][number]): string {
  return `${run.framework === "ours" ? "ours" : "Keras"} ${run.precision}`;
}

/** The line under a model's table: each run's probe, then the one at the end ("" without probes). */
export function probeLine(r: PrecisionResults): string {
  const probes = r.runs.filter((run) => run.probe);
  if (probes.length === 0) return "";
  const pair = (p: MatmulProbe) => `${p.bf16_tflops.toFixed(2)} / ${p.f32_tflops.toFixed(2)}`;
  const starts = probes.map((run) => `${runLabel(run)} ${pair(run.probe as MatmulProbe)}`);
  const end = r.endProbe ? `; after the last, ${pair(r.endProbe)}` : "";
  return `Matrix products at each start, bfloat16 / float32 TFLOP/s (bench/matmul_probe.py): ${starts.join(", ")}${end}.`;
}

/** Ours in one precision: the figures above, for `bench.ts --worker precision`. */
export async function runPrecisionWorker(
  model: "inception_v3" | "xception",
  precision: Precision,
  digits: number,
  epochs: number,
): Promise<PrecisionFigures> {
  const { loadMnist, take } = await import("../src/data");
  const { buildTransferModel } = await import("../src/model_build");
  const now = () => performance.now() / 1000;
  const mnist = await loadMnist({ trainLimit: digits, testLimit: 1000 });
  const tm = await buildTransferModel({ base: model, weights: null, key: "bench-precision", precision });
  try {
    // Compiles the fit's graphs (training, evaluation, the frozen layers') before the timed fit.
    await tm.fit(take(mnist.train, Math.min(256, digits)), { epochs: 1, progress: false });
    let t = now();
    await tm.fit(mnist.train, { epochs, progress: false });
    const fitSeconds = now() - t;
    await tm.predict(take(mnist.test, 128), { progress: false });
    t = now();
    await tm.predict(mnist.test, { progress: false });
    const predictSeconds = now() - t;
    return {
      framework: "ours",
      precision,
      fit_seconds_per_epoch: fitSeconds / epochs,
      infer_images_per_second: mnist.test.count / predictSeconds,
      peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    tm.dispose();
  }
}

/** The figures of keras_bench.py's JSON (run with `--epochs` and `--precision`). */
export function kerasPrecisionFigures(json: {
  precision: Precision;
  fit?: { total_seconds: number; epochs: number };
  infer?: { images_per_second: number };
  peak_rss_bytes: number;
}): PrecisionFigures {
  if (!json.fit || !json.infer) throw new Error("keras_bench.py printed no fit or inference figures");
  return {
    framework: "keras",
    precision: json.precision,
    fit_seconds_per_epoch: json.fit.total_seconds / json.fit.epochs,
    infer_images_per_second: json.infer.images_per_second,
    peak_rss_bytes: json.peak_rss_bytes,
  };
}

const fmt = (v: number | undefined, digits: number) =>
  v === undefined || !Number.isFinite(v)
    ? "—"
    : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !(b > 0) ? "—" : `${(a / b).toFixed(2)}×`;

/**
 * One model's table: a row per figure; columns ours and Keras in float32, then in mixed_bfloat16;
 * then ours in mixed_bfloat16 against Keras in each precision (speed: how many times faster ours is;
 * memory: ours ÷ Keras's).
 */
export function precisionTable(r: PrecisionResults): string {
  const get = (framework: "ours" | "keras", precision: Precision) =>
    r.runs.find((run) => run.framework === framework && run.precision === precision)?.figures;
  const [of, kf, ob, kb] = [
    get("ours", "float32"),
    get("keras", "float32"),
    get("ours", "mixed_bfloat16"),
    get("keras", "mixed_bfloat16"),
  ];
  const fit = (f?: PrecisionFigures) => f?.fit_seconds_per_epoch;
  const infer = (f?: PrecisionFigures) => f?.infer_images_per_second;
  const rss = (f?: PrecisionFigures) => (f ? f.peak_rss_bytes / 2 ** 20 : undefined);
  return [
    "| figure | ours float32 | Keras float32 | ours bf16 | Keras bf16 | ours bf16 vs Keras bf16 | ours bf16 vs Keras float32 |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    `| fit, s per epoch (${r.epochs} epoch${r.epochs === 1 ? "" : "s"}, ${r.digits.toLocaleString("en-US")} digits) | ${fmt(fit(of), 2)} | ${fmt(fit(kf), 2)} | ${fmt(fit(ob), 2)} | ${fmt(fit(kb), 2)} | ${ratio(fit(kb), fit(ob))} | ${ratio(fit(kf), fit(ob))} |`,
    `| inference, images/s | ${fmt(infer(of), 0)} | ${fmt(infer(kf), 0)} | ${fmt(infer(ob), 0)} | ${fmt(infer(kb), 0)} | ${ratio(infer(ob), infer(kb))} | ${ratio(infer(ob), infer(kf))} |`,
    `| peak RSS, MiB (ours ÷ Keras) | ${fmt(rss(of), 0)} | ${fmt(rss(kf), 0)} | ${fmt(rss(ob), 0)} | ${fmt(rss(kb), 0)} | ${ratio(rss(ob), rss(kb))} | ${ratio(rss(ob), rss(kf))} |`,
  ].join("\n");
}
