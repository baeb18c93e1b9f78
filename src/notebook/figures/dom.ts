/**
 * A minimal DOM for drawing figures outside a browser: one jsdom window, created on first use, typed
 * structurally so that no DOM library is needed; small element builders; and Observable Plot run in
 * it (ESM-only, loaded through Node's require of ES modules, Node ≥ 20.19), with the marks several
 * figures share (`boldTexts`). Both are loaded on first use, so importing the figures is cheap.
 */
import type * as PlotTypes from "@observablehq/plot";
import { SVG_NS } from "./theme";

export interface DomNode {
  readonly nodeName: string;
  readonly firstChild: DomNode | null;
  textContent: string | null;
  appendChild(node: DomNode): unknown;
  removeChild(node: DomNode): unknown;
}

export interface DomElement extends DomNode {
  setAttribute(name: string, value: string): void;
  getAttribute(name: string): string | null;
}

interface DomDocument {
  createElementNS(ns: string, tag: string): DomElement;
}

export interface Dom {
  document: DomDocument;
  serialize(node: DomElement): string;
}

let dom: Dom | undefined;
let plotModule: typeof PlotTypes | undefined;

/** One jsdom window, created on first use and reused. */
export function getDom(): Dom {
  if (!dom) {
    // jsdom is large: loaded when the first figure is drawn, not when the library is imported.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { JSDOM } = require("jsdom") as typeof import("jsdom");
    const window = new JSDOM("<!DOCTYPE html><html><body></body></html>").window;
    const serializer = new window.XMLSerializer();
    dom = {
      document: window.document as unknown as DomDocument,
      serialize: (node: DomElement) => serializer.serializeToString(node as unknown as Node),
    };
  }
  return dom;
}

export function plotLib(): typeof PlotTypes {
  // An ES module, required (Node >= 20.19) so that tslab's CommonJS output can load it; on first use.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (!plotModule) plotModule = require("@observablehq/plot") as typeof PlotTypes;
  return plotModule;
}

export type Attrs = Record<string, string | number | undefined>;

export function el(tag: string, attrs: Attrs = {}, children: (DomNode | string)[] = []): DomElement {
  const doc = getDom().document;
  const e = doc.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, String(v));
  for (const c of children) {
    if (typeof c === "string") {
      const t = doc.createElementNS(SVG_NS, "tspan");
      t.textContent = c;
      e.appendChild(t);
    } else e.appendChild(c);
  }
  return e;
}

export function text(content: string, attrs: Attrs): DomElement {
  const t = el("text", attrs);
  t.textContent = content;
  return t;
}

export function tooltip(content: string): DomElement {
  const t = el("title");
  t.textContent = content;
  return t;
}

/** Runs Plot.plot in jsdom and returns its marks in a <g>, without Plot's <style>, ready to place on a card. */
export function plotBody(options: PlotTypes.PlotOptions, x: number, y: number): DomElement {
  const Plot = plotLib();
  const svg = Plot.plot({
    ...options,
    document: getDom().document as unknown as PlotTypes.PlotOptions["document"],
  }) as unknown as DomElement;
  const g = el("g", {
    class: "kt-plot",
    transform: `translate(${x},${y})`,
    fill: "currentColor",
    "font-size": 11,
    "text-anchor": "middle",
  });
  for (let c = svg.firstChild; c; c = svg.firstChild) {
    if (c.nodeName.toLowerCase() === "style") svg.removeChild(c);
    else g.appendChild(c);
  }
  return g;
}

/**
 * Text marks for `data` with the items where `bold` holds in bold (the best run, the most probable
 * class, the diagonal of a confusion matrix), drawn first, and the others in normal weight.
 */
export function boldTexts<T>(data: T[], bold: (d: T) => boolean, options: PlotTypes.TextOptions): PlotTypes.Text[] {
  const Plot = plotLib();
  return [true, false].map((isBold) =>
    Plot.text(
      data.filter((d) => bold(d) === isBold),
      { ...options, fontWeight: isBold ? 700 : 400 },
    ),
  );
}
