/**
 * Mixed precision: Keras's dtype policies "float32" (the default) and "mixed_bfloat16", compiled by
 * the graph engine.
 *
 *   - plain functions: bfloat16 rounding (against TensorFlow's own Cast), the CPU's bfloat16 flags,
 *     the policy names, the precision a config.json records;
 *   - the float32 graphs of both tutorial models are byte for byte those recorded without mixed
 *     precision (test/fixtures/float32-graph-digests.json, scripts/graph_digests.ts);
 *   - the mixed graph: the layers compute in bfloat16, the softmax layer, batch normalisation's
 *     statistics, the loss and every input and output of the graph in float32;
 *   - the eager engine refuses it with an error that says what to do; bad names are refused;
 *   - against Python Keras 3 on the same weights and digits (scripts/keras_mixed_precision.py): the
 *     class probabilities, one training step's loss, the frozen weights unchanged, the head's bias
 *     after the step; then the precision changed between fits;
 *   - the `.keras` archive: ours records each layer's policy as Keras's model.save does (config.json
 *     equal to Keras's), and an archive Keras wrote under `set_global_policy("mixed_bfloat16")`
 *     loads here in that precision and predicts what Keras predicts.
 *
 * Tolerances against Keras (`mixedTolerance`): both sides round the same tensors to bfloat16, but
 * where their float32 arithmetic differs by a hair a value can round to the neighbouring bfloat16,
 * and such differences grow through the network. Derivation:
 *   u = 2^-8, the unit roundoff of bfloat16 (8 significand bits): a rounding changes a value by at
 *     most u of its magnitude;
 *   R = the number of roundings to bfloat16 on the longest path through the compiled graph (counted
 *     from the graph: casts, convolutions, batch normalisations, additions, …; not ReLU, max pooling,
 *     reshapes or concatenations, which are exact);
 *   with batch normalisation keeping each layer's scale (gain about 1), independent rounding errors
 *     add up like a random walk: the relative error of the last hidden layer h is about u·√R; three
 *     standard deviations, and two implementations each that far from the exact value:
 *     ε = 2 · 3 · u · √R (about 0.2 for InceptionV3, R ≈ 100);
 *   the logits z = W·h + b are computed in float32 (the softmax layer's policy) from that h, so
 *     |Δz| ≤ ε · S with S the logits' scale (the largest |z_i − mean z| of a digit, read from our
 *     log-probabilities);
 *   a probability p_i = softmax(z)_i moves by p_i · (Δz_i − Σ_j p_j Δz_j): |Δp_i| ≤ 2 · p_i · ε · S;
 *   the cross-entropy moves by Σ_j (p_j − y_j) Δz_j per digit: |Δloss| ≤ 2 · ε · S.
 * The weights are Keras's random initialisation without calibrating batch normalisation: calibrated
 * on a handful of digits, late channels become nearly constant, bfloat16 rounding decides their
 * normalised values, and Keras's own bfloat16 probabilities then differ from its float32 ones by
 * 0.36 (measured): no precision-derived tolerance applies to such a model.
 */
import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { tf, backendInfo } from "../src/tfjs/backend";
import { toTensors } from "../src/data";
import { buildTransferModel } from "../src/model_build";
import { loadTransferModel } from "../src/model_archive";
import { describeBackend } from "../src/engine/select";
import { buildSignatures } from "../src/engine/graph/signatures";
import type { Graph, GraphNode, SymTensor } from "../src/engine/graph/graph";
import * as ops from "../src/engine/graph/ops";
import { checkPrecision, configPrecision, policyName } from "../src/keras/dtype_policy";
import { BatchNormalization } from "../src/keras/layers";
import { BFLOAT16_EPSILON, bfloat16Bits, isBfloat16, roundToBfloat16 } from "../src/util/bfloat16";
import { bfloat16Support, cpuBfloat16 } from "../src/util/cpu";
import { trainedWeights } from "../src/tfjs/internals";
import { adamOf } from "../src/keras/optimizers/adam";
import { modelDigests } from "../scripts/graph_digests";
import { emulationWarning } from "../src/precision";
import { runGraphOnce } from "./support/graph";
import { lcg } from "./support/numeric";
import { configLayers, describeArchives, withoutSharedIds } from "./support/archives";
import { PYTHON, ROOT, tmpDir } from "./support/helpers";
import { asSpec, digits } from "./support/digits";

