/**
 * Figures for the notebooks, in the style of Observable Plot: each function
 * takes plain data (arrays, typed arrays) and options and returns one
 * `Figure`, a standalone SVG drawn on a white card with dark text, so it reads
 * the same in light and dark Jupyter themes. Show it with `show()` from
 * ./display.
 *
 * - `historyPlot`      training and validation curves per epoch (accuracy or loss)
 * - `digitImage`       one digit, black ink on white (matplotlib's "binary" colormap)
 * - `digitGrid`        digits with true and predicted labels, mistakes in red
 * - `upsampledComparison` a 28×28 digit beside its 84×84×3 upsampled copy
 * - `confusionMatrix`  counts of (true, predicted) pairs
 * - `comparisonPlot`, `comparisonTable`  runs with different freeze depths
 *
 * Pixel values: `Uint8Array` and `Uint8ClampedArray` are read as 0–255, every
 * other array (`Float32Array`, `number[]`, …) as [0, 1]; `maxValue` overrides
 * this. 0 is drawn white and the maximum black.
 *
 * No TensorFlow here. Observable Plot (ESM-only, loaded through Node's
 * require of ES modules, Node ≥ 20.19) and jsdom are loaded on first use, so
 * importing this module is cheap. The output is deterministic: the same data
 * gives the same SVG text.
 */
import type * as PlotTypes from "@observablehq/plot";
import * as zlib from "node:zlib";

// ---------------------------------------------------------------------------
// Types

/** One figure: a standalone SVG document (with xmlns) and what it shows. */
export interface Figure {
  /** The SVG text, `<svg xmlns="http://www.w3.org/2000/svg" …>…</svg>`. */
  svg: string;
  width: number;
  height: number;
  /** Short name, usable in a file name: "history-accuracy", "digit-grid", … */
  name: string;
  title?: string;
  /** The caption printed under the figure, if any. */
  caption?: string;
}

/** Pixels of one image, row-major, channels interleaved (HWC). */
export type PixelData = ArrayLike<number>;

/** Keras-style history: one number per epoch. TF.js's `acc` / `val_acc` are accepted too. */
export interface HistoryRecord {
  loss?: ArrayLike<number>;
  accuracy?: ArrayLike<number>;
  val_loss?: ArrayLike<number>;
  val_accuracy?: ArrayLike<number>;
  acc?: ArrayLike<number>;
  val_acc?: ArrayLike<number>;
}

export interface HistoryPlotOptions {
  metric: "accuracy" | "loss";
  /** Default: "Model accuracy" / "Model loss", as in the tutorial. */
  title?: string;
  width?: number;
  height?: number;
}

export interface DigitImageOptions {
  /** Image width in pixels (default 28). */
  width?: number;
  /** Image height in pixels (default 28). */
  height?: number;
  /** 1 (grey) or 3 (RGB, interleaved; drawn as the mean of the channels). Default 1. */
  channels?: 1 | 3;
  title?: string;
  /** Printed under the image; a number n prints "label n". */
  label?: string | number;
  /** Screen pixels per image pixel (default: about 168 px for the whole image). */
  pixelSize?: number;
  /** The pixel value drawn black (default 255 for Uint8Array / Uint8ClampedArray, else 1). */
  maxValue?: number;
}

/** One digit of a grid. */
export interface GridDigit {
  pixels: PixelData;
  label: number;
  predicted?: number;
  /** The probability the model gave its prediction, in [0, 1]. */
  probability?: number;
  /** Position in its data set, shown in the tooltip. */
  index?: number;
}

export interface DigitGridOptions {
  /** Digits per row (default: all when 6 or fewer, half when 12 or fewer, else 8). */
  columns?: number;
  title?: string;
  /** Size of each image (default 28×28×1). */
  imageWidth?: number;
  imageHeight?: number;
  channels?: 1 | 3;
  /** Screen pixels per image pixel (default 3 for 28×28). */
  pixelSize?: number;
  maxValue?: number;
}

export interface UpsampledComparisonOptions {
  title?: string;
  /** The pixel value drawn black, for both images (default: from the array types). */
  maxValue?: number;
}

export interface ConfusionMatrixOptions {
  /** Number of classes (default 10). */
  classes?: number;
  title?: string;
}

/** One training run, for comparing freeze depths. */
export interface ComparisonRun {
  /** Frozen base layers: a count, or a layer name. */
  freezeDepth: number | string;
  trainableParams: number;
  /** Accuracy on the test set, in [0, 1] (absent: not evaluated yet). */
  testAccuracy?: number;
  /** Training time in seconds. */
  seconds?: number;
}

export interface ComparisonPlotOptions {
  title?: string;
}

// ---------------------------------------------------------------------------
// Colours and fonts (the card is white whatever the notebook theme)

const SVG_NS = "http://www.w3.org/2000/svg";
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
const INK = "#1f2328";
const MUTED = "#57606a";
const BORDER = "#d0d7de";
const CARD = "#ffffff";
const RED = "#cf222e";
/** matplotlib's first two colours, as in the tutorial's figures. */
const TRAIN = "#1f77b4";
const VALIDATION = "#ff7f0e";
const PAD = 16;

// ---------------------------------------------------------------------------
// A minimal DOM (jsdom), typed structurally so that no DOM library is needed

