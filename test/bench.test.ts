/**
 * The benchmark's plumbing, without running any model (the benchmark itself takes minutes): option
 * parsing, the comparison table's shape, epoch arithmetic, the doc's generated block and the .npy
 * files it hands to the Keras side.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { parseNpy } from "../src/util/npy";
import {
  DEFAULT_FIT_LIMITS,
  epochsTime,
  markdownTable,
  npyBytes,
  parseArgs,
  spliceDoc,
  tableRows,
  textTable,
  type FitFigures,
  type ModelResults,
  type WorkerResult,
} from "../bench/bench";

const fit = (epochSeconds: number[], extra: Partial<FitFigures> = {}): FitFigures => ({
  epochs: epochSeconds.length,
  train_images: 6400,
  val_images: 1600,
  epoch_seconds: epochSeconds,
  total_seconds: epochSeconds.reduce((a, b) => a + b, 0) + 1,
  ...extra,
});

const worker = (framework: "ours" | "keras", f: FitFigures): WorkerResult => ({
  framework,
  model: "inception_v3",
  build_seconds: 1,
  params: { total: 10, trainable: 8, non_trainable: 2 },
  train: { warmup: 1, first_step_seconds: 2, step_seconds: [1, 1], median_step_seconds: 1, images_per_second: 64 },
  infer: { warmup: 1, first_step_seconds: 1, step_seconds: [0.5], median_step_seconds: 0.5, images_per_second: 128 },
  fit: f,
  peak_rss_bytes: 2 ** 30,
});

test("options: defaults, quick mode, fit limits, errors", () => {
  const full = parseArgs([], {});
  assert.equal(full.quick, false);
  assert.deepEqual(full.models, ["inception_v3", "xception"]);
  assert.deepEqual(full.fitLimits, DEFAULT_FIT_LIMITS);
  assert.equal(full.epochs, 1);
  const quick = parseArgs([], { BENCH_QUICK: "1" });
  assert.equal(quick.quick, true);
  assert.ok(quick.fitLimits.inception_v3 > 0 && quick.fitLimits.inception_v3 <= 320);
  assert.deepEqual(parseArgs(["--full-split"], {}).fitLimits, { inception_v3: 0, xception: 0 });
  assert.deepEqual(parseArgs(["--fit-limit", "inception_v3=0,xception=1600"], {}).fitLimits, {
    inception_v3: 0,
    xception: 1600,
  });
  assert.deepEqual(parseArgs(["--fit-limit", "320"], {}).fitLimits, { inception_v3: 320, xception: 320 });
  assert.throws(() => parseArgs(["--fit-limit", "vgg=3"], {}), /Unknown model/);
  assert.deepEqual(parseArgs(["--models", "xception", "--no-keras"], {}).models, ["xception"]);
  assert.throws(() => parseArgs(["--models", "resnet"], {}), /Unknown model/);
  assert.throws(() => parseArgs(["--epochs", "0"], {}), /whole number/);
  assert.throws(() => parseArgs(["--frobnicate"], {}), /Unknown argument/);
  assert.equal(full.engine, "graph");
  assert.equal(parseArgs(["--engine", "eager"], {}).engine, "eager");
  assert.throws(() => parseArgs(["--engine", "xla"], {}), /--engine must be/);
  assert.equal(parseArgs(["--no-eager"], {}).eager, false);
});

test("epoch times: measured when run, computed (≈) otherwise", () => {
  const f = fit([10, 8, 8], { first_epoch_wall_seconds: 12 });
  assert.deepEqual(epochsTime(f, 1), { v: 12 });
  assert.deepEqual(epochsTime(f, 2), { v: 20 });
  assert.deepEqual(epochsTime(f, 3), { v: f.total_seconds });
  const one = fit([10]);
  assert.deepEqual(epochsTime(one, 1), { v: one.total_seconds });
  assert.deepEqual(epochsTime(one, 3), { v: one.total_seconds + 20, computed: true });
  assert.deepEqual(epochsTime(undefined, 2), { v: undefined });
});

test("table: one row per figure, five columns, ratios ours/Keras, missing Keras shown as —", () => {
  const r: ModelResults = {
    model: "inception_v3",
    ours: worker("ours", fit([100])),
    cached: worker("ours", fit([60, 50], { feature_seconds: 10, first_epoch_wall_seconds: 70 })),
    keras: worker("keras", fit([50])),
    errors: [],
  };
  const rows = tableRows(r, { fitLimits: DEFAULT_FIT_LIMITS });
  assert.ok(rows.length >= 10);
  for (const row of rows) assert.deepEqual(Object.keys(row).sort(), ["better", "figure", "keras", "ours", "ratio"]);
  const byName = (prefix: string) => rows.find((x) => x.figure.startsWith(prefix))!;
  assert.equal(byName("training, images/s").ratio, "1.00×");
  assert.equal(byName("training, images/s").better, "higher");
  assert.match(byName("training, images/s").figure, /graph engine/);
  assert.match(byName("fit, 1 epoch (6400 + 1600").figure, /6400 \+ 1600/);
  assert.equal(byName("fit, 5 epochs (the tutorial's), s, graph engine + frozen").keras, "≈ 251.0");
  assert.equal(byName("fit, 5 epochs (the tutorial's), s, graph engine + frozen-prefix cache").ours, "≈ 276.0");
  assert.equal(byName("peak RSS").better, "lower");
  // With the eager engine measured too, its rows come beside the graph engine's.
  const both = tableRows({ ...r, eager: worker("ours", fit([200])) }, { fitLimits: DEFAULT_FIT_LIMITS });
  assert.ok(both.some((x) => x.figure === "training, images/s (median step, batch 64), eager engine"));
  assert.equal(
    both.find((x) => x.figure === "fit, 1 epoch (6400 + 1600 val. digits), s, eager engine")!.ratio,
    "3.94×",
  ); // 201 s / 51 s
  const md = markdownTable(rows).split("\n");
  assert.equal(md.length, rows.length + 2);
  for (const line of md) assert.equal(line.split("|").length, 7);
  const noKeras = tableRows({ ...r, keras: undefined }, { fitLimits: DEFAULT_FIT_LIMITS });
  assert.equal(noKeras.find((x) => x.figure.startsWith("training"))!.keras, "—");
  assert.equal(textTable(rows).split("\n").length, rows.length + 2);
});

test("doc: the generated block is replaced, the text around it kept", () => {
  const begin = "<!-- bench:begin (generated by bench/bench.ts; edits inside are overwritten) -->";
  const end = "<!-- bench:end -->";
  const doc = `# T\n\nintro\n\n${begin}\nold\n${end}\n\n## After\ntext\n`;
  const out = spliceDoc(doc, `${begin}\nnew\n${end}`);
  assert.equal(out, `# T\n\nintro\n\n${begin}\nnew\n${end}\n\n## After\ntext\n`);
  assert.match(spliceDoc(undefined, `${begin}\nx\n${end}`), /# Benchmarks[\s\S]*x/);
});

test(".npy files for the Keras side read back with the same shape and bytes", () => {
  const data = Uint8Array.from({ length: 2 * 28 * 28 }, (_, i) => i % 256);
  const arr = parseNpy(new Uint8Array(npyBytes(data, [2, 28, 28])));
  assert.equal(arr.dtype, "uint8");
  assert.deepEqual(arr.shape, [2, 28, 28]);
  assert.deepEqual(Array.from(arr.data as Uint8Array), Array.from(data));
  const labels = parseNpy(new Uint8Array(npyBytes(Uint8Array.from([3, 1, 4]), [3])));
  assert.deepEqual(labels.shape, [3]);
});
