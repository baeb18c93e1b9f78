/**
 * Every layer the graph compiler translates (src/engine/graph/lower.ts) computes what the TF.js
 * layer computes: small models made of each kind, compiled and run in a TensorFlow session, against
 * the same models' `predict` (inference) and `apply(..., {training: true})` (batch normalisation's
 * training mode); and a layer the compiler does not know stops it with an error naming the layer.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import type { LayersModel, SymbolicTensor, Tensor, Tensor4D } from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { CompiledModel } from "../src/engine/graph/compiled";
import { compactTile, lowerModel } from "../src/engine/graph/lower";
import { buildSignatures } from "../src/engine/graph/signatures";
import { BatchNormalization, UpSampling3D } from "../src/keras/layers";
import { runGraphOnce } from "./support/graph";

type ST = SymbolicTensor;

async function compareInference(name: string, model: LayersModel, inputShape: number[]): Promise<void> {
  // Non-trivial weights everywhere (batch norm statistics included).
  model.setWeights(model.getWeights().map((w, i) => tf.randomUniform(w.shape, 0.5, 1.5, "float32", 100 + i)));
  const x = tf.randomNormal([3, ...inputShape], 0, 1, "float32", 7);
  const compiled = await CompiledModel.compile(model, { signatures: ["predict"] });
  try {
    const [got] = compiled.predictBatch([x]);
    const want = model.predict(x) as Tensor;
    assert.deepEqual(got.shape, want.shape, `${name}: shape`);
    const scale = Math.max(1, tf.max(tf.abs(want)).dataSync()[0]);
    const diff = tf.max(tf.abs(tf.sub(got, want))).dataSync()[0];
    assert.ok(diff <= 1e-5 * scale, `${name}: the compiled model differs by ${diff} (values up to ${scale})`);
    tf.dispose([got, want]);
  } finally {
    compiled.dispose();
    x.dispose();
    model.dispose();
  }
}

function chain(inputShape: number[], layers: Array<InstanceType<typeof tf.layers.Layer>>): LayersModel {
  const input = tf.input({ shape: inputShape });
  let x: ST = input;
  for (const l of layers) x = l.apply(x) as ST;
  return tf.model({ inputs: input, outputs: x });
}

test("convolutions (strides, padding, bias, activation), separable and depthwise convolutions compile to what TF.js computes", async () => {
  await compareInference(
    "conv2d",
    chain([9, 9, 3], [tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, activation: "relu" })]),
    [9, 9, 3],
  );
  await compareInference(
    "conv2d same, no bias",
    chain([8, 8, 3], [tf.layers.conv2d({ filters: 5, kernelSize: [1, 7], padding: "same", useBias: false })]),
    [8, 8, 3],
  );
  await compareInference(
    "separable",
    chain([7, 7, 4], [tf.layers.separableConv2d({ filters: 6, kernelSize: 3, padding: "same", activation: "relu" })]),
    [7, 7, 4],
  );
  await compareInference(
    "depthwise",
    chain([7, 7, 4], [tf.layers.depthwiseConv2d({ kernelSize: 3, padding: "valid" })]),
    [7, 7, 4],
  );
});

test("pooling, global average pooling, flatten, dense, dropout (inference), rescaling and activations compile to what TF.js computes", async () => {
  await compareInference(
    "pooling",
    chain(
      [9, 9, 3],
      [
        tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }),
        tf.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: "same" }),
        tf.layers.rescaling({ scale: 2, offset: -1 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 7, activation: "relu" }),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.dense({ units: 4 }),
        tf.layers.activation({ activation: "softmax" }),
      ],
    ),
    [9, 9, 3],
  );
  await compareInference(
    "global average pooling",
    chain([5, 6, 3], [tf.layers.globalAveragePooling2d({}), tf.layers.dense({ units: 3, activation: "softmax" })]),
    [5, 6, 3],
  );
});

test("concatenation, addition and batch normalisation (with and without scale) compile to what TF.js computes", async () => {
  const input = tf.input({ shape: [6, 6, 4] });
  const a = tf.layers.conv2d({ filters: 3, kernelSize: 1 }).apply(input) as ST;
  const b = new BatchNormalization({ scale: false }).apply(
    tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same" }).apply(input) as ST,
  ) as ST;
  const c = new BatchNormalization({}).apply(tf.layers.add().apply([input, b]) as ST) as ST;
  const out = tf.layers.concatenate({ axis: -1 }).apply([a, b, c]) as ST;
  await compareInference("concat/add/bn", tf.model({ inputs: input, outputs: out }), [6, 6, 4]);
});

/**
 * Under mixed_bfloat16 a convolution followed only by batch normalisation folds it into its kernel and
 * a bias (lower.ts, `foldsInto`). The bound, per output, from bfloat16's rounding (U = 2^-8: with 8
 * significant bits, one rounding to nearest moves a value by at most U of it): the input and the
 * folded kernel are rounded (2U of A = Σ|w'|·|x|, the products' sum in absolute values), the
 * convolution's output (U of |conv| ≤ A), the folded bias (U of |b'|) and their sum (U of
 * |y| ≤ A + |b'|): U · (4A + 2|b'|). Weights in [0.5, 1.5] make every term of
 * the normalisation count. Injected by hand in lower.ts, β left out ended 6.1× the bound, the mean
 * 6.0×, ε (0.1 here) 3.8×, the convolution's own bias 9.8×.
 */