interface DomNode {
  readonly nodeName: string;
  readonly firstChild: DomNode | null;
  textContent: string | null;
  appendChild(node: DomNode): unknown;
  removeChild(node: DomNode): unknown;
}

interface DomElement extends DomNode {
  setAttribute(name: string, value: string): void;
  getAttribute(name: string): string | null;
}

interface DomDocument {
  createElementNS(ns: string, tag: string): DomElement;
}

interface Dom {
  document: DomDocument;
  serialize(node: DomElement): string;
}

let dom: Dom | undefined;
let plotModule: typeof PlotTypes | undefined;

/** One jsdom window, created on first use and reused. */
function getDom(): Dom {
  if (!dom) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { JSDOM } = require("jsdom");
    const window = new JSDOM("<!DOCTYPE html><html><body></body></html>").window;
    const serializer = new window.XMLSerializer();
    dom = {
      document: window.document as DomDocument,
      serialize: (node: DomElement) => serializer.serializeToString(node) as string,
    };
  }
  return dom;
}

function plotLib(): typeof PlotTypes {
  if (!plotModule) plotModule = require("@observablehq/plot") as typeof PlotTypes;
  return plotModule;
}

type Attrs = Record<string, string | number | undefined>;

function el(tag: string, attrs: Attrs = {}, children: (DomNode | string)[] = []): DomElement {
  const doc = getDom().document;
  const e = doc.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, String(v));
  for (const c of children) {
    if (typeof c === "string") {
      const t = doc.createElementNS(SVG_NS, "tspan");
      t.textContent = c;
      e.appendChild(t);
    } else e.appendChild(c);
  }
  return e;
}

function text(content: string, attrs: Attrs): DomElement {
  const t = el("text", attrs);
  t.textContent = content;
  return t;
}

function tooltip(content: string): DomElement {
  const t = el("title");
  t.textContent = content;
  return t;
}

/** Runs Plot.plot in jsdom and returns its marks in a <g>, without Plot's <style>, ready to place on a card. */
function plotBody(options: PlotTypes.PlotOptions, x: number, y: number): DomElement {
  const Plot = plotLib();
  const svg = Plot.plot({
    ...options,
    document: getDom().document as unknown as PlotTypes.PlotOptions["document"],
  }) as unknown as DomElement;
  const g = el("g", {
    class: "kt-plot",
    transform: `translate(${x},${y})`,
    fill: "currentColor",
    "font-size": 11,
    "text-anchor": "middle",
  });
  for (let c = svg.firstChild; c; c = svg.firstChild) {
    if (c.nodeName.toLowerCase() === "style") svg.removeChild(c);
    else g.appendChild(c);
  }
  return g;
}

// ---------------------------------------------------------------------------
// The card: background, title, subtitle, legend, body, caption

interface LegendItem {
  label: string;
  color: string;
  /** "line": a line with a dot; "frame": an outlined square; "swatch": a filled square. */
  kind: "line" | "frame" | "swatch";
  key: string;
}

interface CardSpec {
  name: string;
  title?: string;
  subtitle?: string;
  legend?: LegendItem[];
  /** Parts placed below the header; coordinates relative to the body's top-left corner. */
  body: (top: number) => DomElement[];
  bodyWidth: number;
  bodyHeight: number;
  caption?: string;
}

/** Rough width of a text in the card's font (for layout only). */
function textWidth(s: string, fontSize: number): number {
  return s.length * fontSize * 0.6;
}

function wrap(s: string, maxChars: number): string[] {
  const lines: string[] = [];
  for (const paragraph of s.split("\n")) {
    let line = "";
    for (const word of paragraph.split(/\s+/).filter((w) => w !== "")) {
      if (line !== "" && line.length + 1 + word.length > maxChars) {
        lines.push(line);
        line = word;
      } else line = line === "" ? word : `${line} ${word}`;
    }
    lines.push(line);
  }
  return lines;
}

function legendWidth(items: LegendItem[]): number {
  return items.reduce((w, it) => w + 28 + textWidth(it.label, 12) + 18, 0);
}

