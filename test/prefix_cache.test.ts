/**
 * The frozen-prefix cache at any size: the feature store (memory or a scratch file) gives back
 * exactly the rows written, in any order; the scratch file has no name while it is open and its
 * descriptor is closed after success, an interrupt or an error; a full disk (an injected failing
 * write) is a clear error that leaves nothing behind; an unwritable cache folder makes "auto" train
 * without the cache (said once) and `true` an error; the fit loop pairs rows from a file with their
 * labels under shuffling, the validation split and the last partial batch; and a fit whose features
 * are over `cacheBudgetBytes` keeps them on disk and ends with the weights of the in-memory cache
 * and of no cache, with no tensor, file or descriptor left.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { BFLOAT16, FeatureStore, FLOAT32, featureType, forEachRun, storeBytes } from "../src/engine/feature_store";
import type { PrefixSplit } from "../src/engine/frozen_prefix";
import { runFit, type Metrics } from "../src/engine/loop";
import {
  cachePlace,
  fillFeatureStore,
  MEMORY_SHARE,
  openFeatureStore,
  PrefixCacheError,
  type CachePlan,
} from "../src/engine/prefix_cache";
import { tensorRows, type RowSource } from "../src/engine/row_source";
import { isBfloat16, roundToBfloat16 } from "../src/util/bfloat16";
import { ScratchFile } from "../src/util/scratch_file";
import { limitedIo, tmpDir } from "./support/helpers";

/**
 * What this process holds open in `dir`: the targets of its file descriptors there. A scratch file
 * shows as "<dir>/features-… (deleted)": open, without a name.
 */
function openIn(dir: string): string[] {
  const open: string[] = [];
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir + path.sep)) open.push(target);
    } catch {
      // Closed meanwhile (the listing's own descriptor).
    }
  }
  return open;
}

