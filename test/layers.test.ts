/**
 * The custom layers: Keras's BatchNormalization (inference, training, frozen,
 * scale/center off, weight order, serialisation) checked against hand
 * computations, and UpSampling3D against an explicit index mapping, with its
 * gradient.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import type { LayersModel, SymbolicTensor, Tensor, io } from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { BatchNormalization, UpSampling3D, kerasClassName, setTrainable } from "../src/keras/layers";
import { BETA, C, GAMMA, MEAN, VAR, X, X_SHAPE, channelStats, normalise } from "./support/batchnorm";
import { assertClose, randomArray } from "./support/numeric";

// --- small helpers -----------------------------------------------------------

function values(t: Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/** Frees a layer's weights (TF.js's Layer.dispose refuses layers that were only built, never applied symbolically). */
function release(layer: { weights: Array<{ dispose(): void }> }): void {
  for (const w of layer.weights) w.dispose();
}

function buildBn(
  args: ConstructorParameters<typeof BatchNormalization>[0],
  shape: Array<number | null>,
): BatchNormalization {
  const bn = new BatchNormalization(args);
  bn.apply(tf.input({ shape })); // builds it, inside its name scope, as in a model
  return bn;
}

function withStats(bn: BatchNormalization): void {
  const ws: Tensor[] = [];
  if (bn.scale) ws.push(tf.tensor1d(GAMMA));
  if (bn.center) ws.push(tf.tensor1d(BETA));
  ws.push(tf.tensor1d(MEAN), tf.tensor1d(VAR));
  bn.setWeights(ws);
  tf.dispose(ws);
}

function weightValues(bn: BatchNormalization): number[][] {
  return bn.getWeights().map((w) => Array.from(values(w)));
}

// --- BatchNormalization ------------------------------------------------------

test("BatchNormalization: Keras defaults, and weights [gamma?, beta?, moving_mean, moving_variance] named as in Keras", () => {
  const cases: Array<[{ scale?: boolean; center?: boolean }, string[], number[]]> = [
    [{}, ["gamma", "beta", "moving_mean", "moving_variance"], [1, 1, 2]],
    [{ scale: false }, ["beta", "moving_mean", "moving_variance"], [1, 2]],
    [{ center: false }, ["gamma", "moving_mean", "moving_variance"], [1, 2]],
    [{ scale: false, center: false }, ["moving_mean", "moving_variance"], [2]],
  ];
  for (const [args, names] of cases) {
    const bn = buildBn({ ...args, name: "bn_names" }, [2, 2, C]);
    assert.equal(bn.momentum, 0.99);
    assert.equal(bn.epsilon, 1e-3);
    assert.equal(bn.axis, -1);
    assert.deepEqual(
      bn.weights.map((w) => w.originalName),
      names.map((n) => `bn_names/${n}`),
      JSON.stringify(args),
    );
    assert.deepEqual(
      bn.trainableWeights.map((w) => w.originalName),
      names.filter((n) => !n.startsWith("moving")).map((n) => `bn_names/${n}`),
    );
    assert.equal(bn.countParams(), names.length * C);
    // Keras's initial values: gamma 1, beta 0, moving mean 0, moving variance 1.
    const init: Record<string, number> = { gamma: 1, beta: 0, moving_mean: 0, moving_variance: 1 };
    bn.weights.forEach((w, i) => assert.deepEqual(Array.from(values(w.read())), new Array(C).fill(init[names[i]])));
    assert.equal(kerasClassName(bn), "BatchNormalization");
    assert.equal(bn.getClassName(), "KerasBatchNormalization");
    release(bn);
  }
});

test("BatchNormalization inference: (x - moving_mean) / sqrt(moving_var + eps) * gamma + beta, statistics untouched", () => {
  for (const args of [{}, { scale: false }, { center: false }, { scale: false, center: false }]) {
    const bn = buildBn(args, [2, 2, C]);
    withStats(bn);
    const before = weightValues(bn);
    const x = tf.tensor(X, X_SHAPE);
    for (const kwargs of [{}, { training: false }]) {
      const y = bn.apply(x, kwargs) as Tensor;
      const expected = normalise(X, C, MEAN, VAR, 1e-3, bn.scale ? GAMMA : undefined, bn.center ? BETA : undefined);
      assertClose(values(y), expected, 1e-5, `inference ${JSON.stringify(args)}`);
      y.dispose();
    }
    assert.deepEqual(weightValues(bn), before);
    x.dispose();
    release(bn);
  }
});

