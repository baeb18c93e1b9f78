/**
 * `topLossesPlot`: the digits the model got most wrong (what `topLosses` gives), as fastai's
 * `plot_top_losses` shows them: each digit with its prediction, its actual class, its loss and the
 * probability the model gave the actual class; mistakes in red.
 */
import { fixed, percent } from "../../util/format";
import { card } from "./card";
import { text, tooltip, type Attrs } from "./dom";
import { checkInt, type Figure, type PixelData } from "./figure";
import { defaultMax, digitNode, frame, inkOf } from "./pixels";
import { BORDER, INK, MUTED, PAD, RED } from "./theme";

/** One digit of the plot: what `topLosses` returns for it. */
export interface TopLossEntry {
  pixels: PixelData;
  /** The actual class. */
  label: number;
  predicted: number;
  loss: number;
  /** The probability the model gave the actual class. */
  probability: number;
  /** The probability of the predicted class (shown in the tooltip). */
  confidence?: number;
  /** Position in its set (shown in the tooltip). */
  index?: number;
}

export interface TopLossesPlotOptions {
  title?: string;
  /** Digits per row (default: all when 6 or fewer, else 6). */
  columns?: number;
  /** The pixel value drawn black (default 255 for Uint8Array, else 1). */
  maxValue?: number;
}

/**
 * A grid of digits, largest loss first, each labelled "predicted / actual" and "loss · probability
 * of the actual class"; a digit predicted wrongly has a red frame and a red label.
 */
export function topLossesPlot(entries: TopLossEntry[], options: TopLossesPlotOptions = {}): Figure {
  if (!Array.isArray(entries) || entries.length === 0)
    throw new Error("topLossesPlot needs at least one digit: pass topLosses(set, predictions, k).");
  for (const e of entries) {
    if (
      !Number.isInteger(e.label) ||
      !Number.isInteger(e.predicted) ||
      !(e.loss >= 0) ||
      !(e.probability >= 0 && e.probability <= 1)
    ) {
      throw new Error(
        `topLossesPlot: each entry is { pixels, label, predicted, loss ≥ 0, probability in [0, 1] } ` +
          `as topLosses gives them, got ${JSON.stringify({ ...e, pixels: undefined })}.`,
      );
    }
  }
  const n = entries.length;
  const columns = Math.min(options.columns ?? (n <= 6 ? n : 6), n);
  checkInt("columns", columns, 1);
  const scale = 3;
  const size = 28 * scale;
  const cellWidth = 124;
  const cellHeight = size + 48;
  const rows = Math.ceil(n / columns);
  const wrong = entries.filter((e) => e.predicted !== e.label).length;
  return card({
    name: "top-losses",
    title: options.title ?? "Top losses",
    subtitle: `prediction / actual · loss · probability of the actual class — ${wrong} of ${n} predicted wrongly`,
    bodyWidth: columns * cellWidth,
    bodyHeight: rows * cellHeight,
    body: (top) =>
      entries.map((e, i) => {
        const x = PAD + (i % columns) * cellWidth + (cellWidth - size) / 2;
        const y = top + Math.floor(i / columns) * cellHeight + 4;
        const mistake = e.predicted !== e.label;
        const ink = inkOf(e.pixels, 28, 28, 1, options.maxValue ?? defaultMax(e.pixels));
        const g = digitNode(ink, 28, 28, scale, x, y, {
          class: mistake ? "kt-digit kt-mistake" : "kt-digit",
          "data-index": i,
        });
        g.appendChild(
          frame(
            size,
            size,
            mistake ? RED : BORDER,
            mistake ? 3 : 1,
            mistake ? "kt-frame kt-mistake-frame" : "kt-frame",
          ),
        );
        const label: Attrs = {
          class: "kt-label",
          x: size / 2,
          y: size + 18,
          "text-anchor": "middle",
          "font-size": 12,
          fill: mistake ? RED : INK,
          "font-weight": mistake ? 700 : undefined,
        };
        g.appendChild(text(`${e.predicted} / ${e.label}`, label));
        g.appendChild(
          text(`${fixed(e.loss, 2)} · ${fixed(e.probability, 2)}`, {
            class: "kt-loss",
            x: size / 2,
            y: size + 34,
            "text-anchor": "middle",
            "font-size": 11,
            fill: mistake ? RED : MUTED,
          }),
        );
        const tip = [
          `predicted ${e.predicted}`,
          `actual ${e.label}`,
          `loss ${fixed(e.loss, 4)}`,
          `probability of ${e.label}: ${percent(e.probability, 2)}`,
        ];
        if (e.confidence !== undefined) tip.push(`probability of ${e.predicted}: ${percent(e.confidence, 2)}`);
        if (e.index !== undefined) tip.push(`digit #${e.index}`);
        g.appendChild(tooltip(tip.join(", ")));
        return g;
      }),
  });
}
