/**
 * Keras weight files: Keras's cache folder, the ImageNet weight downloads,
 * reading and writing the legacy .h5 layout, and loading it like Keras.
 *
 * The fixtures in test/fixtures/keras-weights/ were written by Keras 3.15.1:
 *   .venv/bin/python scripts/keras_small_models.py make-fixtures test/fixtures/keras-weights
 * (weight files, the input batch, and exact facts: output shapes, layers with weights). Their models
 * are rebuilt here in TF.js, layer for layer. What Keras computes with them depends on the CPU, so
 * Keras's outputs are made on this machine on first use (`outputs` of that script, into
 * .cache/keras-small-models/; see ./references).
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { DownloadError } from "../src/keras/download";
import { IMAGENET_WEIGHTS, imagenetWeights } from "../src/keras/applications/imagenet_weights";
import { kerasCacheDir } from "../src/keras/cache";
import { h5wasm } from "../src/keras/saving/h5wasm";
import { KerasWeightsError, readKerasH5 } from "../src/keras/saving/legacy_h5_read";
import { saveKerasWeights } from "../src/keras/saving/legacy_h5_write";
import { kerasWeightedLayers, loadKerasWeights } from "../src/keras/saving/weight_order";
import { PYTHON, ROOT, outDir } from "./support/helpers";
import { maxAbsDiff } from "./support/numeric";
import { ensureReference } from "./support/references";

const FIXTURES = path.join(ROOT, "test", "fixtures", "keras-weights");
const fixture = (name: string) => path.join(FIXTURES, name);
const SMALL_MODELS_SCRIPT = path.join(ROOT, "scripts", "keras_small_models.py");

interface Expected {
  keras: string;
  inputShape: number[];
  input: number[];
  models: Record<string, { outputShape: number[]; weightedLayers: string[] }>;
}
const EXPECTED: Expected = JSON.parse(fs.readFileSync(fixture("expected.json"), "utf8"));

/** Keras's outputs (inference mode) with the fixtures' weights on the fixtures' input, made on this machine. */
function kerasOutput(model: string): number[] {
  const files = ["expected.json", "small_a.h5", "small_b.h5", "nested.h5", "nested_frozen.h5"].map(fixture);
  const dir = ensureReference({
    name: "keras-small-models",
    script: SMALL_MODELS_SCRIPT,
    args: ["outputs", FIXTURES],
    inputs: files,
    // TensorFlow's plain kernels, as for every Keras reference of the tests.
    env: { TF_ENABLE_ONEDNN_OPTS: "0" },
    duration: "a few seconds",
    log: (m) => console.log(`# ${m}`),
  });
  const made = JSON.parse(fs.readFileSync(path.join(dir, "outputs.json"), "utf8")) as {
    models: Record<string, { outputShape: number[]; output: number[] }>;
  };
  assert.deepEqual(
    made.models[model].outputShape,
    EXPECTED.models[model].outputShape,
    `${model}: Keras's output shape`,
  );
  return made.models[model].output;
}

/**
 * Largest difference allowed between our outputs and Keras's on these small models (outputs up to
 * 3.2 in size, at most 5 layers of sums of up to 54 products). Float32 rounding of such sums stays
 * within a few ulps of the largest term: 1e-5 is about 40 ulps at 3.2. Measured: up to 4.8e-7 (2 ulps)
 * with oneDNN and the fused kernels each on or off, against Keras with plain kernels or with oneDNN.
 */
const SMALL_MODEL_TOLERANCE = 1e-5;

// ---------------------------------------------------------------------------
// The fixtures' models in TF.js (scripts/keras_small_models.py builds them in Keras)
// ---------------------------------------------------------------------------

type ST = TF.SymbolicTensor;

