/** The confusion matrix: `confusionCounts` (the numbers) and `confusionMatrix` (the figure). */
import type * as PlotTypes from "@observablehq/plot";
import { percent, thousands } from "../../util/format";
import { card } from "./card";
import { boldTexts, plotBody, plotLib } from "./dom";
import { checkInt, type Figure } from "./figure";
import { BORDER, INK, PAD } from "./theme";

export interface ConfusionMatrixOptions {
  /** Number of classes (default 10). */
  classes?: number;
  title?: string;
}

/** counts[t][p]: how many digits of true class t were predicted as p. */
export function confusionCounts(
  trueLabels: ArrayLike<number>,
  predictedLabels: ArrayLike<number>,
  classes = 10,
): number[][] {
  if (trueLabels.length !== predictedLabels.length) {
    throw new Error(
      `${trueLabels.length} true labels but ${predictedLabels.length} predicted labels; they must match.`,
    );
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

interface Cell {
  t: number;
  p: number;
  count: number;
}

/** The cells row by row, with the largest count and the count on the diagonal. */
function cellsOf(counts: number[][]): { cells: Cell[]; max: number; correct: number } {
  const cells: Cell[] = [];
  let max = 0;
  let correct = 0;
  counts.forEach((row, t) => {
    row.forEach((count, p) => {
      cells.push({ t, p, count });
      max = Math.max(max, count);
    });
    correct += row[t];
  });
  return { cells, max, correct };
}

/** Size and margins of the matrix: 38-pixel cells up to 12 classes, then smaller (at least 16). */
function layoutOf(classes: number) {
  const cellSize = classes <= 12 ? 38 : Math.max(16, Math.floor(456 / classes));
  const marginLeft = 52;
  const marginBottom = 46;
  const marginTop = 8;
  return {
    cellSize,
    width: marginLeft + classes * cellSize + 12,
    height: marginTop + classes * cellSize + marginBottom,
    marginLeft,
    marginRight: 12,
    marginTop,
    marginBottom,
  };
}

/** The cells shaded by count, each with its count (white on dark cells, grey for 0, bold on the diagonal). */
function matrixMarks(cells: Cell[], max: number, cellSize: number): PlotTypes.Markish[] {
  const Plot = plotLib();
  const dark = (c: Cell) => max > 0 && Math.sqrt(c.count / max) > 0.45;
  return [
    Plot.cell(cells, {
      x: "p",
      y: "t",
      fill: "count",
      inset: 0.5,
      title: (c: Cell) => `true ${c.t}, predicted ${c.p}: ${c.count}`,
    }),
    ...boldTexts(cells, (c) => c.t === c.p, {
      x: "p",
      y: "t",
      text: (c: Cell) => String(c.count),
      fill: (c: Cell) => (dark(c) ? "#ffffff" : c.count === 0 ? "#8c959f" : INK),
      fontSize: cellSize >= 30 ? (max >= 1000 ? 10 : 11) : 8,
    }),
    Plot.frame({ stroke: BORDER }),
  ];
}

function confusionCaption(correct: number, total: number): string {
  return total > 0
    ? `Accuracy ${percent(correct / total)} (${thousands(correct)} of ${thousands(total)} correct, on the diagonal). ` +
        "Rows: true class; columns: predicted class."
    : "No labels given.";
}

/**
 * The confusion matrix: one cell per (true, predicted) pair with its count,
 * shaded by count (square-root blue scale, so that small error counts show);
 * rows are true classes, columns predicted ones.
 */
export function confusionMatrix(
  trueLabels: ArrayLike<number>,
  predictedLabels: ArrayLike<number>,
  options: ConfusionMatrixOptions = {},
): Figure {
  const classes = options.classes ?? 10;
  const { cells, max, correct } = cellsOf(confusionCounts(trueLabels, predictedLabels, classes));
  const { cellSize, ...layout } = layoutOf(classes);
  const domain = Array.from({ length: classes }, (_, i) => i);
  const axis = { labelAnchor: "center", labelArrow: "none", tickSize: 0 } as const;
  const plot: PlotTypes.PlotOptions = {
    ...layout,
    padding: 0,
    x: { domain, label: "Predicted", ...axis, labelOffset: 36 },
    y: { domain, label: "True", ...axis, labelOffset: 40 },
    color: { type: "sqrt", domain: [0, Math.max(max, 1)], range: ["#f7fbff", "#08306b"], interpolate: "hcl" },
    marks: matrixMarks(cells, max, cellSize),
  };
  return card({
    name: "confusion-matrix",
    title: options.title ?? "Confusion matrix",
    bodyWidth: layout.width,
    bodyHeight: layout.height,
    caption: confusionCaption(correct, trueLabels.length),
    body: (top) => [plotBody(plot, PAD, top)],
  });
}
