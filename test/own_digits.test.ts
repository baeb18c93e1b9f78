/**
 * Your own digits: the sample photos in notebooks/digits/ are what scripts/make_sample_digits.ts
 * makes, and readDigit turns each back into (close to) the test digit it was made from; folders,
 * bytes and JPEG; clear errors for a missing file, something that is not an image, a broken image
 * and a blank one; predict on digits without labels; topK; the top-k figure.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { JSDOM } from "jsdom";
import type { Tensor3D } from "@tensorflow/tfjs";
import { imageCodecs, tf } from "../src/tfjs/backend";
import { loadMnist, PIXELS, type Digits } from "../src/data";
import { centreOfMass, greyImage, inkBox, type GreyImage } from "../src/images/mnist_style";
import { readDigit, readDigits } from "../src/images/read";
import { buildTransferModel } from "../src/model_build";
import { topK } from "../src/interpret";
import { topKPlot } from "../src/notebook/figures/top_k";
import type { Predictions } from "../src/engine/inference";
import { SAMPLE_DIGITS, SAMPLE_DIR, encodeRgbPng, renderScan, sampleDigits } from "../scripts/make_sample_digits";
import { tmpDir } from "./support/helpers";

const asGrey = (bytes: Uint8Array): GreyImage =>
  greyImage(
    Array.from(bytes, (v) => v / 255),
    28,
    28,
  );

/** Pearson correlation of two 28×28 digits, `b` moved by (dx, dy) pixels. */
function correlation(a: Uint8Array, b: Uint8Array, dx = 0, dy = 0): number {
  const moved = new Float64Array(PIXELS);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const xs = x + dx;
      const ys = y + dy;
      moved[y * 28 + x] = xs < 0 || ys < 0 || xs >= 28 || ys >= 28 ? 0 : b[ys * 28 + xs];
    }
  }
  const mean = (v: ArrayLike<number>) => Array.from(v).reduce((s, t) => s + t, 0) / PIXELS;
  const ma = mean(a);
  const mb = mean(moved);
  let n = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < PIXELS; i++) {
    n += (a[i] - ma) * (moved[i] - mb);
    da += (a[i] - ma) ** 2;
    db += (moved[i] - mb) ** 2;
  }
  return n / Math.sqrt(da * db);
}

/** The best correlation over moves of at most one pixel each way. */
function nearCorrelation(a: Uint8Array, b: Uint8Array): number {
  let best = -1;
  for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++) best = Math.max(best, correlation(a, b, dx, dy));
  return best;
}

function decodeRgb(file: string): { rgb: Uint8Array; width: number; height: number } {
  const t = imageCodecs().decodeImage(fs.readFileSync(file), 3) as Tensor3D;
  try {
    return { rgb: Uint8Array.from(t.dataSync()), width: t.shape[1], height: t.shape[0] };
  } finally {
    t.dispose();
  }
}

test("the sample photos in notebooks/digits/ are what scripts/make_sample_digits.ts makes from the test split", async () => {
  const { test: testSet } = await loadMnist();
  const samples = sampleDigits(testSet);
  assert.deepEqual(
    samples.map((s) => s.file),
    SAMPLE_DIGITS.map((s) => s.file),
  );
  for (const [i, sample] of samples.entries()) {
    assert.equal(testSet.labels[sample.index], sample.label);
    const expected = renderScan(sample.pixels, 1000 + i);
    const committed = decodeRgb(path.join(SAMPLE_DIR, sample.file));
    assert.deepEqual([committed.width, committed.height], [expected.width, expected.height], `${sample.file}: size`);
    assert.ok(
      Buffer.from(committed.rgb).equals(Buffer.from(expected.rgb)),
      `${sample.file} differs from what the script makes: run it again`,
    );
    // Made to need the work: a larger canvas than 28×28, light paper, the digit away from the centre.
    assert.ok(expected.width >= 110 && expected.height >= 110, `${sample.file}: ${expected.width}×${expected.height}`);
  }
});

