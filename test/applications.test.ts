/**
 * InceptionV3 and Xception against Keras 3: full layer tables (index, name,
 * class, output shape, parameters) at 84x84x3, at the minimum sizes and at
 * Keras's default (None, None, 3); what Keras computes with the same (fixed)
 * weights, in inference and training mode; Keras's initialisation; the input
 * checks and their messages; two models in one process; saving and loading.
 *
 * Fixtures: test/fixtures/keras-*-notop-*.txt (exact layer tables; the 84x84
 * ones are the shared reference tables, the others made by
 * scripts/keras_layer_table.py, command in their first line). Keras's outputs
 * with the fixed weights depend on the CPU, so they are made on this machine
 * on first use by scripts/keras_reference_outputs.py, into
 * .cache/keras-outputs-fixed-weights/ (see ./references).
 */
import { test, mock } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { LayersModel, Tensor, io } from "@tensorflow/tfjs";
import { backendInfo, tf } from "../src/tfjs/backend";
import { describeBackend } from "../src/engine/select";
import {
  buildInceptionV3,
  buildXception,
  formatLayerRow,
  inceptionV3,
  layerTable,
  obtainInputShape,
  xception,
  KerasNames,
} from "../src/keras/applications/index";
import { saveKerasWeights } from "../src/keras/saving/legacy_h5_write";
import { PLAIN_KERNELS, ROOT, runWithPlainKernels, tmpDir } from "./support/helpers";
import { maxAbsDiff } from "./support/numeric";
import { REFERENCE_INFO, ensureReference } from "./support/references";

const FIXTURES = path.join(ROOT, "test", "fixtures");

interface KerasTable {
  numLayers: number;
  total: number;
  trainable: number;
  nonTrainable: number;
  rows: string[];
  output: string;
}

function readTable(file: string): KerasTable {
  const lines = fs
    .readFileSync(path.join(FIXTURES, file), "utf8")
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"));
  const num = /^keras [\d.]+ num layers (\d+)$/.exec(lines[0]);
  const total = /^total params (\d+)$/.exec(lines[1]);
  const tn = /^trainable (\d+) nontrainable (\d+)$/.exec(lines[2]);
  assert.ok(num && total && tn, `unexpected header in ${file}`);
  const rows = lines.filter((l) => /^\d+ /.test(l));
  const output = lines.find((l) => l.startsWith("output "))!.slice("output ".length);
  return {
    numLayers: Number(num[1]),
    total: Number(total[1]),
    trainable: Number(tn[1]),
    nonTrainable: Number(tn[2]),
    rows,
    output,
  };
}

/** max |a - b|, computed without leaving tensors behind. */
function size(shape: ReadonlyArray<number | null>): number {
  return shape.reduce<number>((a, b) => a * (b ?? 1), 1);
}

function compareWithKeras(model: LayersModel, file: string): void {
  const want = readTable(file);
  const got = layerTable(model).map(formatLayerRow);
  assert.equal(got.length, want.numLayers, `${file}: number of layers`);
  for (let i = 0; i < want.rows.length; i++) assert.equal(got[i], want.rows[i], `${file}: row ${i}`);
  const trainable = model.trainableWeights.reduce((s, w) => s + size(w.shape), 0);
  const nonTrainable = model.nonTrainableWeights.reduce((s, w) => s + size(w.shape), 0);
  assert.equal(model.countParams(), want.total, `${file}: total parameters`);
  assert.equal(trainable, want.trainable, `${file}: trainable parameters`);
  assert.equal(nonTrainable, want.nonTrainable, `${file}: non-trainable parameters`);
  const out = model.outputs[0].shape.map((d) => (d === null ? "None" : String(d))).join(", ");
  assert.equal(`(${out})`, want.output, `${file}: output shape`);
}

test("InceptionV3: the layer table equals Keras 3's at 84x84x3, 75x75x3 and (None, None, 3); layers[:64] ends at mixed1", () => {
  for (const [shape, file] of [
    [[84, 84, 3], "keras-inception_v3-notop-84x84.txt"],
    [[75, 75, 3], "keras-inception_v3-notop-75x75.txt"],
    [undefined, "keras-inception_v3-notop-NonexNone.txt"],
  ] as const) {
    const model = buildInceptionV3(shape ? { inputShape: [...shape] } : {});
    compareWithKeras(model, file);
    assert.equal(model.name, "inception_v3");
    assert.equal(model.layers[63].name, "mixed1");
    assert.equal(model.layers[64].name, "conv2d_22");
    model.dispose();
  }
});

