/**
 * The learning-rate finder (fastai's lr_find):
 *
 *  - its suggestion arithmetic (src/engine/lr_suggestions.ts) picks the same rates and points as
 *    fastai's valley, steep, minimum and slide, transcribed in numpy with fastai's float32 tensors
 *    (scripts/learning_rate_oracle.py), on fixed curves: a typical one, an early divergence, a NaN
 *    tail, a monotonic fall, short ones; the smoothing is fastai's debiased moving average;
 *  - the run, through the fit loop with a scripted trainer: one point per batch, the rate of batch i
 *    start·(end/start)^(i/steps), across passes over the digits, stopping at the batch where the
 *    smoothed loss first exceeds 4 × the best, or after `steps`;
 *  - on the tutorial's model, on both engines (with and without the frozen-prefix cache): the weights,
 *    the moving statistics and Adam's state (step count, rate, β₁, every moment, and no moments where
 *    there were none) are bit-identical afterwards; no run is recorded; no tensors leak;
 *  - bad ranges and settings are refused before anything runs, and nothing changes.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import type { Variable } from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import type { KerasAdam } from "../src/keras/optimizers/adam";
import { compileModel } from "../src/engine/compile";
import { runFinder } from "../src/engine/lr_finder";
import {
  finderRate,
  smoothLosses,
  suggestAll,
  type Suggestion,
  type SuggestionName,
} from "../src/engine/lr_suggestions";
import type { Trainer } from "../src/engine/loop";
import { tensorRows } from "../src/engine/row_source";
import { loadMnist } from "../src/data";
import { buildTransferModel } from "../src/model_build";
import type { TransferModel } from "../src/model";
import { PYTHON, ROOT } from "./support/helpers";
import { adamState } from "./support/archives";
import { lcg } from "./support/numeric";

function fastai(spec: unknown): { curves: Array<Record<SuggestionName, [number, number, number] | null>> } {
  const r = spawnSync(PYTHON, [path.join(ROOT, "scripts", "learning_rate_oracle.py"), "fastai"], {
    input: JSON.stringify(spec),
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** A finder-like curve: flat, a fall around `dip`, then a blow-up; noisy, smoothed as fastai records it. */
function curve(n: number, seed: number, dip = 1e-3): { rates: number[]; losses: number[] } {
  const noise = lcg(seed);
  const rates = Array.from({ length: n }, (_, i) => finderRate(1e-7, 10, 100, i));
  const raw = rates.map((r) => {
    const x = Math.log10(r / dip);
    return 2.3 - 1.8 / (1 + Math.exp(-2.5 * x - 4)) + 0.05 * Math.exp(1.7 * Math.max(0, x)) + 0.03 * noise();
  });
  return { rates, losses: smoothLosses(raw) };
}

test("the suggestions are fastai's valley, steep, minimum and slide on the same curves (fastai's float32 arithmetic, in numpy)", () => {
  const typical = curve(100, 1);
  const nanTail = curve(100, 2);
  for (let i = 80; i < 100; i++) nanTail.losses[i] = Number.NaN;
  const cases = [
    { name: "typical", ...typical, steps: 100 },
    { name: "another dip, other noise", ...curve(100, 3, 3e-2), steps: 100 },
    { name: "an early divergence", ...curve(62, 4, 1e-5), steps: 100 },
    { name: "a NaN tail", ...nanTail, steps: 100 },
    { name: "a monotonic fall", rates: typical.rates, losses: typical.rates.map((_, i) => 3 - 0.02 * i), steps: 100 },
    { name: "short: too few points to slide", ...curve(24, 5), steps: 20 },
    { name: "very short", ...curve(9, 6), steps: 12 },
    { name: "nothing left to suggest from", ...curve(5, 7), steps: 10 },
  ];
  const expected = fastai({ curves: cases.map((c) => ({ rates: c.rates, losses: c.losses, steps: c.steps })) }).curves;
  cases.forEach((c, k) => {
    const ours = suggestAll(c.rates, c.losses, c.steps);
    for (const name of ["valley", "steep", "minimum", "slide"] as SuggestionName[]) {
      const e = expected[k][name];
      const o: Suggestion | undefined = ours[name];
      if (e === null) {
        assert.equal(o, undefined, `${c.name}: fastai has no ${name} suggestion, we have ${JSON.stringify(o)}`);
        continue;
      }
      assert.ok(o, `${c.name}: no ${name} suggestion (fastai: ${e[0]})`);
      // fastai's rates are float32 (torch tensors), ours doubles: one float32 rounding apart, 2^-24 relative.
      const close = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.abs(b);
      assert.ok(close(o!.rate, e[0], 2 ** -24), `${c.name}: ${name} suggests ${o!.rate}, fastai ${e[0]}`);
      assert.ok(close(o!.point.rate, e[1], 2 ** -24), `${c.name}: ${name} marks rate ${o!.point.rate}, fastai ${e[1]}`);
      // The points' losses are the curve's float32 values (slide's is interpolated: log10's float32 rounding, 1e-6).
      assert.ok(
        close(o!.point.loss, e[2], name === "slide" ? 1e-6 : 0),
        `${c.name}: ${name} marks loss ${o!.point.loss}, fastai ${e[2]}`,
      );
    }
  });
});