test("under mixed_bfloat16 a convolution folds the batch normalisation after it (with or without its scale and bias, separable too): within bfloat16's rounding of TF.js's float32", async (t) => {
  const U = 2 ** -8;
  const cases: Array<[string, number[], (x: ST) => ST, boolean]> = [
    [
      "conv2d, no bias; batch normalisation without scale",
      [8, 8, 3],
      (x) =>
        new BatchNormalization({ scale: false }).apply(
          tf.layers.conv2d({ filters: 5, kernelSize: 3, useBias: false }).apply(x) as ST,
        ) as ST,
      false,
    ],
    [
      "conv2d with bias; batch normalisation with ε = 0.1",
      [8, 8, 3],
      (x) =>
        new BatchNormalization({ epsilon: 0.1 }).apply(
          tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: "same" }).apply(x) as ST,
        ) as ST,
      false,
    ],
    [
      "separable, no bias",
      [7, 7, 4],
      (x) =>
        new BatchNormalization({}).apply(
          tf.layers.separableConv2d({ filters: 6, kernelSize: 3, padding: "same", useBias: false }).apply(x) as ST,
        ) as ST,
      true,
    ],
  ];
  for (const [name, shape, build, separable] of cases) {
    const input = tf.input({ shape });
    const model = tf.model({ inputs: input, outputs: build(input) });
    model.setWeights(model.getWeights().map((w, i) => tf.randomUniform(w.shape, 0.5, 1.5, "float32", 200 + i)));
    const x = tf.randomNormal([3, ...shape], 0, 1, "float32", 11);
    const built = buildSignatures(model, { signatures: ["predict"], precision: "mixed_bfloat16" });
    const ops = built.graph.nodes.map((n) => n.op);
    assert.ok(!ops.includes("FusedBatchNormV3") && ops.includes("BiasAdd"), `${name}: not folded (${ops.join(" ")})`);
    const compiled = await CompiledModel.compile(model, { signatures: ["predict"], precision: "mixed_bfloat16" });
    try {
      const [got] = compiled.predictBatch([x]);
      const want = model.predict(x) as Tensor;
      const [conv, bn] = model.layers.slice(1) as [InstanceType<typeof tf.layers.Layer>, BatchNormalization];
      const bounds = tf.tidy(() => {
        const v = bn.variables();
        const inv = tf.div(v.gamma?.read() ?? tf.scalar(1), tf.sqrt(tf.add(v.movingVariance.read(), bn.epsilon)));
        const w = conv.getWeights();
        const ax = tf.abs(x) as Tensor4D;
        const conf = conv.getConfig() as { strides: [number, number]; padding: "same" | "valid" };
        const a = separable
          ? tf.conv2d(
              tf.depthwiseConv2d(ax, tf.abs(w[0]) as Tensor4D, conf.strides, conf.padding),
              tf.mul(tf.abs(w[1]), inv) as Tensor4D,
              1,
              "valid",
            )
          : tf.conv2d(ax, tf.mul(tf.abs(w[0]), inv) as Tensor4D, conf.strides, conf.padding);
        const bias = w.length > 1 && !separable ? w[1] : tf.zerosLike(inv);
        const offset = tf.add(v.beta?.read() ?? 0, tf.mul(tf.sub(bias, v.movingMean.read()), inv));
        return tf.mul(U, tf.add(tf.mul(4, a), tf.mul(2, tf.abs(offset))));
      });
      const excess = tf.tidy(() => tf.max(tf.div(tf.abs(tf.sub(got, want)), bounds)).dataSync()[0]);
      t.diagnostic(`${name}: at most ${excess.toFixed(2)}× the bound`);
      assert.ok(
        excess <= 1,
        `${name}: the folded bfloat16 output is ${excess.toFixed(2)}× the rounding bound from float32's`,
      );
      tf.dispose([got, want, bounds]);
    } finally {
      compiled.dispose();
      x.dispose();
      model.dispose();
    }
  }
});