function smallA(
  o: { size?: number; convFilters?: number; convBias?: boolean; denseUnits?: number } = {},
): TF.LayersModel {
  const size = o.size ?? 12;
  const inp = tf.input({ shape: [size, size, 3], name: "input_a" });
  let x = tf.layers
    .conv2d({ filters: o.convFilters ?? 4, kernelSize: 3, useBias: o.convBias ?? false, name: "conv_a" })
    .apply(inp) as ST;
  x = tf.layers.batchNormalization({ scale: false, name: "bn_a" }).apply(x) as ST;
  x = tf.layers.activation({ activation: "relu", name: "relu_a" }).apply(x) as ST;
  x = tf.layers.separableConv2d({ filters: 6, kernelSize: 3, padding: "same", name: "sep_b" }).apply(x) as ST;
  x = tf.layers.batchNormalization({ name: "bn_b" }).apply(x) as ST;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: "same", name: "dw_c" }).apply(x) as ST;
  x = tf.layers.maxPooling2d({ poolSize: 2, name: "pool_c" }).apply(x) as ST;
  x = tf.layers.globalAveragePooling2d({ name: "gap" }).apply(x) as ST;
  const out = tf.layers.dense({ units: o.denseUnits ?? 5, name: "dense_d" }).apply(x) as ST;
  return tf.model({ inputs: inp, outputs: out, name: "small_a" });
}

function nested(frozen: boolean): TF.LayersModel {
  const iin = tf.input({ shape: [12, 12, 3], name: "inner_input" });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: "inner_conv1" }).apply(iin) as ST;
  x = tf.layers.batchNormalization({ name: "inner_bn" }).apply(x) as ST;
  x = tf.layers.activation({ activation: "relu", name: "inner_relu" }).apply(x) as ST;
  x = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: "inner_conv2" }).apply(x) as ST;
  x = tf.layers.globalAveragePooling2d({ name: "inner_gap" }).apply(x) as ST;
  const inner = tf.model({ inputs: iin, outputs: x, name: "inner" });
  if (frozen) inner.trainable = false;
  const inp = tf.input({ shape: [12, 12, 3], name: "outer_input" });
  const y = inner.apply(inp) as ST;
  const out = tf.layers.dense({ units: 2, name: "head" }).apply(y) as ST;
  return tf.model({ inputs: inp, outputs: out, name: frozen ? "nested_frozen" : "nested" });
}

function predict(
  model: TF.LayersModel,
  input: number[] = EXPECTED.input,
  shape: number[] = EXPECTED.inputShape,
): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor(input, shape)) as TF.Tensor).dataSync() as Float32Array);
}

/** Seeded random weights for a TF.js model (batch-norm variances and gammas positive). */
function randomize(model: TF.LayersModel, seed: number): void {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648), s / 2147483648);
  for (const { weights } of kerasWeightedLayers(model)) {
    for (const { variable } of weights) {
      const shape = variable.shape as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      const pos = /gamma|moving_variance/.test(variable.originalName);
      const vals = Float32Array.from({ length: n }, () => (pos ? 0.5 + rnd() : rnd() - 0.5));
      const t = tf.tensor(vals, shape);
      variable.write(t);
      t.dispose();
    }
  }
}

function snapshot(model: TF.LayersModel): Float32Array[] {
  return model.weights.map((w) => w.read().dataSync() as Float32Array).map((a) => a.slice());
}

async function assertRejects(p: Promise<unknown>, pattern: RegExp): Promise<Error> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Error, `expected an error matching ${pattern}`);
  assert.match(caught.message, pattern);
  return caught;
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

test("h5wasm loads (an ES module, from this CommonJS code)", async () => {
  const h5 = await h5wasm();
  assert.equal(typeof h5.File, "function");
});

test("readKerasH5 reads a Keras-written legacy file: layers in order, weight names, shapes, values", async () => {
  const f = await readKerasH5(fixture("small_a.h5"));
  assert.equal(f.kerasVersion, EXPECTED.keras);
  assert.equal(f.backend, "tensorflow");
  assert.deepEqual(
    f.layers.map((l) => l.name),
    ["input_a", "conv_a", "bn_a", "relu_a", "sep_b", "bn_b", "dw_c", "pool_c", "gap", "dense_d"],
  );
  assert.deepEqual(
    f.weightedLayers.map((l) => l.name),
    EXPECTED.models.small_a.weightedLayers,
  );
  const table = f.weightedLayers.map((l) => l.weights.map((w) => `${w.name} [${w.shape.join(",")}]`));
  assert.deepEqual(table, [
    ["conv_a/kernel [3,3,3,4]"],
    ["bn_a/beta [4]", "bn_a/moving_mean [4]", "bn_a/moving_variance [4]"],
    ["sep_b/depthwise_kernel [3,3,4,1]", "sep_b/pointwise_kernel [1,1,4,6]", "sep_b/bias [6]"],
    ["bn_b/gamma [6]", "bn_b/beta [6]", "bn_b/moving_mean [6]", "bn_b/moving_variance [6]"],
    ["dw_c/kernel [3,3,6,1]", "dw_c/bias [6]"],
    ["dense_d/kernel [6,5]", "dense_d/bias [5]"],
  ]);
  for (const l of f.weightedLayers) for (const w of l.weights) assert.ok(w.values instanceof Float32Array);
  const variance = f.weightedLayers[1].weights[2].values;
  assert.ok(
    variance.every((v) => v > 0.5 && v < 1.5),
    "moving variance as seeded",
  );
});

