/**
 * Showing figures, text and live training progress, in a notebook or not.
 *
 * Inside the tslab kernel, everything goes to the notebook as rich output:
 * figures as SVG, tables and warnings as HTML, and training progress as one
 * output updated in place. Anywhere else (plain Node, tests, scripts), figures
 * are written to files (`KT_FIGURES_DIR`, default `out/figures` under the
 * working directory; see `setFigureOutput`) with a one-line note, tables are
 * printed as aligned text, warnings go to stderr and progress prints one line
 * per epoch. Nothing here throws for lack of a notebook.
 *
 * How the kernel is detected: tslab's kernel loads its `tslab/dist/jupyter.js`
 * module, which holds `lastWriteDisplayData`, the sink that `tslab.display`
 * writes to; it is set as soon as the kernel executes a cell. We look for that
 * module among the modules already loaded (`require.cache`), so nothing is
 * loaded outside a kernel, and check that the sink is set.
 *
 * No TensorFlow here, and the figures themselves are made in ./plots.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { formatBytes, terminalProgress, type ProgressCallback } from "../keras/download";
import type { Figure } from "./plots";

// ---------------------------------------------------------------------------
// Kernel detection

type DisplaySink = (data: unknown, update: boolean) => void;
interface TslabJupyterModule {
  lastWriteDisplayData: DisplaySink | null;
}

/** What `require("tslab")` gives inside the kernel (the part used here). */
interface TslabDisplay {
  html(s: string): void;
  svg(s: string): void;
  markdown(s: string): void;
  text(s: string): void;
}
interface TslabModule {
  display: TslabDisplay;
  newDisplay(): TslabDisplay;
}

const JUPYTER_MODULE = /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/;
let jupyterModule: TslabJupyterModule | undefined;
let mode: "auto" | "terminal" = "auto";

function findJupyterModule(): TslabJupyterModule | undefined {
  if (jupyterModule) return jupyterModule;
  const cache = require.cache;
  if (!cache) return undefined;
  for (const key of Object.keys(cache)) {
    if (JUPYTER_MODULE.test(key)) {
      const loaded = cache[key]?.exports as Partial<TslabJupyterModule> | undefined;
      if (loaded && "lastWriteDisplayData" in loaded) {
        jupyterModule = loaded as TslabJupyterModule;
        return jupyterModule;
      }
    }
  }
  return undefined;
}

/**
 * True when running in a tslab Jupyter kernel that can display rich output
 * now (and `setDisplayMode("terminal")` was not called).
 */
export function inKernel(): boolean {
  if (mode === "terminal") return false;
  return typeof findJupyterModule()?.lastWriteDisplayData === "function";
}

/** "terminal": behave as outside a notebook even in the kernel (figures to files, plain text); "auto" (default): detect. */
export function setDisplayMode(m: "auto" | "terminal"): void {
  if (m !== "auto" && m !== "terminal") throw new Error(`display mode must be "auto" or "terminal", got ${JSON.stringify(m)}.`);
  mode = m;
}

function tslab(): TslabModule {
  // Inside the kernel, tslab hooks require("tslab") to its own, already loaded, instance.
  return require("tslab") as TslabModule;
}

// ---------------------------------------------------------------------------
// Figures

let figureDir: string | null | undefined;
let figureCount = 0;

/**
 * Where `show()` writes figures outside a notebook: a folder, `null` to write
 * nothing (only the note is printed), or `undefined` for the default
 * (`$KT_FIGURES_DIR`, else `out/figures` under the working directory).
 */
export function setFigureOutput(dir: string | null | undefined): void {
  figureDir = dir;
}

/** The folder figures are written to outside a notebook, or null when they are not written. */
export function figureOutput(): string | null {
  if (figureDir !== undefined) return figureDir;
  return process.env.KT_FIGURES_DIR || path.join(process.cwd(), "out", "figures");
}

/** Something `show()` can display: a figure from ./plots, an SVG or HTML string, or `{svg}` / `{html}`. */
export type Displayable = Figure | { svg: string; title?: string; name?: string } | { html: string; title?: string; name?: string } | string;

export interface ShowOptions {
  /** Used in the file name outside a notebook (default: the figure's title or name). */
  name?: string;
}

function slug(s: string): string {
  const t = s
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60);
  return t || "figure";
}