function card(spec: CardSpec): Figure {
  const titleWidth = spec.title ? textWidth(spec.title, 15) * 1.05 : 0;
  const subtitleWidth = spec.subtitle ? textWidth(spec.subtitle, 12) : 0;
  const width = Math.ceil(
    Math.max(spec.bodyWidth, titleWidth, subtitleWidth, spec.legend ? legendWidth(spec.legend) : 0, 300) + 2 * PAD,
  );
  const parts: DomElement[] = [];
  let y = PAD;
  if (spec.title) {
    parts.push(text(spec.title, { class: "kt-title", x: PAD, y: y + 14, "font-size": 15, "font-weight": 600 }));
    y += 24;
  }
  if (spec.subtitle) {
    parts.push(text(spec.subtitle, { class: "kt-subtitle", x: PAD, y: y + 11, "font-size": 12, fill: MUTED }));
    y += 20;
  }
  if (spec.legend && spec.legend.length > 0) {
    const g = el("g", { class: "kt-legend", transform: `translate(${PAD},${y})`, "font-size": 12 });
    let x = 0;
    for (const item of spec.legend) {
      const entry = el("g", { class: "kt-legend-item", "data-key": item.key, transform: `translate(${x},0)` });
      if (item.kind === "line") {
        entry.appendChild(el("line", { x1: 0, x2: 22, y1: 8, y2: 8, stroke: item.color, "stroke-width": 2 }));
        entry.appendChild(el("circle", { cx: 11, cy: 8, r: 3.5, fill: item.color, stroke: CARD, "stroke-width": 1 }));
      } else if (item.kind === "frame") {
        entry.appendChild(el("rect", { x: 4, y: 1, width: 14, height: 14, fill: "none", stroke: item.color, "stroke-width": 2.5 }));
      } else {
        entry.appendChild(el("rect", { x: 4, y: 1, width: 14, height: 14, fill: item.color }));
      }
      entry.appendChild(text(item.label, { x: 28, y: 12.5 }));
      g.appendChild(entry);
      x += 28 + textWidth(item.label, 12) + 18;
    }
    parts.push(g);
    y += 24;
  }
  y += 4;
  parts.push(...spec.body(y));
  y += spec.bodyHeight;
  if (spec.caption) {
    y += 8;
    const lines = wrap(spec.caption, Math.max(30, Math.floor((width - 2 * PAD) / 7)));
    for (const line of lines) {
      parts.push(text(line, { class: "kt-caption", x: PAD, y: y + 12, "font-size": 12, fill: MUTED }));
      y += 17;
    }
  }
  const height = Math.ceil(y + PAD - 4);
  const root = el("svg", {
    class: `kt-figure kt-${spec.name}`,
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": spec.title ?? spec.name,
    "font-family": FONT,
    "font-size": 12,
    fill: "currentColor",
    style: `color:${INK}`,
  });
  if (spec.title) root.appendChild(tooltip(spec.title));
  root.appendChild(el("rect", { class: "kt-background", width, height, rx: 6, fill: CARD }));
  for (const p of parts) root.appendChild(p);
  return {
    svg: getDom().serialize(root),
    width,
    height,
    name: spec.name,
    title: spec.title,
    caption: spec.caption,
  };
}

// ---------------------------------------------------------------------------
// Number formatting

function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

function percent(x: number, digits = 1): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : "—";
}

function grouped(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function compactCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 1 : 2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return String(n);
}

/** 42 → "42 s", 125 → "2 min 5 s", 3725 → "1 h 2 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "—";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// ---------------------------------------------------------------------------
// Training history

function series(h: Record<string, unknown>, keys: string[]): number[] | undefined {
  for (const k of keys) {
    const v = h[k];
    if (v != null && typeof (v as ArrayLike<number>).length === "number" && typeof v !== "string") {
      return Array.from(v as ArrayLike<number>, Number);
    }
  }
  return undefined;
}

/** Integer ticks 1, …, n: every epoch when few, else 1 and multiples of a round step. */
function epochTicks(n: number): number[] {
  if (n <= 12) return Array.from({ length: n }, (_, i) => i + 1);
  const raw = n / 8;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const ticks = [1];
  for (let t = step; t <= n; t += step) if (t > 1) ticks.push(t);
  return ticks;
}

/**
 * Training and validation curves per epoch, like the tutorial's "model
 * accuracy" and "model loss" figures: lines with dots, epochs from 1.
 * `history` is Keras-style (`loss`, `accuracy`, `val_loss`, `val_accuracy`,
 * one number per epoch; the validation series may be absent), or an object
 * with such a `history` field (TF.js's History).
 */
export function historyPlot(history: HistoryRecord | { history: HistoryRecord }, options: HistoryPlotOptions): Figure {
  const metric = options.metric;
  if (metric !== "accuracy" && metric !== "loss") throw new Error(`metric must be "accuracy" or "loss", got ${JSON.stringify(metric)}.`);
  const h = ("history" in history && history.history ? history.history : history) as Record<string, unknown>;
  const trainKeys = metric === "accuracy" ? ["accuracy", "acc"] : ["loss"];
  const train = series(h, trainKeys);
  const validation = series(h, trainKeys.map((k) => `val_${k}`));
  if (!train && !validation) {
    throw new Error(`The history has no "${metric}" values (it has: ${Object.keys(h).join(", ") || "nothing"}).`);
  }
  type Point = { epoch: number; value: number; series: string };
  const points: Point[] = [];
  const legend: LegendItem[] = [];
  const add = (values: number[] | undefined, name: string, color: string) => {
    if (!values || values.length === 0) return;
    values.forEach((value, i) => points.push({ epoch: i + 1, value, series: name }));
    legend.push({ label: name, color, kind: "line", key: name });
  };
  add(train, "train", TRAIN);
  add(validation, "validation", VALIDATION);
  const epochs = Math.max(train?.length ?? 0, validation?.length ?? 0);
  const label = metric === "accuracy" ? "Accuracy" : "Loss";
  const width = options.width ?? 560;
  const height = options.height ?? 320;
  const Plot = plotLib();
  const finite = points.filter((p) => Number.isFinite(p.value));
  const body = (top: number) => [
    plotBody(
      {
        width,
        height,
        marginLeft: 72,
        marginRight: 20,
        marginTop: 12,
        marginBottom: 44,
        x: {
          type: "linear",
          // A single epoch sits in the middle rather than at the left edge.
          domain: epochs <= 1 ? [0.5, 1.5] : [1, epochs],
          ticks: epochTicks(epochs),
          tickFormat: "d",
          label: "Epoch",
          labelAnchor: "center",
          labelArrow: "none",
          labelOffset: 36,
          inset: 12,
        },
        y: {
          label,
          labelAnchor: "center",
          labelArrow: "none",
          labelOffset: 60,
          grid: true,
          nice: true,
          inset: 6,
        },
        color: { domain: ["train", "validation"], range: [TRAIN, VALIDATION] },
        marks: [
          Plot.frame({ stroke: BORDER, fill: "none" }),
          Plot.lineY(points, { x: "epoch", y: "value", stroke: "series", z: "series", strokeWidth: 2 }),
          epochs <= 60
            ? Plot.dot(finite, {
                x: "epoch",
                y: "value",
                fill: "series",
                r: 3.5,
                stroke: CARD,
                strokeWidth: 1,
                title: (d: Point) => `${d.series}, epoch ${d.epoch}: ${fixed(d.value, 4)}`,
              })
            : null,
        ],
      },
      PAD,
      top,
    ),
  ];
  const finalParts: string[] = [];
  if (train?.length) finalParts.push(`train ${fixed(train[train.length - 1], 4)}`);
  if (validation?.length) finalParts.push(`validation ${fixed(validation[validation.length - 1], 4)}`);
  return card({
    name: `history-${metric}`,
    title: options.title ?? (metric === "accuracy" ? "Model accuracy" : "Model loss"),
    legend,
    body,
    bodyWidth: width,
    bodyHeight: height,
    caption: `${label} after epoch ${epochs}: ${finalParts.join(", ")}.`,
  });
}

