/**
 * Training runs with different freeze depths side by side: `comparisonPlot` (test accuracy and
 * training time per depth) and `comparisonTable` (the same as an HTML table).
 */
import type * as PlotTypes from "@observablehq/plot";
import { compactCount, escapeHtml, formatDuration, percent, thousands } from "../../util/format";
import { card } from "./card";
import { boldTexts, plotBody, plotLib, text, type DomElement } from "./dom";
import type { Figure } from "./figure";
import { BEST, BEST_EDGE, BORDER, OTHERS, OTHERS_EDGE, PAD } from "./theme";

/** One training run, for comparing freeze depths. */
export interface ComparisonRun {
  /** Frozen base layers: a count, or a layer name. */
  freezeDepth: number | string;
  trainableParams: number;
  /** Accuracy on the test set, in [0, 1] (absent: not evaluated yet). */
  testAccuracy?: number;
  /** Training time in seconds. */
  seconds?: number;
  /** Adam's learning rate during the run. */
  learningRate?: number;
  /** How the rate changed during the run, when it did (shown instead of the rate). */
  schedule?: string;
  /** The run whose trained weights this run started from (a second fine-tuning stage); absent: fresh weights. */
  startedFrom?: number;
  /** The precision it trained in, by Keras's dtype policy names ("float32", "mixed_bfloat16"). */
  precision?: string;
  /** How the base's batch normalisation ran ("training": batch statistics; "inference": Keras's training=False). */
  batchNorm?: "training" | "inference";
  /** Where the frozen layers' output was kept: "in memory, 590.0 MB", "on disk, 4.1 GB" (absent: not cached). */
  prefixCache?: string;
}

export interface ComparisonPlotOptions {
  title?: string;
}

interface RunRow {
  key: string;
  run: ComparisonRun;
  best: boolean;
}

function runRows(runs: ComparisonRun[]): RunRow[] {
  const seen = new Map<string, number>();
  let best = -1;
  runs.forEach((r, i) => {
    if (
      r.testAccuracy !== undefined &&
      Number.isFinite(r.testAccuracy) &&
      (best < 0 || r.testAccuracy > (runs[best].testAccuracy as number))
    )
      best = i;
  });
  return runs.map((run, i) => {
    const base = String(run.freezeDepth);
    const k = (seen.get(base) ?? 0) + 1;
    seen.set(base, k);
    return { key: k === 1 ? base : `${base} (#${k})`, run, best: i === best };
  });
}

/** The runs in the order drawn: numeric depths in increasing order (then a line joins the dots), else as given. */
function orderedRows(runs: ComparisonRun[]): { rows: RunRow[]; numeric: boolean } {
  const numeric = runs.every((r) => typeof r.freezeDepth === "number");
  const given = runRows(runs);
  const rows = numeric
    ? given.slice().sort((a, b) => (a.run.freezeDepth as number) - (b.run.freezeDepth as number))
    : given;
  return { rows, numeric };
}

const hasAccuracy = (r: RunRow) => r.run.testAccuracy !== undefined && Number.isFinite(r.run.testAccuracy);
const hasTime = (r: RunRow) => r.run.seconds !== undefined && Number.isFinite(r.run.seconds);

/** Each panel's size and margins. */
interface Panel {
  width: number;
  height: number;
  marginLeft: number;
  marginRight: number;
  marginTop: number;
  marginBottom: number;
}

function panelOf(runCount: number): Panel {
  return {
    width: Math.max(260, Math.min(520, 70 + runCount * 100)),
    height: 260,
    marginLeft: 56,
    marginRight: 12,
    marginTop: 24,
    marginBottom: 58,
  };
}

/** Space between the two panels. */
const GAP = 28;

/** The freeze depths along x, each with its trainable parameters under it. */
function depthAxis(rows: RunRow[]): PlotTypes.ScaleOptions {
  const tickLabel = (k: string) => {
    const r = rows.find((row) => row.key === k);
    return r ? `${k}\n${compactCount(r.run.trainableParams)} trainable` : k;
  };
  return {
    domain: rows.map((r) => r.key),
    label: "Freeze depth (frozen base layers)",
    labelAnchor: "center",
    labelArrow: "none",
    labelOffset: 50,
    tickFormat: tickLabel,
    padding: 0.3,
  };
}

