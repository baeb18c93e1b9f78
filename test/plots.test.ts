/**
 * The figures: each is a standalone SVG with the expected marks, checked by
 * parsing it with jsdom. Every figure is also rendered to PNG on a light and
 * on a dark page (out/test/plots/*.light.png, *.dark.png) with rsvg-convert,
 * when it is installed, for looking at.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { spawnSync } from "node:child_process";
import { JSDOM } from "jsdom";
import {
  comparisonPlot,
  comparisonTable,
  confusionCounts,
  confusionMatrix,
  digitGrid,
  digitImage,
  encodeGreyPng,
  historyPlot,
  lrFinderPlot,
  upsampledComparison,
  type Figure,
} from "../src/notebook/figures/index";
import { outDir } from "./support/helpers";
import { finderRate, smoothLosses, suggestAll } from "../src/engine/lr_suggestions";

const OUT = outDir("plots");
const hasRsvg = spawnSync("rsvg-convert", ["--version"]).status === 0;

/** Writes the SVG, and PNGs of it on a white and on a dark page. */
function save(name: string, figure: Figure): void {
  const svgFile = path.join(OUT, `${name}.svg`);
  fs.writeFileSync(svgFile, figure.svg);
  if (!hasRsvg) return;
  for (const [theme, background] of [
    ["light", "#ffffff"],
    ["dark", "#1e1e1e"],
  ]) {
    const r = spawnSync("rsvg-convert", ["-b", background, "-o", path.join(OUT, `${name}.${theme}.png`), svgFile], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, `rsvg-convert failed on ${name}: ${r.stderr}`);
  }
}

function parse(svg: string) {
  const doc = new JSDOM(svg, { contentType: "image/svg+xml" }).window.document;
  const root = doc.documentElement;
  assert.equal(root.tagName, "svg");
  assert.equal(root.getAttribute("xmlns"), "http://www.w3.org/2000/svg");
  assert.equal(doc.querySelector("parsererror"), null);
  return { doc, root };
}

/** Decodes the PNGs written by encodeGreyPng (8-bit grey, filter 0). */
function decodePng(data: Buffer): { width: number; height: number; pixels: Uint8Array } {
  assert.deepEqual([...data.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let pos = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (pos < data.length) {
    const len = data.readUInt32BE(pos);
    const type = data.toString("ascii", pos + 4, pos + 8);
    const body = data.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      assert.equal(body[8], 8, "bit depth");
      assert.equal(body[9], 0, "greyscale");
    } else if (type === "IDAT") idat.push(body);
    pos += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  assert.equal(raw.length, (width + 1) * height);
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (width + 1)], 0, "filter type 0");
    pixels.set(raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)), y * width);
  }
  return { width, height, pixels };
}

function imagePng(image: Element): ReturnType<typeof decodePng> {
  const href = image.getAttribute("href") ?? "";
  assert.match(href, /^data:image\/png;base64,/);
  return decodePng(Buffer.from(href.slice("data:image/png;base64,".length), "base64"));
}

/** Number of points of an SVG path made of M/L commands. */
/** A figure's caption, its wrapped lines joined. */
function captionOf(doc: Document): string {
  return [...doc.querySelectorAll(".kt-caption")].map((t) => t.textContent).join(" ");
}

function pathPoints(d: string): number {
  return (d.match(/[ML]/g) ?? []).length;
}

/** A recognisable 28×28 pattern: a bar on row 5 (columns 4–23) and a column at 20 (rows 6–22), at full ink. */
function pattern(): Float32Array {
  const p = new Float32Array(784);
  for (let x = 4; x < 24; x++) p[5 * 28 + x] = 1;
  for (let y = 6; y < 23; y++) p[y * 28 + 20] = 1;
  p[14 * 28 + 8] = 0.5;
  return p;
}