test("BatchNormalization training: batch statistics (biased variance) and moving = moving*momentum + batch*(1-momentum)", () => {
  for (const args of [{}, { scale: false }, { momentum: 0.9, epsilon: 0.01 }]) {
    const bn = buildBn(args, [2, 2, C]);
    withStats(bn);
    const x = tf.tensor(X, X_SHAPE);
    const y = bn.apply(x, { training: true }) as Tensor;
    const { mean, variance } = channelStats(X, C);
    const eps = bn.epsilon;
    const expected = normalise(X, C, mean, variance, eps, bn.scale ? GAMMA : undefined, BETA);
    assertClose(values(y), expected, 1e-5, `training output ${JSON.stringify(args)}`);
    const m = bn.momentum;
    const w = weightValues(bn);
    const movingMean = w[w.length - 2];
    const movingVar = w[w.length - 1];
    assertClose(
      movingMean,
      MEAN.map((v, k) => v * m + mean[k] * (1 - m)),
      1e-6,
      "moving mean",
    );
    assertClose(
      movingVar,
      VAR.map((v, k) => v * m + variance[k] * (1 - m)),
      1e-6,
      "moving variance (biased batch variance)",
    );
    // gamma and beta are not touched by the forward pass.
    if (bn.scale) assertClose(w[0], GAMMA, 0, "gamma");
    tf.dispose([x, y]);
    release(bn);
  }
});

test("BatchNormalization training gradient: the full batch-norm gradient (through the batch statistics)", () => {
  const bn = buildBn({ scale: false }, [2, 2, C]);
  withStats(bn);
  const x = tf.tensor(X, X_SHAPE);
  const wts = tf.tensor(randomArray(X.length, 7), X_SHAPE);
  const f = (t: Tensor) => tf.sum(tf.mul(bn.apply(t, { training: true }) as Tensor, wts));
  const g = tf.grad(f)(x);
  // Numerical gradient in float64 of the same function, by central differences.
  const { mean: _m, variance: _v } = channelStats(X, C);
  void _m;
  void _v;
  const w = Array.from(values(wts));
  const loss = (xs: number[]) => {
    const s = channelStats(xs, C);
    return normalise(xs, C, s.mean, s.variance, 1e-3, undefined, BETA).reduce((acc, v, i) => acc + v * w[i], 0);
  };
  const h = 1e-5;
  const numeric = X.map((_, i) => {
    const a = X.slice();
    const b = X.slice();
    a[i] += h;
    b[i] -= h;
    return (loss(a) - loss(b)) / (2 * h);
  });
  assertClose(values(g), numeric, 2e-3, "d loss / d x");
  // The gradient of a batch-normalised output sums to zero over each channel.
  const perChannel = channelStats(Array.from(values(g)), C).mean;
  assertClose(perChannel, [0, 0, 0], 1e-4, "per-channel gradient sum");
  tf.dispose([x, wts, g]);
  release(bn);
});

test("BatchNormalization frozen (trainable=false): inference mode even with training=true, statistics untouched", () => {
  const bn = buildBn({}, [2, 2, C]);
  withStats(bn);
  bn.trainable = false;
  const before = weightValues(bn);
  const x = tf.tensor(X, X_SHAPE);
  const y = bn.apply(x, { training: true }) as Tensor;
  assertClose(values(y), normalise(X, C, MEAN, VAR, 1e-3, GAMMA, BETA), 1e-5, "frozen output");
  assert.deepEqual(weightValues(bn), before);
  assert.equal(bn.isFrozen(), true);
  bn.trainable = true;
  assert.equal(bn.isFrozen(), false);
  tf.dispose([x, y]);
  release(bn);
});

function bnModel(bnArgs: ConstructorParameters<typeof BatchNormalization>[0]): {
  model: LayersModel;
  bn: BatchNormalization;
} {
  const input = tf.input({ shape: [2, 2, C] });
  const bn = new BatchNormalization(bnArgs);
  let x = bn.apply(input) as SymbolicTensor;
  x = tf.layers.flatten().apply(x) as SymbolicTensor;
  const out = tf.layers.dense({ units: 2, activation: "softmax" }).apply(x) as SymbolicTensor;
  return { model: tf.model({ inputs: input, outputs: out }), bn };
}

async function fitOnce(model: LayersModel): Promise<void> {
  model.compile({ optimizer: tf.train.adam(0.01), loss: "categoricalCrossentropy" });
  const xs = tf.tensor(X, X_SHAPE);
  const ys = tf.oneHot(tf.tensor1d([0, 1, 1, 0], "int32"), 2);
  await model.fit(xs, ys, { epochs: 2, batchSize: 4, verbose: 0, shuffle: false });
  tf.dispose([xs, ys]);
  (model.optimizer as unknown as { dispose(): void }).dispose();
}