const dir = tmpDir("precision");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs a command of scripts/keras_mixed_precision.py on a JSON spec (written to `dir`) and parses what it prints. */
function kerasScript<T>(command: string, spec: unknown): T {
  const specFile = path.join(dir, `${command}.spec.json`);
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const r = spawnSync(PYTHON, [path.join(ROOT, "scripts", "keras_mixed_precision.py"), command, specFile], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "3" },
    maxBuffer: 256 << 20,
  });
  assert.equal(r.status, 0, `keras_mixed_precision.py ${command} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

// ---------------------------------------------------------------------------
// Plain functions
// ---------------------------------------------------------------------------

test("bfloat16 rounding is TensorFlow's Cast: to nearest, ties to even, infinities and NaN kept", async () => {
  assert.equal(BFLOAT16_EPSILON, 2 ** -7);
  assert.equal(bfloat16Bits(1), 0x3f80);
  assert.equal(bfloat16Bits(1 + 2 ** -8), 0x3f80, "a tie rounds to the even neighbour (down)");
  assert.equal(bfloat16Bits(1 + 3 * 2 ** -8), 0x3f82, "a tie rounds to the even neighbour (up)");
  assert.equal(bfloat16Bits(1 + 2 ** -8 + 2 ** -20), 0x3f81, "above a tie rounds up");
  assert.equal(bfloat16Bits(-2.5), 0xc020);
  assert.equal(bfloat16Bits(Infinity), 0x7f80);
  assert.equal(bfloat16Bits(3.4e38), 0x7f80, "float32's largest values round to infinity");
  assert.equal(bfloat16Bits(NaN) & 0x7fc0, 0x7fc0, "NaN stays a quiet NaN");
  assert.ok(isBfloat16(1.5) && !isBfloat16(1 + 2 ** -8) && !isBfloat16(0.1));
  // Against TensorFlow: Cast float32 → bfloat16 → float32 in a graph, on random values, ties and extremes.
  const values: number[] = [
    0,
    -0,
    1e-40,
    -1e-40,
    65504,
    3.0e38,
    ...Array.from({ length: 64 }, (_, i) => 1 + (2 * i + 1) * 2 ** -8),
  ];
  for (let i = 0; i < 4000; i++) values.push((Math.random() - 0.5) * 10 ** (Math.random() * 20 - 10));
  const x = tf.tensor1d(values, "float32");
  const [y] = await runGraphOnce(
    (g) => {
      const input = g.placeholder("x", "float32", [values.length]);
      return { inputs: [input], outputs: [ops.cast(g, ops.cast(g, input, "bfloat16"), "float32")] };
    },
    [x],
  );
  const tfValues = y.dataSync();
  const f32 = Float32Array.from(values);
  f32.forEach((v, i) =>
    assert.ok(
      Object.is(tfValues[i], roundToBfloat16(v)),
      `${v}: TensorFlow ${tfValues[i]}, ours ${roundToBfloat16(v)}`,
    ),
  );
  tf.dispose([x, y]);
});

test("a bfloat16 constant in a graph holds the rounded values (serialised as TensorFlow's tensor_content)", async () => {
  const values = [0.1, -3.14159, 1 + 2 ** -8, 1e-3, 250.7];
  const [y] = await runGraphOnce(
    (g) => ({ inputs: [], outputs: [ops.cast(g, g.constant(values, [5], "bfloat16"), "float32")] }),
    [],
  );
  assert.deepEqual(Array.from(y.dataSync()), values.map(roundToBfloat16));
  y.dispose();
});

test("the CPU's bfloat16 support is read from the flags of /proc/cpuinfo", () => {
  const x86 = (flags: string) => `processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: ${flags}\nbugs\t\t: none\n`;
  assert.deepEqual(bfloat16Support(x86("fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile")), {
    native: true,
    features: ["avx512_bf16", "amx_bf16"],
  });
  assert.deepEqual(bfloat16Support(x86("fpu sse2 avx2 avx512f avx512bw")), { native: false, features: [] });
  assert.deepEqual(bfloat16Support("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n"), {
    native: true,
    features: ["bf16"],
  });
  assert.deepEqual(bfloat16Support("nothing useful"), { native: undefined, features: [] });
  // This machine: what its /proc/cpuinfo says, and describeBackend() says the same.
  const here = fs.existsSync("/proc/cpuinfo") ? bfloat16Support(fs.readFileSync("/proc/cpuinfo", "utf8")) : undefined;
  if (here) assert.deepEqual(cpuBfloat16(), here);
  const line = describeBackend();
  if (backendInfo().usingGpu) assert.match(line, /bfloat16 on the GPU/);
  else if (here?.native)
    assert.match(line, new RegExp(`bfloat16 native on this CPU \\(${here.features.join(", ")}\\)`));
  else if (here?.native === false) assert.match(line, /bfloat16 not native on this CPU.*slower than float32/);
});

test("mixed_bfloat16 on a CPU without native bfloat16 warns that it will be slower; float32, a native CPU, an unknown one or a GPU do not", () => {
  const none = { native: false, features: [] };
  assert.match(
    emulationWarning("mixed_bfloat16", none, false) ?? "",
    /no native bfloat16.*slower than float32.*"float32"/,
  );
  assert.equal(emulationWarning("float32", none, false), undefined);
  assert.equal(emulationWarning("mixed_bfloat16", { native: true, features: ["avx512_bf16"] }, false), undefined);
  assert.equal(emulationWarning("mixed_bfloat16", { native: undefined, features: [] }, false), undefined);
  assert.equal(emulationWarning("mixed_bfloat16", none, true), undefined);
});

test("precisions are Keras's policy names; other names get an error that lists the two", () => {
  assert.equal(checkPrecision("float32", "x"), "float32");
  assert.equal(checkPrecision("mixed_bfloat16", "x"), "mixed_bfloat16");
  assert.throws(
    () => checkPrecision("bfloat16", "opt"),
    /opt: .*"float32".*"mixed_bfloat16".*keep the variables in bfloat16/,
  );
  assert.throws(() => checkPrecision("mixed_float16", "opt"), /float16 needs loss scaling/);
  assert.throws(() => checkPrecision(undefined, "opt"), /got undefined/);
  assert.equal(
    policyName({ module: "keras", class_name: "DTypePolicy", config: { name: "mixed_bfloat16" } }),
    "mixed_bfloat16",
  );
  assert.equal(policyName("float32"), "float32");
  assert.equal(policyName(undefined), undefined);
});

test("the precision of a config.json: mixed_bfloat16 when its layers have that policy, an error for other policies", () => {
  const policy = (name: string) => ({
    module: "keras",
    class_name: "DTypePolicy",
    config: { name },
    registered_name: null,
  });
  const layer = (cls: string, name: string, dtype: unknown) => ({ class_name: cls, config: { name, dtype } });
  const model = (...layers: unknown[]) => ({ class_name: "Functional", config: { name: "m", layers } });
  const tensor = { class_name: "__keras_tensor__", config: { shape: [null, 2], dtype: "bfloat16", keras_history: [] } };
  assert.deepEqual(
    configPrecision(model(layer("InputLayer", "in", "float32"), layer("Dense", "d", policy("float32")))),
    {
      precision: "float32",
    },
  );
  const mixed = model(
    layer("InputLayer", "in", "float32"),
    { ...layer("Dense", "d", policy("mixed_bfloat16")), inbound_nodes: [{ args: [tensor] }] },
    model(layer("Conv2D", "c", policy("mixed_bfloat16"))),
    layer("Dense", "out", policy("float32")),
  );
  assert.deepEqual(configPrecision(mixed), { precision: "mixed_bfloat16" });
  const half = configPrecision(model(layer("Dense", "d", policy("mixed_float16"))));
  assert.ok("problem" in half && /layer "d" has the dtype policy "mixed_float16"/.test(half.problem));
});

// ---------------------------------------------------------------------------
// The graphs
// ---------------------------------------------------------------------------

test("the float32 graphs of both tutorial models are byte for byte those recorded without mixed precision, and mixed_bfloat16 gives other graphs", async (t) => {
  const fixture = JSON.parse(
    fs.readFileSync(path.join(__dirname, "fixtures", "float32-graph-digests.json"), "utf8"),
  ) as Record<string, unknown>;
  if (fixture.tensorflow !== backendInfo().tensorflowVersion) {
    t.skip(
      `the digests were taken with TensorFlow ${String(fixture.tensorflow)}, this is ${backendInfo().tensorflowVersion}`,
    );
    return;
  }
  for (const base of ["inception_v3", "xception"] as const) {
    const tm = await buildTransferModel({ base, weights: null, key: `digests-${base}` });
    try {
      assert.deepEqual(modelDigests(tm), fixture[base], `${base}: the default precision`);
      assert.deepEqual(modelDigests(tm, { precision: "float32" }), fixture[base], `${base}: "float32" given`);
      const mixed = modelDigests(tm, { precision: "mixed_bfloat16" });
      for (const [name, digest] of Object.entries(mixed))
        assert.notEqual(
          digest,
          (fixture[base] as Record<string, string>)[name],
          `${base} ${name}: mixed is another graph`,
        );
    } finally {
      tm.dispose();
    }
  }
});

/** The dtype attribute `name` of a node. */
const typeAttr = (n: GraphNode, name = "T") => (n.attrs[name] as { value?: string } | undefined)?.value;

/** Ops whose output equals one of their inputs' values (no rounding): ReLU, max pooling, reshapes, copies. */
const EXACT = new Set(["Relu", "MaxPool", "Reshape", "ConcatV2", "Identity", "Tile", "Shape", "StopGradient"]);

/** The number of roundings to bfloat16 on the longest path through `g` (see the module comment). */
function roundingDepth(g: Graph, until: SymTensor): number {
  const depth = new Map<number, number>();
  for (const n of g.nodes) {
    const before = Math.max(0, ...n.inputs.map((t) => depth.get(t.node.id) ?? 0));
    const rounds = n.outputs[0]?.dtype === "bfloat16" && !EXACT.has(n.op);
    depth.set(n.id, before + (rounds ? 1 : 0));
  }
  return depth.get(until.node.id)!;
}

test("under mixed_bfloat16 the layers compute in bfloat16; the softmax layer, batch normalisation's statistics, the loss and the graph's inputs and outputs stay float32", async () => {
  const tm = await buildTransferModel({
    base: "inception_v3",
    weights: null,
    key: "mixed-graph",
    precision: "mixed_bfloat16",
  });
  try {
    assert.equal(tm.precision, "mixed_bfloat16");
    const optimizer = adamOf(tm.model);
    const built = buildSignatures(tm.model, {
      signatures: ["train", "predict"],
      trainable: trainedWeights(tm.model),
      adam: { beta2: optimizer.beta2, epsilon: optimizer.epsilon },
      precision: "mixed_bfloat16",
    });
    const nodes = built.graph.nodes;
    const forward = nodes.filter((n) => n.name.startsWith("train/") && !n.name.startsWith("train/loss"));
    // A trainable convolution that is one matrix product is a MatMul in training (lower.ts, `convolve`).
    const layerOf = (n: { name: string }) => n.name.split("/")[1];
    const convs = forward.filter((n) => n.op === "Conv2D" || (n.op === "MatMul" && !layerOf(n).startsWith("dense")));
    assert.equal(convs.length, 94, "InceptionV3's 94 convolutions");
    assert.ok(
      convs.filter((n) => n.op === "MatMul").length > 30,
      "its trainable 1×1 convolutions and those on 1×1 maps as products",
    );
    assert.ok(
      convs.every((n) => typeAttr(n) === "bfloat16"),
      "every convolution in bfloat16",
    );
    // The frozen layers' batch normalisations are folded into their convolutions (a bfloat16 bias
    // each; all of them pay, on maps of 8×8 or more); the others run as FusedBatchNormV3, x in
    // bfloat16 and the statistics in float32.
    const frozenNorms = tm.base.layers.filter((l) => l instanceof BatchNormalization && l.isFrozen()).length;
    assert.ok(frozenNorms > 10, "the frozen layers have batch normalisations");
    assert.equal(foldable(tm.base).filter((l) => l.isFrozen()).length, frozenNorms);
    const norms = forward.filter((n) => n.op === "FusedBatchNormV3");
    assert.equal(norms.length, 94 - frozenNorms);
    assert.ok(
      norms.every((n) => typeAttr(n) === "bfloat16" && typeAttr(n, "U") === "float32"),
      "x in bfloat16, statistics in float32",
    );
    const biases = forward.filter((n) => n.op === "BiasAdd" && typeAttr(n) === "bfloat16");
    assert.equal(biases.length, frozenNorms + 1, "a folded bias per frozen batch normalisation, and the dense layer's");
    const inference = nodes.filter((n) => n.name.startsWith("inference/"));
    assert.ok(inference.some((n) => n.op === "Conv2D"));
    assert.equal(
      inference.filter((n) => n.op === "FusedBatchNormV3").length,
      94 - foldable(tm.base).length,
      "inference: every batch normalisation where the fold pays folded into its convolution",
    );
    const dense = forward.filter((n) => n.op === "MatMul" && layerOf(n).startsWith("dense"));
    assert.deepEqual(
      dense.map((n) => [n.name.split("/")[1], typeAttr(n)]),
      [
        ["dense", "bfloat16"],
        ["dense_1", "float32"],
      ],
    );
    const softmax = nodes.filter((n) => n.op === "Softmax");
    assert.ok(softmax.length > 0 && softmax.every((n) => typeAttr(n) === "float32"));
    assert.ok(nodes.filter((n) => n.op === "SoftmaxCrossEntropyWithLogits").every((n) => typeAttr(n) === "float32"));
    const placeholders = nodes.filter((n) => n.op === "Placeholder");
    assert.deepEqual([...new Set(placeholders.map((n) => n.outputs[0].dtype))].sort(), ["float32", "int32"]);
    for (const s of Object.values(built.signatures))
      for (const o of s!.outputs) assert.equal(o.tensor.dtype, "float32", `output ${o.name}`);
    // What the tolerance of the comparisons with Keras counts (printed by the next test).
    const predict = built.signatures.predict!.outputs[0].tensor;
    assert.ok(roundingDepth(built.graph, predict) > 50);
  } finally {
    tm.dispose();
  }
});

test("the eager engine refuses mixed_bfloat16 with an error that says what to do, and bad precisions are refused before anything is built", async () => {
  const mnist = await digits();
  await assert.rejects(
    buildTransferModel({ base: "inception_v3", weights: null, precision: "fp16" as never }),
    /buildTransferModel: the precision must be "float32".*"mixed_bfloat16"/,
  );
  const tm = await buildTransferModel({
    base: "inception_v3",
    weights: null,
    key: "mixed-eager",
    precision: "mixed_bfloat16",
  });
  try {
    const before = tm.model.getWeights()[0].dataSync().slice();
    const message =
      /"mixed_bfloat16" runs on the graph engine only.*TF\.js has no bfloat16 tensors.*engine: "graph".*setPrecision\("float32"\)/s;
    await assert.rejects(tm.fit(mnist.train, { epochs: 1, engine: "eager", progress: false }), message);
    await assert.rejects(tm.predict(mnist.test, { engine: "eager", progress: false }), message);
    await assert.rejects(tm.evaluate(mnist.test, { engine: "eager", progress: false }), message);
    assert.equal(tm.runs.length, 0, "no run recorded");
    assert.deepEqual(tm.model.getWeights()[0].dataSync(), before);
    assert.throws(() => tm.setPrecision("half" as never), /setPrecision: the precision must be/);
    assert.equal(tm.precision, "mixed_bfloat16");
  } finally {
    tm.dispose();
  }
});

// ---------------------------------------------------------------------------
// Against Python Keras
// ---------------------------------------------------------------------------

const U = 2 ** -8;

/** ε of the module comment for a graph whose longest path rounds `r` times. */
const mixedTolerance = (r: number) => 2 * 3 * U * Math.sqrt(r);

/** Per digit, the largest |z_i − mean z| of its logits, from its probabilities (log p_i = z_i − logsumexp z). */
function logitScales(probabilities: ArrayLike<number>, classes = 10): number[] {
  const scales: number[] = [];
  for (let b = 0; b < probabilities.length / classes; b++) {
    const logs = Array.from({ length: classes }, (_, i) => Math.log(probabilities[b * classes + i]));
    const mean = logs.reduce((a, v) => a + v, 0) / classes;
    scales.push(Math.max(...logs.map((v) => Math.abs(v - mean))));
  }
  return scales;
}

/** Per probability p_i, the bound 2 · p_i · ε · S of the module comment (S: its digit's logit scale). */
function probabilityTolerances(probabilities: ArrayLike<number>, eps: number, classes = 10): number[] {
  const scales = logitScales(probabilities, classes);
  return Array.from(probabilities, (p, i) => 2 * p * eps * scales[Math.floor(i / classes)]);
}

/** The values of every weight of the first `depth` layers of the base (the frozen ones), copied. */
function frozenWeights(tm: { base: TF.LayersModel }, depth: number): Float32Array[] {
  return tm.base.layers
    .slice(0, depth)
    .flatMap((l) => l.weights.map((w) => (w.read().dataSync() as Float32Array).slice()));
}

interface KerasStep {
  policies: Record<string, string>;
  output: number[];
  outputDtype: string;
  loss: number;
  lossFusedBatchNorm: number;
  changed: Record<string, number>;
  after: Record<string, number[]>;
}

test("mixed_bfloat16 against Keras on the same weights and digits: probabilities, one step's loss, frozen weights unchanged, the head's bias after the step", async (t) => {
  const mnist = await digits();
  const set = mnist.test;
  const depth = 64;
  const file = path.join(dir, "mixed-inception_v3.keras");
  // Dropout 0: Keras's dropout mask cannot be reproduced, and one step's loss is compared.
  const tm = await buildTransferModel({
    base: "inception_v3",
    weights: null,
    key: "mixed-keras",
    dropout: 0,
    precision: "mixed_bfloat16",
  });
  let ours: number[];
  let loss: number;
  let trainProbabilities: Float32Array;
  let labels: Float32Array;
  let bias: number[];
  let rounding: number;
  const frozenNames = new Set(tm.base.layers.slice(0, depth).map((l) => l.name));
  try {
    await tm.save(file);
    ours = Array.from((await tm.predict(set, { progress: false })).probabilities);
    rounding = roundingDepth(
      ...((): [Graph, SymTensor] => {
        const b = buildSignatures(tm.model, { signatures: ["predict"], precision: "mixed_bfloat16" });
        return [b.graph, b.signatures.predict!.outputs[0].tensor];
      })(),
    );
    // The logits' scale and the head's bias gradient in training mode, from TF.js in float32 (for the tolerances).
    const { x, y } = toTensors(set);
    const probs = tf.tidy(() => tm.model.apply(x, { training: true }) as TF.Tensor);
    trainProbabilities = probs.dataSync() as Float32Array;
    labels = y.dataSync() as Float32Array;
    tf.dispose([x, y, probs]);
    const frozenBefore = frozenWeights(tm, depth);
    const trainableBefore = trainedWeights(tm.model).map((w) => (w.read().dataSync() as Float32Array).slice());
    const history = await tm.fit(set, {
      epochs: 1,
      batchSize: set.count,
      validationSplit: 0,
      shuffle: false,
      progress: false,
    });
    loss = history.loss[0];
    assert.deepEqual(frozenWeights(tm, depth), frozenBefore, "the frozen layers' weights are unchanged, bit for bit");
    // Adam's first step moves a weight by lr · g / (|g| + ε̂) ≤ lr, plus the rounding of the new float32 value.
    trainedWeights(tm.model).forEach((w, i) => {
      const now = w.read().dataSync();
      const beyond = now.findIndex((v, k) => Math.abs(v - trainableBefore[i][k]) > 0.001 + 2 ** -23 * Math.abs(v));
      assert.equal(beyond, -1, `${w.name}[${beyond}] moved by more than the learning rate`);
    });
    bias = Array.from(tm.model.getLayer("dense_1").getWeights()[1].dataSync());
    assert.equal(tm.runs[0].precision, "mixed_bfloat16");
  } finally {
    tm.dispose();
  }

  const keras = kerasScript<KerasStep>("step", { ...asSpec(set), archive: file }) as KerasStep;
  // Keras opened the archive with our policies: every layer mixed_bfloat16 but the inputs, the nested
  // base (a model as a layer: it computes nothing itself) and the softmax layer.
  const float32 = Object.entries(keras.policies)
    .filter(([, p]) => p === "float32")
    .map(([name]) => name)
    .sort();
  assert.deepEqual(float32, ["dense_1", "digits", "inception_v3", "inception_v3/input_layer"]);
  assert.ok(Object.values(keras.policies).every((p) => p === "float32" || p === "mixed_bfloat16"));
  assert.equal(keras.outputDtype, "float32");

  const eps = mixedTolerance(rounding);
  const probDiff = ours.map((p, i) => Math.abs(p - keras.output[i]));
  const probTol = probabilityTolerances(ours, eps);
  const spread = Math.max(...ours) - Math.min(...ours);
  t.diagnostic(
    `R = ${rounding} roundings, ε = ${eps.toFixed(3)}; probabilities differ by up to ${Math.max(...probDiff).toExponential(2)} ` +
      `(tolerance ${Math.min(...probTol).toExponential(2)}…${Math.max(...probTol).toExponential(2)}, spread ${spread.toExponential(2)})`,
  );
  probDiff.forEach((d, i) =>
    assert.ok(d <= probTol[i], `probability ${i}: ours ${ours[i]}, Keras ${keras.output[i]} (tolerance ${probTol[i]})`),
  );
  assert.ok(
    Math.max(...probTol) < spread,
    "the tolerance is below the probabilities' spread: a wrong weight would show",
  );

  // Per digit: |Δloss_b| ≤ Σ_j |p_bj − y_bj| · ε · S_b; the batch's loss is their mean.
  const trainScales = logitScales(trainProbabilities);
  const perDigit = trainScales.map((s, b) => {
    let l1 = 0;
    for (let j = 0; j < 10; j++) l1 += Math.abs(trainProbabilities[b * 10 + j] - labels[b * 10 + j]);
    return l1 * eps * s;
  });
  const lossTol = perDigit.reduce((a, v) => a + v, 0) / perDigit.length;
  t.diagnostic(
    `loss: ours ${loss}, Keras ${keras.loss} (its batch normalisation by TensorFlow's fused kernel: ` +
      `${keras.lossFusedBatchNorm}); tolerance ${lossTol.toFixed(4)}`,
  );
  assert.ok(Math.abs(loss - keras.loss) <= lossTol, `one step's loss: ours ${loss}, Keras ${keras.loss}`);
  assert.ok(Math.abs(loss - keras.lossFusedBatchNorm) <= lossTol);

  // Keras's frozen layers are unchanged too; every trainable weight moved.
  for (const [p, changed] of Object.entries(keras.changed)) {
    if (frozenNames.has(p.split("/")[0])) assert.equal(changed, 0, `Keras changed ${p}`);
    else if (!p.includes("moving_")) assert.ok(changed > 0, `Keras did not train ${p}`);
  }
  // The head's bias after the step, from zero: −lr · g / (|g| + ε̂), g the mean of p − y over the
  // digits. The two computations' g differ by at most the mean of |Δp| ≤ 2 · p · ε · S (above); where
  // |g| exceeds that, both signs agree and the bias values differ by lr · ε̂ times the difference of
  // their 1 / (|g| + ε̂) (Adam's ε̂ = 1e-7; `biasTol`), plus the float32 rounding of lr (lr · 2^-24,
  // within lr · 1e-5).
  const gradient: number[] = [];
  const gradientTol: number[] = [];
  for (let j = 0; j < 10; j++) {
    let g = 0;
    let d = 0;
    trainScales.forEach((s, b) => {
      g += trainProbabilities[b * 10 + j] - labels[b * 10 + j];
      d += 2 * trainProbabilities[b * 10 + j] * eps * s;
    });
    gradient.push(g / trainScales.length);
    gradientTol.push(d / trainScales.length);
  }
  const sure = gradient.map((g, j) => Math.abs(g) > gradientTol[j]);
  // With g₁, g₂ of one sign and |g₁ − g₂| ≤ tol: |lr·ε̂/(|g₁| + ε̂) − lr·ε̂/(|g₂| + ε̂)| ≤ lr·ε̂·2·tol/lo²,
  // lo = |g| − tol the smallest either can be; that term matters where |g| is small (at 1e-3: 1e-8).
  const biasTol = (j: number) =>
    1e-3 * 1e-5 + (1e-3 * 1e-7 * 2 * gradientTol[j]) / (Math.abs(gradient[j]) - gradientTol[j]) ** 2;
  t.diagnostic(
    `head bias gradient ${gradient.map((g) => g.toFixed(3)).join(" ")}: ${sure.filter(Boolean).length} of 10 compared`,
  );
  assert.ok(sure.filter(Boolean).length >= 3, "too few bias entries with a clear gradient to compare");
  keras.after["dense_1/bias"].forEach((b, i) => {
    if (sure[i]) assert.ok(Math.abs(b - bias[i]) <= biasTol(i), `dense_1 bias ${i}: ours ${bias[i]}, Keras ${b}`);
  });
  const agree = keras.after["dense_1/bias"].filter((b, i) => Math.sign(b) === Math.sign(bias[i])).length;
  t.diagnostic(`the bias moved the same way as Keras's in ${agree} of 10 classes`);
});