test("the recorded loss is fastai's smoothed loss: a moving average with beta 0.98 debiased by 1 − 0.98^n", () => {
  const raw = [2.5, 2.1, 2.4, 1.9, 1.2, 0.8, 3.5, Number.POSITIVE_INFINITY, 1];
  const smoothed = smoothLosses(raw);
  raw.forEach((_, n) => {
    // By hand: Σ_i 0.98^(n−i)·0.02·loss_i over the first n + 1 losses, over 1 − 0.98^(n+1).
    let sum = 0;
    for (let i = 0; i <= n; i++) sum += 0.98 ** (n - i) * 0.02 * raw[i];
    const expected = sum / (1 - 0.98 ** (n + 1));
    if (!Number.isFinite(expected)) assert.ok(!Number.isFinite(smoothed[n]));
    else assert.ok(Math.abs(smoothed[n] - expected) <= 1e-14 * expected, `point ${n}: ${smoothed[n]} vs ${expected}`);
  });
  assert.equal(smoothed[0], raw[0], "the first point is the first loss");
});

/** A small softmax model compiled with Keras's Adam, and (x, y) of `n` rows. */
function smallModel(n: number) {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: "softmax" })] });
  compileModel(model);
  const r = lcg(11);
  const x = tf.tensor2d(
    Array.from({ length: n * 4 }, () => r()),
    [n, 4],
  );
  const y = tf
    .oneHot(
      tf.tensor1d(
        Array.from({ length: n }, (_, i) => i % 3),
        "int32",
      ),
      3,
    )
    .toFloat();
  return { model, x, y };
}

/** A trainer that really trains (so there is state to restore) but reports scripted losses, and records what it saw. */
function scriptedTrainer(model: ReturnType<typeof smallModel>["model"], losses: (i: number) => number) {
  const seen = { rates: [] as number[], sizes: [] as number[] };
  const trainer: Trainer = {
    trainBatch: async (xs, y) => {
      seen.rates.push((model.optimizer as unknown as KerasAdam).learningRate);
      seen.sizes.push(y.shape[0]);
      tf.dispose(await model.trainOnBatch(xs[0], y));
      return { loss: losses(seen.rates.length - 1), accuracy: 0 };
    },
    evaluateBatch: () => assert.fail("the finder does not validate"),
  };
  return { trainer, seen };
}

function state(model: ReturnType<typeof smallModel>["model"]) {
  const o = model.optimizer as unknown as KerasAdam;
  const slots = model.trainableWeights.map((w) => {
    const v = w.read() as Variable;
    return o.hasSlots(v) ? [o.slotsFor(v).m.dataSync().slice(), o.slotsFor(v).v.dataSync().slice()] : null;
  });
  return {
    weights: model.weights.map((w) => w.read().dataSync().slice()),
    iterations: o.iterations,
    rate: o.learningRate,
    beta1: o.beta1,
    slots,
  };
}