test("BatchNormalization in fit: a frozen layer keeps its statistics and weights; a trainable one updates them", async () => {
  // Frozen.
  {
    const { model, bn } = bnModel({ name: "bn_frozen" });
    withStats(bn);
    bn.trainable = false;
    const before = weightValues(bn);
    await fitOnce(model);
    assert.deepEqual(weightValues(bn), before, "frozen BN changed during fit");
    model.dispose();
  }
  // Trainable: two steps of moving averages over the same batch, gamma/beta move.
  {
    const { model, bn } = bnModel({ name: "bn_trained" });
    withStats(bn);
    await fitOnce(model);
    const w = weightValues(bn);
    const { mean, variance } = channelStats(X, C);
    const m = 0.99;
    const twice = (v0: number, b: number) => (v0 * m + b * (1 - m)) * m + b * (1 - m);
    assertClose(
      w[2],
      MEAN.map((v, k) => twice(v, mean[k])),
      1e-5,
      "moving mean after 2 steps",
    );
    assertClose(
      w[3],
      VAR.map((v, k) => twice(v, variance[k])),
      1e-5,
      "moving variance after 2 steps",
    );
    assert.ok(
      w[0].some((v, k) => Math.abs(v - GAMMA[k]) > 1e-4),
      "gamma did not train",
    );
    model.dispose();
  }
});

test("BatchNormalization(scale: false) trains in fit (TF.js's own layer crashes there), also with center: false", async () => {
  for (const args of [{ scale: false }, { scale: false, center: false }]) {
    const { model, bn } = bnModel(args);
    const before = weightValues(bn);
    await fitOnce(model);
    const after = weightValues(bn);
    assert.notDeepEqual(after[after.length - 2], before[before.length - 2], "moving mean did not update");
    if (bn.center) assert.notDeepEqual(after[0], before[0], "beta did not train");
    model.dispose();
  }
});

test("BatchNormalization inside a nested model frozen with TF.js's model.trainable=false runs in inference mode", async () => {
  const innerIn = tf.input({ shape: [2, 2, C] });
  const bn = new BatchNormalization({ name: "bn_nested" });
  const inner = tf.model({ inputs: innerIn, outputs: bn.apply(innerIn) as SymbolicTensor, name: "inner" });
  withStats(bn);
  const outerIn = tf.input({ shape: [2, 2, C] });
  let x = inner.apply(outerIn) as SymbolicTensor;
  x = tf.layers.flatten().apply(x) as SymbolicTensor;
  const outer = tf.model({
    inputs: outerIn,
    outputs: tf.layers.dense({ units: 2, activation: "softmax" }).apply(x) as SymbolicTensor,
  });
  inner.trainable = false; // flips the weights' flags only; the layer still counts as frozen
  assert.equal(bn.trainable, true);
  assert.equal(bn.isFrozen(), true);
  const before = weightValues(bn);
  await fitOnce(outer);
  assert.deepEqual(weightValues(bn), before);
  // setTrainable is Keras's recursive setter.
  setTrainable(inner, true);
  assert.equal(bn.isFrozen(), false);
  setTrainable(inner, false);
  assert.equal(bn.trainable, false);
  assert.equal(inner.trainable, false);
  outer.dispose();
});