test("Xception: the layer table equals Keras 3's at 84x84x3, 71x71x3 and (None, None, 3); layers[:36] ends at add_2", () => {
  for (const [shape, file] of [
    [[84, 84, 3], "keras-xception-notop-84x84.txt"],
    [[71, 71, 3], "keras-xception-notop-71x71.txt"],
    [undefined, "keras-xception-notop-NonexNone.txt"],
  ] as const) {
    const model = buildXception(shape ? { inputShape: [...shape] } : {});
    compareWithKeras(model, file);
    assert.equal(model.name, "xception");
    assert.equal(model.layers[35].name, "add_2");
    assert.equal(model.layers[36].name, "block5_sepconv1_act");
    model.dispose();
  }
});

test("layerTable: Keras's class names, trainability, and a nested model shows as Functional", () => {
  const base = buildXception({ inputShape: [71, 71, 3] });
  base.layers.slice(0, 36).forEach((l) => (l.trainable = false));
  const rows = layerTable(base);
  assert.deepEqual(rows[2], {
    index: 2,
    name: "block1_conv1_bn",
    className: "BatchNormalization",
    outputShape: "(None, 35, 35, 32)",
    shape: [null, 35, 35, 32],
    params: 128,
    trainable: false,
  });
  assert.equal(rows[35].trainable, false);
  assert.equal(rows[36].trainable, true);
  const input = tf.input({ shape: [71, 71, 3], name: "image" });
  const pooled = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(base.apply(input)) as ReturnType<
    typeof tf.input
  >;
  const outer = tf.model({ inputs: input, outputs: pooled });
  const outerRows = layerTable(outer);
  assert.deepEqual(
    outerRows.map((r) => [r.name, r.className, r.outputShape, r.params]),
    [
      ["image", "InputLayer", "(None, 71, 71, 3)", 0],
      ["xception", "Functional", "(None, 3, 3, 2048)", 20861480],
      ["pool", "GlobalAveragePooling2D", "(None, 2048)", 0],
    ],
  );
  outer.dispose();
});

test("the minimum input sizes and the input checks fail like Keras's obtain_input_shape, saying what to do", async () => {
  assert.throws(
    () => buildInceptionV3({ inputShape: [74, 84, 3] }),
    /^Error: Input size must be at least 75x75; Received: input_shape=\(74, 84, 3\)\. .*resize or upsample/,
  );
  assert.throws(
    () => buildInceptionV3({ inputShape: [84, 74, 3] }),
    /Input size must be at least 75x75; Received: input_shape=\(84, 74, 3\)/,
  );
  assert.throws(
    () => buildXception({ inputShape: [70, 71, 3] }),
    /Input size must be at least 71x71; Received: input_shape=\(70, 71, 3\)/,
  );
  assert.throws(() => buildXception({ inputShape: [71, 70, 3] }), /Input size must be at least 71x71/);
  assert.throws(
    () => buildXception({ inputShape: [84, 84] as never }),
    /`input_shape` must be a tuple of three integers\. Received: input_shape=\(84, 84\)/,
  );
  assert.throws(() => buildXception({ inputShape: [84, 84.5, 3] as never }), /must be a tuple of three integers/);
  // ImageNet weights need 3 channels (checked before any weights are read).
  await assert.rejects(
    () => inceptionV3({ inputShape: [84, 84, 1] }),
    /The input must have 3 channels; Received `input_shape=\(84, 84, 1\)`\. .*repeat a grey channel/,
  );
  await assert.rejects(
    () => xception({ weights: "imagenet", inputShape: [84, 84, 1] }),
    /The input must have 3 channels/,
  );
  await assert.rejects(
    () => xception({ weights: path.join(FIXTURES, "no-such-weights.h5"), inputShape: [84, 84, 3] }),
    /The `weights` argument should be either `None` \(random initialization\), `imagenet` \(pre-training on ImageNet\), or the path to the weights file to be loaded; Received: weights=.*no-such-weights\.h5/,
  );
  // The same checks as Keras without ImageNet weights: defaults, free sizes, a warning for unusual channel counts.
  const check = { modelName: "X", defaultSize: 299, minSize: 71, weights: null };
  assert.deepEqual(obtainInputShape(undefined, check), [null, null, 3]);
  assert.deepEqual(obtainInputShape([null, 100, 1], check), [null, 100, 1]);
  const warn = mock.method(console, "warn", () => undefined);
  try {
    assert.deepEqual(obtainInputShape([80, 80, 5], check), [80, 80, 5]);
    assert.equal(warn.mock.callCount(), 1);
    assert.match(
      String(warn.mock.calls[0].arguments[0]),
      /usually expects 1 or 3 input channels.*with 5 input channels/,
    );
  } finally {
    warn.mock.restore();
  }
});