test('readKerasH5 reads the Keras 2 naming ("layer/kernel:0") and a layer_names attribute split in parts', async () => {
  const k3 = await readKerasH5(fixture("small_a.h5"));
  const k2 = await readKerasH5(fixture("small_a_keras2.h5"));
  assert.equal(k2.kerasVersion, "2.1.6");
  assert.deepEqual(
    k2.layers.map((l) => l.name),
    k3.layers.map((l) => l.name),
  );
  assert.equal(k2.weightedLayers[0].weights[0].name, "conv_a/kernel:0");
  for (let i = 0; i < k3.weightedLayers.length; i++) {
    for (let j = 0; j < k3.weightedLayers[i].weights.length; j++) {
      assert.deepEqual(k2.weightedLayers[i].weights[j].values, k3.weightedLayers[i].weights[j].values);
    }
  }
});

// ---------------------------------------------------------------------------
// Loading like Keras
// ---------------------------------------------------------------------------

test("loadKerasWeights gives Keras's outputs (small CNN: conv, BN with and without scale, separable, depthwise, dense)", async () => {
  for (const file of ["small_a.h5", "small_a_keras2.h5"]) {
    const model = smallA();
    await loadKerasWeights(model, fixture(file));
    const diff = maxAbsDiff(predict(model), kerasOutput("small_a"));
    assert.ok(diff <= SMALL_MODEL_TOLERANCE, `${file}: max abs diff ${diff}`);
    model.dispose();
  }
});

test("loadKerasWeights treats a nested model as one layer, in Keras's order (trainable first, or all in order when frozen)", async () => {
  for (const frozen of [false, true]) {
    const name = frozen ? "nested_frozen" : "nested";
    const model = nested(frozen);
    const layers = kerasWeightedLayers(model);
    assert.deepEqual(
      layers.map((l) => l.layer.name),
      ["inner", "head"],
    );
    const order = layers[0].weights.map((w) => w.variable.originalName.split("/").slice(-2).join("/"));
    assert.deepEqual(
      order,
      frozen
        ? [
            "inner_conv1/kernel",
            "inner_conv1/bias",
            "inner_bn/gamma",
            "inner_bn/beta",
            "inner_bn/moving_mean",
            "inner_bn/moving_variance",
            "inner_conv2/kernel",
            "inner_conv2/bias",
          ]
        : [
            "inner_conv1/kernel",
            "inner_conv1/bias",
            "inner_bn/gamma",
            "inner_bn/beta",
            "inner_conv2/kernel",
            "inner_conv2/bias",
            "inner_bn/moving_mean",
            "inner_bn/moving_variance",
          ],
    );
    await loadKerasWeights(model, fixture(`${name}.h5`));
    const diff = maxAbsDiff(predict(model), kerasOutput(name));
    assert.ok(diff <= SMALL_MODEL_TOLERANCE, `${name}: max abs diff ${diff}`);
    model.dispose();
  }
});

test("the input size does not matter for convolutional weights (as in Keras)", async () => {
  const model = smallA({ size: 20 });
  await loadKerasWeights(model, fixture("small_a.h5"));
  const x = Array.from({ length: 20 * 20 * 3 }, (_, i) => Math.sin(i));
  const y = predict(model, x, [1, 20, 20, 3]);
  assert.equal(y.length, 5);
  assert.ok(y.every(Number.isFinite));
  model.dispose();
});