function isSvgText(s: string): boolean {
  const t = s.trimStart();
  return t.startsWith("<svg") || (t.startsWith("<?xml") && t.includes("<svg"));
}

/**
 * Shows a figure, SVG or HTML. In the notebook: inline output. Elsewhere:
 * writes it to the figure folder (as .svg or .html), prints a one-line note and
 * returns the file's path.
 */
export function show(item: Displayable, options: ShowOptions = {}): string | undefined {
  let kind: "svg" | "html";
  let content: string;
  let label: string;
  if (typeof item === "string") {
    kind = isSvgText(item) ? "svg" : "html";
    content = item;
    label = options.name ?? kind;
  } else if (item && typeof item === "object" && "svg" in item && typeof item.svg === "string") {
    kind = "svg";
    content = item.svg;
    label = options.name ?? item.title ?? item.name ?? "figure";
  } else if (item && typeof item === "object" && "html" in item && typeof item.html === "string") {
    kind = "html";
    content = item.html;
    label = options.name ?? item.title ?? item.name ?? "html";
  } else {
    throw new Error("show() takes a figure, an SVG or HTML string, or {svg} / {html}.");
  }
  if (inKernel()) {
    if (kind === "svg") tslab().display.svg(content);
    else tslab().display.html(content);
    return undefined;
  }
  const dir = figureOutput();
  if (dir === null) {
    console.log(`[figure] ${label} (not saved)`);
    return undefined;
  }
  fs.mkdirSync(dir, { recursive: true });
  figureCount++;
  const file = path.join(dir, `${String(figureCount).padStart(3, "0")}-${slug(label)}.${kind}`);
  const body = kind === "html" ? `<!DOCTYPE html>\n<meta charset="utf-8">\n${content}\n` : content;
  fs.writeFileSync(file, body);
  const rel = path.relative(process.cwd(), file);
  console.log(`[figure] ${label} → ${rel.startsWith("..") ? file : rel}`);
  return file;
}

// ---------------------------------------------------------------------------
// Text, HTML, tables, warnings

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/** Rough plain-text version of an HTML fragment, for terminals. */
function htmlToText(html: string): string {
  return html
    .replace(/<(br|\/p|\/div|\/tr|\/h\d|\/li)\b[^>]*>/gi, "\n")
    .replace(/<\/t[dh]>/gi, "\t")
    .replace(/<[^>]*>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&nbsp;/g, " ")
    .replace(/&amp;/g, "&")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** Markdown: rendered in the notebook, printed as is elsewhere. */
export function markdown(text: string): void {
  if (inKernel()) tslab().display.markdown(text);
  else console.log(text);
}

/** HTML: rendered in the notebook, printed as rough plain text elsewhere. */
export function html(text: string): void {
  if (inKernel()) tslab().display.html(text);
  else console.log(htmlToText(text));
}

/** A table row: an object (columns are its keys) or an array (columns by position). */
export type TableRow = Record<string, unknown> | readonly unknown[];

function formatCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return Math.abs(v) >= 10000 ? v.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",") : String(v);
    if (Math.abs(v) >= 1e-3) return String(Number(v.toFixed(4)));
    return v.toPrecision(3);
  }
  if (Array.isArray(v)) return `[${v.map(formatCell).join(", ")}]`;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function tableGrid(rows: readonly TableRow[], columns?: readonly string[]): { header: string[]; cells: string[][]; numeric: boolean[] } {
  let header: string[];
  let get: (row: TableRow, j: number) => unknown;
  const first = rows.find((r) => r !== undefined && r !== null);
  if (first !== undefined && !Array.isArray(first)) {
    const keys = columns ? [...columns] : [...new Set(rows.flatMap((r) => (Array.isArray(r) ? [] : Object.keys(r))))];
    header = keys;
    get = (row, j) => (Array.isArray(row) ? row[j] : (row as Record<string, unknown>)[keys[j]]);
  } else {
    const width = Math.max(columns?.length ?? 0, ...rows.map((r) => (Array.isArray(r) ? r.length : 0)));
    header = Array.from({ length: width }, (_, j) => columns?.[j] ?? String(j));
    get = (row, j) => (Array.isArray(row) ? row[j] : undefined);
  }
  const raw = rows.map((r) => header.map((_, j) => get(r, j)));
  const numeric = header.map((_, j) => raw.length > 0 && raw.every((r) => typeof r[j] === "number" || r[j] === undefined || r[j] === null));
  return { header, cells: raw.map((r) => r.map(formatCell)), numeric };
}