test("Keras's random initialisation: glorot_uniform kernels, gamma 1, beta 0, moving mean 0, moving variance 1", () => {
  const model = buildXception({ inputShape: [71, 71, 3] });
  let kernels = 0;
  for (const layer of model.layers) {
    for (const w of layer.weights) {
      const kind = w.originalName.slice(w.originalName.lastIndexOf("/") + 1);
      const v = w.read().dataSync();
      if (kind.endsWith("kernel")) {
        const s = w.shape as number[];
        const receptive = s[0] * s[1];
        const limit = Math.sqrt(6 / (receptive * s[2] + receptive * s[3]));
        let max = 0;
        let sq = 0;
        for (const x of v) {
          max = Math.max(max, Math.abs(x));
          sq += x * x;
        }
        assert.ok(max <= limit * (1 + 1e-6), `${w.originalName}: |w| up to ${max} > glorot limit ${limit}`);
        if (v.length >= 4096) {
          const std = Math.sqrt(sq / v.length);
          assert.ok(
            Math.abs(std / (limit / Math.sqrt(3)) - 1) < 0.05,
            `${w.originalName}: std ${std} is not that of U(-${limit}, ${limit})`,
          );
        }
        kernels++;
      } else {
        const want = { gamma: 1, beta: 0, moving_mean: 0, moving_variance: 1 }[kind];
        assert.ok(want !== undefined, `unexpected weight ${w.originalName}`);
        assert.ok(
          v.every((x) => x === want),
          `${w.originalName} is not all ${want}`,
        );
      }
    }
  }
  assert.equal(kernels, 6 + 2 * 34); // 6 convolutions, 34 separable convolutions (2 kernels each)
  model.dispose();
});

// --- the same computation as Keras, with fixed weights ------------------------

/** u in [0, 1) for element k of weight j of layer i: the integer hash of scripts/keras_reference_outputs.py. */
function hashU(i: number, j: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const base = (Math.imul(j, 0x85ebca77) + Math.imul(i, 0xc2b2ae3d)) >>> 0;
  for (let k = 0; k < n; k++) {
    let x = (Math.imul(k, 0x9e3779b1) + base) >>> 0;
    x = (x ^ (x >>> 15)) >>> 0;
    x = Math.imul(x, 0x2c1b3c6d) >>> 0;
    x = (x ^ (x >>> 12)) >>> 0;
    x = Math.imul(x, 0x297a2d39) >>> 0;
    x = (x ^ (x >>> 15)) >>> 0;
    out[k] = x / 2 ** 32;
  }
  return out;
}

function setFixedWeights(model: LayersModel): void {
  model.layers.forEach((layer, i) => {
    layer.weights.forEach((w, j) => {
      const shape = w.shape as number[];
      const u = hashU(i, j, size(shape));
      const kind = w.originalName.slice(w.originalName.lastIndexOf("/") + 1);
      const f = (() => {
        switch (kind) {
          case "kernel":
          case "pointwise_kernel":
            return (x: number) => (2 * x - 1) * Math.sqrt(6 / size(shape.slice(0, -1)));
          case "depthwise_kernel":
            return (x: number) => (2 * x - 1) * Math.sqrt(6 / (shape[0] * shape[1]));
          case "gamma":
          case "moving_variance":
            return (x: number) => 0.8 + 0.4 * x;
          case "beta":
          case "moving_mean":
            return (x: number) => 0.2 * (2 * x - 1);
          default:
            throw new Error(`no rule for ${w.originalName}`);
        }
      })();
      const values = new Float32Array(u.length);
      for (let k = 0; k < u.length; k++) values[k] = f(u[k]);
      const t = tf.tensor(values, shape);
      w.write(t);
      t.dispose();
    });
  });
}

