/**
 * The card every figure is drawn on: a white rounded background, then from the top a title, a
 * subtitle, a legend, the figure's body and a wrapped caption; its size follows its content.
 */
import { el, getDom, text, tooltip, type DomElement } from "./dom";
import type { Figure } from "./figure";
import { CARD, FONT, INK, MUTED, PAD } from "./theme";

export interface LegendItem {
  label: string;
  color: string;
  /** "line": a line with a dot; "frame": an outlined square; "swatch": a filled square. */
  kind: "line" | "frame" | "swatch";
  key: string;
}

export interface CardSpec {
  name: string;
  title?: string;
  subtitle?: string;
  legend?: LegendItem[];
  /** Parts placed below the header; coordinates relative to the body's top-left corner. */
  body: (top: number) => DomElement[];
  bodyWidth: number;
  bodyHeight: number;
  caption?: string;
}

/** Rough width of a text in the card's font (for layout only). */
export function textWidth(s: string, fontSize: number): number {
  return s.length * fontSize * 0.6;
}

function wrap(s: string, maxChars: number): string[] {
  const lines: string[] = [];
  for (const paragraph of s.split("\n")) {
    let line = "";
    for (const word of paragraph.split(/\s+/).filter((w) => w !== "")) {
      if (line !== "" && line.length + 1 + word.length > maxChars) {
        lines.push(line);
        line = word;
      } else line = line === "" ? word : `${line} ${word}`;
    }
    lines.push(line);
  }
  return lines;
}

function legendWidth(items: LegendItem[]): number {
  return items.reduce((w, it) => w + 28 + textWidth(it.label, 12) + 18, 0);
}

export function card(spec: CardSpec): Figure {
  const titleWidth = spec.title ? textWidth(spec.title, 15) * 1.05 : 0;
  const subtitleWidth = spec.subtitle ? textWidth(spec.subtitle, 12) : 0;
  const width = Math.ceil(
    Math.max(spec.bodyWidth, titleWidth, subtitleWidth, spec.legend ? legendWidth(spec.legend) : 0, 300) + 2 * PAD,
  );
  const parts: DomElement[] = [];
  let y = PAD;
  if (spec.title) {
    parts.push(text(spec.title, { class: "kt-title", x: PAD, y: y + 14, "font-size": 15, "font-weight": 600 }));
    y += 24;
  }
  if (spec.subtitle) {
    parts.push(text(spec.subtitle, { class: "kt-subtitle", x: PAD, y: y + 11, "font-size": 12, fill: MUTED }));
    y += 20;
  }
  if (spec.legend && spec.legend.length > 0) {
    const g = el("g", { class: "kt-legend", transform: `translate(${PAD},${y})`, "font-size": 12 });
    let x = 0;
    for (const item of spec.legend) {
      const entry = el("g", { class: "kt-legend-item", "data-key": item.key, transform: `translate(${x},0)` });
      if (item.kind === "line") {
        entry.appendChild(el("line", { x1: 0, x2: 22, y1: 8, y2: 8, stroke: item.color, "stroke-width": 2 }));
        entry.appendChild(el("circle", { cx: 11, cy: 8, r: 3.5, fill: item.color, stroke: CARD, "stroke-width": 1 }));
      } else if (item.kind === "frame") {
        entry.appendChild(
          el("rect", { x: 4, y: 1, width: 14, height: 14, fill: "none", stroke: item.color, "stroke-width": 2.5 }),
        );
      } else {
        entry.appendChild(el("rect", { x: 4, y: 1, width: 14, height: 14, fill: item.color }));
      }
      entry.appendChild(text(item.label, { x: 28, y: 12.5 }));
      g.appendChild(entry);
      x += 28 + textWidth(item.label, 12) + 18;
    }
    parts.push(g);
    y += 24;
  }
  y += 4;
  parts.push(...spec.body(y));
  y += spec.bodyHeight;
  if (spec.caption) {
    y += 8;
    const lines = wrap(spec.caption, Math.max(30, Math.floor((width - 2 * PAD) / 7)));
    for (const line of lines) {
      parts.push(text(line, { class: "kt-caption", x: PAD, y: y + 12, "font-size": 12, fill: MUTED }));
      y += 17;
    }
  }
  const height = Math.ceil(y + PAD - 4);
  const root = el("svg", {
    class: `kt-figure kt-${spec.name}`,
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": spec.title ?? spec.name,
    "font-family": FONT,
    "font-size": 12,
    fill: "currentColor",
    style: `color:${INK}`,
  });
  if (spec.title) root.appendChild(tooltip(spec.title));
  root.appendChild(el("rect", { class: "kt-background", width, height, rx: 6, fill: CARD }));
  for (const p of parts) root.appendChild(p);
  return {
    svg: getDom().serialize(root),
    width,
    height,
    name: spec.name,
    title: spec.title,
    caption: spec.caption,
  };
}
