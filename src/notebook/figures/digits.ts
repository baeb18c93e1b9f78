/**
 * Digits drawn as images:
 *
 * - `digitImage`           one digit, black ink on white (matplotlib's "binary" colormap)
 * - `digitGrid`            digits with true and predicted labels, mistakes in red
 * - `upsampledComparison`  a 28×28 digit beside its 84×84×3 upsampled copy
 */
import { fixed, percent } from "../../util/format";
import { card, textWidth, type LegendItem } from "./card";
import { text, tooltip, type Attrs } from "./dom";
import { checkInt, type Figure, type PixelData } from "./figure";
import { defaultMax, digitNode, frame, inkOf } from "./pixels";
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
      const x = PAD + (bodyWidth - w) / 2;
      const g = digitNode(ink, width, height, scale, x, top);
      g.appendChild(frame(w, h, BORDER, 1, "kt-frame"));
      const parts = [g];
      if (label)
        parts.push(
          text(label, {
            class: "kt-label",
            x: PAD + bodyWidth / 2,
            y: top + h + 18,
            "text-anchor": "middle",
            "font-size": 13,
          }),
        );
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
  const columns = Math.max(
    1,
    Math.min(options.columns ?? (n <= 6 ? n : n <= 12 ? Math.ceil(n / 2) : 8), Math.max(n, 1)),
  );
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
  const legend: LegendItem[] | undefined =
    hasPredictions && mistakes > 0
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
        g.appendChild(
          frame(w, h, wrong ? RED : BORDER, wrong ? 3 : 1, wrong ? "kt-frame kt-mistake-frame" : "kt-frame"),
        );
        const line1 =
          d.predicted === undefined ? `label ${d.label}` : `${wrong ? "✗ " : ""}true ${d.label} · pred ${d.predicted}`;
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
export function upsampledComparison(
  original: PixelData,
  upsampled: PixelData,
  options: UpsampledComparisonOptions = {},
): Figure {
  const n = Math.round(Math.sqrt(original.length));
  const m = Math.round(Math.sqrt(upsampled.length / 3));
  if (n * n !== original.length)
    throw new Error(`The original must be a square grey image (n×n values), got ${original.length} values.`);
  if (m * m * 3 !== upsampled.length)
    throw new Error(`The upsampled image must be m×m×3 values, got ${upsampled.length}.`);
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
    channelDiff = Math.max(
      channelDiff,
      Math.abs(channelInk[0][i] - channelInk[1][i]),
      Math.abs(channelInk[0][i] - channelInk[2][i]),
    );
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
    ...channelInk.map((ink, c) => ({
      ink,
      px: m,
      scale: scaleU,
      label: `channel ${c} · ${m}×${m}`,
      key: `channel-${c}`,
    })),
  ];
  const gap = 22;
  const panelWidth = Math.max(n * scaleO, m * scaleU);
  const caption =
    (Number.isInteger(factor) ? `Upsampling ×${factor}: ` : "") +
    (nearest
      ? `each pixel of the original becomes a ${factor}×${factor} block (nearest neighbour). `
      : `the upsampled image is not a nearest-neighbour ×${fixed(factor, 2)} copy of the original. `) +
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
        g.appendChild(
          text(p.label, { class: "kt-label", x: w / 2, y: w + 19, "text-anchor": "middle", "font-size": 12 }),
        );
        return g;
      }),
  });
}