// ---------------------------------------------------------------------------
// Images: PNG encoding (grey, 8 bit) and pixel conversion

let crcTable: Uint32Array | undefined;

function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * A greyscale PNG of `grey` (bytes, row-major, width×height), each pixel
 * drawn as a `scale`×`scale` block.
 */
export function encodeGreyPng(grey: Uint8Array, width: number, height: number, scale = 1): Buffer {
  if (grey.length !== width * height) throw new Error(`${grey.length} bytes for a ${width}×${height} image.`);
  const w = width * scale;
  const h = height * scale;
  const raw = Buffer.alloc((w + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = (w + 1) * y; // raw[row] = 0: filter "none"
    const src = Math.floor(y / scale) * width;
    for (let x = 0; x < w; x++) raw[row + 1 + x] = grey[src + Math.floor(x / scale)];
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // colour type: greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", zlib.deflateSync(raw, { level: 9 })),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

function defaultMax(pixels: PixelData): number {
  return pixels instanceof Uint8Array || pixels instanceof Uint8ClampedArray ? 255 : 1;
}

/**
 * Ink in [0, 1] per pixel (mean over channels), from pixel values in
 * [0, maxValue]; values outside are clamped, NaN is 0.
 */
function inkOf(pixels: PixelData, width: number, height: number, channels: number, maxValue: number): Float64Array {
  const n = width * height;
  if (pixels.length !== n * channels) {
    throw new Error(`Expected ${width}×${height}×${channels} = ${n * channels} pixel values, got ${pixels.length}.`);
  }
  const ink = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += Number(pixels[i * channels + c]);
    const v = s / channels / maxValue;
    ink[i] = v > 1 ? 1 : v > 0 ? v : 0;
  }
  return ink;
}

/** matplotlib's "binary" colormap: ink 0 → white (255), 1 → black (0). */
function binaryGrey(ink: Float64Array): Uint8Array {
  const g = new Uint8Array(ink.length);
  for (let i = 0; i < ink.length; i++) g[i] = Math.round(255 * (1 - ink[i]));
  return g;
}

/** An <image> of the digit at (x, y), with a thin frame, `scale` screen pixels per image pixel. */
function digitNode(ink: Float64Array, width: number, height: number, scale: number, x: number, y: number, attrs: Attrs = {}): DomElement {
  const png = encodeGreyPng(binaryGrey(ink), width, height, scale);
  const g = el("g", { class: "kt-digit", transform: `translate(${x},${y})`, ...attrs });
  g.appendChild(
    el("image", {
      width: width * scale,
      height: height * scale,
      href: `data:image/png;base64,${png.toString("base64")}`,
      preserveAspectRatio: "none",
      "image-rendering": "optimizeSpeed",
      style: "image-rendering:pixelated",
      "data-pixels": `${width}x${height}`,
    }),
  );
  return g;
}

function frame(w: number, h: number, stroke: string, strokeWidth: number, cls: string): DomElement {
  const o = strokeWidth / 2;
  return el("rect", {
    class: cls,
    x: -o,
    y: -o,
    width: w + 2 * o,
    height: h + 2 * o,
    fill: "none",
    stroke,
    "stroke-width": strokeWidth,
  });
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number ≥ ${min}, got ${v}.`);
}

/**
 * One digit, as the tutorial's `imshow(…, cmap="binary")`: 0 white, the
 * maximum black, square pixels, no axes. `pixels` are row-major (28×28 by
 * default; with `channels: 3`, interleaved RGB drawn as the channels' mean).
 */
export function digitImage(pixels: PixelData, options: DigitImageOptions = {}): Figure {
  const width = options.width ?? 28;
  const height = options.height ?? 28;
  const channels = options.channels ?? 1;
  checkInt("width", width, 1);
  checkInt("height", height, 1);
  const ink = inkOf(pixels, width, height, channels, options.maxValue ?? defaultMax(pixels));
  const scale = options.pixelSize ?? Math.max(1, Math.round(168 / Math.max(width, height)));
  checkInt("pixelSize", scale, 1);
  const w = width * scale;
  const h = height * scale;
  const label = options.label === undefined ? undefined : typeof options.label === "number" ? `label ${options.label}` : options.label;
  const bodyHeight = h + (label ? 24 : 0);
  const bodyWidth = Math.max(w, label ? textWidth(label, 13) : 0);
  return card({
    name: "digit",
    title: options.title,
    body: (top) => {
      const x = PAD + (bodyWidth - w) / 2;
      const g = digitNode(ink, width, height, scale, x, top);
      g.appendChild(frame(w, h, BORDER, 1, "kt-frame"));
      const parts = [g];
      if (label) parts.push(text(label, { class: "kt-label", x: PAD + bodyWidth / 2, y: top + h + 18, "text-anchor": "middle", "font-size": 13 }));
      return parts;
    },
    bodyWidth,
    bodyHeight,
  });
}

/**
 * Digits in a grid, each labelled "true 7 · pred 7" (with the probability of
 * the prediction when given); mistakes get a red frame, a red bold label and
 * a ✗. Without predictions, each digit is labelled with its label.
 */
export function digitGrid(items: GridDigit[], options: DigitGridOptions = {}): Figure {
  const n = items.length;
  const width = options.imageWidth ?? 28;
  const height = options.imageHeight ?? 28;
  const channels = options.channels ?? 1;
  const columns = Math.max(1, Math.min(options.columns ?? (n <= 6 ? n : n <= 12 ? Math.ceil(n / 2) : 8), Math.max(n, 1)));
  checkInt("columns", columns, 1);
  const scale = options.pixelSize ?? Math.max(1, Math.round(84 / Math.max(width, height)));
  const w = width * scale;
  const h = height * scale;
  const hasPredictions = items.some((d) => d.predicted !== undefined);
  const hasProbabilities = items.some((d) => d.probability !== undefined);
  const cellWidth = Math.max(w, 104) + 16;
  const labelLines = hasProbabilities ? 2 : 1;
  const cellHeight = h + 10 + labelLines * 15 + 12;
  const rows = Math.ceil(n / columns);
  const mistakes = items.filter((d) => d.predicted !== undefined && d.predicted !== d.label).length;
  const subtitle = hasPredictions
    ? mistakes === 0
      ? `${n} digit${n === 1 ? "" : "s"}, all predicted correctly`
      : `${mistakes} of ${n} digit${n === 1 ? "" : "s"} misclassified`
    : `${n} digit${n === 1 ? "" : "s"}`;
  const legend: LegendItem[] | undefined = hasPredictions && mistakes > 0
    ? [
        { label: "correct", color: BORDER, kind: "frame", key: "correct" },
        { label: "✗ mistake", color: RED, kind: "frame", key: "mistake" },
      ]
    : undefined;
  return card({
    name: "digit-grid",
    title: options.title,
    subtitle,
    legend,
    bodyWidth: columns * cellWidth,
    bodyHeight: rows * cellHeight,
    body: (top) =>
      items.map((d, i) => {
        const col = i % columns;
        const row = Math.floor(i / columns);
        const cx = PAD + col * cellWidth + cellWidth / 2;
        const y0 = top + row * cellHeight + 4;
        const wrong = d.predicted !== undefined && d.predicted !== d.label;
        const ink = inkOf(d.pixels, width, height, channels, options.maxValue ?? defaultMax(d.pixels));
        const g = digitNode(ink, width, height, scale, cx - w / 2, y0, {
          class: wrong ? "kt-digit kt-mistake" : "kt-digit",
          "data-index": i,
        });
        g.appendChild(frame(w, h, wrong ? RED : BORDER, wrong ? 3 : 1, wrong ? "kt-frame kt-mistake-frame" : "kt-frame"));
        const line1 = d.predicted === undefined ? `label ${d.label}` : `${wrong ? "✗ " : ""}true ${d.label} · pred ${d.predicted}`;
        const labelAttrs: Attrs = {
          class: "kt-label",
          x: w / 2,
          y: h + 18,
          "text-anchor": "middle",
          "font-size": 11.5,
          fill: wrong ? RED : INK,
          "font-weight": wrong ? 700 : undefined,
        };
        g.appendChild(text(line1, labelAttrs));
        if (d.probability !== undefined) {
          g.appendChild(
            text(`p = ${percent(d.probability)}`, {
              class: "kt-probability",
              x: w / 2,
              y: h + 33,
              "text-anchor": "middle",
              "font-size": 11,
              fill: wrong ? RED : MUTED,
            }),
          );
        }
        const tip = [`true ${d.label}`];
        if (d.predicted !== undefined) tip.push(`predicted ${d.predicted}`);
        if (d.probability !== undefined) tip.push(`probability ${fixed(d.probability, 4)}`);
        if (d.index !== undefined) tip.push(`digit #${d.index}`);
        g.appendChild(tooltip(tip.join(", ")));
        return g;
      }),
  });
}

