/**
 * The benchmark's precision row: the tutorial's fit and prediction in float32 and in Keras's
 * `mixed_bfloat16`, ours and Keras's, each precision of each framework in a process of its own (so
 * that its peak memory is its own).
 *
 *   runPrecisionWorker(...)   ours in one precision (`bench.ts --worker precision`): the graph engine
 *                             with the frozen-prefix cache, as `fit` chooses them by default
 *   roundOrder(round)         the order of the four processes in a round (reversed every other round)
 *   precisionTable(result)    the table of one model for docs/benchmarks.md (medians over rounds)
 *   roundLines(result)        each round's figures, in the order its processes ran
 *   runFigures(figures)       one run's figures in a few words (those lines, the terminal)
 *
 * What is measured (both frameworks alike, random weights, the same first `digits` bundled digits):
 *  - the fit: `epochs` epochs, batch 64, the last 20 % for validation, shuffled; its wall time ÷
 *    `epochs`, after a short fit that compiles (ours) or traces (Keras) the fit's functions. Ours
 *    includes the one pass over the frozen layers that fills the cache; Keras runs those layers at
 *    every step;
 *  - inference, images per second: ours `predict` on the 1,000 test digits after a warm-up call;
 *    Keras's `predict_on_batch`, the median of its timed batches of 64 (bench/keras_bench.py);
 *  - peak RSS: the process's high-water mark at the end; ours also records it after each phase
 *    (`peak_rss_after`), so that the phase that set it is known.
 *
 * Rounds (`--precision-rounds R`): the bfloat16 units of a shared virtual machine change speed from
 * minute to minute (bench/matmul_probe.py), so a single run of each process can compare two different
 * machines. With R rounds the four processes run R times, in reverse order every other round (ABBA:
 * a steady drift then weighs on both sides of each pair alike); each figure is the median over the
 * rounds, and each ratio the median of the rounds' own ratios (each from processes minutes apart).
 */
import type { Precision } from "../src/keras/dtype_policy";
import { median } from "./median";

/** src/keras/dtype_policy.ts's PRECISIONS, spelt out: that module loads TensorFlow.js, which the benchmark's parent process leaves to its workers. */
export const PRECISIONS: readonly Precision[] = ["float32", "mixed_bfloat16"];

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
  /** Ours: the high-water mark after each phase (the model built, the compiling fit, the fit, inference). */
  peak_rss_after?: Record<string, number>;
  /** Ours: how the training step updated the weights (src/tfjs/adam_kernel.ts). */
  adam?: "fused kernel" | "elementwise ops";
}

/** How ours updated the weights in these runs, for the block's first line ("" without any run of ours). */
export function adamUpdates(results: PrecisionResults[]): string {
  const seen = new Set(results.flatMap((r) => r.runs.flatMap((run) => (run.figures?.adam ? [run.figures.adam] : []))));
  return seen.size ? `; ours' Adam update: ${[...seen].sort().join(" and ")}` : "";
}