/** The rows as an HTML table (numbers right-aligned); columns: keys to show (object rows) or headers (array rows). */
export function tableHtml(rows: readonly TableRow[], columns?: readonly string[]): string {
  const { header, cells, numeric } = tableGrid(rows, columns);
  const align = (j: number) => (numeric[j] ? "right" : "left");
  const head = header.map((h, j) => `<th style="text-align:${align(j)};padding:3px 10px">${escapeHtml(h)}</th>`).join("");
  const body = cells
    .map((r) => `<tr>${r.map((c, j) => `<td style="text-align:${align(j)};padding:3px 10px;font-variant-numeric:tabular-nums">${escapeHtml(c)}</td>`).join("")}</tr>`)
    .join("");
  return `<table class="kt-table" style="border-collapse:collapse"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** The rows as aligned plain text, with a header line and a rule. */
export function tableText(rows: readonly TableRow[], columns?: readonly string[]): string {
  const { header, cells, numeric } = tableGrid(rows, columns);
  const widths = header.map((h, j) => Math.max(h.length, ...cells.map((r) => r[j].length)));
  const line = (r: string[]) =>
    r
      .map((c, j) => (numeric[j] ? c.padStart(widths[j]) : c.padEnd(widths[j])))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}

/** A table: HTML in the notebook, aligned text elsewhere. */
export function table(rows: readonly TableRow[], columns?: readonly string[]): void {
  if (inKernel()) tslab().display.html(tableHtml(rows, columns));
  else console.log(tableText(rows, columns));
}

/** HTML of a warning box, readable in light and dark themes (explicit colours). */
export function warningHtml(text: string): string {
  return (
    `<div class="kt-warning" role="alert" style="border:1px solid #d4a72c;border-left:6px solid #bf8700;` +
    `background:#fff8c5;color:#3b2300;padding:8px 12px;border-radius:4px;margin:4px 0;` +
    `font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;line-height:1.45">` +
    `<strong style="color:#7d4e00">⚠ Warning</strong><br>${escapeHtml(text).replace(/\n/g, "<br>")}</div>`
  );
}

/** A warning: a yellow box in the notebook, a "warning:" line on stderr elsewhere. */
export function warning(text: string): void {
  if (inKernel()) tslab().display.html(warningHtml(text));
  else console.error(`⚠ warning: ${text}`);
}

// ---------------------------------------------------------------------------
// Live training progress

/** Where training stands, as the training loop reports it. */
export interface ProgressState {
  /** The current epoch, counted from 1. */
  epoch: number;
  epochs: number;
  /** Batches done in this epoch (1 after the first batch). */
  batch?: number;
  batches?: number;
  /** Seconds since training started. */
  seconds?: number;
  /** Estimated seconds left for the whole run (estimated from progress when absent). */
  eta?: number;
  /** Metrics so far: loss, accuracy, and at the end of an epoch val_loss, val_accuracy, … */
  logs?: Record<string, number | undefined>;
}

export interface Progress {
  /** The state after a batch; the display is refreshed at most every `minIntervalMs`. */
  update(state: ProgressState): void;
  /** The state at the end of epoch `state.epoch` (with validation metrics): adds a line for it. */
  epochEnd(state: ProgressState): void;
  /** Training is over: the final state, with a summary line. */
  done(summary?: string): void;
}

