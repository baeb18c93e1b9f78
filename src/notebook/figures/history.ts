/**
 * `historyPlot`: training and validation curves per epoch (accuracy or loss), like the tutorial's
 * "model accuracy" and "model loss" figures, or the learning rate per epoch (Keras's
 * `learning_rate` log) on a log axis.
 */
import type * as PlotTypes from "@observablehq/plot";
import { fixed } from "../../util/format";
import { card, type LegendItem } from "./card";
import { plotBody, plotLib } from "./dom";
import type { Figure } from "./figure";
import { BORDER, CARD, LINE_CHART_Y, lineChartFrame, PAD, TRAIN, VALIDATION } from "./theme";

/** Keras-style history: one number per epoch. TF.js's `acc` / `val_acc` are accepted too. */
export interface HistoryRecord {
  loss?: ArrayLike<number>;
  accuracy?: ArrayLike<number>;
  val_loss?: ArrayLike<number>;
  val_accuracy?: ArrayLike<number>;
  acc?: ArrayLike<number>;
  val_acc?: ArrayLike<number>;
  learning_rate?: ArrayLike<number>;
}

export interface HistoryPlotOptions {
  metric: "accuracy" | "loss" | "learning_rate";
  /** Default: "Model accuracy" / "Model loss", as in the tutorial; "Learning rate". */
  title?: string;
  width?: number;
  height?: number;
}

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

/** How a metric is drawn and worded. */
interface MetricLook {
  title: string;
  /** The y axis's label. */
  label: string;
  /** The caption's first words. */
  caption: string;
  /** The training series' name (legend, tooltips), and its prefix in the caption. */
  train: string;
  trainPrefix: string;
  /** A value as the tooltips and the caption show it. */
  show: (v: number) => string;
  /** The y scale's kind: linear and rounded, or (rates, which span decades) a log axis with ticks as 1e-4. */
  scale: PlotTypes.ScaleOptions;
  /** Whether a value has a place on the axis (a rate of 0, a decay's end, has none on a log axis). */
  drawable: (v: number) => boolean;
}

function metricLook(metric: HistoryPlotOptions["metric"]): MetricLook {
  if (metric === "learning_rate") {
    return {
      title: "Learning rate",
      label: "Learning rate (log scale)",
      caption: "Learning rate",
      train: "learning rate",
      trainPrefix: "",
      show: (v) => (v === 0 ? "0" : v.toExponential(2)),
      scale: { type: "log", tickFormat: (v: number) => v.toExponential(0).replace("e+", "e") },
      drawable: (v) => v > 0,
    };
  }
  const label = metric === "accuracy" ? "Accuracy" : "Loss";
  return {
    title: metric === "accuracy" ? "Model accuracy" : "Model loss",
    label,
    caption: label,
    train: "train",
    trainPrefix: "train ",
    show: (v) => fixed(v, 4),
    scale: { nice: true },
    drawable: () => true,
  };
}

/** The training and validation values of `metric` (either may be absent, not both; a rate has no validation). */
function historySeries(
  history: HistoryRecord | { history: HistoryRecord },
  metric: string,
): { train?: number[]; validation?: number[] } {
  if (metric !== "accuracy" && metric !== "loss" && metric !== "learning_rate") {
    throw new Error(`metric must be "accuracy", "loss" or "learning_rate", got ${JSON.stringify(metric)}.`);
  }
  const h = ("history" in history && history.history ? history.history : history) as Record<string, unknown>;
  const trainKeys = metric === "accuracy" ? ["accuracy", "acc"] : [metric];
  const train = series(h, trainKeys);
  const validation =
    metric === "learning_rate"
      ? undefined
      : series(
          h,
          trainKeys.map((k) => `val_${k}`),
        );
  if (!train && !validation) {
    throw new Error(`The history has no "${metric}" values (it has: ${Object.keys(h).join(", ") || "nothing"}).`);
  }
  return { train, validation };
}

interface Point {
  epoch: number;
  value: number;
  series: string;
}

/**
 * One point per epoch and series (those with a place on the axis), epochs from 1, and a legend entry
 * per series with values.
 */
function historyPoints(
  look: MetricLook,
  train?: number[],
  validation?: number[],
): { points: Point[]; legend: LegendItem[] } {
  const points: Point[] = [];
  const legend: LegendItem[] = [];
  const add = (values: number[] | undefined, name: string, color: string) => {
    if (!values || values.length === 0) return;
    values.forEach((value, i) => {
      if (look.drawable(value)) points.push({ epoch: i + 1, value, series: name });
    });
    legend.push({ label: name, color, kind: "line", key: name });
  };
  add(train, look.train, TRAIN);
  add(validation, "validation", VALIDATION);
  return { points, legend };
}

/** Epochs along x, from 1; a single epoch sits in the middle rather than at the left edge. */
function epochAxis(epochs: number): PlotTypes.ScaleOptions {
  return {
    type: "linear",
    domain: epochs <= 1 ? [0.5, 1.5] : [1, epochs],
    ticks: epochTicks(epochs),
    tickFormat: "d",
    label: "Epoch",
    labelAnchor: "center",
    labelArrow: "none",
    labelOffset: 36,
    inset: 12,
  };
}

/** A line per series, and a dot per epoch (with its value as tooltip) up to 60 epochs. */
function historyMarks(points: Point[], epochs: number, show: (v: number) => string): PlotTypes.Markish[] {
  const Plot = plotLib();
  return [
    Plot.frame({ stroke: BORDER, fill: "none" }),
    Plot.lineY(points, { x: "epoch", y: "value", stroke: "series", z: "series", strokeWidth: 2 }),
    epochs <= 60
      ? Plot.dot(
          points.filter((p) => Number.isFinite(p.value)),
          {
            x: "epoch",
            y: "value",
            fill: "series",
            r: 3.5,
            stroke: CARD,
            strokeWidth: 1,
            title: (d: Point) => `${d.series}, epoch ${d.epoch}: ${show(d.value)}`,
          },
        )
      : null,
  ];
}

/** The last value of each series. */
function historyCaption(look: MetricLook, epochs: number, train?: number[], validation?: number[]): string {
  const finalParts: string[] = [];
  if (train?.length) finalParts.push(`${look.trainPrefix}${look.show(train[train.length - 1])}`);
  if (validation?.length) finalParts.push(`validation ${look.show(validation[validation.length - 1])}`);
  return `${look.caption} after epoch ${epochs}: ${finalParts.join(", ")}.`;
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
  const { train, validation } = historySeries(history, metric);
  const look = metricLook(metric);
  const { points, legend } = historyPoints(look, train, validation);
  const epochs = Math.max(train?.length ?? 0, validation?.length ?? 0);
  const width = options.width ?? 560;
  const height = options.height ?? 320;
  const plot: PlotTypes.PlotOptions = {
    ...lineChartFrame(width, height),
    x: epochAxis(epochs),
    y: { ...look.scale, label: look.label, ...LINE_CHART_Y },
    color: { domain: [look.train, "validation"], range: [TRAIN, VALIDATION] },
    marks: historyMarks(points, epochs, look.show),
  };
  return card({
    name: `history-${metric}`,
    title: options.title ?? look.title,
    legend,
    body: (top) => [plotBody(plot, PAD, top)],
    bodyWidth: width,
    bodyHeight: height,
    caption: historyCaption(look, epochs, train, validation),
  });
}