test("bad files: missing, not HDF5, truncated HDF5, an HDF5 file that is not Keras's", async () => {
  const dir = outDir("weights-bad-files");
  const model = smallA();
  const missing = path.join(dir, "missing.h5");
  const e1 = await assertRejects(loadKerasWeights(model, missing), /No weight file at .*missing\.h5/);
  assert.ok(e1 instanceof KerasWeightsError);
  assert.equal(e1.stack, `KerasWeightsError: ${e1.message}`);

  const text = path.join(dir, "page.h5");
  fs.writeFileSync(text, "<!DOCTYPE html><html><body>Service unavailable</body></html>\n");
  await assertRejects(loadKerasWeights(model, text), /page\.h5 is not an HDF5 file .*HTML page/);

  const truncated = path.join(dir, "truncated.h5");
  const full = fs.readFileSync(fixture("small_a.h5"));
  fs.writeFileSync(truncated, full.subarray(0, Math.floor(full.length * 0.6)));
  await assertRejects(
    loadKerasWeights(model, truncated),
    new RegExp(
      `truncated\\.h5 is truncated: it has ${Math.floor(full.length * 0.6)} bytes, its HDF5 header says ${full.length}`,
    ),
  );

  // Damaged in the middle: HDF5's own error, in one line, not on stderr.
  const damaged = path.join(dir, "damaged.h5");
  const bytes = Buffer.from(full);
  for (let i = 3000; i < bytes.length - 100; i += 7) bytes[i] = (bytes[i] * 31 + 7) & 255;
  fs.writeFileSync(damaged, bytes);
  const e4 = await assertRejects(
    loadKerasWeights(model, damaged),
    /damaged\.h5 could not be (read as a Keras weight file|opened as HDF5)/,
  );
  assert.ok(!e4.message.includes("\n"), e4.message);

  // An HDF5 file without Keras's layout.
  const h5 = await h5wasm();
  const other = path.join(dir, "other.h5");
  const f = new h5.File(other, "w");
  f.create_dataset({ name: "x", data: new Float32Array([1, 2]), shape: [2], dtype: "<f4" });
  f.close();
  await assertRejects(loadKerasWeights(model, other), /not a Keras weight file: it has no "layer_names" attribute/);
  model.dispose();
});

test("weights of another model: the error gives both layer counts", async () => {
  const model = smallA();
  const before = snapshot(model);
  await assertRejects(
    loadKerasWeights(model, fixture("small_b.h5")),
    /small_b\.h5 has 3 layers with weights, the model "small_a" has 6; is it the weights of another model\?/,
  );
  assert.deepEqual(snapshot(model), before);
  model.dispose();
});

test("a shape mismatch names the layer in the model and in the file and both shapes; nothing is assigned", async () => {
  const m1 = smallA({ convFilters: 5 });
  await assertRejects(
    loadKerasWeights(m1, fixture("small_a_keras2.h5")),
    /Shape mismatch in layer #0 with weights \(model: "conv_a", file: "conv_a"\), weight 0 .*the model expects \[3, 3, 3, 5\], the file has \[3, 3, 3, 4\]/,
  );
  m1.dispose();
  // The last layer differs: the earlier ones, which fit, are not assigned either.
  const m2 = smallA({ denseUnits: 7 });
  const before = snapshot(m2);
  await assertRejects(
    loadKerasWeights(m2, fixture("small_a.h5")),
    /layer #5 with weights \(model: "dense_d", file: "dense_d"\).*expects \[6, 7\], the file has \[6, 5\]/,
  );
  assert.deepEqual(snapshot(m2), before);
  m2.dispose();
  // A different number of weights in a layer.
  const m3 = smallA({ convBias: true });
  await assertRejects(
    loadKerasWeights(m3, fixture("small_a.h5")),
    /Weight count mismatch in layer #0 .*has 2 weights \[3, 3, 3, 4\] \[4\], the file's has 1 \[3, 3, 3, 4\]/,
  );
  m3.dispose();
});

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