test("the finder runs one batch per rate, rising as fastai's, across passes over the digits, and stops where the smoothed loss first exceeds 4 × its best", async () => {
  // 30 rows in batches of 8: 4 batches a pass (8, 8, 8, 6).
  const { model, x, y } = smallModel(30);
  try {
    // One real step first: Adam has moments and a step count to restore.
    tf.dispose(await model.trainOnBatch(x, y));
    const before = state(model);
    const tensors = tf.memory().numTensors;
    // Falling, then growing by half each batch from batch 20 on.
    const script = (i: number) => (i < 20 ? 2 - 0.05 * i : 1.05 * 1.5 ** (i - 19));
    const { trainer, seen } = scriptedTrainer(model, script);
    const found = await runFinder(model, trainer, tensorRows([x]), y, {
      batchSize: 8,
      startRate: 1e-6,
      endRate: 1,
      steps: 100,
    });
    // The stopping batch, worked out here: the smoothed loss against 4 × the lowest one so far.
    let avg = 0;
    let best = Infinity;
    let stop = -1;
    for (let i = 0; i < 100 && stop < 0; i++) {
      avg = 0.98 * avg + 0.02 * script(i);
      const s = avg / (1 - 0.98 ** (i + 1));
      best = Math.min(best, s);
      if (s > 4 * best) stop = i;
    }
    assert.ok(stop > 20 && stop < 100, `the script diverges at ${stop}`);
    assert.equal(found.stopped, "diverged");
    assert.equal(found.rates.length, stop + 1, "one point per batch, up to and including the diverging one");
    assert.equal(seen.rates.length, stop + 1, "no batch after it");
    assert.deepEqual(
      found.rawLosses,
      Array.from({ length: stop + 1 }, (_, i) => script(i)),
    );
    assert.deepEqual(found.rates, seen.rates, "each batch trained at the rate recorded for it");
    found.rates.forEach((r, i) => {
      const expected = 1e-6 * Math.exp((Math.log(1 / 1e-6) * i) / 100);
      assert.ok(Math.abs(r - expected) <= 1e-14 * expected, `batch ${i}: rate ${r}, expected ${expected}`);
    });
    assert.deepEqual(seen.sizes.slice(0, 8), [8, 8, 8, 6, 8, 8, 8, 6], "passes over the digits, in Keras's batches");
    assert.equal(found.suggestion, found.suggestions.valley?.rate);
    assert.ok(found.suggestion !== undefined && found.suggestion > 1e-6 && found.suggestion < 1);

    assert.deepEqual(state(model), before, "weights and Adam's state are as they were, bit for bit");
    assert.equal(tf.memory().numTensors, tensors, "no tensors left behind");

    // Without divergence: exactly `steps` batches, the last pass cut short.
    const flat = scriptedTrainer(model, () => 1);
    const all = await runFinder(model, flat.trainer, tensorRows([x]), y, {
      batchSize: 8,
      steps: 10,
      stopOnDivergence: false,
    });
    assert.equal(all.stopped, "completed");
    assert.equal(all.rates.length, 10);
    assert.deepEqual(flat.seen.sizes, [8, 8, 8, 6, 8, 8, 8, 6, 8, 8]);
    assert.equal(all.rates[0], 1e-7, "fastai's default start");
    assert.deepEqual(state(model), before);
  } finally {
    tf.dispose([x, y]);
    (model.optimizer as unknown as KerasAdam).dispose();
    model.dispose();
  }
});

/** Every weight in a fixed order, copied, with Adam's whole state. */
function snapshot(tm: TransferModel) {
  const o = tm.model.optimizer as unknown as KerasAdam;
  return {
    weights: tm.model.weights
      .slice()
      .sort((a, b) => a.id - b.id)
      .map((w) => w.read().dataSync().slice()),
    adam: adamState(tm),
    rate: o.learningRate,
    beta1: o.beta1,
    runs: tm.runs.length,
    lastHistory: tm.lastHistory,
  };
}

/** The restore tests' finder length: its least (6), which still runs into a second pass over the 80 digits (5 batches a pass). */
const RESTORE_STEPS = 6;