/**
 * The batch normalisations that fold into the convolution before them in an inference graph, by the
 * rule of src/engine/graph/lower.ts (`foldsInto`), restated from the layers' shapes: the convolution
 * (Conv2D, or SeparableConv2D's pointwise kernel) has no activation, and its kernel is at most half
 * the outputs of a batch of 64 (kh·kw·in ≤ 32·h·w).
 */
function foldable(base: TF.LayersModel): BatchNormalization[] {
  return base.layers.flatMap((l) => {
    const next = l.outboundNodes.map((n) => n.outboundLayer);
    const bn = next.length === 1 ? next[0] : undefined;
    const cls = l.getClassName();
    if (!(bn instanceof BatchNormalization) || (cls !== "Conv2D" && cls !== "SeparableConv2D")) return [];
    if (((l.getConfig() as { activation?: string }).activation ?? "linear") !== "linear") return [];
    const [, h, w] = l.outputShape as number[];
    const kernel = l.weights.find((v) => /(^|\/)(kernel|pointwise_kernel)/.test(v.originalName))!.shape as number[];
    return kernel[0] * kernel[1] * kernel[2] <= 32 * h * w ? [bn] : [];
  });
}

/**
 * Every batch normalisation's scale, offset and moving statistics set to seeded values away from the
 * initial ones (γ and the variance in [0.5, 1.5], β in [0, 0.2], the mean in [−0.2, 0.2]): with the
 * initial ones (1, 0, 0, 1) a fold that dropped any of them would compute the same thing. (β ≥ 0 keeps
 * Xception's features alive through its ReLUs: with β down to −0.2 its probabilities were all equal.)
 * The fold's arithmetic term by term is tested on small models in test/graph_lowering.test.ts; here
 * the whole networks, against their float32 predictions.
 */
