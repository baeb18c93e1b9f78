/**
 * `topKPlot`: one image and what the model made of it: the image as read (optional), the 28×28
 * digit the model saw, and its most probable classes as bars with their probabilities (what
 * `topK` gives for one image).
 */
import { percent } from "../../util/format";
import { card } from "./card";
import { plotBody, plotLib, text, tooltip, type DomElement } from "./dom";
import type { ClassProbability } from "../examples";
import type { Figure, PixelData } from "./figure";
import { defaultMax, digitNode, frame, inkOf } from "./pixels";
import { BORDER, PAD } from "./theme";

/** A class and its probability, as `topK` gives them. */
export type TopKEntry = ClassProbability;

export interface TopKPlotOptions {
  /** Above the figure, e.g. the file name. */
  title?: string;
  /**
   * The image as read, before it was made to look like an MNIST digit: grey values in [0, 1]
   * (0 black, 1 white), row-major, `width`×`height` (what `readDigits` keeps in `previews`).
   */
  source?: { pixels: PixelData; width: number; height: number };
  /** The pixel value of the digit drawn black (default 255 for Uint8Array, else 1). */
  maxValue?: number;
}

const BEST = "#0969da";
const OTHERS = "#8cb4e8";
/** Height of the images and of the bars' panel. */
const SIZE = 112;

/**
 * A digit (28×28, MNIST's polarity: 0 background, the maximum ink) with its most probable classes
 * as horizontal bars, most probable first and highlighted, each labelled with its probability;
 * with `source`, the image as read is drawn before it. The subtitle names the prediction.
 */
export function topKPlot(digit: PixelData, top: TopKEntry[], options: TopKPlotOptions = {}): Figure {
  if (!Array.isArray(top) || top.length === 0)
    throw new Error("topKPlot needs at least one { class, probability }: pass topK(predictions, 3)[i].");
  for (const t of top) {
    if (!Number.isInteger(t.class) || !(t.probability >= 0 && t.probability <= 1)) {
      throw new Error(
        `topKPlot: each entry is { class: a whole number, probability: in [0, 1] }, got ${JSON.stringify(t)}.`,
      );
    }
  }
  const ink = inkOf(digit, 28, 28, 1, options.maxValue ?? defaultMax(digit));
  const source = options.source;
  let sourceInk: Float64Array | undefined;
  let sourceScale = 1;
  if (source) {
    // Drawn as it looks: dark where the image is dark (ink = 1 − grey).
    sourceInk = inkOf(source.pixels, source.width, source.height, 1, 1).map((v) => 1 - v);
    sourceScale = Math.max(1, Math.floor(SIZE / Math.max(source.width, source.height)));
  }
  const sourceWidth = source ? source.width * sourceScale : 0;
  const sourceHeight = source ? source.height * sourceScale : 0;
  const digitScale = 4;
  const digitSize = 28 * digitScale;
  const gap = 26;
  const barsWidth = 280;
  const imagesHeight = Math.max(SIZE, sourceHeight);
  const labelSpace = 34;
  const Plot = plotLib();
  const rows = top.map((t, i) => ({ key: String(t.class), probability: t.probability, best: i === 0 }));
  const best = top[0];
  const body = (y0: number): DomElement[] => {
    const parts: DomElement[] = [];
    let x = PAD;
    const caption = (s: string, cx: number) =>
      text(s, { class: "kt-label", x: cx, y: y0 + imagesHeight + 16, "text-anchor": "middle", "font-size": 12 });
    if (source && sourceInk) {
      const g = digitNode(
        sourceInk,
        source.width,
        source.height,
        sourceScale,
        x,
        y0 + (imagesHeight - sourceHeight) / 2,
        { class: "kt-digit kt-source" },
      );
      g.appendChild(frame(sourceWidth, sourceHeight, BORDER, 1, "kt-frame"));
      g.appendChild(tooltip(`the image as read, ${source.width}×${source.height} (shown at most 112 pixels a side)`));
      parts.push(g, caption("as read", x + sourceWidth / 2));
      x += sourceWidth + gap;
    }
    const g = digitNode(ink, 28, 28, digitScale, x, y0 + (imagesHeight - digitSize) / 2, {
      class: "kt-digit kt-model-input",
    });
    g.appendChild(frame(digitSize, digitSize, BORDER, 1, "kt-frame"));
    g.appendChild(tooltip("what the model sees: 28×28, white on black as in MNIST (drawn dark on light)"));
    parts.push(g, caption("28×28, as MNIST", x + digitSize / 2));
    x += digitSize + gap;
    parts.push(
      plotBody(
        {
          width: barsWidth,
          height: imagesHeight + labelSpace,
          marginLeft: 58,
          marginRight: 52,
          marginTop: 4,
          marginBottom: 36,
          x: {
            domain: [0, 1],
            label: "probability",
            labelAnchor: "center",
            labelArrow: "none",
            labelOffset: 32,
            grid: true,
            ticks: [0, 0.25, 0.5, 0.75, 1],
            tickFormat: (v: number) => percent(v, 0),
          },
          y: { domain: rows.map((r) => r.key), label: null, padding: 0.25, tickFormat: (k: string) => `digit ${k}` },
          marks: [
            Plot.frame({ stroke: BORDER }),
            Plot.barX(rows, {
              x: "probability",
              y: "key",
              fill: (r: (typeof rows)[number]) => (r.best ? BEST : OTHERS),
              title: (r: (typeof rows)[number]) => `digit ${r.key}: ${percent(r.probability, 2)}`,
            }),
            ...[true, false].map((isBest) =>
              Plot.text(
                rows.filter((r) => r.best === isBest),
                {
                  x: "probability",
                  y: "key",
                  text: (r: (typeof rows)[number]) => percent(r.probability, 1),
                  dx: 5,
                  textAnchor: "start",
                  fontSize: 11,
                  fontWeight: isBest ? 700 : 400,
                },
              ),
            ),
          ],
        },
        x,
        y0,
      ),
    );
    return parts;
  };
  return card({
    name: "top-k",
    title: options.title,
    subtitle: `predicted ${best.class} (${percent(best.probability, 1)}); the ${top.length} most probable digit${top.length === 1 ? "" : "s"}`,
    bodyWidth: (source ? sourceWidth + gap : 0) + digitSize + gap + barsWidth,
    bodyHeight: imagesHeight + labelSpace,
    body,
  });
}
