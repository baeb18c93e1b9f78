/**
 * From pixel values to what the digit figures draw: ink in [0, 1] per pixel (or of one channel),
 * matplotlib's "binary" colormap (0 white, the maximum black), and a digit as every figure draws it:
 * an <image> in a frame (`framedDigit`) with a label centred under it (`digitLabel`).
 *
 * Pixel values: `Uint8Array` and `Uint8ClampedArray` are read as 0–255, every other array
 * (`Float32Array`, `number[]`, …) as [0, 1]; a `maxValue` option overrides this.
 */
import { el, text, type Attrs, type DomElement } from "./dom";
import type { PixelData } from "./figure";
import { encodeGreyPng } from "./png";
import { BORDER, RED } from "./theme";

export function defaultMax(pixels: PixelData): number {
  return pixels instanceof Uint8Array || pixels instanceof Uint8ClampedArray ? 255 : 1;
}

/**
 * Ink in [0, 1] per pixel (mean over channels), from pixel values in
 * [0, maxValue]; values outside are clamped, NaN is 0.
 */
export function inkOf(
  pixels: PixelData,
  width: number,
  height: number,
  channels: number,
  maxValue: number,
): Float64Array {
  const n = width * height;
  if (pixels.length !== n * channels) {
    throw new Error(`Expected ${width}×${height}×${channels} = ${n * channels} pixel values, got ${pixels.length}.`);
  }
  const ink = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += Number(pixels[i * channels + c]);
    const v = s / channels / maxValue;
    ink[i] = v > 1 ? 1 : v > 0 ? v : 0;
  }
  return ink;
}

/** matplotlib's "binary" colormap: ink 0 → white (255), 1 → black (0). */
function binaryGrey(ink: Float64Array): Uint8Array {
  const g = new Uint8Array(ink.length);
  for (let i = 0; i < ink.length; i++) g[i] = Math.round(255 * (1 - ink[i]));
  return g;
}

/** A digit as drawn: its ink, its size in image pixels and `scale` screen pixels per image pixel. */
export interface DigitPicture {
  ink: Float64Array;
  width: number;
  height: number;
  scale: number;
}

/** The ink of channel `c` of interleaved pixels (`channels` per pixel), in [0, 1] from [0, maxValue]. */
export function channelInk(
  pixels: PixelData,
  width: number,
  height: number,
  channels: number,
  c: number,
  maxValue: number,
): Float64Array {
  const one = new Float64Array(width * height);
  for (let i = 0; i < one.length; i++) one[i] = Number(pixels[i * channels + c]);
  return inkOf(one, width, height, 1, maxValue);
}

/** An <image> of the digit at (x, y). */
function digitNode(picture: DigitPicture, x: number, y: number, attrs: Attrs): DomElement {
  const { ink, width, height, scale } = picture;
  const png = encodeGreyPng(binaryGrey(ink), width, height, scale);
  const g = el("g", { class: "kt-digit", transform: `translate(${x},${y})`, ...attrs });
  g.appendChild(
    el("image", {
      width: width * scale,
      height: height * scale,
      href: `data:image/png;base64,${png.toString("base64")}`,
      preserveAspectRatio: "none",
      "image-rendering": "optimizeSpeed",
      style: "image-rendering:pixelated",
      "data-pixels": `${width}x${height}`,
    }),
  );
  return g;
}

/** A frame just outside a w×h picture, `strokeWidth` wide. */
function frame(w: number, h: number, stroke: string, strokeWidth: number, cls: string): DomElement {
  const o = strokeWidth / 2;
  return el("rect", {
    class: cls,
    x: -o,
    y: -o,
    width: w + 2 * o,
    height: h + 2 * o,
    fill: "none",
    stroke,
    "stroke-width": strokeWidth,
  });
}

/**
 * The digit at (x, y) in its frame: thin and grey, or for a mistake thick and red. Returns the
 * digit's <g>; labels and a tooltip appended to it are placed relative to the digit's top-left corner.
 */
export function framedDigit(
  picture: DigitPicture,
  x: number,
  y: number,
  attrs: Attrs = {},
  mistake = false,
): DomElement {
  const g = digitNode(picture, x, y, attrs);
  const w = picture.width * picture.scale;
  const h = picture.height * picture.scale;
  g.appendChild(mistake ? frame(w, h, RED, 3, "kt-frame kt-mistake-frame") : frame(w, h, BORDER, 1, "kt-frame"));
  return g;
}

/** A label centred at x, its baseline at y (under a digit), with any further attributes. */
export function digitLabel(s: string, x: number, y: number, fontSize: number, attrs: Attrs = {}): DomElement {
  return text(s, { class: "kt-label", x, y, "text-anchor": "middle", "font-size": fontSize, ...attrs });
}