/**
 * A 28×28 digit beside its 84×84×3 upsampled copy (as the model's
 * UpSampling3D layer makes it), drawn at the same size: the original, then
 * each of the 3 channels. The caption says whether the channels are identical
 * copies and whether the upsampling is nearest-neighbour ×3 — checked on the
 * data given. Sizes are inferred from the lengths (n×n and m×m×3).
 */
export function upsampledComparison(original: PixelData, upsampled: PixelData, options: UpsampledComparisonOptions = {}): Figure {
  const n = Math.round(Math.sqrt(original.length));
  const m = Math.round(Math.sqrt(upsampled.length / 3));
  if (n * n !== original.length) throw new Error(`The original must be a square grey image (n×n values), got ${original.length} values.`);
  if (m * m * 3 !== upsampled.length) throw new Error(`The upsampled image must be m×m×3 values, got ${upsampled.length}.`);
  const origInk = inkOf(original, n, n, 1, options.maxValue ?? defaultMax(original));
  const maxUp = options.maxValue ?? defaultMax(upsampled);
  const channelInk: Float64Array[] = [0, 1, 2].map((c) => {
    const ink = new Float64Array(m * m);
    for (let i = 0; i < m * m; i++) {
      const v = Number(upsampled[i * 3 + c]) / maxUp;
      ink[i] = v > 1 ? 1 : v > 0 ? v : 0;
    }
    return ink;
  });
  // What the data shows: identical channels? nearest-neighbour ×k of the original?
  const tol = 1e-3;
  let channelDiff = 0;
  for (let i = 0; i < m * m; i++) {
    channelDiff = Math.max(channelDiff, Math.abs(channelInk[0][i] - channelInk[1][i]), Math.abs(channelInk[0][i] - channelInk[2][i]));
  }
  const factor = m / n;
  let nearest = Number.isInteger(factor);
  if (nearest) {
    for (let y = 0; y < m && nearest; y++) {
      for (let x = 0; x < m; x++) {
        if (Math.abs(channelInk[0][y * m + x] - origInk[Math.floor(y / factor) * n + Math.floor(x / factor)]) > tol) {
          nearest = false;
          break;
        }
      }
    }
  }
  const size = 168;
  const scaleO = Math.max(1, Math.round(size / n));
  const scaleU = Math.max(1, Math.round(size / m));
  const panels = [
    { ink: origInk, px: n, scale: scaleO, label: `original · ${n}×${n}×1`, key: "original" },
    ...channelInk.map((ink, c) => ({ ink, px: m, scale: scaleU, label: `channel ${c} · ${m}×${m}`, key: `channel-${c}` })),
  ];
  const gap = 22;
  const panelWidth = Math.max(n * scaleO, m * scaleU);
  const caption =
    (Number.isInteger(factor) ? `Upsampling ×${factor}: ` : "") +
    (nearest ? `each pixel of the original becomes a ${factor}×${factor} block (nearest neighbour). ` : `the upsampled image is not a nearest-neighbour ×${fixed(factor, 2)} copy of the original. `) +
    (channelDiff <= tol
      ? "The 3 channels are identical copies of the grey image, so the RGB composite looks the same grey."
      : `The 3 channels differ (largest difference ${fixed(channelDiff, 3)} of full scale).`);
  return card({
    name: "upsampled",
    title: options.title ?? `A digit before and after upsampling (${n}×${n}×1 → ${m}×${m}×3)`,
    bodyWidth: panels.length * panelWidth + (panels.length - 1) * gap,
    bodyHeight: panelWidth + 26,
    caption,
    body: (top) =>
      panels.map((p, i) => {
        const w = p.px * p.scale;
        const x = PAD + i * (panelWidth + gap) + (panelWidth - w) / 2;
        const g = digitNode(p.ink, p.px, p.px, p.scale, x, top, { class: `kt-digit kt-panel-${p.key}` });
        g.appendChild(frame(w, w, BORDER, 1, "kt-frame"));
        g.appendChild(text(p.label, { class: "kt-label", x: w / 2, y: w + 19, "text-anchor": "middle", "font-size": 12 }));
        return g;
      }),
  });
}