/** Deterministic pseudo-random floats (a linear congruential generator). */
function pseudoRandom(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

const SHAPES = [[2, 3], [5]];
const COUNT = 37;

/** Feature i of example r, as the tests write it: values independent of the store. */
function example(i: number, r: number): Float32Array {
  const per = SHAPES[i].reduce((a, b) => a * b, 1);
  return pseudoRandom(per, 1000 * i + r + 1);
}

/** Writes every example in batches of `batch` (the last one partial). */
function fill(store: FeatureStore, batch = 8): void {
  for (let start = 0; start < COUNT; start += batch) {
    const n = Math.min(batch, COUNT - start);
    const tensors = SHAPES.map((shape, i) => {
      const values = new Float32Array(n * example(i, 0).length);
      for (let k = 0; k < n; k++) values.set(example(i, start + k), k * example(i, 0).length);
      return tf.tensor(values, [n, ...shape]);
    });
    try {
      store.write(start, tensors);
    } finally {
      tf.dispose(tensors);
    }
  }
}

/** Checks that `rows(indices)` gives each example's own values (as `stored` keeps them), exactly. */
function assertRows(source: RowSource, indices: number[], stored = (v: Float32Array) => v): void {
  const got = source.rows(Int32Array.from(indices));
  try {
    assert.equal(got.length, SHAPES.length);
    got.forEach((t, i) => {
      assert.deepEqual(t.shape, [indices.length, ...SHAPES[i]]);
      const values = t.dataSync();
      const per = example(i, 0).length;
      indices.forEach((r, k) =>
        assert.deepEqual(values.subarray(k * per, (k + 1) * per), stored(example(i, r)), `feature ${i} of row ${r}`),
      );
    });
  } finally {
    tf.dispose(got);
  }
}

/** Indices that mix runs of consecutive rows, single rows, repeats, the first and the last row. */
const MIXED = [5, 6, 7, 0, 36, 12, 12, 30, 31, 32, 33, 34, 35, 36, 1, 20, 19, 18];

test("consecutive rows are read as runs: each run once, in order", () => {
  const runs: number[][] = [];
  forEachRun(Int32Array.from([3, 4, 5, 9, 1, 2, 2, 3]), (at, first, length) => runs.push([at, first, length]));
  assert.deepEqual(runs, [
    [0, 3, 3],
    [3, 9, 1],
    [4, 1, 2],
    [6, 2, 2],
  ]);
});

test("a feature store gives back exactly the rows written, in any order, in memory and in a file", () => {
  const baseline = tf.memory().numTensors;
  const dir = tmpDir("features");
  try {
    const expectedBytes = COUNT * (6 + 5) * 4;
    assert.equal(storeBytes(SHAPES, COUNT), expectedBytes);
    for (const store of [FeatureStore.inMemory(SHAPES, COUNT), FeatureStore.onDisk(dir, SHAPES, COUNT)]) {
      try {
        assert.equal(store.bytes, expectedBytes);
        fill(store);
        assertRows(store, MIXED);
        assertRows(
          store,
          Array.from({ length: COUNT }, (_, r) => COUNT - 1 - r),
        );
        assertRows(store, [17]);
        assert.throws(() => store.rows(Int32Array.from([COUNT])), /Row 37 is outside the store's 37/);
      } finally {
        store.close();
      }
      assert.throws(() => store.rows(Int32Array.from([0])), /closed/);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(tf.memory().numTensors, baseline);
});

test("under mixed_bfloat16 a feature store keeps half the bytes and gives back each value rounded to bfloat16 as TensorFlow's Cast does, in memory and in a file", () => {
  assert.equal(featureType("float32"), FLOAT32);
  assert.equal(featureType("mixed_bfloat16"), BFLOAT16);
  const baseline = tf.memory().numTensors;
  const dir = tmpDir("features-bf16");
  // Rounded value by value, by the scalar rounding (tested against TensorFlow's Cast in precision.test.ts).
  const rounded = (v: Float32Array) => Float32Array.from(v, roundToBfloat16);
  assert.ok(
    example(0, 3).some((v) => !isBfloat16(v)),
    "the test's values need rounding: they must show the store rounds",
  );
  try {
    assert.equal(storeBytes(SHAPES, COUNT, BFLOAT16), COUNT * (6 + 5) * 2);
    for (const store of [
      FeatureStore.inMemory(SHAPES, COUNT, BFLOAT16),
      FeatureStore.onDisk(dir, SHAPES, COUNT, { type: BFLOAT16 }),
    ]) {
      try {
        assert.equal(store.bytes, COUNT * (6 + 5) * 2);
        fill(store);
        assertRows(store, MIXED, rounded);
        assertRows(store, [36, 0], rounded);
      } finally {
        store.close();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(tf.memory().numTensors, baseline);
});

test("the scratch file has no name while it is open, its descriptor is closed by close(), and a write past a short read is an error", () => {
  const dir = tmpDir("scratch");
  try {
    const file = ScratchFile.create(path.join(dir, "a", "b"), "features");
    const open = openIn(dir);
    assert.equal(open.length, 1);
    assert.match(open[0], /\/a\/b\/features-\d+-[0-9a-f]{12} \(deleted\)$/);
    assert.deepEqual(fs.readdirSync(path.join(dir, "a", "b")), [], "the name is removed at once");
    file.write(Uint8Array.from([1, 2, 3, 4]), 10);
    const back = new Uint8Array(4);
    file.read(back, 10);
    assert.deepEqual([...back], [1, 2, 3, 4]);
    assert.throws(() => file.read(new Uint8Array(8), 10), /ends at 14 bytes/);
    file.close();
    file.close();
    assert.deepEqual(openIn(dir), []);
    assert.throws(() => file.write(back, 0), /closed/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("short writes are continued: a file written 100 bytes at a time holds the same rows", () => {
  const dir = tmpDir("short-writes");
  const io = limitedIo(100);
  const store = FeatureStore.onDisk(dir, SHAPES, COUNT, { io });
  try {
    fill(store);
    assert.equal(io.written, store.bytes);
    assertRows(store, MIXED);
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A split with the test's feature shapes (only `featureShapes` is used when the features come from `predictBatch`). */
const SPLIT = { featureShapes: SHAPES } as unknown as PrefixSplit;

/** Features of a batch of "digits" x [n, 1] holding their row numbers: each example's own values. */
function predictBatch(x: TF.Tensor): TF.Tensor[] {
  const rows = Array.from(x.dataSync());
  return SHAPES.map((shape, i) => {
    const per = example(i, 0).length;
    const values = new Float32Array(rows.length * per);
    rows.forEach((r, k) => values.set(example(i, r), k * per));
    return tf.tensor(values, [rows.length, ...shape]);
  });
}

const rowNumbers = () =>
  tf.tensor2d(
    Float32Array.from({ length: COUNT }, (_, r) => r),
    [COUNT, 1],
  );

const plan = (dir: string, mode: CachePlan["mode"] = "auto", budgetBytes = 0): CachePlan => ({
  mode,
  budgetBytes,
  dir,
});

test("a full disk while the features are written: a clear error, the file closed and gone, no tensors left", async () => {
  const dir = tmpDir("full-disk");
  const x = rowNumbers();
  const baseline = tf.memory().numTensors;
  try {
    // Room for a little more than one batch of the first feature.
    const io = limitedIo(1 << 20, 300);
    const opened = openFeatureStore(SPLIT, COUNT, { cache: plan(dir), freeMemory: 2 ** 40, io });
    assert.ok("store" in opened);
    assert.equal(opened.store.place, "disk");
    await assert.rejects(fillFeatureStore(opened.store, SPLIT, x, { batchSize: 8, predictBatch }), (e: Error) => {
      assert.ok(e instanceof PrefixCacheError, `${e.name}: ${e.message}`);
      assert.match(e.message, /could not be written to disk: no space left on the disk of /);
      assert.match(e.message, /Nothing was left there\. Free space .* pass cacheDir .* cachePrefix: false/);
      assert.doesNotMatch(e.message, /ENOSPC: no space left on device, write/);
      return true;
    });
    assert.ok(io.written > 0 && io.written <= 300, `${io.written} bytes were written before the disk was full`);
    assert.equal(opened.store.isClosed, true);
    assert.deepEqual(openIn(dir), [], "the file's descriptor is closed");
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.equal(tf.memory().numTensors, baseline);
  } finally {
    x.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("an interrupt while the features are written closes the store: false, nothing left", async () => {
  const dir = tmpDir("interrupted-features");
  const x = rowNumbers();
  const baseline = tf.memory().numTensors;
  try {
    const opened = openFeatureStore(SPLIT, COUNT, { cache: plan(dir), freeMemory: 2 ** 40 });
    assert.ok("store" in opened);
    let batches = 0;
    const complete = await fillFeatureStore(opened.store, SPLIT, x, {
      batchSize: 8,
      predictBatch,
      onProgress: () => batches++,
      shouldStop: () => batches === 2,
    });
    assert.equal(complete, false);
    assert.equal(opened.store.isClosed, true);
    assert.deepEqual(openIn(dir), []);
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.equal(tf.memory().numTensors, baseline);
  } finally {
    x.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("where the features go: memory within the budget and half the free memory, else disk; an unwritable folder", () => {
  assert.equal(MEMORY_SHARE, 0.5);
  assert.equal(cachePlace(100, 100, 200), "memory");
  assert.equal(cachePlace(101, 100, 1000), "disk", "over the budget");
  assert.equal(cachePlace(100, 1000, 199), "disk", "over half the free memory");
  assert.equal(cachePlace(0, 0, 0), "memory");
  const dir = tmpDir("unwritable");
  try {
    // A file where a folder should be: no one, root included, can make the cache folder there.
    const blocked = path.join(dir, "file", "features");
    fs.writeFileSync(path.join(dir, "file"), "");
    const inMemory = openFeatureStore(SPLIT, COUNT, { cache: plan(blocked, "auto", 1e9), freeMemory: 1e10 });
    assert.ok("store" in inMemory && inMemory.store.place === "memory", "within the budget: memory, no folder needed");
    inMemory.store.close();
    const auto = openFeatureStore(SPLIT, COUNT, { cache: plan(blocked), freeMemory: 1e10 });
    assert.ok("reason" in auto);
    assert.match(auto.reason, /features cannot be written: .*file is a file, not a folder/);
    assert.throws(
      () => openFeatureStore(SPLIT, COUNT, { cache: plan(blocked, true), freeMemory: 1e10 }),
      (e: Error) => {
        assert.ok(e instanceof PrefixCacheError);
        assert.match(e.message, /^fit: cachePrefix is true, but the frozen layers' output \(1\.6 KB\)/);
        assert.match(e.message, /cannot go to disk: .*features cannot be written: .*file is a file, not a folder/);
        assert.match(e.message, /pass cacheDir .* or pass cachePrefix: "auto" \(the default\) or false/);
        return true;
      },
    );
    assert.deepEqual(fs.readdirSync(dir), ["file"]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A trainer that records which rows each batch held: the inputs' first value and the labels' first value are the row number. */
function recordingTrainer(): {
  trainBatch(xs: TF.Tensor[], y: TF.Tensor): Metrics;
  evaluateBatch(xs: TF.Tensor[], y: TF.Tensor): Metrics;
  train: number[][];
  validate: number[][];
} {
  const rows = (xs: TF.Tensor[], y: TF.Tensor) => {
    const per = xs[0].size / xs[0].shape[0];
    const x = xs[0].dataSync();
    const labels = y.dataSync();
    const first = Array.from({ length: xs[0].shape[0] }, (_, k) => x[k * per]);
    const fromLabels = Array.from({ length: y.shape[0] }, (_, k) => labels[k * 10]);
    assert.deepEqual(first, fromLabels, "each input row is paired with its own label");
    return fromLabels;
  };
  const t = {
    train: [] as number[][],
    validate: [] as number[][],
    trainBatch: (xs: TF.Tensor[], y: TF.Tensor) => {
      t.train.push(rows(xs, y));
      return { loss: 1, accuracy: 0 };
    },
    evaluateBatch: (xs: TF.Tensor[], y: TF.Tensor) => {
      t.validate.push(rows(xs, y));
      return { loss: 2, accuracy: 0.5 };
    },
  };
  return t;
}

test("the fit loop pairs rows from a file with their labels: shuffled, the validation split, the last partial batch", async () => {
  const dir = tmpDir("loop-rows");
  const n = 45;
  const per = 6;
  // Each row's inputs and label start with its row number.
  const x = tf.tensor2d(
    Float32Array.from({ length: n * per }, (_, k) => (k % per === 0 ? k / per : -1)),
    [n, per],
  );
  const y = tf.tensor2d(
    Float32Array.from({ length: n * 10 }, (_, k) => (k % 10 === 0 ? k / 10 : 0)),
    [n, 10],
  );
  const store = FeatureStore.onDisk(dir, [[per]], n);
  const baseline = tf.memory().numTensors;
  try {
    store.write(0, [x]);
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [1] })] });
    model.compile({ optimizer: "sgd", loss: "meanSquaredError" });
    for (const source of [store, tensorRows([x])]) {
      const trainer = recordingTrainer();
      const history = await runFit(model, trainer, source, y, {
        epochs: 2,
        batchSize: 16,
        splitAt: 36,
        shuffle: true,
        callbacks: [],
      });
      assert.deepEqual(history.epoch, [1, 2]);
      assert.deepEqual(history.val_loss, [2, 2]);
      // Per epoch: 36 training rows in batches of 16, 16 and 4, each row once; validation rows 36–44 in order.
      assert.deepEqual(
        trainer.train.map((b) => b.length),
        [16, 16, 4, 16, 16, 4],
      );
      for (const epoch of [0, 1]) {
        const seen = trainer.train.slice(3 * epoch, 3 * epoch + 3).flat();
        assert.deepEqual(
          [...seen].sort((a, b) => a - b),
          Array.from({ length: 36 }, (_, r) => r),
        );
      }
      assert.notDeepEqual(
        trainer.train.slice(0, 3).flat(),
        Array.from({ length: 36 }, (_, r) => r),
        "shuffled",
      );
      assert.deepEqual(
        trainer.validate.flat(),
        [36, 37, 38, 39, 40, 41, 42, 43, 44, 36, 37, 38, 39, 40, 41, 42, 43, 44],
      );
    }
    model.dispose();
    assert.equal(tf.memory().numTensors, baseline);
  } finally {
    store.close();
    tf.dispose([x, y]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