test("BatchNormalization: getConfig round trip, model JSON and save/load through a memory handler", async () => {
  const bn = new BatchNormalization({
    name: "bn_cfg",
    axis: -1,
    momentum: 0.9,
    epsilon: 0.01,
    scale: false,
    betaInitializer: "ones",
    movingVarianceInitializer: tf.initializers.constant({ value: 2 }),
    betaRegularizer: tf.regularizers.l2({ l2: 0.5 }),
  });
  const cfg = bn.getConfig();
  assert.equal(cfg.momentum, 0.9);
  assert.equal(cfg.epsilon, 0.01);
  assert.equal(cfg.scale, false);
  assert.equal(cfg.center, true);
  assert.deepEqual(cfg.betaInitializer, { className: "Ones", config: {} });
  const copy = BatchNormalization.fromConfig(BatchNormalization, cfg) as BatchNormalization;
  assert.deepEqual(copy.getConfig(), cfg);
  copy.build([null, 2, 2, C]);
  assert.deepEqual(weightValues(copy), [
    [1, 1, 1],
    [0, 0, 0],
    [2, 2, 2],
  ]);
  release(copy);

  // Whole model: JSON topology, and weights through tf.io.
  const { model } = bnModel({ name: "bn_saved", scale: false, momentum: 0.95 });
  const bnIn = model.getLayer("bn_saved") as BatchNormalization;
  withStats(bnIn);
  const json = model.toJSON(null, false) as object;
  const fromJson = await tf.models.modelFromJSON(json as never);
  const bnJ = fromJson.getLayer("bn_saved") as BatchNormalization;
  assert.ok(bnJ instanceof BatchNormalization);
  assert.equal(bnJ.momentum, 0.95);
  assert.equal(bnJ.scale, false);
  fromJson.dispose();

  let saved: io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  assert.ok(saved);
  assert.deepEqual(
    saved!.weightSpecs!.filter((s) => s.name.startsWith("bn_saved/")).map((s) => s.name),
    ["bn_saved/beta", "bn_saved/moving_mean", "bn_saved/moving_variance"],
  );
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
  const bnL = loaded.getLayer("bn_saved") as BatchNormalization;
  assert.deepEqual(weightValues(bnL), weightValues(bnIn));
  const x = tf.tensor(X, X_SHAPE);
  const a = model.predict(x) as Tensor;
  const b = loaded.predict(x) as Tensor;
  assertClose(values(b), values(a), 1e-6, "loaded model predicts the same");
  tf.dispose([x, a, b]);
  loaded.dispose();
  model.dispose();
  release(bn);
});

test("BatchNormalization: clear errors for a bad axis or an unknown feature dimension", () => {
  assert.throws(() => buildBn({ axis: 4 }, [2, 2, C]), /axis 4 is out of bounds for an input of rank 4/);
  assert.throws(() => buildBn({}, [2, 2, null as unknown as number]), /must be known/);
  assert.throws(() => new BatchNormalization({ momentum: 2 }), /momentum must be in \[0, 1\]/);
});

// --- UpSampling3D -------------------------------------------------------------

test("UpSampling3D: out[b,i,j,k,c] = in[b,i/s0,j/s1,k/s2,c] (channels last and first), shapes as Keras", () => {
  const shape = [2, 3, 2, 2, 2];
  const xs = randomArray(
    shape.reduce((a, b) => a * b, 1),
    3,
  );
  const size: [number, number, number] = [2, 3, 1];
  const up = new UpSampling3D({ size });
  assert.deepEqual(up.computeOutputShape([null, 3, 2, 2, 2]), [null, 6, 6, 2, 2]);
  assert.deepEqual(up.computeOutputShape([null, null, 2, 2, 2]), [null, null, 6, 2, 2]);
  const x = tf.tensor(xs, shape);
  const y = up.apply(x) as Tensor;
  assert.deepEqual(y.shape, [2, 6, 6, 2, 2]);
  const out = values(y);
  const [B, D1, D2, D3, Ch] = shape;
  const O = [D1 * size[0], D2 * size[1], D3 * size[2]];
  for (let b = 0; b < B; b++)
    for (let i = 0; i < O[0]; i++)
      for (let j = 0; j < O[1]; j++)
        for (let k = 0; k < O[2]; k++)
          for (let c = 0; c < Ch; c++) {
            const src =
              (((b * D1 + Math.floor(i / size[0])) * D2 + Math.floor(j / size[1])) * D3 + Math.floor(k / size[2])) *
                Ch +
              c;
            const dst = (((b * O[0] + i) * O[1] + j) * O[2] + k) * Ch + c;
            assert.equal(out[dst], Math.fround(xs[src]));
          }
  // channels first: the same as transposing around a channels-last upsampling.
  const upCf = new UpSampling3D({ size, dataFormat: "channelsFirst" });
  const xCf = tf.transpose(x, [0, 4, 1, 2, 3]);
  const yCf = upCf.apply(xCf) as Tensor;
  const back = tf.transpose(yCf, [0, 2, 3, 4, 1]);
  assert.deepEqual(Array.from(values(back)), Array.from(out));
  assert.equal(kerasClassName(up), "UpSampling3D");
  tf.dispose([x, y, xCf, yCf, back]);
});

