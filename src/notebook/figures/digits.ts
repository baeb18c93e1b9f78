/**
 * Digits drawn as images:
 *
 * - `digitImage`           one digit, black ink on white (matplotlib's "binary" colormap)
 * - `digitGrid`            digits with true and predicted labels, mistakes in red
 * - `upsampledComparison`  a 28×28 digit beside its 84×84×3 upsampled copy
 */
import { fixed, percent } from "../../util/format";
import { card, textWidth, type LegendItem } from "./card";
import { text, tooltip, type DomElement } from "./dom";
import { checkInt, type Figure, type PixelData } from "./figure";
import { channelInk, defaultMax, digitLabel, framedDigit, inkOf, type DigitPicture } from "./pixels";
import { BORDER, INK, MUTED, PAD, RED } from "./theme";

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
  const label =
    options.label === undefined
      ? undefined
      : typeof options.label === "number"
        ? `label ${options.label}`
        : options.label;
  const bodyHeight = h + (label ? 24 : 0);
  const bodyWidth = Math.max(w, label ? textWidth(label, 13) : 0);
  return card({
    name: "digit",
    title: options.title,
    body: (top) => {
      const g = framedDigit({ ink, width, height, scale }, PAD + (bodyWidth - w) / 2, top);
      return label ? [g, digitLabel(label, PAD + bodyWidth / 2, top + h + 18, 13)] : [g];
    },
    bodyWidth,
    bodyHeight,
  });
}

const digitCount = (n: number) => `${n} digit${n === 1 ? "" : "s"}`;

const isMistake = (d: GridDigit) => d.predicted !== undefined && d.predicted !== d.label;

/** Digits per row: as asked, else all when 6 or fewer, half when 12 or fewer, else 8; at most one per digit. */
function gridColumns(n: number, asked: number | undefined): number {
  const columns = Math.max(1, Math.min(asked ?? (n <= 6 ? n : n <= 12 ? Math.ceil(n / 2) : 8), Math.max(n, 1)));
  checkInt("columns", columns, 1);
  return columns;
}

/** How many digits, and with predictions how many are wrong; a legend for the frames when some are. */
function gridHeader(items: GridDigit[]): { subtitle: string; legend?: LegendItem[] } {
  const n = items.length;
  if (!items.some((d) => d.predicted !== undefined)) return { subtitle: digitCount(n) };
  const mistakes = items.filter(isMistake).length;
  if (mistakes === 0) return { subtitle: `${digitCount(n)}, all predicted correctly` };
  return {
    subtitle: `${mistakes} of ${digitCount(n)} misclassified`,
    legend: [
      { label: "correct", color: BORDER, kind: "frame", key: "correct" },
      { label: "✗ mistake", color: RED, kind: "frame", key: "mistake" },
    ],
  };
}

/** The tooltip of a digit of the grid: what is known of it. */
function gridTooltip(d: GridDigit): string {
  const tip = [`true ${d.label}`];
  if (d.predicted !== undefined) tip.push(`predicted ${d.predicted}`);
  if (d.probability !== undefined) tip.push(`probability ${fixed(d.probability, 4)}`);
  if (d.index !== undefined) tip.push(`digit #${d.index}`);
  return tip.join(", ");
}

/** The size of the grid's digits and of its cells (a digit, one or two label lines, space). */
interface GridLayout {
  width: number;
  height: number;
  channels: number;
  scale: number;
  cellWidth: number;
  cellHeight: number;
  columns: number;
}

function gridLayout(items: GridDigit[], options: DigitGridOptions): GridLayout {
  const width = options.imageWidth ?? 28;
  const height = options.imageHeight ?? 28;
  const scale = options.pixelSize ?? Math.max(1, Math.round(84 / Math.max(width, height)));
  const labelLines = items.some((d) => d.probability !== undefined) ? 2 : 1;
  return {
    width,
    height,
    channels: options.channels ?? 1,
    scale,
    cellWidth: Math.max(width * scale, 104) + 16,
    cellHeight: height * scale + 10 + labelLines * 15 + 12,
    columns: gridColumns(items.length, options.columns),
  };
}

/** Digit i of the grid in its cell: framed (red for a mistake), labelled, with a tooltip. */
function gridCell(d: GridDigit, i: number, layout: GridLayout, top: number, maxValue?: number): DomElement {
  const { width, height, scale, cellWidth, cellHeight, columns } = layout;
  const w = width * scale;
  const h = height * scale;
  const cx = PAD + (i % columns) * cellWidth + cellWidth / 2;
  const y0 = top + Math.floor(i / columns) * cellHeight + 4;
  const wrong = isMistake(d);
  const ink = inkOf(d.pixels, width, height, layout.channels, maxValue ?? defaultMax(d.pixels));
  const attrs = { class: wrong ? "kt-digit kt-mistake" : "kt-digit", "data-index": i };
  const g = framedDigit({ ink, width, height, scale }, cx - w / 2, y0, attrs, wrong);
  const line1 =
    d.predicted === undefined ? `label ${d.label}` : `${wrong ? "✗ " : ""}true ${d.label} · pred ${d.predicted}`;
  g.appendChild(
    digitLabel(line1, w / 2, h + 18, 11.5, { fill: wrong ? RED : INK, "font-weight": wrong ? 700 : undefined }),
  );
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
  g.appendChild(tooltip(gridTooltip(d)));
  return g;
}

/**
 * Digits in a grid, each labelled "true 7 · pred 7" (with the probability of
 * the prediction when given); mistakes get a red frame, a red bold label and
 * a ✗. Without predictions, each digit is labelled with its label.
 */
