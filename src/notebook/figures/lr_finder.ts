/**
 * `lrFinderPlot`: the learning-rate finder's curve, as fastai's `plot_lr_find` draws it: the smoothed
 * loss against the rate on a log axis, without the last 5 points (the divergence), with the
 * suggested rates marked on the curve.
 */
import type * as PlotTypes from "@observablehq/plot";
import { card, type LegendItem } from "./card";
import { plotBody, plotLib } from "./dom";
import type { Figure } from "./figure";
import { BORDER, CARD, GREEN, LINE_CHART_Y, lineChartFrame, MPL_RED, PAD, PURPLE, TRAIN, VALIDATION } from "./theme";

type SuggestionName = "valley" | "steep" | "minimum" | "slide";

/** What `findLearningRate` returns, as far as the plot needs it. */
export interface LrFinderCurve {
  rates: ArrayLike<number>;
  /** Smoothed losses, one per rate. */
  losses: ArrayLike<number>;
  suggestions?: Partial<Record<SuggestionName, { rate: number; point: { rate: number; loss: number } } | undefined>>;
  stopped?: "completed" | "diverged" | "interrupted";
}

export interface LrFinderPlotOptions {
  /** The suggestions to mark (default valley and steep; those the curve has). */
  suggestions?: SuggestionName[];
  /** Points left off at the end (default 5, fastai's skip_end). */
  skipEnd?: number;
  title?: string;
  width?: number;
  height?: number;
}

/** fastai's colours for the suggestions: matplotlib's, after the curve's blue. */
const COLOURS: Record<SuggestionName, string> = { valley: VALIDATION, steep: GREEN, minimum: MPL_RED, slide: PURPLE };
const NAMES: Record<SuggestionName, string> = {
  valley: "valley",
  steep: "steepest descent",
  minimum: "minimum ÷ 10",
  slide: "slide",
};

/** "1e-7", "3e-4": a rate, short. */
function rateText(r: number, digits = 1): string {
  return r.toExponential(digits).replace("e+", "e");
}

interface Point {
  rate: number;
  loss: number;
}

interface Mark extends Point {
  name: SuggestionName;
  suggested: number;
}

/**
 * The rates and the points drawn: fastai leaves the last `skipEnd` points off (a short curve, an
 * early divergence, is drawn whole), and a loss that is not finite has no place on the plot. `drawn`
 * is how many of the rates were considered.
 */
function finderPoints(found: LrFinderCurve, skipEnd = 5): { rates: number[]; points: Point[]; drawn: number } {
  const rates = Array.from(found.rates ?? [], Number);
  const losses = Array.from(found.losses ?? [], Number);
  if (rates.length === 0 || rates.length !== losses.length) {
    throw new Error(
      `lrFinderPlot needs what findLearningRate returns: as many rates as losses, at least one (got ${rates.length} rates and ${losses.length} losses).`,
    );
  }
  if (!(Number.isInteger(skipEnd) && skipEnd >= 0))
    throw new Error(`lrFinderPlot: skipEnd must be a whole number ≥ 0, got ${skipEnd}.`);
  const drawn = rates.length - skipEnd >= 2 ? rates.length - skipEnd : rates.length;
  const points: Point[] = [];
  for (let i = 0; i < drawn; i++)
    if (Number.isFinite(losses[i]) && rates[i] > 0) points.push({ rate: rates[i], loss: losses[i] });
  if (points.length === 0) throw new Error("lrFinderPlot: the curve has no finite loss to draw.");
  return { rates, points, drawn };
}

/** The wanted suggestions the curve has, each at its point on the curve. */
function suggestionMarks(found: LrFinderCurve, wanted: SuggestionName[]): Mark[] {
  const marks: Mark[] = [];
  for (const name of wanted) {
    if (!(name in COLOURS))
      throw new Error(
        `lrFinderPlot: suggestions are "valley", "steep", "minimum" and "slide", got ${JSON.stringify(name)}.`,
      );
    const s = found.suggestions?.[name];
    if (s && Number.isFinite(s.point.loss))
      marks.push({ name, rate: s.point.rate, loss: s.point.loss, suggested: s.rate });
  }
  return marks;
}

