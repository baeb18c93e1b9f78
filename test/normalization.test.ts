/**
 * Batch normalisation's arithmetic as plain functions (src/keras/normalization.ts), against the
 * same arithmetic in JavaScript's doubles; and `normalize`, what the BatchNormalization layer runs,
 * the same with TensorFlow's fused kernels as with the elementwise functions.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import type { Tensor } from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { useFusedKernels } from "../src/tfjs/native_ops";
import { batchNormalization, movingAverage, normalize, normalizeBatchInTraining } from "../src/keras/normalization";
import { BETA, C, GAMMA, MEAN, VAR, X, X_SHAPE, channelStats, normalise } from "./support/batchnorm";
import { assertClose, maxRelDiff } from "./support/numeric";

const EPS = 1e-3;

const values = (t: Tensor) => Array.from(t.dataSync());

test("batchNormalization: (x - mean) / sqrt(variance + epsilon) * gamma + beta along the feature axis, gamma and beta optional", () => {
  tf.tidy(() => {
    const x = tf.tensor(X, X_SHAPE);
    const [mean, variance, gamma, beta] = [MEAN, VAR, GAMMA, BETA].map((v) => tf.tensor1d(v));
    for (const [g, b] of [
      [true, true],
      [false, true],
      [true, false],
      [false, false],
    ]) {
      const y = batchNormalization(x, mean, variance, b ? beta : null, g ? gamma : null, EPS, 3);
      assert.deepEqual(y.shape, X_SHAPE);
      const expected = normalise(X, C, MEAN, VAR, EPS, g ? GAMMA : undefined, b ? BETA : undefined);
      assertClose(values(y), expected, 1e-5, `gamma ${g}, beta ${b}`);
    }
    // Another feature axis: the same numbers with the channels moved to axis 1.
    const channelsFirst = tf.transpose(x, [0, 3, 1, 2]);
    const y1 = batchNormalization(channelsFirst, mean, variance, beta, gamma, EPS, 1);
    assertClose(
      values(tf.transpose(y1, [0, 2, 3, 1])),
      normalise(X, C, MEAN, VAR, EPS, GAMMA, BETA),
      1e-5,
      "feature axis 1",
    );
  });
});

test("normalizeBatchInTraining: the batch mean and the biased batch variance over every axis but the feature axis, and x normalised with them", () => {
  tf.tidy(() => {
    const x = tf.tensor(X, X_SHAPE);
    const { y, mean, variance } = normalizeBatchInTraining(x, tf.tensor1d(GAMMA), tf.tensor1d(BETA), 3, EPS);
    const stats = channelStats(X, C);
    assertClose(values(mean), stats.mean, 1e-6, "batch mean");
    assertClose(values(variance), stats.variance, 1e-6, "batch variance (biased)");
    assertClose(values(y), normalise(X, C, stats.mean, stats.variance, EPS, GAMMA, BETA), 1e-5, "output");
  });
});

test("movingAverage: moving * momentum + batch * (1 - momentum)", () => {
  tf.tidy(() => {
    const m = movingAverage(tf.tensor1d(MEAN), tf.tensor1d(VAR), 0.9);
    assertClose(
      values(m),
      MEAN.map((v, k) => v * 0.9 + VAR[k] * 0.1),
      1e-6,
      "moving average",
    );
  });
});

test("normalize: the fused kernels and the elementwise functions agree, in training and in inference", () => {
  const run = (fused: boolean, training: boolean): number[][] => {
    const before = useFusedKernels(fused);
    try {
      return tf.tidy(() => {
        const x = tf.tensor(X, X_SHAPE);
        const out = normalize({
          x,
          axis: 3,
          gamma: tf.tensor1d(GAMMA),
          beta: tf.tensor1d(BETA),
          epsilon: EPS,
          training,
          mean: training ? undefined : tf.tensor1d(MEAN),
          variance: training ? undefined : tf.tensor1d(VAR),
        });
        assert.equal(out.batchMean === undefined, !training, "batch statistics only in training");
        return [out.y, out.batchMean, out.batchVariance].filter((t): t is Tensor => t !== undefined).map(values);
      });
    } finally {
      useFusedKernels(before);
    }
  };
  for (const training of [true, false]) {
    const fused = run(true, training);
    const elementwise = run(false, training);
    assert.equal(fused.length, elementwise.length);
    fused.forEach((v, i) => {
      const d = maxRelDiff(v, elementwise[i]);
      assert.ok(
        d < 1e-5,
        `${training ? "training" : "inference"}, output ${i}: fused and elementwise differ by ${d} (relative)`,
      );
    });
  }
  // Without the fused kernels, normalize is the elementwise functions exactly.
  const before = useFusedKernels(false);
  try {
    tf.tidy(() => {
      const x = tf.tensor(X, X_SHAPE);
      const [gamma, beta] = [tf.tensor1d(GAMMA), tf.tensor1d(BETA)];
      const out = normalize({ x, axis: 3, gamma, beta, epsilon: EPS, training: true });
      assert.deepEqual(values(out.y), values(normalizeBatchInTraining(x, gamma, beta, 3, EPS).y));
    });
  } finally {
    useFusedKernels(before);
  }
});

test("normalize: inference without the statistics to normalise with is an error", () => {
  tf.tidy(() => {
    const x = tf.tensor(X, [X.length / C, C]);
    assert.throws(
      () => normalize({ x, axis: 1, gamma: null, beta: null, epsilon: EPS, training: false }),
      /mean and variance/,
    );
  });
});