// ---------------------------------------------------------------------------
// Confusion matrix

/** counts[t][p]: how many digits of true class t were predicted as p. */
export function confusionCounts(trueLabels: ArrayLike<number>, predictedLabels: ArrayLike<number>, classes = 10): number[][] {
  if (trueLabels.length !== predictedLabels.length) {
    throw new Error(`${trueLabels.length} true labels but ${predictedLabels.length} predicted labels; they must match.`);
  }
  checkInt("classes", classes, 1);
  const counts = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < trueLabels.length; i++) {
    const t = Number(trueLabels[i]);
    const p = Number(predictedLabels[i]);
    if (!Number.isInteger(t) || t < 0 || t >= classes || !Number.isInteger(p) || p < 0 || p >= classes) {
      throw new Error(`Labels must be class numbers 0…${classes - 1}; item ${i} is (true ${t}, predicted ${p}).`);
    }
    counts[t][p]++;
  }
  return counts;
}

/**
 * The confusion matrix: one cell per (true, predicted) pair with its count,
 * shaded by count (square-root blue scale, so that small error counts show);
 * rows are true classes, columns predicted ones.
 */
export function confusionMatrix(trueLabels: ArrayLike<number>, predictedLabels: ArrayLike<number>, options: ConfusionMatrixOptions = {}): Figure {
  const classes = options.classes ?? 10;
  const counts = confusionCounts(trueLabels, predictedLabels, classes);
  type Cell = { t: number; p: number; count: number };
  const cells: Cell[] = [];
  let max = 0;
  let correct = 0;
  for (let t = 0; t < classes; t++) {
    for (let p = 0; p < classes; p++) {
      cells.push({ t, p, count: counts[t][p] });
      max = Math.max(max, counts[t][p]);
    }
    correct += counts[t][t];
  }
  const total = trueLabels.length;
  const cellSize = classes <= 12 ? 38 : Math.max(16, Math.floor(456 / classes));
  const marginLeft = 52;
  const marginBottom = 46;
  const marginTop = 8;
  const width = marginLeft + classes * cellSize + 12;
  const height = marginTop + classes * cellSize + marginBottom;
  const domain = Array.from({ length: classes }, (_, i) => i);
  const Plot = plotLib();
  const dark = (c: Cell) => max > 0 && Math.sqrt(c.count / max) > 0.45;
  const fontSize = cellSize >= 30 ? (max >= 1000 ? 10 : 11) : 8;
  return card({
    name: "confusion-matrix",
    title: options.title ?? "Confusion matrix",
    bodyWidth: width,
    bodyHeight: height,
    caption:
      total > 0
        ? `Accuracy ${percent(correct / total)} (${grouped(correct)} of ${grouped(total)} correct, on the diagonal). Rows: true class; columns: predicted class.`
        : "No labels given.",
    body: (top) => [
      plotBody(
        {
          width,
          height,
          marginLeft,
          marginRight: 12,
          marginTop,
          marginBottom,
          padding: 0,
          x: { domain, label: "Predicted", labelAnchor: "center", labelArrow: "none", labelOffset: 36, tickSize: 0 },
          y: { domain, label: "True", labelAnchor: "center", labelArrow: "none", labelOffset: 40, tickSize: 0 },
          color: { type: "sqrt", domain: [0, Math.max(max, 1)], range: ["#f7fbff", "#08306b"], interpolate: "hcl" },
          marks: [
            Plot.cell(cells, {
              x: "p",
              y: "t",
              fill: "count",
              inset: 0.5,
              title: (c: Cell) => `true ${c.t}, predicted ${c.p}: ${c.count}`,
            }),
            ...[true, false].map((diagonal) =>
              Plot.text(
                cells.filter((c) => (c.t === c.p) === diagonal),
                {
                  x: "p",
                  y: "t",
                  text: (c: Cell) => String(c.count),
                  fill: (c: Cell) => (dark(c) ? "#ffffff" : c.count === 0 ? "#8c959f" : INK),
                  fontSize,
                  fontWeight: diagonal ? 700 : 400,
                },
              ),
            ),
            Plot.frame({ stroke: BORDER }),
          ],
        },
        PAD,
        top,
      ),
    ],
  });
}

