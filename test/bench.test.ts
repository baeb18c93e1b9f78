/**
 * The benchmark's plumbing, without running any model (the benchmark itself takes minutes): option
 * parsing, the comparison tables' shapes (the main one, the scale row's, the precision row's), epoch
 * arithmetic, the doc's generated blocks and the .npy files it hands to the Keras side.
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
import {
  BatchClock,
  scaleDigits,
  scaleTable,
  secondsPer1000,
  shiftImage,
  SHIFTS,
  type ScaleFigures,
} from "../bench/scale";
import {
  adamUpdates,
  kerasPrecisionFigures,
  precisionTable,
  probeLine,
  roundLines,
  roundOrder,
  runFigures,
  type PrecisionFigures,
} from "../bench/precision";
import type { DigitSet } from "../src/data";

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

test("the scale row's options: the three sizes by default, small ones in quick mode, flags to skip it or run only it", () => {
  const full = parseArgs([], {});
  assert.deepEqual(full.scaleSizes, [2000, 16000, 60000]);
  assert.equal(full.scale, true);
  assert.equal(full.scaleOnly, false);
  assert.deepEqual([full.scaleWarmup, full.scaleBatches], [4, 16]);
  const quick = parseArgs(["--quick"], {});
  assert.ok(Math.max(...quick.scaleSizes) <= 400);
  assert.equal(parseArgs(["--no-scale"], {}).scale, false);
  assert.deepEqual((({ scale, scaleOnly }) => ({ scale, scaleOnly }))(parseArgs(["--only-scale"], {})), {
    scale: true,
    scaleOnly: true,
  });
  assert.deepEqual(parseArgs(["--scale-sizes", "1000, 3000"], {}).scaleSizes, [1000, 3000]);
  const steps = parseArgs(["--scale-steps", "2,8"], {});
  assert.deepEqual([steps.scaleWarmup, steps.scaleBatches], [2, 8]);
  assert.throws(() => parseArgs(["--scale-steps", "2"], {}), /whole number/);
  assert.equal(parseArgs(["--worker", "scale", "--scale-digits", "2000"], {}).scaleDigits, 2000);
});

test("a digit shifted by one pixel: every pixel moves by (dx, dy), what comes in from the edge is black", () => {
  const image = new Uint8Array(28 * 28);
  image[7 * 28 + 5] = 200; // x 5, y 7
  image[0 * 28 + 27] = 100; // the top right corner
  const at = (img: Uint8Array) =>
    [...img.keys()].filter((i) => img[i] > 0).map((i) => [i % 28, Math.floor(i / 28), img[i]]);
  assert.deepEqual(at(shiftImage(image, 0, 0)), at(image));
  assert.deepEqual(at(shiftImage(image, 1, 0)), [[6, 7, 200]], "right: the corner pixel leaves");
  assert.deepEqual(at(shiftImage(image, -1, 0)), [
    [26, 0, 100],
    [4, 7, 200],
  ]);
  assert.deepEqual(
    at(shiftImage(image, 0, 1)),
    [
      [27, 1, 100],
      [5, 8, 200],
    ],
    "down",
  );
  assert.deepEqual(at(shiftImage(image, -1, -1)), [[4, 6, 200]], "up and left: the corner pixel leaves");
  assert.deepEqual(SHIFTS.length, 8);
  assert.equal(new Set(SHIFTS.map(([dx, dy]) => `${dx},${dy}`)).size, 8, "eight different shifts");
});

test("the scale set holds each digit under each shift once, with its label, in a seeded order", () => {
  // Three digits that differ in every position: each (digit, shift) gives a different image.
  const train: DigitSet = { images: new Uint8Array(3 * 784), labels: Uint8Array.from([4, 7, 1]), count: 3 };
  for (let d = 0; d < 3; d++) for (let p = 0; p < 784; p++) train.images[d * 784 + p] = 1 + ((p * (d + 3)) % 250);
  const set = scaleDigits(train, 24);
  assert.equal(set.count, 24);
  const expected = new Map<string, number>();
  for (let d = 0; d < 3; d++)
    for (const [dx, dy] of SHIFTS)
      expected.set(shiftImage(train.images.subarray(d * 784, (d + 1) * 784), dx, dy).join(","), train.labels[d]);
  const seen = new Set<string>();
  for (let k = 0; k < 24; k++) {
    const key = set.images.subarray(k * 784, (k + 1) * 784).join(",");
    assert.equal(set.labels[k], expected.get(key), `digit ${k} is a shifted training digit with its own label`);
    seen.add(key);
  }
  assert.equal(seen.size, 24, "each (digit, shift) once");
  assert.deepEqual(scaleDigits(train, 24).images, set.images, "the same order every time");
  assert.deepEqual(scaleDigits(train, 5).images, set.images.subarray(0, 5 * 784), "a smaller set is the first digits");
  assert.throws(() => scaleDigits(train, 25), /at most 24 digits/);
});

test("the scale row's clock stops the fit after the warm-up and timed batches and times the timed ones", () => {
  let stops = 0;
  const clock = new BatchClock(2, 3, () => stops++);
  clock.begin(0);
  const ends = [10, 11, 13, 16, 20];
  const done = ends.map((t) => clock.batchEnd(t));
  assert.deepEqual(done, [false, false, false, false, true]);
  assert.equal(stops, 1);
  assert.deepEqual(clock.timedSeconds(), [2, 3, 4]);
  assert.equal(secondsPer1000([2, 3, 4], 64), (9 / (3 * 64)) * 1000);
});

test("the scale table: a row per size, Keras's time over ours, ours over ours at the smallest, RSS ratio", () => {
  const figures = (framework: "ours" | "keras", digits: number, perThousand: number, rss: number): ScaleFigures => ({
    framework,
    model: "inception_v3",
    digits,
    train_digits: Math.floor(digits * 0.8),
    warmup_batches: 4,
    timed_batches: 16,
    batch_seconds: [],
    seconds_per_1000: perThousand,
    feature_seconds: framework === "ours" ? digits / 500 : undefined,
    prefix_cache: framework === "ours" ? (digits > 20000 ? "on disk, 4.1 GB" : "in memory, 137.3 MB") : undefined,
    peak_rss_bytes: rss * 2 ** 20,
    seconds: 1,
  });
  const table = scaleTable({
    model: "inception_v3",
    sizes: [
      {
        digits: 2000,
        ours: figures("ours", 2000, 4, 1500),
        keras: figures("keras", 2000, 6, 2000),
        errors: [],
        load: [1.5, 1.7],
      },
      {
        digits: 60000,
        ours: figures("ours", 60000, 4.2, 1800),
        keras: figures("keras", 60000, 6.3, 2400),
        errors: [],
        load: [2, 2.1],
      },
    ],
  }).split("\n");
  assert.equal(table.length, 4);
  const cells = (line: string) =>
    line
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim());
  assert.equal(cells(table[0]).length, 11);
  assert.deepEqual(cells(table[2]), [
    "2,000 (1,600 + 400)",
    "4.00",
    "6.00",
    "1.50×",
    "1.00×",
    "2.00",
    "in memory, 137.3 MB",
    "1500",
    "2000",
    "0.75×",
    "1.5 / 1.7",
  ]);
  assert.deepEqual(cells(table[3]).slice(0, 7), [
    "60,000 (48,000 + 12,000)",
    "4.20",
    "6.30",
    "1.50×",
    "1.05×",
    "2.00",
    "on disk, 4.1 GB",
  ]);
});

test("doc: the scale block is replaced on its own, the results' block kept", () => {
  const begin = "<!-- bench:begin (generated by bench/bench.ts; edits inside are overwritten) -->";
  const end = "<!-- bench:end -->";
  const sb = "<!-- bench:scale:begin (generated by bench/bench.ts; edits inside are overwritten) -->";
  const se = "<!-- bench:scale:end -->";
  const doc = `# T\n${begin}\nresults\n${end}\n\n## Scale\n${sb}\nold\n${se}\nafter\n`;
  assert.equal(
    spliceDoc(doc, `${sb}\nnew\n${se}`, sb, se),
    `# T\n${begin}\nresults\n${end}\n\n## Scale\n${sb}\nnew\n${se}\nafter\n`,
  );
});

test("the precision row's options: on by default with 5 epochs on 3,200 digits, flags to skip it, run only it or only the two extra rows", () => {
  const full = parseArgs([], {});
  assert.deepEqual(
    [full.precision, full.precisionOnly, full.precisionDigits, full.precisionEpochs],
    [true, false, 3200, 5],
  );
  const quick = parseArgs(["--quick"], {});
  assert.ok(quick.precisionDigits < 3200 && quick.precisionEpochs === 1);
  assert.equal(parseArgs(["--no-precision"], {}).precision, false);
  const only = parseArgs(["--only-precision"], {});
  assert.deepEqual(
    [only.precision, only.precisionOnly, only.scale],
    [true, true, false],
    "--only-precision: no scale row",
  );
  const scale = parseArgs(["--only-scale"], {});
  assert.deepEqual([scale.scale, scale.precision], [true, false], "--only-scale: no precision row");
  const both = parseArgs(["--only-precision", "--only-scale"], {});
  assert.deepEqual([both.scale, both.precision], [true, true], "both --only flags: both rows");
  assert.equal(full.precisionRounds, 1);
  const sized = parseArgs(["--precision-digits", "1600", "--precision-epochs", "2", "--precision-rounds", "3"], {});
  assert.deepEqual([sized.precisionDigits, sized.precisionEpochs, sized.precisionRounds], [1600, 2, 3]);
  assert.throws(() => parseArgs(["--precision-rounds", "0"], {}), /whole number ≥ 1/);
  assert.equal(
    parseArgs(["--worker", "precision", "--precision", "mixed_bfloat16"], {}).precisionPolicy,
    "mixed_bfloat16",
  );
  assert.throws(() => parseArgs(["--precision", "mixed_float16"], {}), /float32, mixed_bfloat16/);
  assert.throws(() => parseArgs(["--precision-digits", "10"], {}), /whole number ≥ 160/);
});

test("the precision table: seconds per epoch, images/s and peak RSS per framework and precision; ours in bf16 against Keras in each; the matrix-product probes under it", () => {
  const ours = (
    precision: PrecisionFigures["precision"],
    fitSeconds: number,
    images: number,
    mib: number,
  ): PrecisionFigures => ({
    framework: "ours",
    precision,
    fit_seconds_per_epoch: fitSeconds,
    infer_images_per_second: images,
    peak_rss_bytes: mib * 2 ** 20,
  });
  // Keras's side is read from keras_bench.py's JSON: the fit's total over its epochs.
  const keras = (precision: PrecisionFigures["precision"], total: number, images: number, mib: number) =>
    kerasPrecisionFigures({
      precision,
      fit: { total_seconds: total, epochs: 5 },
      infer: { images_per_second: images },
      peak_rss_bytes: mib * 2 ** 20,
    });
  assert.throws(() => kerasPrecisionFigures({ precision: "float32", peak_rss_bytes: 1 }), /no fit or inference/);
  const table = precisionTable({
    model: "inception_v3",
    digits: 3200,
    epochs: 5,
    runs: [
      { framework: "ours", precision: "float32", figures: ours("float32", 15, 500, 1800), load: 0.1 },
      { framework: "ours", precision: "mixed_bfloat16", figures: ours("mixed_bfloat16", 12, 640, 1500), load: 0.2 },
      { framework: "keras", precision: "float32", figures: keras("float32", 120, 300, 2200), load: 0.3 },
      { framework: "keras", precision: "mixed_bfloat16", error: "exited with 1", load: 0.4 },
    ],
  });
  const rows = table.split("\n").map((line) =>
    line
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim()),
  );
  assert.equal(rows.length, 5, "a header, its rule and three figures");
  assert.deepEqual(rows[2], [
    "fit, s per epoch (5 epochs, 3,200 digits)",
    "15.00",
    "24.00",
    "12.00",
    "—",
    "—",
    "2.00×",
  ]);
  assert.deepEqual(rows[3], ["inference, images/s", "500", "300", "640", "—", "—", "2.13×"]);
  assert.deepEqual(rows[4], ["peak RSS, MiB (ours ÷ Keras)", "1,800", "2,200", "1,500", "—", "—", "0.68×"]);

  // The matrix-product probe under the table: each run that has one, in order, and the one at the end.
  const probed = {
    model: "inception_v3",
    digits: 3200,
    epochs: 5,
    runs: [
      {
        framework: "ours" as const,
        precision: "float32" as const,
        load: 0.1,
        probe: { bf16_tflops: 3.456, f32_tflops: 1.2 },
      },
      { framework: "keras" as const, precision: "mixed_bfloat16" as const, load: 0.4 },
      {
        framework: "keras" as const,
        precision: "float32" as const,
        load: 0.3,
        probe: { bf16_tflops: 1.5, f32_tflops: 1.19 },
      },
    ],
  };
  assert.equal(
    probeLine({ ...probed, endProbe: { bf16_tflops: 2, f32_tflops: 1 } }),
    "Matrix products at each start, bfloat16 / float32 TFLOP/s (bench/matmul_probe.py): ours float32 3.46 / 1.20, Keras float32 1.50 / 1.19; after the last, 2.00 / 1.00.",
  );
  assert.equal(probeLine({ ...probed, runs: probed.runs.map(({ probe: _, ...run }) => run) }), "", "no probe, no line");
});

test("the precision row's rounds: every other round runs the four processes in reverse order; figures are medians over rounds and ratios the medians of each round's ratios", () => {
  const names = (round: number) => roundOrder(round).map((p) => `${p.framework} ${p.precision}`);
  assert.deepEqual(names(1), ["ours float32", "keras float32", "ours mixed_bfloat16", "keras mixed_bfloat16"]);
  assert.deepEqual(names(2), [...names(1)].reverse());
  assert.deepEqual(names(3), names(1));

  const fig = (framework: "ours" | "keras", precision: PrecisionFigures["precision"], fit: number, images: number) => ({
    framework,
    precision,
    fit_seconds_per_epoch: fit,
    infer_images_per_second: images,
    peak_rss_bytes: 1000 * 2 ** 20,
  });
  // Three rounds; in round 2 the machine is slow for Keras's bf16 process only.
  const fits = [
    { ob: 20, kb: 30, of: 25, kf: 40 },
    { ob: 21, kb: 60, of: 26, kf: 42 },
    { ob: 30, kb: 33, of: 24, kf: 41 },
  ];
  const runs = fits.flatMap((f, i) =>
    roundOrder(i + 1).map(({ framework, precision }) => {
      const key = `${framework === "ours" ? "o" : "k"}${precision === "float32" ? "f" : "b"}` as keyof (typeof fits)[0];
      return { round: i + 1, framework, precision, load: 0, figures: fig(framework, precision, f[key], 100) };
    }),
  );
  const r = { model: "xception", digits: 3200, epochs: 5, rounds: 3, runs };
  const fitRow = precisionTable(r)
    .split("\n")[2]
    .split("|")
    .slice(1, -1)
    .map((c) => c.trim());
  // Medians: ours f32 25, Keras f32 41, ours bf16 21, Keras bf16 33. Ratios by round: Keras bf16 ÷
  // ours bf16 1.5, 2.857, 1.1 → 1.50; Keras f32 ÷ ours bf16 2.0, 2.0, 1.367 → 2.00 (not 41 / 21).
  assert.deepEqual(fitRow, [
    "fit, s per epoch (5 epochs, 3,200 digits, median of 3 rounds)",
    "25.00",
    "41.00",
    "21.00",
    "33.00",
    "1.50×",
    "2.00×",
  ]);
  const lines = roundLines(r);
  assert.equal(lines.length, 3);
  assert.equal(
    lines[1],
    "- Round 2: Keras mixed_bfloat16 60.00 s, 100 images/s, 1,000 MiB; ours mixed_bfloat16 21.00 s, 100 images/s, 1,000 MiB; Keras float32 42.00 s, 100 images/s, 1,000 MiB; ours float32 26.00 s, 100 images/s, 1,000 MiB.",
  );
  assert.deepEqual(roundLines({ ...r, rounds: 1 }), [], "one round, no lines");
  const phased = { ...runs[0].figures, peak_rss_after: { built: 600 * 2 ** 20, fit: 1000 * 2 ** 20 } };
  assert.equal(
    runFigures(phased, { phases: true }),
    "25.00 s, 100 images/s, 1,000 MiB (peak after built 600 MiB, fit 1,000 MiB)",
    "the terminal's line: ours's peak after each phase",
  );
  assert.equal(runFigures(phased), "25.00 s, 100 images/s, 1,000 MiB");
  assert.match(
    probeLine({ ...r, runs: [{ ...runs[0], probe: { bf16_tflops: 1, f32_tflops: 1 } }] }),
    /ours float32 \(round 1\) 1\.00/,
  );
});

test("the precision block's first line says how ours updated the weights: the fused kernel, the elementwise ops, or both when runs differed", () => {
  const run = (framework: "ours" | "keras", adam?: PrecisionFigures["adam"]) => ({
    framework,
    precision: "float32" as const,
    load: 0,
    figures: {
      framework,
      precision: "float32" as const,
      fit_seconds_per_epoch: 1,
      infer_images_per_second: 1,
      peak_rss_bytes: 1,
      adam,
    },
  });
  const results = (...runs: Array<ReturnType<typeof run>>) => [
    { model: "inception_v3", digits: 3200, epochs: 5, runs },
  ];
  assert.equal(adamUpdates(results(run("ours", "fused kernel"), run("keras"))), "; ours' Adam update: fused kernel");
  assert.equal(
    adamUpdates(results(run("ours", "fused kernel"), run("ours", "elementwise ops"))),
    "; ours' Adam update: elementwise ops and fused kernel",
  );
  assert.equal(adamUpdates(results(run("keras"))), "");
});