test("readDigit turns each sample photo back into (close to) the 28×28 test digit it was made from", async () => {
  const { test: testSet } = await loadMnist();
  const samples = sampleDigits(testSet);
  const read = samples.map((s) => readDigit(path.join(SAMPLE_DIR, s.file)));
  for (const [i, sample] of samples.entries()) {
    const digit = read[i].images;
    assert.equal(read[i].count, 1);
    assert.equal(read[i].labels, undefined, "own digits have no labels");
    const original = sample.pixels;
    // The same size: the strokes' larger side (MNIST's 20-pixel box) within a pixel.
    const side = (d: Uint8Array) => {
      const b = inkBox(asGrey(d), 0.5)!;
      return Math.max(b.width, b.height);
    };
    assert.ok(
      Math.abs(side(digit) - side(original)) <= 1,
      `${sample.file}: strokes ${side(digit)} pixels, the original's ${side(original)}`,
    );
    // The same place: centres of mass within 1.5 pixels (MNIST's is on (14, 14) to a pixel).
    const a = centreOfMass(asGrey(digit))!;
    const b = centreOfMass(asGrey(original))!;
    assert.ok(
      Math.hypot(a.x - b.x, a.y - b.y) <= 1.5,
      `${sample.file}: centre of mass (${a.x.toFixed(2)}, ${a.y.toFixed(2)}), the original's (${b.x.toFixed(2)}, ${b.y.toFixed(2)})`,
    );
    // The same shape: correlated with the original (allowing a one-pixel move: thin strokes), and more
    // than with any other sample.
    const own = nearCorrelation(digit, original);
    assert.ok(own >= 0.85, `${sample.file}: correlation ${own.toFixed(3)} with its original`);
    for (const other of samples.filter((o) => o !== sample)) {
      assert.ok(correlation(digit, other.pixels) < own - 0.2, `${sample.file} looks as much like ${other.file}`);
    }
    // White on black, as MNIST: the background is 0 and the strokes' cores reach (near) full ink.
    assert.equal(digit[0], 0);
    assert.ok(Math.max(...digit) >= 200, `${sample.file}: the strongest ink is ${Math.max(...digit)}`);
  }
});

test("readDigits reads a folder in name order, and paths or bytes; a JPEG reads like the PNG", async () => {
  const folder = readDigits(SAMPLE_DIR);
  const names = [...SAMPLE_DIGITS.map((s) => s.file)].sort();
  assert.deepEqual(
    folder.names,
    names.map((f) => path.join(SAMPLE_DIR, f)),
  );
  assert.equal(folder.count, SAMPLE_DIGITS.length);
  assert.equal(folder.images.length, SAMPLE_DIGITS.length * PIXELS);
  assert.equal(folder.previews!.length, SAMPLE_DIGITS.length);
  for (const p of folder.previews!) assert.ok(Math.max(p.width, p.height) <= 112, "previews are small");
  // The same images given as paths and as bytes.
  const seven = path.join(SAMPLE_DIR, "seven.png");
  const both = readDigits([seven, fs.readFileSync(seven)], { previews: false });
  assert.deepEqual(both.images.subarray(0, PIXELS), both.images.subarray(PIXELS));
  assert.deepEqual(both.names, [seven, "image 2 (bytes)"]);
  assert.equal(both.previews, undefined);
  assert.deepEqual(
    both.images.subarray(0, PIXELS),
    folder.images.subarray(names.indexOf("seven.png") * PIXELS, (names.indexOf("seven.png") + 1) * PIXELS),
  );
  // JPEG (lossy) of the same photo: nearly the same digit.
  const { rgb, width, height } = decodeRgb(seven);
  const t = tf.tensor3d(rgb, [height, width, 3], "int32");
  const jpeg = await imageCodecs().encodeJpeg(t, "rgb", 85);
  t.dispose();
  const fromJpeg = readDigit(jpeg);
  assert.ok(correlation(fromJpeg.images, both.images.subarray(0, PIXELS)) > 0.97);
});