test("saveKerasWeights → loadKerasWeights into a fresh model gives identical outputs; the file has Keras's layout", async () => {
  const dir = outDir("weights-roundtrip");
  for (const [name, build] of [
    ["small_a", () => smallA()],
    ["nested", () => nested(false)],
    ["nested_frozen", () => nested(true)],
  ] as Array<[string, () => TF.LayersModel]>) {
    const a = build();
    randomize(a, 7);
    const file = path.join(dir, `${name}.h5`);
    await saveKerasWeights(a, file);
    const b = build();
    await loadKerasWeights(b, file);
    assert.deepEqual(predict(b), predict(a), name);
    const read = await readKerasH5(file);
    assert.deepEqual(
      read.layers.map((l) => l.name),
      a.layers.map((l) => l.name),
    );
    assert.equal(read.backend, "tensorflow");
    a.dispose();
    b.dispose();
  }
  const f = await readKerasH5(path.join(dir, "small_a.h5"));
  assert.deepEqual(
    f.weightedLayers[1].weights.map((w) => w.name),
    ["bn_a/beta:0", "bn_a/moving_mean:0", "bn_a/moving_variance:0"],
  );
  assert.deepEqual(
    fs.readdirSync(dir).sort(),
    ["nested.h5", "nested_frozen.h5", "small_a.h5"],
    "no temporary file left",
  );
});

test("layer_names over 64 KB is split into layer_names0, layer_names1, … like Keras", async () => {
  const dir = outDir("weights-split");
  const inp = tf.input({ shape: [4], name: "in" });
  let x = inp;
  const long = "x".repeat(120);
  for (let i = 0; i < 600; i++) x = tf.layers.activation({ activation: "linear", name: `${long}_${i}` }).apply(x) as ST;
  const out = tf.layers.dense({ units: 2, name: "d" }).apply(x) as ST;
  const model = tf.model({ inputs: inp, outputs: out });
  const file = path.join(dir, "split.h5");
  await saveKerasWeights(model, file);
  const h5 = await h5wasm();
  const f = new h5.File(file, "r");
  const attrs = Object.keys(f.attrs).sort();
  f.close();
  assert.ok(
    attrs.includes("layer_names0") && attrs.includes("layer_names1") && !attrs.includes("layer_names"),
    attrs.join(","),
  );
  const read = await readKerasH5(file);
  assert.deepEqual(
    read.layers.map((l) => l.name),
    model.layers.map((l) => l.name),
  );
  const fresh = tf.model({ inputs: inp, outputs: out });
  await loadKerasWeights(fresh, read);
  model.dispose();
});

test("Python Keras's model.load_weights() reads our .h5 files and gives our outputs", async () => {
  const dir = outDir("weights-python");
  const spec = {
    input: EXPECTED.input,
    inputShape: EXPECTED.inputShape,
    models: [] as Array<{ model: string; h5: string }>,
  };
  const ours: Float32Array[] = [];
  for (const [name, build] of [
    ["small_a", () => smallA()],
    ["nested", () => nested(false)],
    ["nested_frozen", () => nested(true)],
  ] as Array<[string, () => TF.LayersModel]>) {
    const m = build();
    randomize(m, 11);
    const file = path.join(dir, `${name}.h5`);
    await saveKerasWeights(m, file);
    spec.models.push({ model: name, h5: file });
    ours.push(predict(m));
    m.dispose();
  }
  const specFile = path.join(dir, "spec.json");
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const r = spawnSync(PYTHON, [SMALL_MODELS_SCRIPT, "check", specFile], {
    encoding: "utf8",
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "3" },
    maxBuffer: 16 << 20,
  });
  assert.equal(r.status, 0, r.stderr);
  const { outputs } = JSON.parse(r.stdout) as { outputs: number[][] };
  for (let i = 0; i < ours.length; i++) {
    const diff = maxAbsDiff(outputs[i], ours[i]);
    assert.ok(diff <= SMALL_MODEL_TOLERANCE, `${spec.models[i].model}: max abs diff ${diff}`);
  }
});