test("historyPlot: train and validation lines with one dot per epoch, legend, axis labels, epochs from 1", () => {
  const history = {
    loss: [0.9, 0.5, 0.3],
    accuracy: [0.6, 0.8, 0.9],
    val_loss: [0.7, 0.5, 0.45],
    val_accuracy: [0.7, 0.78, 0.85],
  };
  const fig = historyPlot(history, { metric: "accuracy" });
  save("history-accuracy", fig);
  save("history-loss", historyPlot(history, { metric: "loss" }));
  const { doc, root } = parse(fig.svg);
  assert.equal(fig.name, "history-accuracy");
  assert.equal(doc.querySelector(".kt-title")?.textContent, "Model accuracy");
  const lines = [...doc.querySelectorAll('g[aria-label="line"] path')];
  assert.equal(lines.length, 2);
  for (const l of lines) assert.equal(pathPoints(l.getAttribute("d") ?? ""), 3);
  assert.deepEqual(lines.map((l) => l.getAttribute("stroke")).sort(), ["#1f77b4", "#ff7f0e"]);
  assert.equal(doc.querySelectorAll('g[aria-label="dot"] circle').length, 6);
  const legend = [...doc.querySelectorAll(".kt-legend-item")].map((e) => e.textContent);
  assert.deepEqual(legend, ["train", "validation"]);
  const ticks = [...doc.querySelectorAll('g[aria-label="x-axis tick label"] text')].map((t) => t.textContent);
  assert.deepEqual(ticks, ["1", "2", "3"]);
  const labels = [...doc.querySelectorAll('g[aria-label="x-axis label"] text, g[aria-label="y-axis label"] text')].map(
    (t) => t.textContent,
  );
  assert.deepEqual(labels.sort(), ["Accuracy", "Epoch"]);
  // A white card with dark text whatever the page's colours.
  assert.equal(doc.querySelector(".kt-background")?.getAttribute("fill"), "#ffffff");
  assert.match(root.getAttribute("style") ?? "", /color:#1f2328/);
  // The same data gives the same SVG text.
  assert.equal(historyPlot(history, { metric: "accuracy" }).svg, fig.svg);
});

test("historyPlot: without validation, TF.js names (acc), many epochs, History objects", () => {
  const only = historyPlot({ loss: [1, 0.5] }, { metric: "loss", title: "Loss only" });
  const a = parse(only.svg).doc;
  assert.equal(a.querySelectorAll('g[aria-label="line"] path').length, 1);
  assert.deepEqual(
    [...a.querySelectorAll(".kt-legend-item")].map((e) => e.textContent),
    ["train"],
  );
  assert.equal(a.querySelector(".kt-title")?.textContent, "Loss only");

  const tfjs = historyPlot({ history: { acc: [0.5, 0.6], val_acc: [0.55, 0.65] } }, { metric: "accuracy" });
  assert.equal(parse(tfjs.svg).doc.querySelectorAll('g[aria-label="line"] path').length, 2);

  const long = historyPlot({ loss: Array.from({ length: 50 }, (_, i) => 1 / (i + 1)) }, { metric: "loss" });
  const ticks = [...parse(long.svg).doc.querySelectorAll('g[aria-label="x-axis tick label"] text')].map((t) =>
    Number(t.textContent),
  );
  assert.equal(ticks[0], 1);
  assert.ok(
    ticks.every((t) => Number.isInteger(t) && t >= 1 && t <= 50),
    `ticks ${ticks}`,
  );
  assert.ok(ticks.length <= 12);

  assert.throws(() => historyPlot({ loss: [1] }, { metric: "accuracy" }), /no "accuracy" values/);
});

test("historyPlot of learning_rate: one line on a log axis, a dot per epoch, rates of 0 left out", () => {
  const fig = historyPlot(
    { loss: [1, 0.5, 0.4, 0.3], learning_rate: [1e-3, 1e-4, 1e-5, 0] },
    { metric: "learning_rate" },
  );
  save("history-learning-rate", fig);
  const { doc } = parse(fig.svg);
  assert.equal(doc.querySelector(".kt-title")?.textContent, "Learning rate");
  assert.equal(doc.querySelectorAll('g[aria-label="line"] path').length, 1);
  assert.equal(doc.querySelectorAll('g[aria-label="dot"] circle').length, 3, "three positive rates");
  const ticks = [...doc.querySelectorAll('g[aria-label="y-axis tick label"] text')].map((t) => t.textContent);
  assert.ok(
    ["1e-3", "1e-4", "1e-5"].every((t) => ticks.includes(t)),
    `log ticks as powers of ten: ${ticks}`,
  );
  // A log axis: equal ratios, equal distances.
  const ys = [...doc.querySelectorAll('g[aria-label="dot"] circle')].map((c) => Number(c.getAttribute("cy")));
  assert.ok(Math.abs(ys[1] - ys[0] - (ys[2] - ys[1])) < 0.5, `dots at ${ys}`);
  assert.match(captionOf(doc), /^Learning rate after epoch 4: 0\.$/);
  assert.throws(() => historyPlot({ loss: [1] }, { metric: "learning_rate" }), /no "learning_rate" values/);
});

test("lrFinderPlot: the smoothed loss against the rate on a log axis, without the last 5 points, the suggestions marked", () => {
  const rates = Array.from({ length: 100 }, (_, i) => finderRate(1e-7, 10, 100, i));
  const losses = smoothLosses(
    rates.map(
      (r) => 2.3 - 2 / (1 + Math.exp(-2.5 * Math.log10(r / 1e-3) - 3)) + 0.05 * Math.max(0, Math.log10(r / 1e-3)) ** 3,
    ),
  );
  const suggestions = suggestAll(rates, losses, 100);
  const found = { rates, losses, suggestions, stopped: "completed" as const };
  const fig = lrFinderPlot(found);
  save("lr-finder", fig);
  const { doc } = parse(fig.svg);
  assert.equal(fig.name, "lr-finder");
  assert.equal(doc.querySelector(".kt-title")?.textContent, "Learning-rate finder");
  const line = doc.querySelector('g[aria-label="line"] path');
  assert.equal(pathPoints(line?.getAttribute("d") ?? ""), 95, "fastai leaves the last 5 points off");
  const dots = [...doc.querySelectorAll('g[aria-label="dot"] circle')];
  assert.deepEqual(
    dots.map((d) => d.getAttribute("fill")),
    ["#ff7f0e", "#2ca02c"],
    "valley and steepest descent, in fastai's colours",
  );
  assert.equal(doc.querySelectorAll('g[aria-label="rule"] line').length, 2);
  const ticks = [...doc.querySelectorAll('g[aria-label="x-axis tick label"] text')].map((t) => t.textContent);
  assert.deepEqual(ticks, ["1e-7", "1e-6", "1e-5", "1e-4", "1e-3", "1e-2", "1e-1", "1e0"]);
  // Log axis: the dot of a rate sits where log10 puts it between the ticks.
  const xOf = (label: string) => {
    const t = [...doc.querySelectorAll('g[aria-label="x-axis tick label"] text')].find((e) => e.textContent === label)!;
    return Number(/translate\(([\d.]+)/.exec(t.getAttribute("transform") ?? "")?.[1] ?? t.getAttribute("x"));
  };
  const valley = suggestions.valley!;
  const expectedX = xOf("1e-7") + ((Math.log10(valley.point.rate) + 7) / 7) * (xOf("1e0") - xOf("1e-7"));
  assert.ok(
    Math.abs(Number(dots[0].getAttribute("cx")) - expectedX) < 1,
    `valley dot at ${dots[0].getAttribute("cx")}, expected ${expectedX}`,
  );
  const legend = [...doc.querySelectorAll(".kt-legend-item")].map((e) => e.textContent);
  assert.deepEqual(legend, [
    "smoothed loss",
    `valley ${valley.rate.toExponential(1)}`,
    `steepest descent ${suggestions.steep!.rate.toExponential(1)}`,
  ]);
  assert.match(captionOf(doc), /100 batches, rates 1\.0e-7 to .*the last 5 not drawn.*Suggested: valley/);
  assert.equal(lrFinderPlot(found).svg, fig.svg, "deterministic");

  // A short, diverged curve is drawn whole; a suggestion that is not there is not drawn.
  const short = lrFinderPlot(
    { rates: rates.slice(0, 5), losses: losses.slice(0, 5), suggestions: {}, stopped: "diverged" },
    { suggestions: ["minimum"] },
  );
  const s = parse(short.svg).doc;
  assert.equal(pathPoints(s.querySelector('g[aria-label="line"] path')?.getAttribute("d") ?? ""), 5);
  assert.equal(s.querySelectorAll('g[aria-label="dot"] circle').length, 0);
  assert.match(captionOf(s), /stopped when the loss diverged.*Too few points/);
  assert.throws(() => lrFinderPlot({ rates: [1e-3, 1e-2], losses: [1] }), /as many rates as losses/);
  assert.throws(() => lrFinderPlot(found, { suggestions: ["best" as never] }), /suggestions are "valley"/);
});

test("digitImage: black where the pixel is 1, white where 0, square pixels, no axes", () => {
  const p = pattern();
  const fig = digitImage(p, { title: "A known pattern", label: 7 });
  save("digit-image", fig);
  const { doc } = parse(fig.svg);
  const images = doc.querySelectorAll("image");
  assert.equal(images.length, 1);
  const img = images[0];
  assert.equal(img.getAttribute("data-pixels"), "28x28");
  const w = Number(img.getAttribute("width"));
  const h = Number(img.getAttribute("height"));
  assert.equal(w, h, "square");
  const png = imagePng(img);
  assert.equal(png.width, w);
  assert.equal(png.height, h);
  const scale = w / 28;
  assert.ok(Number.isInteger(scale) && scale >= 4);
  const at = (row: number, col: number) =>
    png.pixels[(row * scale + Math.floor(scale / 2)) * png.width + col * scale + Math.floor(scale / 2)];
  assert.equal(at(5, 4), 0);
  assert.equal(at(5, 23), 0);
  assert.equal(at(10, 20), 0);
  assert.equal(at(22, 20), 0);
  assert.equal(at(0, 0), 255);
  assert.equal(at(5, 3), 255);
  assert.equal(at(23, 20), 255);
  assert.equal(at(14, 8), 128); // 0.5 → mid grey
  assert.equal(doc.querySelectorAll('g[aria-label$="axis"]').length, 0);
  assert.equal(doc.querySelector(".kt-label")?.textContent, "label 7");
  assert.equal(doc.querySelector(".kt-title")?.textContent, "A known pattern");

  // Bytes are read as 0–255; the same picture.
  const bytes = Uint8Array.from(p, (v) => Math.round(v * 255));
  const fromBytes = imagePng(parse(digitImage(bytes).svg).doc.querySelector("image")!).pixels;
  assert.ok(
    fromBytes.every((v, i) => Math.abs(v - png.pixels[i]) <= 1),
    "bytes 0–255 draw the same picture",
  );
  // Three identical channels give the same picture too.
  const rgb = new Float32Array(784 * 3).map((_, i) => p[Math.floor(i / 3)]);
  assert.deepEqual(
    imagePng(parse(digitImage(rgb, { channels: 3 }).svg).doc.querySelector("image")!).pixels,
    png.pixels,
  );
  assert.throws(() => digitImage(new Float32Array(100)), /Expected 28×28×1 = 784 pixel values, got 100/);
});

test("encodeGreyPng: scaled blocks, decodable", () => {
  const png = decodePng(encodeGreyPng(Uint8Array.from([0, 255, 128, 7]), 2, 2, 3));
  assert.equal(png.width, 6);
  assert.equal(png.height, 6);
  assert.equal(png.pixels[0], 0);
  assert.equal(png.pixels[5], 255);
  assert.equal(png.pixels[3 * 6 + 2], 128);
  assert.equal(png.pixels[5 * 6 + 5], 7);
});

test("digitGrid: 12 digits, labelled, exactly the mistakes highlighted", () => {
  const p = pattern();
  const items = Array.from({ length: 12 }, (_, i) => ({
    pixels: p,
    label: i % 10,
    predicted: i === 2 || i === 7 || i === 11 ? (i + 1) % 10 : i % 10,
    probability: 0.5 + i / 30,
  }));
  const fig = digitGrid(items, { title: "Test digits: true and predicted labels", columns: 6 });
  save("digit-grid", fig);
  const { doc } = parse(fig.svg);
  assert.equal(doc.querySelectorAll("image").length, 12);
  const mistakes = [...doc.querySelectorAll(".kt-digit.kt-mistake")].map((g) => Number(g.getAttribute("data-index")));
  assert.deepEqual(mistakes, [2, 7, 11]);
  assert.equal(doc.querySelectorAll(".kt-mistake-frame").length, 3);
  const labels = [...doc.querySelectorAll(".kt-label")].map((t) => t.textContent);
  assert.equal(labels[0], "true 0 · pred 0");
  assert.equal(labels[2], "✗ true 2 · pred 3");
  assert.equal(doc.querySelectorAll('.kt-label[fill="#cf222e"]').length, 3);
  assert.match(doc.querySelector(".kt-subtitle")?.textContent ?? "", /3 of 12 digits misclassified/);
  // Two rows of six: digits 0 and 6 share a column.
  const pos = (i: number) =>
    (doc.querySelector(`.kt-digit[data-index="${i}"]`)?.getAttribute("transform") ?? "")
      .match(/translate\(([-\d.]+),([-\d.]+)\)/)!
      .slice(1)
      .map(Number);
  assert.equal(pos(0)[0], pos(6)[0]);
  assert.ok(pos(6)[1] > pos(0)[1]);
  assert.equal(pos(0)[1], pos(5)[1]);

  // Without predictions: just the labels, nothing highlighted.
  const plain = parse(
    digitGrid([
      { pixels: p, label: 3 },
      { pixels: p, label: 4 },
    ]).svg,
  ).doc;
  assert.equal(plain.querySelectorAll(".kt-mistake").length, 0);
  assert.deepEqual(
    [...plain.querySelectorAll(".kt-label")].map((t) => t.textContent),
    ["label 3", "label 4"],
  );
});

test("upsampledComparison: the 28×28 original and the three 84×84 channels, with a truthful caption", () => {
  const p = pattern();
  const up = new Float32Array(84 * 84 * 3);
  for (let y = 0; y < 84; y++)
    for (let x = 0; x < 84; x++)
      for (let c = 0; c < 3; c++) up[(y * 84 + x) * 3 + c] = p[Math.floor(y / 3) * 28 + Math.floor(x / 3)];
  const fig = upsampledComparison(p, up);
  save("upsampled-comparison", fig);
  const { doc } = parse(fig.svg);
  const images = [...doc.querySelectorAll("image")];
  assert.deepEqual(
    images.map((i) => i.getAttribute("data-pixels")),
    ["28x28", "84x84", "84x84", "84x84"],
  );
  // Drawn at the same size, so the blocks line up.
  const sizes = images.map((i) => [Number(i.getAttribute("width")), Number(i.getAttribute("height"))]);
  for (const s of sizes) assert.deepEqual(s, sizes[0]);
  const original = imagePng(images[0]);
  for (const i of images.slice(1)) assert.deepEqual(imagePng(i).pixels, original.pixels);
  assert.match(fig.caption ?? "", /3×3 block \(nearest neighbour\)/);
  assert.match(fig.caption ?? "", /3 channels are identical copies/);

  // Channels that differ are reported as such.
  const odd = up.slice();
  odd[5 * 84 * 3 + 12 * 3 + 1] = 0.25;
  assert.match(upsampledComparison(p, odd).caption ?? "", /3 channels differ/);
  assert.throws(() => upsampledComparison(p, new Float32Array(100)), /m×m×3/);
});

test("confusionMatrix: the counts of a hand-computed matrix, colour scale, True / Predicted axes", () => {
  const trueLabels = [0, 0, 0, 1, 1, 2, 2, 2, 2, 1];
  const predicted = [0, 0, 1, 1, 1, 2, 0, 2, 2, 2];
  const expected = [
    [2, 1, 0],
    [0, 2, 1],
    [1, 0, 3],
  ];
  assert.deepEqual(confusionCounts(trueLabels, predicted, 3), expected);
  const fig = confusionMatrix(trueLabels, predicted, { classes: 3, title: "Three classes" });
  save("confusion-matrix-3", fig);
  const { doc } = parse(fig.svg);
  const cells = [...doc.querySelectorAll('g[aria-label="cell"] rect')];
  assert.equal(cells.length, 9);
  const fromTitles = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  for (const c of cells) {
    const m = (c.querySelector("title")?.textContent ?? "").match(/^true (\d+), predicted (\d+): (\d+)$/);
    assert.ok(m, c.outerHTML);
    fromTitles[Number(m[1])][Number(m[2])] = Number(m[3]);
  }
  assert.deepEqual(fromTitles, expected);
  const texts = [...doc.querySelectorAll('g[aria-label="text"] text')].map((t) => Number(t.textContent));
  assert.deepEqual(texts.sort(), expected.flat().sort());
  // Shaded by count: the largest count is the darkest cell, zero the lightest.
  const fillOf = (t: number, p: number) =>
    cells
      .find((c) => c.querySelector("title")?.textContent?.startsWith(`true ${t}, predicted ${p}:`))!
      .getAttribute("fill");
  assert.notEqual(fillOf(2, 2), fillOf(0, 2));
  const labels = [...doc.querySelectorAll('g[aria-label="x-axis label"] text, g[aria-label="y-axis label"] text')].map(
    (t) => t.textContent,
  );
  assert.deepEqual(labels.sort(), ["Predicted", "True"]);
  assert.match(fig.caption ?? "", /Accuracy 70\.0% \(7 of 10 correct/);

  // Ten classes, as in the notebooks.
  const t10: number[] = [];
  const p10: number[] = [];
  for (let i = 0; i < 1000; i++) {
    t10.push(i % 10);
    p10.push(i % 41 === 0 ? (i + 3) % 10 : i % 67 === 0 ? (i + 1) % 10 : i % 10);
  }
  const big = confusionMatrix(t10, p10, { title: "Confusion matrix (test digits)" });
  save("confusion-matrix-10", big);
  assert.equal(parse(big.svg).doc.querySelectorAll('g[aria-label="cell"] rect').length, 100);
  assert.throws(() => confusionMatrix([0, 1], [0]), /must match/);
  assert.throws(() => confusionMatrix([0, 10], [0, 1]), /class numbers 0…9/);
});

test("comparisonPlot and comparisonTable: one entry per run, best highlighted", () => {
  const runs = [
    { freezeDepth: 172, trainableParams: 13_500_000, testAccuracy: 0.9788, seconds: 640 },
    { freezeDepth: 64, trainableParams: 21_000_000, testAccuracy: 0.9712, seconds: 812 },
    { freezeDepth: 249, trainableParams: 6_400_000, testAccuracy: 0.9651, seconds: 455 },
  ];
  const fig = comparisonPlot(runs);
  save("comparison", fig);
  const { doc } = parse(fig.svg);
  assert.equal(doc.querySelectorAll('g[aria-label="dot"] circle').length, 3);
  assert.equal(doc.querySelectorAll('g[aria-label="bar"] rect').length, 3);
  // Numeric depths in increasing order.
  const ticks = [...doc.querySelectorAll('g[aria-label="x-axis tick label"]')][0];
  assert.match(ticks.textContent ?? "", /^64.*172.*249/s);
  assert.match(
    fig.caption ?? "",
    /Best: freeze depth 172, 97\.88% test accuracy with 13,500,000 trainable parameters in 10 min 40 s/,
  );
  save(
    "comparison-single",
    comparisonPlot([{ freezeDepth: "mixed1", trainableParams: 21_000_000, testAccuracy: 0.97, seconds: 95 }]),
  );

  const htmlTable = comparisonTable(runs);
  const t = new JSDOM(htmlTable).window.document;
  const rows = [...t.querySelectorAll("tbody tr")].map((r) => [...r.querySelectorAll("td")].map((c) => c.textContent));
  assert.deepEqual(rows[0], ["172", "13,500,000", "97.88%", "10 min 40 s"]);
  assert.equal(rows.length, 3);
  assert.equal(t.querySelectorAll("tbody strong").length, 1);
  assert.equal(t.querySelector("tbody strong")?.textContent, "97.88%");
  assert.match(comparisonTable([]), /No runs yet/);
});

test("comparisonTable shows each run's precision when the runs record one, after the trainable parameters", () => {
  const runs = [
    { freezeDepth: 64, trainableParams: 21_000_000, testAccuracy: 0.97, seconds: 95, precision: "float32" },
    { freezeDepth: 64, trainableParams: 21_000_000, testAccuracy: 0.969, seconds: 70, precision: "mixed_bfloat16" },
  ];
  const cells = (html: string) => {
    const t = new JSDOM(html).window.document;
    return {
      head: [...t.querySelectorAll("thead th")].map((c) => c.textContent),
      rows: [...t.querySelectorAll("tbody tr")].map((r) => [...r.querySelectorAll("td")].map((c) => c.textContent)),
    };
  };
  const plain = cells(comparisonTable(runs));
  assert.deepEqual(plain.head, ["Freeze depth", "Trainable parameters", "Precision", "Test accuracy", "Training time"]);
  assert.deepEqual(plain.rows[1], ["64 (#2)", "21,000,000", "mixed_bfloat16", "96.90%", "1 min 10 s"]);
  // With two stages the precision still follows the trainable parameters, in the head and in each row.
  const staged = cells(comparisonTable([runs[0], { ...runs[1], learningRate: 1e-5, startedFrom: 1 }]));
  assert.deepEqual(staged.head.slice(2, 5), ["Trainable parameters", "Precision", "Learning rate"]);
  assert.deepEqual(staged.rows[1].slice(2, 5), ["21,000,000", "mixed_bfloat16", "0.00001"]);
  assert.ok(!cells(comparisonTable([{ freezeDepth: 64, trainableParams: 1 }])).head.includes("Precision"));
});

test("comparisonTable says where the frozen layers' output was kept when a run kept it on disk or the runs differ", () => {
  const run = { freezeDepth: 64, trainableParams: 21_000_000, testAccuracy: 0.97, seconds: 95 };
  const columns = (html: string) => {
    const t = new JSDOM(html).window.document;
    return {
      head: [...t.querySelectorAll("thead th")].map((c) => c.textContent),
      rows: [...t.querySelectorAll("tbody tr")].map((r) => [...r.querySelectorAll("td")].map((c) => c.textContent)),
    };
  };
  const allInMemory = columns(
    comparisonTable([
      { ...run, prefixCache: "in memory, 590.0 MB" },
      { ...run, freezeDepth: 100, prefixCache: "in memory, 300.0 MB" },
    ]),
  );
  assert.deepEqual(allInMemory.head, ["Freeze depth", "Trainable parameters", "Test accuracy", "Training time"]);
  const onDisk = columns(
    comparisonTable([
      { ...run, prefixCache: "on disk, 4.1 GB" },
      { ...run, freezeDepth: 0 },
    ]),
  );
  assert.equal(onDisk.head[4], "Frozen layers' output");
  assert.deepEqual(
    onDisk.rows.map((r) => r[4]),
    ["on disk, 4.1 GB", "—"],
    "a run that did not cache shows —",
  );
});
