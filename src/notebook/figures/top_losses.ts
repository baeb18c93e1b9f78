/**
 * `topLossesPlot`: the digits the model got most wrong (what `topLosses` gives), as fastai's
 * `plot_top_losses` shows them: each digit with its prediction, its actual class, its loss and the
 * probability the model gave the actual class; mistakes in red.
 */
import { fixed, percent } from "../../util/format";
import { card } from "./card";
import { tooltip, type DomElement } from "./dom";
import { checkInt, type Figure, type PixelData } from "./figure";
import { defaultMax, digitLabel, framedDigit, inkOf } from "./pixels";
import { INK, MUTED, PAD, RED } from "./theme";

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

/** The digits' scale (screen pixels per pixel), size and cells. */
const SCALE = 3;
const SIZE = 28 * SCALE;
const CELL_WIDTH = 124;
const CELL_HEIGHT = SIZE + 48;

function checkEntries(entries: TopLossEntry[]): void {
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
}

/** The tooltip of a digit: its classes, loss and probabilities, and where it is in its set. */
function entryTooltip(e: TopLossEntry): string {
  const tip = [
    `predicted ${e.predicted}`,
    `actual ${e.label}`,
    `loss ${fixed(e.loss, 4)}`,
    `probability of ${e.label}: ${percent(e.probability, 2)}`,
  ];
  if (e.confidence !== undefined) tip.push(`probability of ${e.predicted}: ${percent(e.confidence, 2)}`);
  if (e.index !== undefined) tip.push(`digit #${e.index}`);
  return tip.join(", ");
}

/** Digit i in its cell: framed (red for a mistake), "predicted / actual" and "loss · probability" under it. */
function entryCell(e: TopLossEntry, i: number, columns: number, top: number, maxValue?: number): DomElement {
  const x = PAD + (i % columns) * CELL_WIDTH + (CELL_WIDTH - SIZE) / 2;
  const y = top + Math.floor(i / columns) * CELL_HEIGHT + 4;
  const mistake = e.predicted !== e.label;
  const ink = inkOf(e.pixels, 28, 28, 1, maxValue ?? defaultMax(e.pixels));
  const attrs = { class: mistake ? "kt-digit kt-mistake" : "kt-digit", "data-index": i };
  const g = framedDigit({ ink, width: 28, height: 28, scale: SCALE }, x, y, attrs, mistake);
  const label = { fill: mistake ? RED : INK, "font-weight": mistake ? 700 : undefined };
  g.appendChild(digitLabel(`${e.predicted} / ${e.label}`, SIZE / 2, SIZE + 18, 12, label));
  const loss = { class: "kt-loss", fill: mistake ? RED : MUTED };
  g.appendChild(digitLabel(`${fixed(e.loss, 2)} · ${fixed(e.probability, 2)}`, SIZE / 2, SIZE + 34, 11, loss));
  g.appendChild(tooltip(entryTooltip(e)));
  return g;
}

/**
 * A grid of digits, largest loss first, each labelled "predicted / actual" and "loss · probability
 * of the actual class"; a digit predicted wrongly has a red frame and a red label.
 */
export function topLossesPlot(entries: TopLossEntry[], options: TopLossesPlotOptions = {}): Figure {
  checkEntries(entries);
  const n = entries.length;
  const columns = Math.min(options.columns ?? (n <= 6 ? n : 6), n);
  checkInt("columns", columns, 1);
  const wrong = entries.filter((e) => e.predicted !== e.label).length;
  return card({
    name: "top-losses",
    title: options.title ?? "Top losses",
    subtitle: `prediction / actual · loss · probability of the actual class — ${wrong} of ${n} predicted wrongly`,
    bodyWidth: columns * CELL_WIDTH,
    bodyHeight: Math.ceil(n / columns) * CELL_HEIGHT,
    body: (top) => entries.map((e, i) => entryCell(e, i, columns, top, options.maxValue)),
  });
}