interface Summary {
  channelMeans: number[][];
  meanAbs: number[];
  meanSquare: number[];
}

type MovingStats = Record<string, { moving_mean: number[]; moving_variance: number[] }>;

interface ModelReference {
  inputShape: [number, number, number];
  outputShape: number[];
  inference: Summary;
  training: Summary;
  movingAfterTraining: MovingStats;
}

interface FixedWeightOutputs {
  channels: number;
  models: Record<string, ModelReference>;
  /** The TensorFlow version that computed them (from the reference's record). */
  tensorflow: string;
}

/**
 * What Keras computes with the fixed weights, with TensorFlow's plain kernels, made on this machine
 * on first use (what TensorFlow computes depends on the CPU: see ./references).
 */
function kerasFixedWeightOutputs(): FixedWeightOutputs {
  const dir = ensureReference({
    name: "keras-outputs-fixed-weights",
    script: path.join(ROOT, "scripts", "keras_reference_outputs.py"),
    env: { TF_ENABLE_ONEDNN_OPTS: "0" },
    duration: "about 10 s",
    log: (m) => console.log(`# ${m}`),
  });
  const info = JSON.parse(fs.readFileSync(path.join(dir, REFERENCE_INFO), "utf8")) as {
    packages: Record<string, string>;
  };
  const outputs = JSON.parse(fs.readFileSync(path.join(dir, "outputs.json"), "utf8")) as Omit<
    FixedWeightOutputs,
    "tensorflow"
  >;
  const tensorflow = Object.entries(info.packages).find(([k]) => k.startsWith("tensorflow"))?.[1] ?? "unknown";
  return { ...outputs, tensorflow };
}

function summarise(y: Tensor, channels: number): Summary {
  const [b, ...rest] = y.shape;
  const c = rest[rest.length - 1];
  const positions = size(rest) / c;
  const v = y.dataSync();
  const out: Summary = { channelMeans: [], meanAbs: [], meanSquare: [] };
  for (let n = 0; n < b; n++) {
    const means = new Array<number>(channels).fill(0);
    let abs = 0;
    let sq = 0;
    for (let p = 0; p < positions; p++) {
      for (let k = 0; k < c; k++) {
        const x = v[(n * positions + p) * c + k];
        if (k < channels) means[k] += x / positions;
        abs += Math.abs(x);
        sq += x * x;
      }
    }
    out.channelMeans.push(means);
    out.meanAbs.push(abs / (positions * c));
    out.meanSquare.push(sq / (positions * c));
  }
  return out;
}

/** What one run of a network on the fixed input gives: the output in both modes, and the moving statistics after the training call. */
interface FixedRun {
  inference: Summary;
  training: Summary;
  moving: MovingStats;
}

function movingStats(model: LayersModel, names: string[]): MovingStats {
  return Object.fromEntries(
    names.map((name) => {
      const [mean, variance] = model
        .getLayer(name)
        .getWeights()
        .slice(-2)
        .map((w) => Array.from(w.dataSync()).slice(0, 16));
      return [name, { moving_mean: mean, moving_variance: variance }];
    }),
  );
}

/**
 * Runs `model` on each input in inference mode, then in training mode, which moves the batch
 * normalisations' statistics: each training call starts from the same moving statistics, and the
 * inference calls come first (they use those of every layer).
 */
function runFixed(model: LayersModel, inputs: Tensor[], channels: number, bnNames: string[]): FixedRun[] {
  const inference = inputs.map((x) => {
    const y = model.predict(x) as Tensor;
    const s = summarise(y, channels);
    y.dispose();
    return s;
  });
  const start = bnNames.map((n) =>
    model
      .getLayer(n)
      .getWeights()
      .map((w) => w.clone()),
  );
  const runs = inputs.map((x, i) => {
    bnNames.forEach((n, j) => model.getLayer(n).setWeights(start[j]));
    const y = model.apply(x, { training: true }) as Tensor;
    const run = { inference: inference[i], training: summarise(y, channels), moving: movingStats(model, bnNames) };
    y.dispose();
    return run;
  });
  tf.dispose(start.flat());
  return runs;
}