/** One model's runs, with the 1-minute load average when each started and each run's error, if any. */
export interface PrecisionResults {
  model: string;
  digits: number;
  epochs: number;
  /** How many rounds ran (1 when absent); each run says which it belongs to. */
  rounds?: number;
  runs: Array<{
    /** 1-based; 1 when absent. */
    round?: number;
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

type PrecisionRun = PrecisionResults["runs"][number];

/** A run as the lines under a table name it: "ours float32", "Keras mixed_bfloat16" (with "(round 2)" when there are rounds). */
export function runLabel(run: PrecisionRun, rounds = 1): string {
  const name = `${run.framework === "ours" ? "ours" : "Keras"} ${run.precision}`;
  return rounds > 1 ? `${name} (round ${run.round ?? 1})` : name;
}

/** The four processes of a round, in the order they run: odd rounds float32 then bfloat16, ours then Keras in each; even rounds the reverse. */
export function roundOrder(round: number): Array<{ framework: "ours" | "keras"; precision: Precision }> {
  // ours f32, Keras f32, ours bf16, Keras bf16: each pair the table compares runs side by side.
  const order = PRECISIONS.flatMap((precision) =>
    (["ours", "keras"] as const).map((framework) => ({ framework, precision })),
  );
  return round % 2 === 0 ? order.reverse() : order;
}

/** The line under a model's table: each run's probe, then the one at the end ("" without probes). */
export function probeLine(r: PrecisionResults): string {
  const probes = r.runs.filter((run) => run.probe);
  if (probes.length === 0) return "";
  const pair = (p: MatmulProbe) => `${p.bf16_tflops.toFixed(2)} / ${p.f32_tflops.toFixed(2)}`;
  const starts = probes.map((run) => `${runLabel(run, r.rounds)} ${pair(run.probe as MatmulProbe)}`);
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
  const { adamKernel } = await import("../src/tfjs/adam_kernel");
  const now = () => performance.now() / 1000;
  const mnist = await loadMnist({ trainLimit: digits, testLimit: 1000 });
  const peak: Record<string, number> = {};
  const mark = (phase: string) => (peak[phase] = process.resourceUsage().maxRSS * 1024);
  const tm = await buildTransferModel({ base: model, weights: null, key: "bench-precision", precision });
  try {
    mark("built");
    // Compiles the fit's graphs (training, evaluation, the frozen layers') before the timed fit.
    await tm.fit(take(mnist.train, Math.min(256, digits)), { epochs: 1, progress: false });
    mark("compiling fit");
    let t = now();
    await tm.fit(mnist.train, { epochs, progress: false });
    const fitSeconds = now() - t;
    mark("fit");
    await tm.predict(take(mnist.test, 128), { progress: false });
    t = now();
    await tm.predict(mnist.test, { progress: false });
    const predictSeconds = now() - t;
    mark("inference");
    return {
      framework: "ours",
      precision,
      fit_seconds_per_epoch: fitSeconds / epochs,
      infer_images_per_second: mnist.test.count / predictSeconds,
      peak_rss_bytes: peak.inference,
      peak_rss_after: peak,
      adam: adamKernel().loaded ? "fused kernel" : "elementwise ops",
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

/**
 * One model's table: a row per figure; columns ours and Keras in float32, then in mixed_bfloat16;
 * then ours in mixed_bfloat16 against Keras in each precision (speed: how many times faster ours is;
 * memory: ours ÷ Keras's). With rounds, each figure is the median over the rounds and each ratio the
 * median of the rounds' ratios.
 */
export function precisionTable(r: PrecisionResults): string {
  const rounds = r.rounds ?? 1;
  const inRound = (round: number, framework: "ours" | "keras", precision: Precision) =>
    r.runs.find((run) => (run.round ?? 1) === round && run.framework === framework && run.precision === precision)
      ?.figures;
  const roundNumbers = Array.from({ length: rounds }, (_, i) => i + 1);
  type Figure = (f: PrecisionFigures) => number;
  const fit: Figure = (f) => f.fit_seconds_per_epoch;
  const infer: Figure = (f) => f.infer_images_per_second;
  const rss: Figure = (f) => f.peak_rss_bytes / 2 ** 20;
  const cell = (figure: Figure, framework: "ours" | "keras", precision: Precision) =>
    median(
      roundNumbers.flatMap((n) => {
        const f = inRound(n, framework, precision);
        return f ? [figure(f)] : [];
      }),
    );
  // The ratio of two cells, round by round (a ÷ b), then the median.
  const ratioOf = (figure: Figure, a: ["ours" | "keras", Precision], b: ["ours" | "keras", Precision]) => {
    const m = median(
      roundNumbers.flatMap((n) => {
        const [fa, fb] = [inRound(n, ...a), inRound(n, ...b)];
        return fa && fb && figure(fb) > 0 ? [figure(fa) / figure(fb)] : [];
      }),
    );
    return Number.isNaN(m) ? "—" : `${m.toFixed(2)}×`;
  };
  const OB = ["ours", "mixed_bfloat16"] as ["ours", Precision];
  const KB = ["keras", "mixed_bfloat16"] as ["keras", Precision];
  const KF = ["keras", "float32"] as ["keras", Precision];
  const cells = (figure: Figure, digits: number) =>
    (
      [
        ["ours", "float32"],
        ["keras", "float32"],
        ["ours", "mixed_bfloat16"],
        ["keras", "mixed_bfloat16"],
      ] as const
    )
      .map(([framework, precision]) => fmt(cell(figure, framework, precision), digits))
      .join(" | ");
  const of = `${r.epochs} epoch${r.epochs === 1 ? "" : "s"}, ${r.digits.toLocaleString("en-US")} digits${rounds > 1 ? `, median of ${rounds} rounds` : ""}`;
  return [
    "| figure | ours float32 | Keras float32 | ours bf16 | Keras bf16 | ours bf16 vs Keras bf16 | ours bf16 vs Keras float32 |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    `| fit, s per epoch (${of}) | ${cells(fit, 2)} | ${ratioOf(fit, KB, OB)} | ${ratioOf(fit, KF, OB)} |`,
    `| inference, images/s | ${cells(infer, 0)} | ${ratioOf(infer, OB, KB)} | ${ratioOf(infer, OB, KF)} |`,
    `| peak RSS, MiB (ours ÷ Keras) | ${cells(rss, 0)} | ${ratioOf(rss, OB, KB)} | ${ratioOf(rss, OB, KF)} |`,
  ].join("\n");
}

/**
 * One run's figures: "14.98 s, 461 images/s, 2,064 MiB" (the fit per epoch, inference, peak RSS),
 * with `phases` followed by ours's peak after each phase, as the terminal shows a run when it ends.
 */
export function runFigures(f: PrecisionFigures, options: { phases?: boolean } = {}): string {
  const mib = (bytes: number) => `${fmt(bytes / 2 ** 20, 0)} MiB`;
  const after =
    options.phases && f.peak_rss_after
      ? ` (peak after ${Object.entries(f.peak_rss_after)
          .map(([phase, bytes]) => `${phase} ${mib(bytes)}`)
          .join(", ")})`
      : "";
  return `${fmt(f.fit_seconds_per_epoch, 2)} s, ${fmt(f.infer_images_per_second, 0)} images/s, ${mib(f.peak_rss_bytes)}${after}`;
}

/**
 * With more than one round, a line per round: its processes in the order they ran, each with its fit
 * (s per epoch), inference (images/s) and peak RSS (MiB); [] with one round.
 */
export function roundLines(r: PrecisionResults): string[] {
  const rounds = r.rounds ?? 1;
  if (rounds < 2) return [];
  return Array.from({ length: rounds }, (_, i) => {
    const runs = r.runs.filter((run) => (run.round ?? 1) === i + 1);
    const each = runs.map((run) => `${runLabel(run)} ${run.figures ? runFigures(run.figures) : "error"}`);
    return `- Round ${i + 1}: ${each.join("; ")}.`;
  });
}