for (const [engine, cachePrefix] of [
  ["graph", "auto"],
  ["eager", false],
] as const) {
  test(`${engine} engine${cachePrefix === false ? ", the whole model" : ", frozen-prefix cache"}: the finder restores the weights, the moving statistics and Adam's state bit for bit, records no run, leaks no tensors`, async () => {
    const mnist = await loadMnist({ trainLimit: 100 });
    const tm = await buildTransferModel({ base: "inception_v3", weights: null, key: `finder-${engine}` });
    try {
      const options = {
        batchSize: 16,
        steps: RESTORE_STEPS,
        startRate: 1e-5,
        endRate: 10,
        engine,
        cachePrefix,
        progress: false,
      } as const;
      // A fresh Adam (no moments yet): none afterwards either.
      const fresh = snapshot(tm);
      const first = await tm.findLearningRate(mnist.train, options);
      assert.deepEqual(snapshot(tm), fresh);
      assert.ok(fresh.adam.moments.every((m) => m === null) && fresh.adam.iterations === 0);

      // After training: moments, a step count, moving statistics that a training step changes.
      await tm.fit(mnist.train, { epochs: 1, batchSize: 16, progress: false, engine, cachePrefix });
      const trained = snapshot(tm);
      assert.ok(trained.adam.moments.some((m) => m !== null));
      const tensors = tf.memory().numTensors;
      const found = await tm.findLearningRate(mnist.train, options);
      assert.deepEqual(snapshot(tm), trained, "weights, statistics and Adam's state bit-identical; no run recorded");
      assert.equal(tf.memory().numTensors, tensors, "no tensors left behind");

      for (const f of [first, found]) {
        // 80 training digits (the last 20 % held out, as fit does) in batches of 16: 5 a pass.
        const n = f.rates.length;
        assert.ok(n >= 1 && n <= RESTORE_STEPS);
        if (f.stopped === "completed") assert.equal(n, RESTORE_STEPS);
        else assert.equal(f.stopped, "diverged");
        f.rates.forEach((r, i) => assert.equal(r, finderRate(1e-5, 10, RESTORE_STEPS, i)));
        // The stopping rule on the curve itself: no point before the last above 4 × the best before it.
        let best = Infinity;
        f.losses.forEach((s, i) => {
          best = Math.min(best, s);
          if (i < n - 1) assert.ok(s <= 4 * best, `point ${i} should have stopped the run`);
        });
        assert.deepEqual(f.losses, smoothLosses(f.rawLosses));
      }
    } finally {
      tm.dispose();
    }
  });
}

test("bad ranges and settings are refused before anything runs, and nothing changes", async () => {
  const mnist = await loadMnist({ trainLimit: 40 });
  const tm = await buildTransferModel({ base: "inception_v3", weights: null, key: "finder-refusals" });
  try {
    await tm.fit(mnist.train, { epochs: 1, batchSize: 16, progress: false });
    const before = snapshot(tm);
    const tensors = tf.memory().numTensors;
    const refusals: Array<[Record<string, unknown>, RegExp]> = [
      [{ startRate: 0 }, /startRate must be a learning rate > 0/],
      [{ startRate: -1e-7 }, /startRate must be a learning rate > 0/],
      [{ endRate: Number.NaN }, /endRate must be a learning rate > 0/],
      [{ startRate: 1e-2, endRate: 1e-3 }, /startRate must be below endRate/],
      [{ startRate: 1e-3, endRate: 1e-3 }, /startRate must be below endRate/],
      [{ steps: 5 }, /steps must be a whole number of batches ≥ 6/],
      [{ steps: 10.5 }, /steps must be a whole number of batches ≥ 6/],
      [{ stopOnDivergence: "yes" }, /stopOnDivergence must be true or false/],
      [{ batchSize: 0 }, /batchSize must be a whole number ≥ 1/],
      [{ validationSplit: 1 }, /validationSplit must be a fraction in \[0, 1\)/],
      [{ cachePrefix: "yes" }, /cachePrefix must be true, false or "auto"/],
      [{ engine: "fast" }, /engine/],
    ];
    for (const [options, message] of refusals) {
      await assert.rejects(tm.findLearningRate(mnist.train, { progress: false, ...options }), message);
    }
    await assert.rejects(
      tm.findLearningRate({ images: new Uint8Array(0), labels: new Uint8Array(0), count: 0 }),
      /empty|no digits|0 digits/,
    );
    assert.deepEqual(snapshot(tm), before);
    assert.equal(tf.memory().numTensors, tensors);
  } finally {
    tm.dispose();
  }
});

test("the finder's rates: fastai's exponential schedule, start at batch 0, end reached at batch `steps`", () => {
  assert.equal(finderRate(1e-7, 10, 100, 0), 1e-7);
  assert.ok(Math.abs(finderRate(1e-7, 10, 100, 100) - 10) < 1e-12);
  assert.ok(Math.abs(finderRate(1e-7, 10, 100, 50) - 1e-7 * 1e4) < 1e-15);
});
