/** The confusion matrix: `confusionCounts` (the numbers) and `confusionMatrix` (the figure). */
import { percent, thousands } from "../../util/format";
import { card } from "./card";
import { plotBody, plotLib } from "./dom";
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
        ? `Accuracy ${percent(correct / total)} (${thousands(correct)} of ${thousands(total)} correct, on the diagonal). Rows: true class; columns: predicted class.`
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