function varyBatchNorms(tm: { base: TF.LayersModel }, seed: number): void {
  const next = lcg(seed);
  const draw = (n: number, lo: number, hi: number) =>
    Float32Array.from({ length: n }, () => lo + (hi - lo) * (next() / 2 ** 32));
  tf.tidy(() => {
    for (const l of tm.base.layers) {
      if (!(l instanceof BatchNormalization)) continue;
      const v = l.variables();
      const n = v.movingMean.shape[0] as number;
      v.gamma?.write(tf.tensor1d(draw(n, 0.5, 1.5)));
      v.beta?.write(tf.tensor1d(draw(n, 0, 0.2)));
      v.movingMean.write(tf.tensor1d(draw(n, -0.2, 0.2)));
      v.movingVariance.write(tf.tensor1d(draw(n, 0.5, 1.5)));
    }
  });
}

for (const base of ["inception_v3", "xception"] as const) {
  test(`${base} under mixed_bfloat16 folds batch normalisation into the convolution before it where that pays, and predicts within bfloat16's tolerance of its float32 predictions`, async (t) => {
    const mnist = await digits();
    const tm = await buildTransferModel({ base, weights: null, key: `mixed-fold-${base}` });
    try {
      varyBatchNorms(tm, 7);
      const float32 = Array.from((await tm.predict(mnist.test, { progress: false })).probabilities);
      tm.setPrecision("mixed_bfloat16");
      const built = buildSignatures(tm.model, { signatures: ["predict"], precision: "mixed_bfloat16" });
      const nodes = built.graph.nodes;
      const norms = tm.base.layers.filter((l) => l instanceof BatchNormalization).length;
      const folds = foldable(tm.base).length;
      t.diagnostic(`${folds} of ${norms} batch normalisations folded`);
      assert.ok(folds >= (base === "xception" ? 30 : 20), `only ${folds} of ${norms} fold`);
      assert.equal(nodes.filter((n) => n.op === "FusedBatchNormV3").length, norms - folds);
      assert.equal(
        nodes.filter((n) => n.op === "BiasAdd" && typeAttr(n) === "bfloat16").length,
        folds + 1,
        "a bias per folded batch normalisation, and the dense layer's",
      );
      const mixed = Array.from((await tm.predict(mnist.test, { progress: false })).probabilities);
      // float32 stands for the exact values: one implementation's ε/2 of the module comment, taken whole.
      const eps = mixedTolerance(roundingDepth(built.graph, built.signatures.predict!.outputs[0].tensor));
      const diff = mixed.map((p, i) => Math.abs(p - float32[i]));
      const tol = probabilityTolerances(float32, eps);
      const spread = Math.max(...float32) - Math.min(...float32);
      const worst = Math.max(...diff.map((d, i) => d / tol[i]));
      assert.ok(spread > 0.01, `the probabilities hardly vary (spread ${spread}): the comparison would be empty`);
      t.diagnostic(
        `ε = ${eps.toFixed(3)}; probabilities differ by up to ${Math.max(...diff).toExponential(2)}, ` +
          `${worst.toFixed(3)} of their tolerance (spread ${spread.toExponential(2)})`,
      );
      diff.forEach((d, i) =>
        assert.ok(d <= tol[i], `probability ${i}: bfloat16 ${mixed[i]}, float32 ${float32[i]} (tolerance ${tol[i]})`),
      );
    } finally {
      tm.dispose();
    }
  });
}