export function digitGrid(items: GridDigit[], options: DigitGridOptions = {}): Figure {
  const layout = gridLayout(items, options);
  return card({
    name: "digit-grid",
    title: options.title,
    ...gridHeader(items),
    bodyWidth: layout.columns * layout.cellWidth,
    bodyHeight: Math.ceil(items.length / layout.columns) * layout.cellHeight,
    body: (top) => items.map((d, i) => gridCell(d, i, layout, top, options.maxValue)),
  });
}

/** The side of a square image of `length` values with `channels` per pixel; throws unless it is one. */
function squareSide(length: number, channels: number, error: string): number {
  const side = Math.round(Math.sqrt(length / channels));
  if (side * side * channels !== length) throw new Error(error);
  return side;
}

/** The largest difference between channel 0 and the others. */
function channelDifference(channels: Float64Array[]): number {
  let diff = 0;
  for (let i = 0; i < channels[0].length; i++) {
    diff = Math.max(diff, Math.abs(channels[0][i] - channels[1][i]), Math.abs(channels[0][i] - channels[2][i]));
  }
  return diff;
}

/** Whether `up` (m×m) is `original` (n×n) with each pixel made a block, m / n a whole number (to `tol`). */
function isNearestUpsampling(up: Float64Array, m: number, original: Float64Array, n: number, tol: number): boolean {
  const factor = m / n;
  if (!Number.isInteger(factor)) return false;
  for (let y = 0; y < m; y++) {
    for (let x = 0; x < m; x++) {
      if (Math.abs(up[y * m + x] - original[Math.floor(y / factor) * n + Math.floor(x / factor)]) > tol) return false;
    }
  }
  return true;
}

/** What the data shows: the factor, whether it is nearest-neighbour, whether the channels are copies. */
function upsamplingCaption(factor: number, nearest: boolean, channelDiff: number, tol: number): string {
  return (
    (Number.isInteger(factor) ? `Upsampling ×${factor}: ` : "") +
    (nearest
      ? `each pixel of the original becomes a ${factor}×${factor} block (nearest neighbour). `
      : `the upsampled image is not a nearest-neighbour ×${fixed(factor, 2)} copy of the original. `) +
    (channelDiff <= tol
      ? "The 3 channels are identical copies of the grey image, so the RGB composite looks the same grey."
      : `The 3 channels differ (largest difference ${fixed(channelDiff, 3)} of full scale).`)
  );
}

/** One image of the comparison, labelled, and its class name. */
interface Panel {
  picture: DigitPicture;
  label: string;
  key: string;
}

/** The original, then each channel of the upsampled copy, scaled to about 168 pixels a side. */
function upsampledPanels(origInk: Float64Array, n: number, channels: Float64Array[], m: number): Panel[] {
  const size = 168;
  const scaleO = Math.max(1, Math.round(size / n));
  const scaleU = Math.max(1, Math.round(size / m));
  return [
    { picture: { ink: origInk, width: n, height: n, scale: scaleO }, label: `original · ${n}×${n}×1`, key: "original" },
    ...channels.map((ink, c) => ({
      picture: { ink, width: m, height: m, scale: scaleU },
      label: `channel ${c} · ${m}×${m}`,
      key: `channel-${c}`,
    })),
  ];
}

/**
 * A 28×28 digit beside its 84×84×3 upsampled copy (as the model's
 * UpSampling3D layer makes it), drawn at the same size: the original, then
 * each of the 3 channels. The caption says whether the channels are identical
 * copies and whether the upsampling is nearest-neighbour ×3 — checked on the
 * data given. Sizes are inferred from the lengths (n×n and m×m×3).
 */
export function upsampledComparison(
  original: PixelData,
  upsampled: PixelData,
  options: UpsampledComparisonOptions = {},
): Figure {
  const n = squareSide(
    original.length,
    1,
    `The original must be a square grey image (n×n values), got ${original.length} values.`,
  );
  const m = squareSide(upsampled.length, 3, `The upsampled image must be m×m×3 values, got ${upsampled.length}.`);
  const origInk = inkOf(original, n, n, 1, options.maxValue ?? defaultMax(original));
  const maxUp = options.maxValue ?? defaultMax(upsampled);
  const channels = [0, 1, 2].map((c) => channelInk(upsampled, m, m, 3, c, maxUp));
  // What the data shows, to a thousandth of full scale: nearest-neighbour ×k of the original? identical channels?
  const tol = 1e-3;
  const nearest = isNearestUpsampling(channels[0], m, origInk, n, tol);
  const panels = upsampledPanels(origInk, n, channels, m);
  const gap = 22;
  const panelWidth = Math.max(...panels.map((p) => p.picture.width * p.picture.scale));
  return card({
    name: "upsampled",
    title: options.title ?? `A digit before and after upsampling (${n}×${n}×1 → ${m}×${m}×3)`,
    bodyWidth: panels.length * panelWidth + (panels.length - 1) * gap,
    bodyHeight: panelWidth + 26,
    caption: upsamplingCaption(m / n, nearest, channelDifference(channels), tol),
    body: (top) =>
      panels.map((p, i) => {
        const w = p.picture.width * p.picture.scale;
        const x = PAD + i * (panelWidth + gap) + (panelWidth - w) / 2;
        const g = framedDigit(p.picture, x, top, { class: `kt-digit kt-panel-${p.key}` });
        g.appendChild(digitLabel(p.label, w / 2, w + 19, 12));
        return g;
      }),
  });
}
