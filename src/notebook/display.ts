/**
 * Showing figures, text, tables and warnings, in a notebook or not.
 *
 * Inside the tslab kernel (./tslab.ts), everything goes to the notebook as rich
 * output: figures as SVG, tables and warnings as HTML. Anywhere else (plain
 * Node, tests, scripts), figures are written to files (`KT_FIGURES_DIR`,
 * default `out/figures` under the working directory; see `setFigureOutput`)
 * with a one-line note, tables are printed as aligned text and warnings go to
 * stderr. Nothing here throws for lack of a notebook. Live progress is in
 * ./progress.ts.
 *
 * No TensorFlow here, and the figures themselves are made in ./figures/.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { escapeHtml, thousands } from "../util/format";
import { makeFolders } from "../util/files";
import type { Figure } from "./figures/figure";
import { inKernel, tslab } from "./tslab";

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

/** Something `show()` can display: a figure from ./figures/, an SVG or HTML string, or `{svg}` / `{html}`. */
export type Displayable =
  Figure | { svg: string; title?: string; name?: string } | { html: string; title?: string; name?: string } | string;

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
  makeFolders(dir);
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
    if (Number.isInteger(v)) return Math.abs(v) >= 10000 ? thousands(v) : String(v);
    if (Math.abs(v) >= 1e-3) return String(Number(v.toFixed(4)));
    return v.toPrecision(3);
  }
  if (Array.isArray(v)) return `[${v.map(formatCell).join(", ")}]`;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v as string | boolean | bigint | symbol | undefined);
}

function tableGrid(
  rows: readonly TableRow[],
  columns?: readonly string[],
): { header: string[]; cells: string[][]; numeric: boolean[] } {
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
  const numeric = header.map(
    (_, j) => raw.length > 0 && raw.every((r) => typeof r[j] === "number" || r[j] === undefined || r[j] === null),
  );
  return { header, cells: raw.map((r) => r.map(formatCell)), numeric };
}

/** The rows as an HTML table (numbers right-aligned); columns: keys to show (object rows) or headers (array rows). */
export function tableHtml(rows: readonly TableRow[], columns?: readonly string[]): string {
  const { header, cells, numeric } = tableGrid(rows, columns);
  const align = (j: number) => (numeric[j] ? "right" : "left");
  const head = header
    .map((h, j) => `<th style="text-align:${align(j)};padding:3px 10px">${escapeHtml(h)}</th>`)
    .join("");
  const body = cells
    .map(
      (r) =>
        `<tr>${r.map((c, j) => `<td style="text-align:${align(j)};padding:3px 10px;font-variant-numeric:tabular-nums">${escapeHtml(c)}</td>`).join("")}</tr>`,
    )
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