/** Rates along x on a log axis, a tick at each power of ten in range. */
function rateAxis(points: Point[]): PlotTypes.ScaleOptions {
  const lo = Math.min(...points.map((p) => p.rate));
  const hi = Math.max(...points.map((p) => p.rate));
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    if (10 ** e >= lo / 1.0001 && 10 ** e <= hi * 1.0001) ticks.push(10 ** e);
  return {
    type: "log",
    domain: lo === hi ? [lo / 2, hi * 2] : [lo, hi],
    ticks: ticks.length >= 2 ? ticks : undefined,
    tickFormat: (v: number) => rateText(v, 0),
    label: "Learning rate (log scale)",
    labelAnchor: "center",
    labelArrow: "none",
    labelOffset: 36,
    inset: 6,
  };
}

/** The curve, and each suggestion as a dashed rule down to the axis and a dot on the curve (its values as tooltip). */
function finderMarks(points: Point[], marks: Mark[]): PlotTypes.Markish[] {
  const Plot = plotLib();
  return [
    Plot.frame({ stroke: BORDER, fill: "none" }),
    Plot.lineY(points, { x: "rate", y: "loss", stroke: TRAIN, strokeWidth: 2 }),
    Plot.ruleX(marks, {
      x: "rate",
      stroke: (m: Mark) => COLOURS[m.name],
      strokeDasharray: "3,3",
      strokeOpacity: 0.8,
    }),
    Plot.dot(marks, {
      x: "rate",
      y: "loss",
      r: 5,
      fill: (m: Mark) => COLOURS[m.name],
      stroke: CARD,
      strokeWidth: 1.5,
      title: (m: Mark) =>
        `${NAMES[m.name]}: suggested rate ${rateText(m.suggested, 2)} (loss ${m.loss.toFixed(4)} at ${rateText(m.rate, 2)})`,
    }),
  ];
}

/** The curve's entry, then one per suggestion with its rate. */
function finderLegend(marks: Mark[]): LegendItem[] {
  return [
    { label: "smoothed loss", color: TRAIN, kind: "line", key: "loss" },
    ...marks.map((m) => ({
      label: `${NAMES[m.name]} ${rateText(m.suggested)}`,
      color: COLOURS[m.name],
      kind: "line" as const,
      key: m.name,
    })),
  ];
}

/** How far the run went, why it stopped, what was left off, and the suggestions. */
function finderCaption(found: LrFinderCurve, rates: number[], drawn: number, marks: Mark[]): string {
  const stopped =
    found.stopped === "diverged"
      ? ", stopped when the loss diverged"
      : found.stopped === "interrupted"
        ? ", interrupted"
        : "";
  const named = marks.map((m) => `${NAMES[m.name]} ${rateText(m.suggested)}`);
  return (
    `${rates.length} batches, rates ${rateText(rates[0])} to ${rateText(rates[rates.length - 1])}${stopped}` +
    (drawn < rates.length ? ` (the last ${rates.length - drawn} not drawn)` : "") +
    (named.length ? `. Suggested: ${named.join(", ")}.` : ". Too few points for a suggestion.")
  );
}

/**
 * The finder's curve: smoothed loss against the learning rate (log axis), the suggested rates marked
 * as dots on the curve with a thin line down to the axis, and a caption that names them.
 */
export function lrFinderPlot(found: LrFinderCurve, options: LrFinderPlotOptions = {}): Figure {
  const { rates, points, drawn } = finderPoints(found, options.skipEnd);
  const marks = suggestionMarks(found, options.suggestions ?? ["valley", "steep"]);
  const width = options.width ?? 560;
  const height = options.height ?? 320;
  const plot: PlotTypes.PlotOptions = {
    ...lineChartFrame(width, height),
    x: rateAxis(points),
    y: { label: "Loss (smoothed)", ...LINE_CHART_Y, nice: true },
    marks: finderMarks(points, marks),
  };
  return card({
    name: "lr-finder",
    title: options.title ?? "Learning-rate finder",
    legend: finderLegend(marks),
    body: (top) => [plotBody(plot, PAD, top)],
    bodyWidth: width,
    bodyHeight: height,
    caption: finderCaption(found, rates, drawn, marks),
  });
}