// ---------------------------------------------------------------------------
// The .keras archive
// ---------------------------------------------------------------------------

test("the .keras archive records the policies as Keras's model.save does, and Keras's own mixed_bfloat16 archive loads here in that precision with Keras's predictions", async (t) => {
  const set = (await digits()).test;
  const ours = path.join(dir, "ours-mixed.keras");
  const withFloatSoftmax = path.join(dir, "keras-mixed-float-softmax.keras");
  const globalPolicy = path.join(dir, "keras-mixed-global.keras");
  // Keras, under set_global_policy("mixed_bfloat16"): the tutorial's model with its softmax layer in
  // float32 (as we compute it), and as a user who only sets the global policy gets it.
  const [kerasFloatSoftmax, kerasGlobal] = kerasScript<{
    archives: Array<{ policies: Record<string, string>; output: number[] }>;
  }>("write", {
    ...asSpec(set),
    items: [
      { base: "inception_v3", freeze: 64, floatSoftmax: true, out: withFloatSoftmax },
      { base: "inception_v3", freeze: 64, floatSoftmax: false, out: globalPolicy },
    ],
  }).archives;
  assert.equal(kerasGlobal.policies.dense_1, "mixed_bfloat16");

  const built = await buildTransferModel({
    base: "inception_v3",
    weights: null,
    key: "mixed-archive",
    precision: "mixed_bfloat16",
  });
  try {
    await built.save(ours);
  } finally {
    built.dispose();
  }
  const [keras, mine] = describeArchives(withFloatSoftmax, ours);
  assert.equal(
    JSON.stringify(withoutSharedIds(mine.config)),
    JSON.stringify(withoutSharedIds(keras.config)),
    "config.json differs from Keras's",
  );
  const { outer, base } = configLayers(mine.config);
  assert.ok(
    base.slice(1).every((l) => policyName(l.config.dtype) === "mixed_bfloat16"),
    "every base layer mixed",
  );
  assert.equal(policyName(outer[outer.length - 1].config.dtype), "float32", "the softmax layer in float32");

  const again = await loadTransferModel(ours, { key: "mixed-archive-ours" });
  try {
    assert.equal(again.precision, "mixed_bfloat16", "ours → ours");
  } finally {
    again.dispose();
  }

  /** Keras's archive loaded here: its precision, our probabilities and the graph's rounding depth. */
  const loaded = async (file: string) => {
    const tm = await loadTransferModel(file, { key: "mixed-archive-keras" });
    try {
      const b = buildSignatures(tm.model, { signatures: ["predict"], precision: tm.precision });
      return {
        precision: tm.precision,
        predicted: Array.from((await tm.predict(set, { progress: false })).probabilities),
        rounding: roundingDepth(b.graph, b.signatures.predict!.outputs[0].tensor),
      };
    } finally {
      tm.dispose();
    }
  };
  // The model as we compute it: the tolerance of the comparison with Keras above.
  const same = await loaded(withFloatSoftmax);
  assert.equal(same.precision, "mixed_bfloat16");
  const eps = mixedTolerance(same.rounding);
  const tol = probabilityTolerances(same.predicted, eps);
  const diff = same.predicted.map((p, i) => Math.abs(p - kerasFloatSoftmax.output[i]));
  const spread = Math.max(...same.predicted) - Math.min(...same.predicted);
  t.diagnostic(
    `Keras's probabilities differ from ours by up to ${Math.max(...diff).toExponential(2)} ` +
      `(tolerance ${Math.min(...tol).toExponential(2)}…${Math.max(...tol).toExponential(2)}, spread ${spread.toExponential(2)})`,
  );
  diff.forEach((d, i) =>
    assert.ok(d <= tol[i], `probability ${i}: ours ${same.predicted[i]}, Keras ${kerasFloatSoftmax.output[i]}`),
  );
  assert.ok(Math.max(...tol) < spread, "the tolerance is below the probabilities' spread");

  // Keras's global policy alone: it computes the last Dense and its softmax in bfloat16, we in float32
  // (three more roundings on its path: the kernel, the product, the bias; and each probability rounded,
  // u of it). Its probabilities are as coarse as bfloat16 (steps of 2^-11 near 0.1): the check is that
  // the archive loads in mixed precision and computes the same model.
  const global = await loaded(globalPolicy);
  assert.equal(global.precision, "mixed_bfloat16");
  const epsGlobal = mixedTolerance(global.rounding + 3);
  const tolGlobal = probabilityTolerances(global.predicted, epsGlobal);
  global.predicted.forEach((p, i) => {
    const bound = tolGlobal[i] + 2 * U * p;
    assert.ok(
      Math.abs(p - kerasGlobal.output[i]) <= bound,
      `probability ${i}: ours ${p}, Keras ${kerasGlobal.output[i]}`,
    );
  });
});

test("a model's precision changes between fits: each run records its own, and no tensors are left behind", async () => {
  const mnist = await digits();
  const tm = await buildTransferModel({ base: "inception_v3", weights: null, key: "mixed-switch", freeze: 249 });
  try {
    assert.equal(tm.precision, "float32");
    const options = { epochs: 1, batchSize: 32, progress: false } as const;
    await tm.fit(mnist.train, options);
    tm.setPrecision("mixed_bfloat16");
    await tm.fit(mnist.train, options);
    const tensors = tf.memory().numTensors;
    tm.setPrecision("float32");
    tm.setPrecision("mixed_bfloat16");
    await tm.fit(mnist.train, options);
    await tm.predict(mnist.test, { progress: false });
    assert.equal(tf.memory().numTensors, tensors, "a fit and a prediction in mixed precision leave no tensors");
    assert.deepEqual(
      tm.runs.map((r) => r.precision),
      ["float32", "mixed_bfloat16", "mixed_bfloat16"],
    );
  } finally {
    tm.dispose();
  }
});