test("readDigit says what is wrong: a missing file, a folder, not an image, a broken image, a blank image", async () => {
  const dir = tmpDir("own-digits");
  try {
    assert.throws(
      () => readDigit(path.join(dir, "nope.png")),
      /^ImageReadError: No image at .*nope\.png \(looked from .*\): check the path/,
    );
    assert.throws(() => readDigit(dir), /is a folder: readDigits\(".*"\) reads every image in it/);
    const text = path.join(dir, "notes.png");
    fs.writeFileSync(text, "these are not pixels");
    assert.throws(
      () => readDigit(text),
      /notes\.png is not a PNG, JPEG, GIF or BMP image \(it starts with bytes 74 68 65 73/,
    );
    const broken = path.join(dir, "broken.png");
    fs.writeFileSync(broken, fs.readFileSync(path.join(SAMPLE_DIR, "two.png")).subarray(0, 100));
    assert.throws(() => readDigit(broken), /broken\.png looks like a PNG file but TensorFlow cannot decode it/);
    const white = path.join(dir, "white.png");
    fs.writeFileSync(white, await encodeRgbPng({ rgb: new Uint8Array(40 * 30 * 3).fill(250), width: 40, height: 30 }));
    assert.throws(
      () => readDigit(white),
      /^BlankImageError: .*white\.png has no ink: no pixel differs from the background/,
    );
    assert.throws(() => readDigit(new Uint8Array(0)), /is empty \(0 bytes\)/);
    assert.throws(() => readDigits([]), /the list of images is empty/);
    const empty = path.join(dir, "empty");
    fs.mkdirSync(empty);
    fs.writeFileSync(path.join(empty, "readme.txt"), "no images here");
    assert.throws(() => readDigits(empty), /empty holds no image \(\.png, \.jpg, \.jpeg, \.gif, \.bmp files\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Predictions of 2 images over 4 classes, by hand. */
function handPredictions(): Predictions {
  const probabilities = Float32Array.from([0.1, 0.6, 0.1, 0.2, 0.25, 0.25, 0.4, 0.1]);
  return {
    probabilities,
    classes: Uint8Array.from([1, 2]),
    confidence: Float32Array.from([0.6, 0.4]),
    count: 2,
    numClasses: 4,
  };
}

test("topK: per image the k most probable classes with their probabilities, most probable first, ties by class", () => {
  const p = handPredictions();
  const top = topK(p, 3);
  assert.equal(top.length, 2);
  const round = (rows: typeof top) =>
    rows.map((r) => r.map((t) => ({ class: t.class, probability: Number(t.probability.toFixed(6)) })));
  assert.deepEqual(round(top), [
    [
      { class: 1, probability: 0.6 },
      { class: 3, probability: 0.2 },
      { class: 0, probability: 0.1 },
    ],
    [
      { class: 2, probability: 0.4 },
      { class: 0, probability: 0.25 },
      { class: 1, probability: 0.25 },
    ],
  ]);
  assert.equal(topK(p, 1)[1][0].class, p.classes[1]);
  assert.equal(topK(p)[0].length, 3, "k defaults to 3");
  assert.throws(() => topK(p, 5), /k must be a whole number from 1 to 4/);
  assert.throws(() => topK(p, 0), /k must be a whole number from 1 to 4/);
});

test("topKPlot: the digit, the image as read, and one bar per class with its probability, the most probable highlighted", () => {
  const seven = readDigit(path.join(SAMPLE_DIR, "seven.png"));
  const top = [
    { class: 7, probability: 0.91 },
    { class: 1, probability: 0.05 },
    { class: 9, probability: 0.02 },
  ];
  const figure = topKPlot(seven.images, top, { title: "seven.png", source: seven.previews![0] });
  const doc = new JSDOM(figure.svg, { contentType: "image/svg+xml" }).window.document;
  assert.equal(doc.querySelector("parsererror"), null);
  assert.equal(doc.documentElement.getAttribute("aria-label"), "seven.png");
  const images = doc.querySelectorAll("image");
  assert.equal(images.length, 2, "the image as read and the 28×28 digit");
  assert.equal(images[1].getAttribute("data-pixels"), "28x28");
  assert.equal(images[0].getAttribute("data-pixels"), `${seven.previews![0].width}x${seven.previews![0].height}`);
  const bars = doc.querySelectorAll('g[aria-label="bar"] rect');
  assert.equal(bars.length, 3);
  const widths = Array.from(bars, (b) => Number(b.getAttribute("width")));
  assert.ok(widths[0] > widths[1] && widths[1] > widths[2], `bar lengths ${widths}`);
  assert.ok(Math.abs(widths[0] / widths[1] - 0.91 / 0.05) < 0.5, "bars are proportional to the probabilities");
  assert.deepEqual(
    Array.from(bars, (b) => b.getAttribute("fill")),
    ["#0969da", "#8cb4e8", "#8cb4e8"],
  );
  const texts = Array.from(doc.querySelectorAll("text"), (t) => t.textContent);
  for (const label of ["91.0%", "5.0%", "2.0%", "digit 7", "digit 1", "digit 9"])
    assert.ok(texts.includes(label), `no "${label}" in ${texts.join(" | ")}`);
  assert.ok(
    texts.some((t) => /^predicted 7 \(91\.0%\)/.test(t ?? "")),
    "the subtitle names the prediction",
  );
  // Without the image as read: only the digit.
  assert.equal(
    new JSDOM(topKPlot(seven.images, top.slice(0, 1)).svg, {
      contentType: "image/svg+xml",
    }).window.document.querySelectorAll("image").length,
    1,
  );
  assert.throws(() => topKPlot(seven.images, []), /at least one \{ class, probability \}/);
});

test("predict takes digits without labels and gives what it gives for the same digits with labels; evaluate asks for labels", async () => {
  const learner = await buildTransferModel({ base: "inception_v3", weights: null, key: "own-digits" });
  try {
    const mine = readDigits(SAMPLE_DIR);
    const labelled: Digits = { images: mine.images, count: mine.count, labels: Uint8Array.from([5, 4, 9, 7, 2]) };
    const without = await learner.predict(mine);
    const withLabels = await learner.predict(labelled);
    assert.equal(without.count, SAMPLE_DIGITS.length);
    assert.deepEqual(without.probabilities, withLabels.probabilities);
    for (let i = 0; i < without.count; i++) {
      const row = without.probabilities.subarray(i * 10, (i + 1) * 10);
      assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-4, "probabilities sum to 1");
      assert.equal(topK(without, 3)[i][0].class, without.classes[i]);
    }
    await assert.rejects(
      learner.evaluate(mine as unknown as Parameters<typeof learner.evaluate>[0]),
      /evaluate: the test set: these digits have no labels \(your own images\?\); .* predict\(\) takes digits without labels/,
    );
    await assert.rejects(
      learner.predict({ images: new Uint8Array(10), count: 1 }),
      /predict: the set: 1 images of 28×28×1 need 784 pixels, got 10/,
    );
  } finally {
    learner.dispose();
  }
});