/** The accuracy axis: the accuracies with a margin of 60% of their spread (at least 2 points) each side. */
function accuracyAxis(accRows: RunRow[]): PlotTypes.ScaleOptions {
  const accs = accRows.map((r) => r.run.testAccuracy as number);
  const lo = accs.length ? Math.min(...accs) : 0;
  const hi = accs.length ? Math.max(...accs) : 1;
  const spread = Math.max(hi - lo, 0.02);
  return {
    domain: [Math.max(0, lo - spread * 0.6), Math.min(1, hi + spread * 0.6)],
    label: null,
    grid: true,
    tickFormat: (v: number) => percent(v, spread < 0.05 ? 1 : 0),
  };
}

/** Test accuracy per run: dots (the best one darker), labelled (the best in bold), joined for numeric depths. */
function accuracyPanel(rows: RunRow[], numeric: boolean, panel: Panel, x: number, y: number): DomElement {
  const Plot = plotLib();
  const accRows = rows.filter(hasAccuracy);
  const accuracy = (r: RunRow) => r.run.testAccuracy;
  const marks = [
    Plot.frame({ stroke: BORDER }),
    numeric && accRows.length > 1
      ? Plot.line(accRows, { x: "key", y: accuracy, stroke: BORDER, strokeWidth: 1.5 })
      : null,
    Plot.dot(accRows, {
      x: "key",
      y: accuracy,
      r: 5.5,
      fill: (r: RunRow) => (r.best ? BEST : OTHERS),
      stroke: (r: RunRow) => (r.best ? BEST_EDGE : OTHERS_EDGE),
      title: (r: RunRow) => `freeze ${r.key}: ${percent(r.run.testAccuracy as number, 2)}`,
    }),
    ...boldTexts(accRows, (r) => r.best, {
      x: "key",
      y: accuracy,
      text: (r: RunRow) => percent(r.run.testAccuracy as number, 2),
      dy: -13,
      fontSize: 11,
    }),
  ];
  return plotBody({ ...panel, x: depthAxis(rows), y: accuracyAxis(accRows), marks }, x, y);
}

/** Training time per run: bars (the best run's darker), labelled with the duration. */
function timePanel(rows: RunRow[], panel: Panel, x: number, y: number): DomElement {
  const Plot = plotLib();
  const timeRows = rows.filter(hasTime);
  const marks = [
    Plot.frame({ stroke: BORDER }),
    Plot.barY(timeRows, {
      x: "key",
      y: (r: RunRow) => r.run.seconds,
      fill: (r: RunRow) => (r.best ? BEST : OTHERS),
      title: (r: RunRow) => `freeze ${r.key}: ${formatDuration(r.run.seconds as number)}`,
    }),
    Plot.text(timeRows, {
      x: "key",
      y: (r: RunRow) => r.run.seconds,
      text: (r: RunRow) => formatDuration(r.run.seconds as number),
      dy: -8,
      fontSize: 11,
    }),
  ];
  const yAxis = { label: null, grid: true, nice: true, zero: true, insetTop: 14 };
  return plotBody({ ...panel, x: depthAxis(rows), y: yAxis, marks }, x, y);
}

function panelTitle(s: string, x: number, y: number): DomElement {
  return text(s, { "font-size": 12, "font-weight": 600, x, y });
}

/** The best run (accuracy, parameters, time), or why there is none. */
function comparisonCaption(rows: RunRow[]): string {
  const best = rows.find((r) => r.best);
  if (!best) return rows.length === 0 ? "No runs yet." : "No run evaluated on the test set yet.";
  return (
    `Best: freeze depth ${best.key}, ${percent(best.run.testAccuracy as number, 2)} test accuracy ` +
    `with ${thousands(best.run.trainableParams)} trainable parameters` +
    (best.run.seconds !== undefined ? ` in ${formatDuration(best.run.seconds)}.` : ".") +
    (rows.length === 1 ? " Train again with another freeze depth to compare." : "")
  );
}

/**
 * Test accuracy (dots, labelled) and training time (bars) per freeze depth,
 * for runs in the order given; the best accuracy is highlighted.
 */