/** How far one run is from another, statistic by statistic, relative to the output's scale. */
interface Deviation {
  /** max over images and channels of |channel mean - the other's| / rms of the other's output. */
  inferenceChannels: number;
  /** max over images of |mean |y| / the other's - 1| and |mean y² / the other's - 1| / 2. */
  inferenceOverall: number;
  trainingChannels: number;
  trainingOverall: number;
  /** max of |moving mean - the other's| / max(1, |the other's|) and |moving variance / the other's - 1|. */
  moving: number;
}

function summaryDeviation(got: Summary, want: Summary): { channels: number; overall: number } {
  let channels = 0;
  let overall = 0;
  for (let n = 0; n < want.meanAbs.length; n++) {
    const rms = Math.sqrt(want.meanSquare[n]);
    overall = Math.max(
      overall,
      Math.abs(got.meanAbs[n] / want.meanAbs[n] - 1),
      Math.abs(got.meanSquare[n] / want.meanSquare[n] - 1) / 2,
    );
    want.channelMeans[n].forEach((e, k) => (channels = Math.max(channels, Math.abs(got.channelMeans[n][k] - e) / rms)));
  }
  return { channels, overall };
}

function deviation(got: FixedRun, want: FixedRun): Deviation {
  const inference = summaryDeviation(got.inference, want.inference);
  const training = summaryDeviation(got.training, want.training);
  let moving = 0;
  for (const [name, stats] of Object.entries(want.moving)) {
    stats.moving_mean.forEach(
      (e, k) => (moving = Math.max(moving, Math.abs(got.moving[name].moving_mean[k] - e) / Math.max(1, Math.abs(e)))),
    );
    stats.moving_variance.forEach(
      (e, k) => (moving = Math.max(moving, Math.abs(got.moving[name].moving_variance[k] / e - 1))),
    );
  }
  return {
    inferenceChannels: inference.channels,
    inferenceOverall: inference.overall,
    trainingChannels: training.channels,
    trainingOverall: training.overall,
    moving,
  };
}

/** `x` with every element moved by one float32 ulp, up and down alternately. */
function oneUlpAway(x: Tensor): Tensor {
  const values = Float32Array.from(x.dataSync());
  const bits = new Int32Array(values.buffer);
  for (let i = 0; i < bits.length; i++) bits[i] += i % 2 === 0 ? 1 : -1;
  return tf.tensor(values, x.shape);
}

/**
 * How close to Keras's the outputs must be.
 *
 * With TensorFlow's plain kernels, and the same TensorFlow library as Keras's run (the set-up builds
 * the native backend against the virtualenv's TensorFlow), both run the same kernels on the same CPU
 * and get the same floats: every statistic within 1e-9 (measured: at most 6e-15, the float64 sums of
 * the summaries added in another order).
 *
 * Otherwise (oneDNN and the fused kernels, the defaults; or another TensorFlow) rounding differs
 * from Keras's in every layer, and how far that moves each statistic depends on how much the network
 * amplifies rounding there: in training mode the last batch normalisations of InceptionV3 normalise
 * 2 images over 1×1 maps, and single output channels move by a third of the output's scale. That
 * amplification is measured in the same run: the same network on the input moved by one ulp. Each
 * statistic must be within 10 times how far that one-ulp change moves it (and may always be within
 * 1e-6). Measured on an AMD EPYC (AVX-512): the distance to Keras's is 0.3 to 2.8 times the one-ulp
 * distance for every statistic of both networks; scaling one batch normalisation in the middle of
 * InceptionV3 by 1.001 puts its inference channels 140 times the one-ulp distance away (14 times the
 * tolerance).
 */
const STRICT_TOLERANCE = 1e-9;
const ULP_FACTOR = 10;
const ULP_FLOOR = 1e-6;