// ---------------------------------------------------------------------------
// Keras's cache folder and the ImageNet weights
// ---------------------------------------------------------------------------

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved: Record<string, string | undefined> = {};
  for (const k of Object.keys(vars)) {
    saved[k] = process.env[k];
    if (vars[k] === undefined) delete process.env[k];
    else process.env[k] = vars[k];
  }
  try {
    return fn();
  } finally {
    for (const k of Object.keys(saved)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

test("kerasCacheDir follows Keras: $KERAS_HOME, else ~/.keras, else /tmp/.keras when not writable", () => {
  const dir = outDir("weights-keras-home");
  const home = path.join(dir, "home");
  fs.mkdirSync(home);
  assert.equal(withEnv({ KERAS_HOME: path.join(dir, "kh"), HOME: home }, kerasCacheDir), path.join(dir, "kh"));
  assert.equal(withEnv({ KERAS_HOME: undefined, HOME: home }, kerasCacheDir), path.join(home, ".keras"));
  // Under a regular file nothing can be created: Keras then uses /tmp/.keras.
  const blocker = path.join(dir, "file");
  fs.writeFileSync(blocker, "");
  assert.equal(withEnv({ KERAS_HOME: path.join(blocker, "keras"), HOME: home }, kerasCacheDir), "/tmp/.keras");
  assert.equal(os.homedir(), process.env.HOME ?? os.homedir());
});

let server: http.Server;
let base = "";
const requests: string[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    requests.push(req.url ?? "");
    if ((req.url ?? "").startsWith("/mirror/")) {
      const body = Buffer.from("not the real weights");
      res.writeHead(200, { "Content-Length": body.length });
      res.end(body);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test("imagenetWeights downloads Keras's file name from the base URL (option or $KT_WEIGHTS_BASE_URL) and checks Keras's md5", async () => {
  const dir = outDir("weights-imagenet-md5");
  const spec = IMAGENET_WEIGHTS.inception_v3;
  const n = requests.length;
  const err = await assertRejects(
    imagenetWeights("inception_v3", {
      cacheDir: dir,
      baseUrl: `${base}/mirror/`,
      onProgress: false,
      log: () => undefined,
    }),
    new RegExp(`md5 hash is [0-9a-f]{32}, expected ${spec.md5}`),
  );
  assert.ok(err instanceof DownloadError);
  assert.deepEqual(requests.slice(n), [`/mirror/${spec.fileName}`]);
  assert.deepEqual(fs.readdirSync(path.join(dir, "models")), [], "nothing saved");
  // The environment variable does the same.
  const n2 = requests.length;
  const saved = process.env.KT_WEIGHTS_BASE_URL;
  process.env.KT_WEIGHTS_BASE_URL = `${base}/mirror`;
  try {
    await assertRejects(
      imagenetWeights("xception", { cacheDir: dir, onProgress: false, log: () => undefined }),
      /md5 hash is/,
    );
  } finally {
    if (saved === undefined) delete process.env.KT_WEIGHTS_BASE_URL;
    else process.env.KT_WEIGHTS_BASE_URL = saved;
  }
  assert.deepEqual(requests.slice(n2), [`/mirror/${IMAGENET_WEIGHTS.xception.fileName}`]);
});

test("imagenetWeights offline: the error says which file to put where, and the URL", async () => {
  const dir = outDir("weights-imagenet-offline");
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  const spec = IMAGENET_WEIGHTS.xception;
  const url = `http://127.0.0.1:${port}/keras/${spec.fileName}`;
  const err = await assertRejects(
    imagenetWeights("xception", {
      cacheDir: dir,
      baseUrl: `http://127.0.0.1:${port}/keras`,
      onProgress: false,
      log: () => undefined,
    }),
    /No valid copy of the ImageNet weights of xception is in Keras's cache, and they could not be downloaded/,
  );
  assert.ok(err.message.includes(url), err.message);
  assert.ok(err.message.includes(`Put the file ${spec.fileName}`), err.message);
  assert.ok(err.message.includes(path.join(dir, "models")), err.message);
  assert.match(err.message, /connection refused/);
  assert.equal(err.stack, `DownloadError: ${err.message}`);

  // A 404 from a mirror says so.
  await assertRejects(
    imagenetWeights("xception", {
      cacheDir: dir,
      baseUrl: `${base}/nothing-here/`,
      onProgress: false,
      log: () => undefined,
    }),
    /HTTP 404/,
  );

  // A cached copy with a wrong md5, and no network: the copy is left alone and the error says why.
  const cached = path.join(dir, "models", spec.fileName);
  fs.mkdirSync(path.dirname(cached), { recursive: true });
  fs.writeFileSync(cached, "partial");
  await assertRejects(
    imagenetWeights("xception", {
      cacheDir: dir,
      baseUrl: `http://127.0.0.1:${port}/keras`,
      onProgress: false,
      log: () => undefined,
    }),
    /has a wrong md5 hash/,
  );
  assert.equal(fs.readFileSync(cached, "utf8"), "partial");
});
