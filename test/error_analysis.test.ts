/**
 * Error analysis (src/interpret.ts, src/notebook/figures/top_losses.ts), as fastai's
 * ClassificationInterpretation does it:
 *
 *  - `exampleLosses` is Keras's categorical cross-entropy of each example, computed by Keras live on
 *    the same probabilities (rows that do not sum to 1, zeros and ones included);
 *  - `topLosses` gives the k largest losses, largest first, with what the plot shows;
 *  - `mostConfused` gives what fastai's `most_confused` gives: its algorithm written in numpy (the
 *    confusion matrix, diagonal zeroed, entries ≥ min, stable sort by count, descending), run live;
 *  - `topLossesPlot` draws each digit with "predicted / actual" and "loss · probability", mistakes in
 *    red;
 *  - bad arguments (k out of range, mismatched lengths, minCount < 1) get clear errors.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { JSDOM } from "jsdom";
import type { DigitSet } from "../src/data";
import type { Predictions } from "../src/engine/inference";
import { exampleLosses, mostConfused, topLosses } from "../src/interpret";
import { topLossesPlot } from "../src/notebook/figures/top_losses";
import { PYTHON, outDir } from "./support/helpers";
import { lcg } from "./support/numeric";

const OUT = outDir("error-analysis");

/** Runs Python code with numpy (and Keras when it imports it) on `input` (JSON on stdin); returns its JSON output. */
function python<T>(code: string, input: unknown): T {
  const r = spawnSync(PYTHON, ["-c", code], {
    input: JSON.stringify(input),
    encoding: "utf8",
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "3" },
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

/** Predictions for `n` examples of 10 classes: random rows, with extremes (a 0, a 1, rows not summing to 1). */
function predictions(n: number, seed: number): Predictions {
  const r = lcg(seed);
  const probabilities = new Float32Array(n * 10);
  const classes = new Uint8Array(n);
  const confidence = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const row = probabilities.subarray(i * 10, (i + 1) * 10);
    for (let k = 0; k < 10; k++) row[k] = Math.exp(4 * r());
    const sum = row.reduce((a, b) => a + b, 0);
    for (let k = 0; k < 10; k++) row[k] /= sum;
    if (i === 0) row.fill(0).set([1], 3); // certain of class 3
    if (i === 1) row.fill(0.2); // sums to 2
    let best = 0;
    for (let k = 1; k < 10; k++) if (row[k] > row[best]) best = k;
    classes[i] = best;
    confidence[i] = row[best];
  }
  return { probabilities, classes, confidence, count: n, numClasses: 10 };
}

function digits(labels: number[]): DigitSet {
  const images = new Uint8Array(labels.length * 784);
  labels.forEach((l, i) => images.fill(10 * (l + 1), i * 784 + 300, i * 784 + 400));
  return { images, labels: Uint8Array.from(labels), count: labels.length };
}

test("exampleLosses is Keras's categorical cross-entropy of each example, on the same probabilities (Keras live)", () => {
  const n = 40;
  const p = predictions(n, 1);
  const labels = Array.from({ length: n }, (_, i) => (i * 7) % 10);
  labels[0] = 5; // the certain example is wrong: the loss is clipped at -log(1e-7)
  const ours = exampleLosses(labels, p);
  const keras = python<number[]>(
    `import json, sys, numpy as np, keras
d = json.load(sys.stdin)
p = np.array(d["p"], np.float32).reshape(-1, 10)
y = keras.utils.to_categorical(d["labels"], 10)
print(json.dumps([float(v) for v in keras.ops.convert_to_numpy(keras.losses.categorical_crossentropy(y, p))]))`,
    { p: Array.from(p.probabilities), labels },
  );
  // Keras computes in float32 (a relative rounding of ~1e-7 in the logarithm's argument); ours in doubles.
  ours.forEach((v, i) =>
    assert.ok(Math.abs(v - keras[i]) <= 1e-5 * Math.max(1, keras[i]), `example ${i}: ours ${v}, Keras's ${keras[i]}`),
  );
  assert.ok(Math.abs(ours[0] + Math.log(1e-7)) < 1e-9, `a probability of 0 is clipped to 1e-7: ${ours[0]}`);
  assert.ok(Math.abs(ours[1] + Math.log(0.1)) < 1e-6, "a row summing to 2 is divided by its sum first");
});

test("topLosses: the k largest losses, largest first (ties: the earlier example), with pixels, actual and predicted class, loss and the actual class's probability", () => {
  const n = 30;
  const p = predictions(n, 2);
  const labels = Array.from({ length: n }, (_, i) => (i * 3) % 10);
  const set = digits(labels);
  const losses = exampleLosses(labels, p);
  const top = topLosses(set, p, 5);
  const byHand = Array.from(losses, (loss, index) => ({ loss, index }))
    .sort((a, b) => b.loss - a.loss || a.index - b.index)
    .slice(0, 5);
  assert.deepEqual(
    top.map((t) => t.index),
    byHand.map((t) => t.index),
  );
  for (const t of top) {
    assert.equal(t.loss, losses[t.index]);
    assert.equal(t.label, labels[t.index]);
    assert.equal(t.predicted, p.classes[t.index]);
    assert.equal(t.probability, p.probabilities[t.index * 10 + labels[t.index]]);
    assert.equal(t.confidence, p.confidence[t.index]);
    assert.equal(t.pixels.length, 784);
    assert.equal(t.pixels[350], Math.fround((10 * (labels[t.index] + 1)) / 255));
  }
  // Equal losses: the earlier example first.
  const tie = predictions(4, 3);
  tie.probabilities.fill(0.1);
  assert.deepEqual(
    topLosses(digits([1, 2, 3, 4]), tie, 4).map((t) => t.index),
    [0, 1, 2, 3],
  );
  assert.equal(topLosses(set, p, n).length, n, "k may be every example");
});

test("mostConfused gives what fastai's most_confused gives (its algorithm in numpy, live): (actual, predicted, count), most frequent first, ties in the confusion matrix's order, at least minCount", () => {
  // By hand: 3 → 5 twice, 7 → 1 twice, 4 → 9 once; the ties in row order (3 before 7).
  const labels = [3, 3, 7, 7, 4, 1, 2, 3];
  const classes = [5, 5, 1, 1, 9, 1, 2, 3];
  assert.deepEqual(mostConfused(labels, classes), [
    { actual: 3, predicted: 5, count: 2 },
    { actual: 7, predicted: 1, count: 2 },
    { actual: 4, predicted: 9, count: 1 },
  ]);
  assert.deepEqual(
    mostConfused(labels, classes, 2).map((c) => [c.actual, c.predicted]),
    [
      [3, 5],
      [7, 1],
    ],
  );
  // Many random pairs, against fastai's algorithm.
  const r = lcg(4);
  const n = 2000;
  const a = Array.from({ length: n }, () => Math.floor(5 * (r() + 1)));
  const b = a.map((v) => (r() > 0.4 ? v : Math.floor(5 * (r() + 1))));
  for (const min of [1, 3, 20]) {
    const fastai = python<Array<[number, number, number]>>(
      `import json, sys, numpy as np
from operator import itemgetter
d = json.load(sys.stdin)
cm = np.zeros((10, 10), np.int64)
for t, p in zip(d["a"], d["b"]):
    cm[t, p] += 1
np.fill_diagonal(cm, 0)
res = [(int(i), int(j), int(cm[i, j])) for i, j in zip(*np.where(cm >= d["min"]))]
print(json.dumps(sorted(res, key=itemgetter(2), reverse=True)))`,
      { a, b, min },
    );
    assert.deepEqual(
      mostConfused(a, b, min).map((c) => [c.actual, c.predicted, c.count]),
      fastai,
      `minCount ${min}`,
    );
  }
});

test('topLossesPlot: each digit with "predicted / actual" and "loss · probability", largest loss first, mistakes in red', () => {
  const labels = [1, 7, 3, 9, 0, 4, 2, 8];
  const p = predictions(labels.length, 5);
  const top = topLosses(digits(labels), p, 8);
  const figure = topLossesPlot(top, { title: "Top losses (test digits)", columns: 4 });
  fs.writeFileSync(path.join(OUT, "top-losses.svg"), figure.svg);
  const doc = new JSDOM(figure.svg, { contentType: "image/svg+xml" }).window.document;
  assert.equal(doc.querySelectorAll("image").length, 8);
  assert.deepEqual(
    [...doc.querySelectorAll(".kt-label")].map((t) => t.textContent),
    top.map((t) => `${t.predicted} / ${t.label}`),
  );
  assert.deepEqual(
    [...doc.querySelectorAll(".kt-loss")].map((t) => t.textContent),
    top.map((t) => `${t.loss.toFixed(2)} · ${t.probability.toFixed(2)}`),
  );
  const mistakes = [...doc.querySelectorAll(".kt-digit.kt-mistake")].map((g) => Number(g.getAttribute("data-index")));
  assert.deepEqual(
    mistakes,
    top.flatMap((t, i) => (t.predicted !== t.label ? [i] : [])),
  );
  assert.match(
    doc.querySelector(".kt-subtitle")?.textContent ?? "",
    /prediction \/ actual · loss · probability of the actual class/,
  );
  const tips = [...doc.querySelectorAll("title")].map((t) => t.textContent ?? "");
  assert.ok(tips.some((t) => t.includes(`probability of ${top[0].label}:`) && t.includes(`digit #${top[0].index}`)));
  assert.throws(
    () => topLossesPlot([]),
    /topLossesPlot needs at least one digit: pass topLosses\(set, predictions, k\)/,
  );
});

test("bad arguments get clear errors: k out of range, lengths that do not match, minCount below 1, labels that are not classes", () => {
  const p = predictions(5, 6);
  const set = digits([0, 1, 2, 3, 4]);
  assert.throws(
    () => topLosses(set, p, 0),
    /topLosses: k must be a whole number from 1 to 5 \(the digits predicted\), got 0/,
  );
  assert.throws(() => topLosses(set, p, 6), /from 1 to 5 .* got 6/);
  assert.throws(() => topLosses(set, p, 2.5), /got 2\.5/);
  assert.throws(() => topLosses(digits([0, 1]), p, 1), /2 digits but 5 predictions: predict on the same set of digits/);
  assert.throws(() => topLosses(set, {} as never, 1), /topLosses takes what predict\(\) returns/);
  assert.throws(() => exampleLosses([0, 1, 2, 3, 12], p), /Label 12 of example 4 is not a class from 0 to 9/);
  assert.throws(() => mostConfused([1, 2], [1]), /2 labels but 1 predicted classes; they must match/);
  assert.throws(() => mostConfused([1, 2], [1, 2], 0), /mostConfused: minCount must be a whole number ≥ 1/);
  assert.throws(
    () => mostConfused(undefined as never, [1]),
    /mostConfused takes the actual classes and the predicted ones/,
  );
});