test("with the same weights, both networks compute what Keras computes, in inference and in training mode", (t) => {
  const ref = kerasFixedWeightOutputs();
  const strict = PLAIN_KERNELS && backendInfo().tensorflowVersion === ref.tensorflow;
  t.diagnostic(
    `Keras's outputs by TensorFlow ${ref.tensorflow}; ours on ${describeBackend()}${PLAIN_KERNELS ? ", plain kernels" : ""}: ${strict ? "strict" : "within rounding's reach"}`,
  );
  for (const [name, build] of [
    ["inception_v3", buildInceptionV3],
    ["xception", buildXception],
  ] as const) {
    const r = ref.models[name];
    const keras: FixedRun = { inference: r.inference, training: r.training, moving: r.movingAfterTraining };
    const bnNames = Object.keys(r.movingAfterTraining);
    const model = build({ inputShape: r.inputShape });
    setFixedWeights(model);
    const u = hashU(999, 0, 2 * size(r.inputShape));
    const x = tf.tensor(
      Float32Array.from(u, (v) => 2 * v - 1),
      [2, ...r.inputShape],
    );
    const x1 = oneUlpAway(x);
    const shape = tf.tidy(() => (model.predict(x) as Tensor).shape);
    assert.deepEqual(shape, r.outputShape);
    // The same network on the input moved by one ulp: how much it amplifies rounding.
    const [ours, nudged] = runFixed(model, [x, x1], ref.channels, bnNames);
    tf.dispose([x, x1]);
    model.dispose();

    const d = deviation(ours, keras);
    const ulp = deviation(nudged, ours);
    const failures: string[] = [];
    for (const k of Object.keys(d) as Array<keyof Deviation>) {
      const tolerance = strict ? STRICT_TOLERANCE : ULP_FACTOR * Math.max(ULP_FLOOR, ulp[k]);
      const line = `${k} ${d[k].toExponential(2)} (one ulp: ${ulp[k].toExponential(2)}, tolerance ${tolerance.toExponential(2)})`;
      t.diagnostic(`${name}: ${line}`);
      if (!(d[k] <= tolerance)) failures.push(line);
    }
    assert.deepEqual(
      failures,
      [],
      `${name} differs from Keras's outputs (TensorFlow ${ref.tensorflow}) beyond tolerance`,
    );
  }
});

test(
  "with TensorFlow's plain kernels, the same comparison holds strictly (a child process)",
  { skip: PLAIN_KERNELS },
  () => {
    const r = runWithPlainKernels("applications.test.ts", "both networks compute what Keras computes");
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /# pass 1\n/, r.output);
    assert.match(
      r.output,
      /strict\n/,
      `the child process did not run the strict comparison (another TensorFlow than Keras's?):\n${r.output}`,
    );
  },
);

// --- several models, saving, loading -------------------------------------------

async function saveToMemory(model: LayersModel): Promise<io.ModelArtifacts> {
  let saved: io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  return saved!;
}

test("two models of each kind in one process: same names, both predict; save and load through tf.io keep the predictions; no leaks", async () => {
  const start = tf.memory().numTensors;
  const x = tf.randomUniform([2, 75, 75, 3], 0, 1, "float32", 1);
  const first = buildInceptionV3({ inputShape: [75, 75, 3] });
  const second = await inceptionV3({ weights: null, inputShape: [75, 75, 3] });
  assert.deepEqual(
    second.layers.map((l) => l.name),
    first.layers.map((l) => l.name),
  );
  assert.deepEqual(
    second.weights.map((w) => w.originalName),
    first.weights.map((w) => w.originalName),
  );
  const a = first.predict(x) as Tensor;
  const b = second.predict(x) as Tensor;
  assert.deepEqual(a.shape, [2, 1, 1, 2048]);
  assert.deepEqual(b.shape, [2, 1, 1, 2048]);
  assert.ok(maxAbsDiff(a, b) > 0, "two random initialisations gave the same outputs");

  const artifacts = await saveToMemory(second);
  // Saved under the Keras names ("conv2d/kernel"), not the suffixed unique names of the second model's variables.
  assert.deepEqual(artifacts.weightSpecs!.map((s) => s.name).sort(), first.weights.map((w) => w.originalName).sort());
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  assert.deepEqual(layerTable(loaded), layerTable(second));
  const c = loaded.predict(x) as Tensor;
  assert.ok(maxAbsDiff(b, c) < 1e-5, "the loaded model predicts differently");
  tf.dispose([x, a, b, c]);
  for (const m of [first, second, loaded]) m.dispose();

  const x71 = tf.randomUniform([1, 71, 71, 3], 0, 1, "float32", 2);
  const xa = buildXception({ inputShape: [71, 71, 3] });
  const xb = buildXception({ inputShape: [71, 71, 3] });
  const ya = xa.predict(x71) as Tensor;
  const yb = xb.predict(x71) as Tensor;
  assert.deepEqual(yb.shape, [1, 3, 3, 2048]);
  tf.dispose([x71, ya, yb]);
  xa.dispose();
  xb.dispose();
  assert.equal(
    tf.memory().numTensors,
    start,
    "building, predicting with, saving, loading and disposing models leaked tensors",
  );
});

