/**
 * Making an image look like an MNIST digit, the way MNIST's digits were made, as plain functions on
 * grey images (values in [0, 1], row-major); ./read.ts decodes files and runs them in this order:
 *
 * - `luminance`             pixels (grey, grey + alpha, RGB, RGBA; 0–255) → grey: Rec. 601 luma
 *                           (0.299 R + 0.587 G + 0.114 B, as PIL's `convert("L")`); transparent parts
 *                           become paper (the opposite of the ink's colour)
 * - `borderLevel`           the background's grey level: the median of the border pixels
 * - `mnistPolarity`         white digit on black, as MNIST: an image on a light background is inverted
 * - `inkLevels`             background → 0, the strongest ink → 1, paper texture and noise (less than
 *                           `floor` of the way from paper to ink) → 0; throws `BlankImageError` when
 *                           nothing stands out from the background
 * - `inkBox`, `crop`        the smallest box holding the ink (above a level)
 * - `digitScale`            how much to scale so that the strokes' larger side is 20 pixels: the
 *                           strokes are the ink at half strength or more, as the black-and-white
 *                           originals had it (faint anti-aliased edges do not count; all ink is kept)
 * - `resizeArea`, `fitBox`  resampling by area averaging (anti-aliased: each new pixel is the mean of
 *                           what it covers); the size that fits a box keeping the aspect ratio
 * - `centreOfMass`, `placeByCentreOfMass`  put in a 28×28 field, moved by whole pixels so that its
 *                           centre of mass is on pixel (14, 14), where MNIST's are (the mean centre
 *                           of mass of the 10,000 bundled digits is (14.00, 14.00) in pixel indices)
 * - `mnistStyle`            all of the above: grey image in, 784 grey levels (0–255) out
 *
 * MNIST (LeCun et al.): "the original black and white images from NIST were size normalized to fit
 * in a 20x20 pixel box while preserving their aspect ratio. The resulting images contain grey levels
 * as a result of the anti-aliasing technique used by the normalization algorithm. The images were
 * centered in a 28x28 image by computing the center of mass of the pixels, and translating the image
 * so as to position this point at the center of the 28x28 field."
 *
 * No TensorFlow here.
 */
import { MessageError } from "../util/errors";

/** A grey image: `width`×`height` values in [0, 1], row-major. */
export interface GreyImage {
  pixels: Float32Array;
  width: number;
  height: number;
}

/** A rectangle of pixels: columns [x, x + width), rows [y, y + height). */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** An image in which nothing stands out from the background. */
export class BlankImageError extends MessageError {
  constructor(message: string) {
    super("BlankImageError", message);
  }
}

/** MNIST's sizes: digits scaled into a 20×20 box, centred in a 28×28 field. */
const MNIST_BOX = 20;
const MNIST_FIELD = 28;

/** Rec. 601 luma weights (PIL's `convert("L")`, TensorFlow's `rgb_to_grayscale`). */
const LUMA = [0.299, 0.587, 0.114] as const;