// ---------------------------------------------------------------------------
// Comparing runs (freeze depths)

interface RunRow {
  key: string;
  run: ComparisonRun;
  best: boolean;
}

function runRows(runs: ComparisonRun[]): RunRow[] {
  const seen = new Map<string, number>();
  let best = -1;
  runs.forEach((r, i) => {
    if (r.testAccuracy !== undefined && Number.isFinite(r.testAccuracy) && (best < 0 || r.testAccuracy > (runs[best].testAccuracy as number))) best = i;
  });
  return runs.map((run, i) => {
    const base = String(run.freezeDepth);
    const k = (seen.get(base) ?? 0) + 1;
    seen.set(base, k);
    return { key: k === 1 ? base : `${base} (#${k})`, run, best: i === best };
  });
}

/**
 * Test accuracy (dots, labelled) and training time (bars) per freeze depth,
 * for runs in the order given; the best accuracy is highlighted.
 */
export function comparisonPlot(runs: ComparisonRun[], options: ComparisonPlotOptions = {}): Figure {
  // Numeric depths are shown in increasing order (then a line joins the dots); otherwise in the order given.
  const numeric = runs.every((r) => typeof r.freezeDepth === "number");
  const given = runRows(runs);
  const rows = numeric ? given.slice().sort((a, b) => (a.run.freezeDepth as number) - (b.run.freezeDepth as number)) : given;
  const Plot = plotLib();
  const keys = rows.map((r) => r.key);
  const panelWidth = Math.max(260, Math.min(520, 70 + keys.length * 100));
  const height = 260;
  const gap = 28;
  const tickLabel = (k: string) => {
    const r = rows.find((row) => row.key === k);
    return r ? `${k}\n${compactCount(r.run.trainableParams)} trainable` : k;
  };
  const common = {
    width: panelWidth,
    height,
    marginLeft: 56,
    marginRight: 12,
    marginTop: 24,
    marginBottom: 58,
  };
  const xAxis: PlotTypes.ScaleOptions = {
    domain: keys,
    label: "Freeze depth (frozen base layers)",
    labelAnchor: "center",
    labelArrow: "none",
    labelOffset: 50,
    tickFormat: tickLabel,
    padding: 0.3,
  };
  const accRows = rows.filter((r) => r.run.testAccuracy !== undefined && Number.isFinite(r.run.testAccuracy));
  const timeRows = rows.filter((r) => r.run.seconds !== undefined && Number.isFinite(r.run.seconds));
  const accs = accRows.map((r) => r.run.testAccuracy as number);
  const lo = accs.length ? Math.min(...accs) : 0;
  const hi = accs.length ? Math.max(...accs) : 1;
  const spread = Math.max(hi - lo, 0.02);
  const accDomain = [Math.max(0, lo - spread * 0.6), Math.min(1, hi + spread * 0.6)];
  const best = rows.find((r) => r.best);
  const panelTitle = (s: string) => text(s, { "font-size": 12, "font-weight": 600, x: 0, y: 0 });
  const body = (top: number): DomElement[] => {
    const accTitle = panelTitle("Test accuracy");
    accTitle.setAttribute("x", String(PAD + common.marginLeft));
    accTitle.setAttribute("y", String(top + 12));
    const timeTitle = panelTitle("Training time (seconds)");
    timeTitle.setAttribute("x", String(PAD + panelWidth + gap + common.marginLeft));
    timeTitle.setAttribute("y", String(top + 12));
    return [
      accTitle,
      timeTitle,
      plotBody(
        {
          ...common,
          x: xAxis,
          y: { domain: accDomain, label: null, grid: true, tickFormat: (v: number) => percent(v, spread < 0.05 ? 1 : 0) },
          marks: [
            Plot.frame({ stroke: BORDER }),
            numeric && accRows.length > 1 ? Plot.line(accRows, { x: "key", y: (r: RunRow) => r.run.testAccuracy, stroke: BORDER, strokeWidth: 1.5 }) : null,
            Plot.dot(accRows, {
              x: "key",
              y: (r: RunRow) => r.run.testAccuracy,
              r: 5.5,
              fill: (r: RunRow) => (r.best ? "#0969da" : "#8cb4e8"),
              stroke: (r: RunRow) => (r.best ? "#0550ae" : "#5a8fd6"),
              title: (r: RunRow) => `freeze ${r.key}: ${percent(r.run.testAccuracy as number, 2)}`,
            }),
            ...[true, false].map((isBest) =>
              Plot.text(
                accRows.filter((r) => r.best === isBest),
                {
                  x: "key",
                  y: (r: RunRow) => r.run.testAccuracy,
                  text: (r: RunRow) => percent(r.run.testAccuracy as number, 2),
                  dy: -13,
                  fontSize: 11,
                  fontWeight: isBest ? 700 : 400,
                },
              ),
            ),
          ],
        },
        PAD,
        top + 4,
      ),
      plotBody(
        {
          ...common,
          x: xAxis,
          y: { label: null, grid: true, nice: true, zero: true, insetTop: 14 },
          marks: [
            Plot.frame({ stroke: BORDER }),
            Plot.barY(timeRows, {
              x: "key",
              y: (r: RunRow) => r.run.seconds,
              fill: (r: RunRow) => (r.best ? "#0969da" : "#8cb4e8"),
              title: (r: RunRow) => `freeze ${r.key}: ${formatDuration(r.run.seconds as number)}`,
            }),
            Plot.text(timeRows, {
              x: "key",
              y: (r: RunRow) => r.run.seconds,
              text: (r: RunRow) => formatDuration(r.run.seconds as number),
              dy: -8,
              fontSize: 11,
            }),
          ],
        },
        PAD + panelWidth + gap,
        top + 4,
      ),
    ];
  };
  const caption = best
    ? `Best: freeze depth ${best.key}, ${percent(best.run.testAccuracy as number, 2)} test accuracy with ${grouped(best.run.trainableParams)} trainable parameters` +
      (best.run.seconds !== undefined ? ` in ${formatDuration(best.run.seconds)}.` : ".") +
      (rows.length === 1 ? " Train again with another freeze depth to compare." : "")
    : runs.length === 0
      ? "No runs yet."
      : "No run evaluated on the test set yet.";
  return card({
    name: "freeze-comparison",
    title: options.title ?? "Freeze depths compared",
    body,
    bodyWidth: 2 * panelWidth + gap,
    bodyHeight: height + 4,
    caption,
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/** The runs as an HTML table (freeze depth, trainable parameters, test accuracy, time); the best accuracy in bold. */
export function comparisonTable(runs: ComparisonRun[]): string {
  const rows = runRows(runs);
  const th = (s: string, align = "right") => `<th style="text-align:${align};padding:4px 10px">${escapeHtml(s)}</th>`;
  const td = (s: string, bold: boolean, align = "right") =>
    `<td style="text-align:${align};padding:4px 10px;font-variant-numeric:tabular-nums">${bold ? `<strong>${escapeHtml(s)}</strong>` : escapeHtml(s)}</td>`;
  const body = rows
    .map(
      (r) =>
        `<tr>${td(r.key, false, "left")}${td(grouped(r.run.trainableParams), false)}` +
        `${td(r.run.testAccuracy === undefined ? "—" : percent(r.run.testAccuracy, 2), r.best)}` +
        `${td(r.run.seconds === undefined ? "—" : formatDuration(r.run.seconds), false)}</tr>`,
    )
    .join("");
  return (
    `<table class="kt-comparison-table" style="border-collapse:collapse">` +
    `<thead><tr>${th("Freeze depth", "left")}${th("Trainable parameters")}${th("Test accuracy")}${th("Training time")}</tr></thead>` +
    `<tbody>${body || `<tr><td colspan="4" style="padding:4px 10px">No runs yet.</td></tr>`}</tbody></table>`
  );
}