test("UpSampling3D gradient: each input gets the sum of the output gradient over its block of copies", () => {
  const shape = [1, 2, 3, 1, 2];
  const size: [number, number, number] = [3, 3, 3];
  const up = new UpSampling3D({ size });
  const x = tf.tensor(randomArray(12, 4), shape);
  const outShape = [1, 6, 9, 3, 2];
  const wArr = randomArray(
    outShape.reduce((a, b) => a * b, 1),
    5,
  );
  const w = tf.tensor(wArr, outShape);
  const g = tf.grad((t: Tensor) => tf.sum(tf.mul(up.apply(t) as Tensor, w)))(x);
  const expected = new Array<number>(12).fill(0);
  for (let i = 0; i < 6; i++)
    for (let j = 0; j < 9; j++)
      for (let k = 0; k < 3; k++)
        for (let c = 0; c < 2; c++) {
          const src = ((Math.floor(i / 3) * 3 + Math.floor(j / 3)) * 1 + Math.floor(k / 3)) * 2 + c;
          expected[src] += wArr[((i * 9 + j) * 3 + k) * 2 + c];
        }
  assertClose(values(g), expected, 1e-5, "gradient");
  tf.dispose([x, w, g]);
});

test("UpSampling3D in the tutorial's front: (28,28,1) → (28,28,1,1) → ×(3,3,3) → (84,84,3) is nearest ×3 with the grey channel repeated", () => {
  const input = tf.input({ shape: [28, 28, 1] });
  let s = tf.layers.reshape({ targetShape: [28, 28, 1, 1] }).apply(input) as SymbolicTensor;
  s = new UpSampling3D({ size: [3, 3, 3], name: "up_sampling3d" }).apply(s) as SymbolicTensor;
  assert.deepEqual(s.shape, [null, 84, 84, 3, 1]);
  s = tf.layers.reshape({ targetShape: [84, 84, 3] }).apply(s) as SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: s });
  const img = randomArray(2 * 28 * 28, 6, 0.5, 0.5);
  const x = tf.tensor(img, [2, 28, 28, 1]);
  const y = model.predict(x) as Tensor;
  assert.deepEqual(y.shape, [2, 84, 84, 3]);
  const out = values(y);
  for (let b = 0; b < 2; b++)
    for (let h = 0; h < 84; h++)
      for (let w = 0; w < 84; w++)
        for (let c = 0; c < 3; c++) {
          assert.equal(
            out[((b * 84 + h) * 84 + w) * 3 + c],
            Math.fround(img[(b * 28 + Math.floor(h / 3)) * 28 + Math.floor(w / 3)]),
          );
        }
  tf.dispose([x, y]);
  model.dispose();
});

test("UpSampling3D: config round trip, model JSON, and clear errors", async () => {
  const up = new UpSampling3D({ size: [3, 2, 1], name: "up_cfg" });
  const cfg = up.getConfig();
  assert.deepEqual(cfg.size, [3, 2, 1]);
  assert.equal(cfg.dataFormat, "channelsLast");
  const copy = UpSampling3D.fromConfig(UpSampling3D, cfg) as UpSampling3D;
  assert.deepEqual(copy.getConfig(), cfg);
  assert.deepEqual(new UpSampling3D({ size: 2 }).size, [2, 2, 2]);
  assert.deepEqual(new UpSampling3D().size, [2, 2, 2]);

  const input = tf.input({ shape: [2, 2, 1, 1] });
  const model = tf.model({ inputs: input, outputs: up.apply(input) as SymbolicTensor });
  const restored = await tf.models.modelFromJSON(model.toJSON(null, false) as never);
  const layer = restored.layers[1] as UpSampling3D;
  assert.ok(layer instanceof UpSampling3D);
  assert.deepEqual(layer.size, [3, 2, 1]);
  assert.deepEqual(restored.outputs[0].shape, [null, 6, 4, 1, 1]);

  assert.throws(() => new UpSampling3D({ size: [2, 0, 1] }), /positive integers/);
  assert.throws(() => new UpSampling3D({ size: [2, 2] as unknown as [number, number, number] }), /three entries/);
  assert.throws(() => new UpSampling3D().apply(tf.input({ shape: [28, 28, 1] })), /rank-5|ndim=5|expected ndim/i);
  model.dispose();
  restored.dispose();
});

test("the custom layers leak no tensors", () => {
  const bn = buildBn({ scale: false }, [2, 2, C]);
  const up = new UpSampling3D({ size: [3, 3, 3] });
  const x = tf.tensor(X, X_SHAPE);
  const x5 = tf.reshape(x, [4, 2, 2, 3, 1]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    tf.dispose(bn.apply(x, { training: true }) as Tensor);
    tf.dispose(bn.apply(x) as Tensor);
    tf.dispose(up.apply(x5) as Tensor);
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, x5]);
  release(bn);
});