function checkSize(width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${what}: width and height must be whole numbers ≥ 1, got ${width}×${height}.`);
  }
}

/** A grey image of `width`×`height` from its values (checked). */
export function greyImage(pixels: ArrayLike<number>, width: number, height: number): GreyImage {
  checkSize(width, height, "greyImage");
  if (pixels.length !== width * height)
    throw new Error(`A ${width}×${height} grey image has ${width * height} values, got ${pixels.length}.`);
  return { pixels: Float32Array.from(pixels), width, height };
}

/**
 * Grey levels in [0, 1] from 8-bit pixels with 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA)
 * interleaved channels. Colour becomes its Rec. 601 luma. Transparent parts become paper: the
 * image is laid on white when what is opaque is mostly dark (dark ink on a transparent sheet), on
 * black otherwise.
 */
export function luminance(pixels: ArrayLike<number>, width: number, height: number, channels: number): GreyImage {
  checkSize(width, height, "luminance");
  if (![1, 2, 3, 4].includes(channels))
    throw new Error(`luminance: 1, 2, 3 or 4 channels (grey, grey + alpha, RGB, RGBA), got ${channels}.`);
  const n = width * height;
  if (pixels.length !== n * channels)
    throw new Error(
      `luminance: a ${width}×${height} image with ${channels} channels has ${n * channels} values, got ${pixels.length}.`,
    );
  const grey = new Float32Array(n);
  const alpha = channels === 2 || channels === 4 ? new Float32Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const p = i * channels;
    grey[i] =
      (channels <= 2 ? pixels[p] : LUMA[0] * pixels[p] + LUMA[1] * pixels[p + 1] + LUMA[2] * pixels[p + 2]) / 255;
    if (alpha) alpha[i] = pixels[p + channels - 1] / 255;
  }
  if (alpha) {
    let weight = 0;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      weight += alpha[i];
      sum += alpha[i] * grey[i];
    }
    // The paper under transparent parts: the opposite of the opaque parts' mean colour.
    const paper = weight > 0 && sum / weight >= 0.5 ? 0 : 1;
    for (let i = 0; i < n; i++) grey[i] = alpha[i] * grey[i] + (1 - alpha[i]) * paper;
  }
  for (let i = 0; i < n; i++) grey[i] = Math.min(1, Math.max(0, grey[i]));
  return { pixels: grey, width, height };
}

/** The median of the values. */
function median(values: Float32Array): number {
  const sorted = Float32Array.from(values).sort();
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

/** The background's grey level: the median of the pixels on the image's border (its outermost rows and columns). */
export function borderLevel(image: GreyImage): number {
  const { pixels, width, height } = image;
  const border: number[] = [];
  for (let x = 0; x < width; x++) {
    border.push(pixels[x]);
    if (height > 1) border.push(pixels[(height - 1) * width + x]);
  }
  for (let y = 1; y < height - 1; y++) {
    border.push(pixels[y * width]);
    if (width > 1) border.push(pixels[y * width + width - 1]);
  }
  return median(Float32Array.from(border));
}

/**
 * The image in MNIST's polarity, a light digit on a dark background: inverted (v → 1 − v) when
 * its background (`borderLevel`) is light, as is dark ink on paper.
 */
export function mnistPolarity(image: GreyImage): { image: GreyImage; inverted: boolean } {
  if (borderLevel(image) <= 0.5) return { image, inverted: false };
  return { image: { ...image, pixels: image.pixels.map((v) => 1 - v) }, inverted: true };
}

export interface InkLevelsOptions {
  /**
   * Values less than this fraction of the way from the background to the strongest ink are paper
   * (0): uneven lighting, paper texture, JPEG noise (default 0.2). Values above it are kept.
   */
  floor?: number;
  /** The least difference between the background and the strongest ink for an image to have ink (default 0.1 of full scale). */
  minContrast?: number;
  /** Names the image in the error message. */
  name?: string;
}

/**
 * Grey levels of a light-on-dark image (`mnistPolarity`) made ink levels: the background
 * (`borderLevel`) → 0 and the strongest ink → 1, linearly, clamped to [0, 1]; then what stays under
 * `floor` → 0. Throws `BlankImageError` when the strongest ink is within `minContrast` of the
 * background.
 */
export function inkLevels(image: GreyImage, options: InkLevelsOptions = {}): GreyImage {
  const floor = options.floor ?? 0.2;
  const minContrast = options.minContrast ?? 0.1;
  if (!(floor >= 0 && floor < 1)) throw new Error(`inkLevels: floor must be in [0, 1), got ${floor}.`);
  const background = borderLevel(image);
  let top = 0;
  for (const v of image.pixels) top = Math.max(top, v);
  if (top - background < minContrast) {
    throw new BlankImageError(
      `${options.name ?? "The image"} has no ink: no pixel differs from the background (grey level ${Math.round(background * 255)}) ` +
        `by more than ${Math.round((top - background) * 255)} of 255. Give an image of a dark digit on light paper, or a light digit on a dark background.`,
    );
  }
  const pixels = image.pixels.map((v) => {
    const level = Math.min(1, (v - background) / (top - background));
    return level < floor ? 0 : level;
  });
  return { ...image, pixels };
}

/** The smallest box holding every pixel above `level` (default 0), or undefined when there is none. */
export function inkBox(image: GreyImage, level = 0): Box | undefined {
  const { pixels, width, height } = image;
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (pixels[y * width + x] > level) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  return x1 < 0 ? undefined : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** The pixels of `box`. */
export function crop(image: GreyImage, box: Box): GreyImage {
  const { x, y, width, height } = box;
  if (x < 0 || y < 0 || x + width > image.width || y + height > image.height || width < 1 || height < 1) {
    throw new Error(
      `crop: the box ${width}×${height} at (${x}, ${y}) is not inside the ${image.width}×${image.height} image.`,
    );
  }
  const pixels = new Float32Array(width * height);
  for (let r = 0; r < height; r++)
    pixels.set(image.pixels.subarray((y + r) * image.width + x, (y + r) * image.width + x + width), r * width);
  return { pixels, width, height };
}

/**
 * The size of an image of `width`×`height` scaled so that its larger side is `box`, keeping the
 * aspect ratio (the smaller side rounded, at least 1).
 */
export function fitBox(width: number, height: number, box = MNIST_BOX): { width: number; height: number } {
  checkSize(width, height, "fitBox");
  if (width >= height) return { width: box, height: Math.max(1, Math.round((box * height) / width)) };
  return { width: Math.max(1, Math.round((box * width) / height)), height: box };
}

/**
 * The factor that scales `strokes` (the box of the ink at half strength or more) so that its larger
 * side is `box` pixels, as MNIST scaled its black-and-white originals; smaller when the faint ink
 * around it (`ink`, the box of all the ink) would not fit in `field` pixels.
 */
export function digitScale(strokes: Box, ink: Box, box = MNIST_BOX, field = MNIST_FIELD): number {
  const f = box / Math.max(strokes.width, strokes.height);
  return Math.min(f, field / Math.max(ink.width, ink.height));
}

/** For each of `outSize` cells spread over `inSize`: the input cells it overlaps and by how much (weights summing to 1). */
function areaWeights(inSize: number, outSize: number): Array<Array<[number, number]>> {
  const step = inSize / outSize;
  return Array.from({ length: outSize }, (_, o) => {
    const start = o * step;
    const end = (o + 1) * step;
    const parts: Array<[number, number]> = [];
    for (let i = Math.floor(start); i < Math.min(inSize, Math.ceil(end)); i++) {
      const overlap = Math.min(end, i + 1) - Math.max(start, i);
      if (overlap > 1e-9) parts.push([i, overlap / step]);
    }
    return parts;
  });
}

/**
 * The image resampled to `width`×`height` by area averaging: each new pixel is the mean of the
 * part of the image it covers, with partly covered pixels counted by the part covered. Shrinking,
 * this anti-aliases (a thin stroke becomes a fainter, thinner one instead of vanishing or jagging);
 * enlarging, each pixel becomes a block with blended edges.
 */
export function resizeArea(image: GreyImage, width: number, height: number): GreyImage {
  checkSize(width, height, "resizeArea");
  const wx = areaWeights(image.width, width);
  const wy = areaWeights(image.height, height);
  // Rows first (width changes), then columns: the box filter is separable.
  const rows = new Float32Array(width * image.height);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (const [i, w] of wx[x]) s += w * image.pixels[y * image.width + i];
      rows[y * width + x] = s;
    }
  }
  const pixels = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (const [i, w] of wy[y]) s += w * rows[i * width + x];
      pixels[y * width + x] = s;
    }
  }
  return { pixels, width, height };
}

/**
 * The centre of mass of the values in pixel indices (pixel (x, y) at x, y, as scipy's
 * `ndimage.center_of_mass`); undefined when all are 0.
 */
export function centreOfMass(image: GreyImage): { x: number; y: number } | undefined {
  let mass = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const v = image.pixels[y * image.width + x];
      mass += v;
      sx += v * x;
      sy += v * y;
    }
  }
  return mass > 0 ? { x: sx / mass, y: sy / mass } : undefined;
}

/**
 * The image in a `size`×`size` field of zeros, moved by whole pixels so that its centre of mass is
 * as near pixel (size/2, size/2) as it can be with the whole image inside the field: (14, 14) in
 * 28×28, where MNIST's digits have theirs.
 */
export function placeByCentreOfMass(image: GreyImage, size = MNIST_FIELD): GreyImage {
  if (image.width > size || image.height > size) {
    throw new Error(
      `placeByCentreOfMass: a ${image.width}×${image.height} image does not fit in ${size}×${size}; scale it first (fitBox, resizeArea).`,
    );
  }
  const com = centreOfMass(image) ?? { x: (image.width - 1) / 2, y: (image.height - 1) / 2 };
  const place = (c: number, extent: number) => Math.min(size - extent, Math.max(0, Math.round(size / 2 - c)));
  const ox = place(com.x, image.width);
  const oy = place(com.y, image.height);
  const pixels = new Float32Array(size * size);
  for (let y = 0; y < image.height; y++)
    pixels.set(image.pixels.subarray(y * image.width, (y + 1) * image.width), (oy + y) * size + ox);
  return { pixels, width: size, height: size };
}

export type MnistStyleOptions = InkLevelsOptions;

/** What `mnistStyle` made of an image, and what it found on the way. */
export interface MnistStyleDigit {
  /** 28×28 grey levels 0–255, white digit on black: what a `DigitSet` holds per digit. */
  pixels: Uint8Array;
  /** Whether the image was inverted (it had a light background). */
  inverted: boolean;
  /** Where the ink was, in the image given. */
  inkBox: Box;
}

/**
 * A grey image of a digit made to look like an MNIST digit: MNIST's polarity, ink levels, cropped to
 * the ink, scaled (area averaging, keeping the aspect ratio) so that its strokes fit 20×20, and put
 * in 28×28 with its centre of mass at the centre. Throws `BlankImageError` on an image without ink.
 */
export function mnistStyle(image: GreyImage, options: MnistStyleOptions = {}): MnistStyleDigit {
  checkSize(image.width, image.height, "mnistStyle");
  const { image: light, inverted } = mnistPolarity(image);
  const ink = inkLevels(light, options);
  const box = inkBox(ink);
  // inkLevels maps the strongest ink to 1, so some pixel is at 1 ≥ 0.5: strokes exist when ink does.
  const strokes = inkBox(ink, 0.5 - 1e-6);
  if (!box || !strokes)
    throw new BlankImageError(`${options.name ?? "The image"} has no ink left once the background is removed.`);
  const scale = digitScale(strokes, box);
  const width = Math.min(MNIST_FIELD, Math.max(1, Math.round(box.width * scale)));
  const height = Math.min(MNIST_FIELD, Math.max(1, Math.round(box.height * scale)));
  const field = placeByCentreOfMass(resizeArea(crop(ink, box), width, height));
  const pixels = new Uint8Array(field.pixels.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round(255 * Math.min(1, Math.max(0, field.pixels[i])));
  return { pixels, inverted, inkBox: box };
}
