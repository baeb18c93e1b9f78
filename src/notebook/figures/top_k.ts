/**
 * `topKPlot`: one image and what the model made of it: the image as read (optional), the 28×28
 * digit the model saw, and its most probable classes as bars with their probabilities (what
 * `topK` gives for one image).
 */
import { percent } from "../../util/format";
import { card } from "./card";
import { boldTexts, plotBody, plotLib, tooltip, type DomElement } from "./dom";
import type { Figure, PixelData } from "./figure";
import { defaultMax, digitLabel, framedDigit, inkOf, type DigitPicture } from "./pixels";
import { BEST, BORDER, OTHERS, PAD } from "./theme";

/** A class and the probability the model gave it, as `topK` gives them. */
export interface ClassProbability {
  class: number;
  probability: number;
}

/** One bar of `topKPlot`. */
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

/** Height of the images and of the bars' panel. */
const SIZE = 112;
/** Between the images and the bars. */
const GAP = 26;
const BARS_WIDTH = 280;
/** Under the images (their captions) and the bars (their axis). */
const LABEL_SPACE = 34;
/** The digit the model saw, at 4 screen pixels per pixel. */
const DIGIT_SCALE = 4;
const DIGIT_SIZE = 28 * DIGIT_SCALE;

function checkTop(top: TopKEntry[]): void {
  if (!Array.isArray(top) || top.length === 0)
    throw new Error("topKPlot needs at least one { class, probability }: pass topK(predictions, 3)[i].");
  for (const t of top) {
    if (!Number.isInteger(t.class) || !(t.probability >= 0 && t.probability <= 1)) {
      throw new Error(
        `topKPlot: each entry is { class: a whole number, probability: in [0, 1] }, got ${JSON.stringify(t)}.`,
      );
    }
  }
}

/** The image as read, drawn as it looks (dark where it is dark: ink = 1 − grey), at most SIZE pixels a side. */
function sourcePicture(source: NonNullable<TopKPlotOptions["source"]>): DigitPicture {
  return {
    ink: inkOf(source.pixels, source.width, source.height, 1, 1).map((v) => 1 - v),
    width: source.width,
    height: source.height,
    scale: Math.max(1, Math.floor(SIZE / Math.max(source.width, source.height))),
  };
}

/** What an image is called: its class (beside kt-digit), its tooltip and its caption. */
interface ImageWords {
  kind: string;
  tip: string;
  caption: string;
}

const MODEL_INPUT: ImageWords = {
  kind: "kt-model-input",
  tip: "what the model sees: 28×28, white on black as in MNIST (drawn dark on light)",
  caption: "28×28, as MNIST",
};

function sourceWords(source: DigitPicture): ImageWords {
  return {
    kind: "kt-source",
    tip: `the image as read, ${source.width}×${source.height} (shown at most ${SIZE} pixels a side)`,
    caption: "as read",
  };
}

/** A picture at x, centred in the images' band (`band` high from y0), with its tooltip and its caption below. */
function labelledImage(picture: DigitPicture, x: number, y0: number, band: number, words: ImageWords): DomElement[] {
  const w = picture.width * picture.scale;
  const h = picture.height * picture.scale;
  const g = framedDigit(picture, x, y0 + (band - h) / 2, { class: `kt-digit ${words.kind}` });
  g.appendChild(tooltip(words.tip));
  return [g, digitLabel(words.caption, x + w / 2, y0 + band + 16, 12)];
}

interface Bar {
  key: string;
  probability: number;
  best: boolean;
}

/** The classes as horizontal bars, most probable first and highlighted, each labelled with its probability. */
function barsPanel(bars: Bar[], x: number, y: number, band: number): DomElement {
  const Plot = plotLib();
  return plotBody(
    {
      width: BARS_WIDTH,
      height: band + LABEL_SPACE,
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
      y: { domain: bars.map((r) => r.key), label: null, padding: 0.25, tickFormat: (k: string) => `digit ${k}` },
      marks: [
        Plot.frame({ stroke: BORDER }),
        Plot.barX(bars, {
          x: "probability",
          y: "key",
          fill: (r: Bar) => (r.best ? BEST : OTHERS),
          title: (r: Bar) => `digit ${r.key}: ${percent(r.probability, 2)}`,
        }),
        ...boldTexts(bars, (r) => r.best, {
          x: "probability",
          y: "key",
          text: (r: Bar) => percent(r.probability, 1),
          dx: 5,
          textAnchor: "start",
          fontSize: 11,
        }),
      ],
    },
    x,
    y,
  );
}

/**
 * A digit (28×28, MNIST's polarity: 0 background, the maximum ink) with its most probable classes
 * as horizontal bars, most probable first and highlighted, each labelled with its probability;
 * with `source`, the image as read is drawn before it. The subtitle names the prediction.
 */
export function topKPlot(digit: PixelData, top: TopKEntry[], options: TopKPlotOptions = {}): Figure {
  checkTop(top);
  const ink = inkOf(digit, 28, 28, 1, options.maxValue ?? defaultMax(digit));
  const source = options.source && sourcePicture(options.source);
  // The bars' panel is as high as the images' band (and the space for their captions).
  const band = Math.max(SIZE, source ? source.height * source.scale : 0);
  const sourceSpace = source ? source.width * source.scale + GAP : 0;
  const bars = top.map((t, i) => ({ key: String(t.class), probability: t.probability, best: i === 0 }));
  const body = (y0: number): DomElement[] => [
    ...(source ? labelledImage(source, PAD, y0, band, sourceWords(source)) : []),
    ...labelledImage({ ink, width: 28, height: 28, scale: DIGIT_SCALE }, PAD + sourceSpace, y0, band, MODEL_INPUT),
    barsPanel(bars, PAD + sourceSpace + DIGIT_SIZE + GAP, y0, band),
  ];
  const best = top[0];
  return card({
    name: "top-k",
    title: options.title,
    subtitle:
      `predicted ${best.class} (${percent(best.probability, 1)}); ` +
      `the ${top.length} most probable digit${top.length === 1 ? "" : "s"}`,
    bodyWidth: sourceSpace + DIGIT_SIZE + GAP + BARS_WIDTH,
    bodyHeight: band + LABEL_SPACE,
    body,
  });
}