export interface ProgressOptions {
  /** A heading above the progress bar in the notebook. */
  title?: string;
  /** Least time between two refreshes of the notebook display (default 250 ms). */
  minIntervalMs?: number;
  /** Where lines go outside a notebook (default: console.log). */
  write?: (line: string) => void;
  /** The clock, in milliseconds (default Date.now). */
  now?: () => number;
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

const LOG_ORDER = ["loss", "accuracy", "acc"];

/** "loss 0.1234 · accuracy 0.9612 · val_loss … · val_accuracy …" */
export function formatLogs(logs: Record<string, number | undefined> | undefined): string {
  if (!logs) return "";
  const keys = Object.keys(logs).filter((k) => typeof logs[k] === "number" && k !== "batch" && k !== "size");
  const rank = (k: string) => {
    const base = k.startsWith("val_") ? k.slice(4) : k;
    const i = LOG_ORDER.indexOf(base);
    return (k.startsWith("val_") ? 100 : 0) + (i < 0 ? 50 : i);
  };
  keys.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return keys.map((k) => `${k} ${(logs[k] as number).toFixed(4)}`).join(" · ");
}

/**
 * A live progress display for training. In the notebook: one output, updated
 * in place (a bar for the current epoch, batch, elapsed time, ETA, metrics, and
 * a line per finished epoch), refreshed at most every `minIntervalMs` and at
 * every epoch's end. Elsewhere: one line per epoch, and the summary.
 *
 * Call `update` after each batch, `epochEnd` after each epoch and `done` at
 * the end. An epoch for which `epochEnd` is not called gets its line when the
 * next epoch starts (or at `done`) from its last state.
 */
export function createProgress(options: ProgressOptions = {}): Progress {
  const now = options.now ?? Date.now;
  const minInterval = options.minIntervalMs ?? 250;
  const write = options.write ?? ((line: string) => console.log(line));
  const kernel = inKernel();
  const started = now();
  let display: TslabDisplay | undefined;
  let lastRender = -Infinity;
  let current: ProgressState | undefined;
  let closedEpoch = 0;
  let completed = 0;
  let lastEpochEndSeconds = 0;
  let finished = false;
  const lines: string[] = [];

  const elapsed = (s: ProgressState | undefined) => (s?.seconds ?? (now() - started) / 1000);

  const eta = (s: ProgressState): number | undefined => {
    if (s.eta !== undefined) return s.eta;
    if (!s.batches || s.batch === undefined) return undefined;
    const done = (s.epoch - 1) * s.batches + s.batch;
    const total = s.epochs * s.batches;
    return done > 0 ? (elapsed(s) / done) * (total - done) : undefined;
  };

  const closeEpoch = (s: ProgressState, complete: boolean) => {
    if (s.epoch <= closedEpoch) return;
    const t = elapsed(s);
    const parts = [`epoch ${s.epoch}/${s.epochs}`];
    if (!complete && s.batches) parts.push(`stopped after batch ${s.batch ?? 0}/${s.batches}`);
    parts.push(`${(t - lastEpochEndSeconds).toFixed(1)} s`);
    const logs = formatLogs(s.logs);
    if (logs) parts.push(logs);
    const line = parts.join(" · ");
    lines.push(line);
    closedEpoch = s.epoch;
    if (complete) completed++;
    lastEpochEndSeconds = t;
    if (!kernel) write(line);
  };

  const render = (summary?: string) => {
    if (!kernel) return;
    const s = current;
    const fraction = summary !== undefined ? 1 : s && s.batches ? Math.min(1, (s.batch ?? 0) / s.batches) : 0;
    const barColour = summary !== undefined ? "#1a7f37" : "#2f81f7";
    const head: string[] = [];
    if (summary !== undefined) head.push(`<strong>Done</strong>`);
    else if (s) head.push(`<strong>Epoch ${s.epoch}/${s.epochs}</strong>`);
    else head.push(`<strong>Starting…</strong>`);
    const status: string[] = [];
    if (summary === undefined && s) {
      if (s.batches) status.push(`batch ${s.batch ?? 0}/${s.batches}`);
      status.push(`${formatClock(elapsed(s))} elapsed`);
      const left = eta(s);
      if (left !== undefined) status.push(`ETA ${formatClock(left)}`);
    }
    const bar =
      `<span style="display:inline-block;width:240px;height:9px;border-radius:5px;background:rgba(127,127,127,0.28);overflow:hidden;vertical-align:middle">` +
      `<span style="display:block;height:100%;width:${(fraction * 100).toFixed(1)}%;background:${barColour}"></span></span>`;
    const logs = summary === undefined && s ? formatLogs(s.logs) : "";
    const htmlText =
      `<div class="kt-progress" style="font-family:var(--jp-code-font-family,ui-monospace,SFMono-Regular,Menlo,Consolas,monospace);font-size:12px;line-height:1.6">` +
      (options.title ? `<div style="font-weight:600">${escapeHtml(options.title)}</div>` : "") +
      `<div>${head.join("")} ${bar} <span class="kt-progress-status">${escapeHtml(status.join(" · "))}</span></div>` +
      (logs ? `<div class="kt-progress-logs">${escapeHtml(logs)}</div>` : "") +
      (summary ? `<div class="kt-progress-summary" style="font-weight:600">${escapeHtml(summary)}</div>` : "") +
      (lines.length
        ? `<div class="kt-progress-epochs" style="opacity:0.8;margin-top:2px">${lines.map((l) => `<div>${escapeHtml(l)}</div>`).join("")}</div>`
        : "") +
      `</div>`;
    if (!display) display = tslab().newDisplay();
    display.html(htmlText);
    lastRender = now();
  };

  const check = (s: ProgressState) => {
    if (!s || !Number.isFinite(s.epoch) || !Number.isFinite(s.epochs)) throw new Error("progress state needs numeric epoch and epochs.");
  };

  return {
    update(state: ProgressState): void {
      if (finished) return;
      check(state);
      // A new epoch began and the previous one had no epochEnd: close it from its last state.
      if (current && state.epoch > current.epoch && current.epoch > closedEpoch) {
        closeEpoch(current, !current.batches || (current.batch ?? 0) >= current.batches);
      }
      current = state;
      if (kernel && now() - lastRender >= minInterval) render();
    },
    epochEnd(state: ProgressState): void {
      if (finished) return;
      check(state);
      if (current && state.epoch > current.epoch && current.epoch > closedEpoch) {
        closeEpoch(current, !current.batches || (current.batch ?? 0) >= current.batches);
      }
      current = state;
      closeEpoch(state, true);
      render();
    },
    done(summary?: string): void {
      if (finished) return;
      finished = true;
      if (current && current.epoch > closedEpoch) {
        closeEpoch(current, !current.batches || (current.batch ?? 0) >= current.batches);
      }
      const total = current?.epochs;
      const text =
        summary ?? `${completed}${total === undefined ? "" : ` of ${total}`} epoch${(total ?? completed) === 1 ? "" : "s"} in ${formatClock(elapsed(current))}`;
      if (kernel) render(text);
      else write(text);
    },
  };
}

// ---------------------------------------------------------------------------
// Download and step progress

function barHtml(cls: string, label: string, fraction: number, amount: string): string {
  return (
    `<div class="${cls}" style="font-size:12px;line-height:1.6">${escapeHtml(label)} ` +
    `<span style="display:inline-block;width:200px;height:8px;border-radius:4px;background:rgba(127,127,127,0.28);overflow:hidden;vertical-align:middle">` +
    `<span style="display:block;height:100%;width:${(Math.min(1, fraction) * 100).toFixed(1)}%;background:#2da44e"></span></span> ${escapeHtml(amount)}</div>`
  );
}

/**
 * A download progress reporter: in the notebook, one output updated in place (a bar with the
 * bytes received); elsewhere, a line per 10 %.
 */
export function downloadProgress(label: string): ProgressCallback {
  if (!inKernel()) return terminalProgress(label);
  const d = tslab().newDisplay();
  let last = 0;
  return (received, total) => {
    const now = Date.now();
    const finished = total !== undefined && received >= total;
    if (now - last < 250 && !finished) return;
    last = now;
    const amount = total ? `${formatBytes(received)} of ${formatBytes(total)}` : formatBytes(received);
    d.html(barHtml("kt-download", label, total ? received / total : 0, amount));
  };
}

export interface StepProgress {
  /** `done` of `total` items processed. */
  update(done: number, total: number): void;
  /** Replaces the bar with a closing line. */
  finish(text: string): void;
}

/**
 * Progress of a one-off computation over items (e.g. the frozen layers over the digits): a bar updated
 * in place in the notebook; elsewhere only the closing line is printed.
 */
export function stepProgress(label: string, unit = "items"): StepProgress {
  const d = inKernel() ? tslab().newDisplay() : undefined;
  let last = 0;
  return {
    update(done, total) {
      const now = Date.now();
      if (!d || (now - last < 250 && done < total)) return;
      last = now;
      d.html(barHtml("kt-steps", label, total ? done / total : 0, `${done} of ${total} ${unit}`));
    },
    finish(text) {
      if (d) d.html(`<div class="kt-steps" style="font-size:12px;line-height:1.6">${escapeHtml(text)}</div>`);
      else console.log(text);
    },
  };
}