test("UpSampling3D compiles to the layer's nearest-neighbour repeat, with the tile on as few axes as possible", async () => {
  assert.deepEqual(compactTile([28, 1, 28, 1, 1, 1, 1], [1, 3, 1, 3, 1, 3, 1]), {
    dims: [28, 1, 28, 1],
    multiples: [1, 3, 1, 9],
  });
  assert.deepEqual(compactTile([4, 1, 5, 1, 6, 1, 2], [1, 2, 1, 1, 1, 2, 1]), {
    dims: [4, 1, 30, 1, 2],
    multiples: [1, 2, 1, 2, 1],
  });
  const tutorial = chain(
    [28, 28, 1],
    [
      tf.layers.reshape({ targetShape: [28, 28, 1, 1] }),
      new UpSampling3D({ size: [3, 3, 3] }),
      tf.layers.reshape({ targetShape: [84, 84, 3] }),
    ],
  );
  await compareInference("the tutorial's front", tutorial, [28, 28, 1]);
  await compareInference(
    "UpSampling3D (2, 1, 2) on 3x4x5x2",
    chain([3, 4, 5, 2], [new UpSampling3D({ size: [2, 1, 2] })]),
    [3, 4, 5, 2],
  );
});

test("batch normalisation in training mode compiles to the layer's batch statistics (the train graph's forward pass)", async () => {
  // Trained one step with learning rate ~0, the graph's and TF.js's moving statistics move alike.
  const input = tf.input({ shape: [5, 5, 3] });
  const bn = new BatchNormalization({ momentum: 0.5 });
  const out = tf.layers
    .dense({ units: 2, activation: "softmax" })
    .apply(tf.layers.globalAveragePooling2d({}).apply(bn.apply(input) as ST) as ST) as ST;
  const model = tf.model({ inputs: input, outputs: out });
  const x = tf.randomNormal([4, 5, 5, 3], 2, 3, "float32", 3);
  const y = tf.tensor2d([
    [1, 0],
    [0, 1],
    [1, 0],
    [0, 1],
  ]);
  const { KerasAdam } = await import("../src/keras/optimizers/adam");
  const optimizer = new KerasAdam({ learningRate: 1e-12 });
  const compiled = await CompiledModel.compile(model, {
    signatures: ["train"],
    trainable: model.trainableWeights,
    adam: optimizer,
  });
  try {
    compiled.trainStep([x], y, optimizer);
    const [mean, variance] = bn
      .getWeights()
      .slice(-2)
      .map((t) => Array.from(t.dataSync()));
    const moments = tf.moments(x, [0, 1, 2]);
    const m = Array.from(moments.mean.dataSync());
    const v = Array.from(moments.variance.dataSync());
    m.forEach((e, k) => assert.ok(Math.abs(mean[k] - 0.5 * e) < 1e-5, `moving mean ${mean[k]} vs ${0.5 * e}`));
    v.forEach((e, k) =>
      assert.ok(
        Math.abs(variance[k] - (0.5 + 0.5 * e)) < 1e-4,
        `moving variance ${variance[k]} vs ${0.5 + 0.5 * e} (biased batch variance)`,
      ),
    );
    tf.dispose([moments.mean, moments.variance]);
  } finally {
    compiled.dispose();
    optimizer.dispose();
    tf.dispose([x, y]);
    model.dispose();
  }
});

test("dropout in training keeps each value with probability 1 - rate, scaled by 1 / (1 - rate), one mask per seed (Keras 3's stateless dropout)", async () => {
  const model = chain([100], [tf.layers.dropout({ rate: 0.3 })]);
  const ones = tf.ones([64, 100]);
  const run = (seed: [number, number]) =>
    runGraphOnce(
      (g) => {
        const x = g.placeholder("x", "float32", [null, 100]);
        const s = g.placeholder("seed", "int32", [2]);
        const [y] = lowerModel({ g, mode: "train", weight: () => assert.fail("no weights"), seed: s }, model, [x]);
        return { inputs: [x, s], outputs: [y] };
      },
      [ones, tf.tensor1d(seed, "int32")],
    );
  try {
    const [a] = await run([1, 2]);
    const [b] = await run([1, 2]);
    const [c] = await run([1, 3]);
    const values = Array.from(a.dataSync());
    assert.ok(
      values.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6),
      "values are 0 or 1 / (1 - rate)",
    );
    const kept = values.filter((v) => v !== 0).length / values.length;
    assert.ok(Math.abs(kept - 0.7) < 0.03, `kept ${kept} of the values`);
    assert.deepEqual(Array.from(b.dataSync()), values, "the same seed gives the same mask");
    assert.notDeepEqual(Array.from(c.dataSync()), values, "another seed gives another mask");
    tf.dispose([a, b, c]);
  } finally {
    ones.dispose();
    model.dispose();
  }
});

test("a layer the compiler does not know stops it with an error that names the layer and says what to do", async () => {
  const model = chain([4, 3], [tf.layers.lstm({ units: 2, name: "my_lstm" })]);
  try {
    await assert.rejects(
      CompiledModel.compile(model, { signatures: ["predict"] }),
      /Layer my_lstm \(LSTM\) is not supported by the graph engine; train with engine: "eager"/,
    );
  } finally {
    model.dispose();
  }
});