test("a model with the base nested trains: first layers frozen (frozen BN untouched), the rest updates; no leaks", async () => {
  const start = tf.memory().numTensors;
  const base = buildInceptionV3({ inputShape: [75, 75, 3] });
  base.layers.slice(0, 64).forEach((l) => (l.trainable = false));
  const input = tf.input({ shape: [75, 75, 3] });
  let h = base.apply(input) as ReturnType<typeof tf.input>;
  h = tf.layers.globalAveragePooling2d({}).apply(h) as ReturnType<typeof tf.input>;
  const out = tf.layers.dense({ units: 2, activation: "softmax" }).apply(h) as ReturnType<typeof tf.input>;
  const model = tf.model({ inputs: input, outputs: out });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: "categoricalCrossentropy" });
  const snapshot = (name: string) =>
    base
      .getLayer(name)
      .getWeights()
      .map((t) => Array.from(t.dataSync()));
  const frozenBn = snapshot("batch_normalization_12"); // in layers[:64]
  const frozenConv = snapshot("conv2d");
  const liveBn = snapshot("batch_normalization_22"); // layer 65, trainable
  const xs = tf.randomUniform([4, 75, 75, 3], 0, 1, "float32", 3);
  const ys = tf.oneHot(tf.tensor1d([0, 1, 0, 1], "int32"), 2);
  await model.fit(xs, ys, { epochs: 1, batchSize: 4, verbose: 0 });
  assert.deepEqual(snapshot("batch_normalization_12"), frozenBn);
  assert.deepEqual(snapshot("conv2d"), frozenConv);
  const after = snapshot("batch_normalization_22");
  assert.notDeepEqual(after[1], liveBn[1], "moving mean of a trainable BN did not move");
  assert.notDeepEqual(after[0], liveBn[0], "beta of a trainable BN did not train");
  const optimizer = model.optimizer as unknown as { dispose(): void };
  optimizer.dispose();
  tf.dispose([xs, ys]);
  model.dispose();
  // TF.js 4.22 keeps one tensor per compiled-and-fitted model after model.dispose() and optimizer.dispose(),
  // with or without these layers; anything more would be a leak here.
  assert.ok(tf.memory().numTensors - start <= 1, `${tf.memory().numTensors - start} tensors leaked`);
});

test("a KerasNames passed in continues Keras's automatic names (a second model in the same Keras session)", () => {
  const names = new KerasNames();
  const m1 = buildXception({ inputShape: [71, 71, 3], names });
  const m2 = buildXception({ inputShape: [71, 71, 3], names, name: "xception_1" });
  assert.equal(m2.layers[0].name, "input_layer_1");
  assert.equal(m2.layers[12].name, "conv2d_4");
  assert.equal(m2.layers[15].name, "add_12");
  assert.equal(names.next("conv2d"), "conv2d_8");
  m1.dispose();
  m2.dispose();
});

test("weights from a Keras .h5 path are loaded (Keras's load_weights order)", async () => {
  const src = buildXception({ inputShape: [71, 71, 3] });
  const file = path.join(tmpDir("applications"), "xception.h5");
  await saveKerasWeights(src, file);
  const model = await xception({ weights: file, inputShape: [71, 71, 3] });
  const x = tf.randomUniform([1, 71, 71, 3], -1, 1, "float32", 4);
  const a = src.predict(x) as Tensor;
  const b = model.predict(x) as Tensor;
  assert.ok(maxAbsDiff(a, b) === 0, "the loaded weights differ");
  tf.dispose([x, a, b]);
  src.dispose();
  model.dispose();
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
});