export function comparisonPlot(runs: ComparisonRun[], options: ComparisonPlotOptions = {}): Figure {
  const { rows, numeric } = orderedRows(runs);
  const panel = panelOf(rows.length);
  const right = PAD + panel.width + GAP;
  const body = (top: number): DomElement[] => [
    panelTitle("Test accuracy", PAD + panel.marginLeft, top + 12),
    panelTitle("Training time (seconds)", right + panel.marginLeft, top + 12),
    accuracyPanel(rows, numeric, panel, PAD, top + 4),
    timePanel(rows, panel, right, top + 4),
  ];
  return card({
    name: "freeze-comparison",
    title: options.title ?? "Freeze depths compared",
    body,
    bodyWidth: 2 * panel.width + GAP,
    bodyHeight: panel.height + 4,
    caption: comparisonCaption(rows),
  });
}

/** Whether the table shows where the frozen layers' output was kept: when a run kept it on disk, or the runs differ. */
function showsCache(runs: ComparisonRun[]): boolean {
  const places = new Set(runs.map((r) => r.prefixCache?.split(",")[0]));
  return places.size > 1 || places.has("on disk");
}

/**
 * The runs as an HTML table (freeze depth, trainable parameters, test accuracy, time); the best
 * accuracy in bold. When the runs differ in learning rate or one continued from another (a second
 * fine-tuning stage), columns for the learning rate and where each run started are added; when a
 * run kept the batch normalisation in inference mode, a column says how each ran; when a run kept
 * the frozen layers' output on disk, or the runs differ in where they kept it, a last column says
 * where.
 */
export function comparisonTable(runs: ComparisonRun[]): string {
  const rows = runRows(runs);
  const rates = new Set(runs.map((r) => r.learningRate).filter((v) => v !== undefined));
  const precisions = runs.some((r) => r.precision !== undefined);
  const stages = rates.size > 1 || runs.some((r) => r.startedFrom !== undefined || r.schedule !== undefined);
  const batchNorm = runs.some((r) => r.batchNorm === "inference");
  const cache = showsCache(runs);
  const th = (s: string, align = "right") => `<th style="text-align:${align};padding:4px 10px">${escapeHtml(s)}</th>`;
  const td = (s: string, bold: boolean, align = "right") =>
    `<td style="text-align:${align};padding:4px 10px;font-variant-numeric:tabular-nums">${bold ? `<strong>${escapeHtml(s)}</strong>` : escapeHtml(s)}</td>`;
  const body = rows
    .map(
      (r, i) =>
        `<tr>${td(stages ? `${i + 1}` : r.key, false, "left")}${stages ? td(String(r.run.freezeDepth), false, "left") : ""}` +
        `${td(thousands(r.run.trainableParams), false)}` +
        (precisions ? td(r.run.precision ?? "float32", false, "left") : "") +
        (stages
          ? td(r.run.schedule ?? (r.run.learningRate === undefined ? "—" : String(r.run.learningRate)), false) +
            td(r.run.startedFrom === undefined ? "the initial weights" : `run ${r.run.startedFrom}`, false, "left")
          : "") +
        (batchNorm ? td(r.run.batchNorm === "inference" ? "inference" : "batch statistics", false, "left") : "") +
        `${td(r.run.testAccuracy === undefined ? "—" : percent(r.run.testAccuracy, 2), r.best)}` +
        `${td(r.run.seconds === undefined ? "—" : formatDuration(r.run.seconds), false)}` +
        `${cache ? td(r.run.prefixCache ?? "—", false, "left") : ""}</tr>`,
    )
    .join("");
  const head =
    (stages ? `${th("Run", "left")}${th("Freeze depth", "left")}` : th("Freeze depth", "left")) +
    th("Trainable parameters") +
    (precisions ? th("Precision", "left") : "") +
    (stages ? `${th("Learning rate")}${th("Started from", "left")}` : "");
  const columns = (stages ? 7 : 4) + (precisions ? 1 : 0) + (batchNorm ? 1 : 0) + (cache ? 1 : 0);
  return (
    `<table class="kt-comparison-table" style="border-collapse:collapse">` +
    `<thead><tr>${head}${batchNorm ? th("Batch norm", "left") : ""}` +
    `${th("Test accuracy")}${th("Training time")}` +
    `${cache ? th("Frozen layers' output", "left") : ""}</tr></thead>` +
    `<tbody>${body || `<tr><td colspan="${columns}" style="padding:4px 10px">No runs yet.</td></tr>`}</tbody></table>`
  );
}
