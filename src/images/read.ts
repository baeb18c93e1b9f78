/**
 * Your own digits: image files (PNG, JPEG, GIF, BMP) or their bytes, decoded by TensorFlow
 * (`tf.node.decodeImage`) and made to look like MNIST digits (./mnist_style.ts), ready for
 * `learner.predict`.
 *
 *   const mine = kt.readDigits("notebooks/digits");          // every image in a folder, by name
 *   const one = kt.readDigit("photo-of-a-7.jpg");            // a set of one digit
 *   const top = kt.topK(await learner.predict(mine), 3);
 *
 * Relative paths are from the working directory: in the project's kernel, the project root.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { imageCodecs, tf } from "../tfjs/backend";
import { PIXELS, type Digits } from "../data";
import { MessageError } from "../util/errors";
import { fitBox, luminance, mnistStyle, resizeArea, type GreyImage, type MnistStyleOptions } from "./mnist_style";

/** An image file that is missing or cannot be decoded. */
export class ImageReadError extends MessageError {
  constructor(message: string, file?: string) {
    super("ImageReadError", message, { file });
  }
}

/** File name endings read from a folder. */
export const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".gif", ".bmp"];

export interface ReadDigitOptions extends Omit<MnistStyleOptions, "name"> {
  /** Keep a small grey copy of each image as read (`previews`), for showing beside the digit (default true). */
  previews?: boolean;
}

/** Your own digits: `Digits` without labels, with where each came from and how it looked. */
export interface ReadDigits extends Digits {
  names: string[];
  /** Each image as read: grey (0 black, 1 white), at most 112 pixels a side. */
  previews?: GreyImage[];
}

const PREVIEW_SIZE = 112;

/** What the bytes start with, for saying what a file is when it is not an image. */
function kindOf(bytes: Uint8Array): string | undefined {
  const starts = (...b: number[]) => b.every((v, i) => bytes[i] === v);
  if (starts(0x89, 0x50, 0x4e, 0x47)) return "png";
  if (starts(0xff, 0xd8, 0xff)) return "jpeg";
  if (starts(0x47, 0x49, 0x46, 0x38)) return "gif";
  if (starts(0x42, 0x4d)) return "bmp";
  return undefined;
}

/** The image's pixels as a grey image (luminance; transparent parts become paper). */
export function decodeGrey(bytes: Uint8Array, name = "the image"): GreyImage {
  if (bytes.length === 0) throw new ImageReadError(`${name} is empty (0 bytes): give a PNG, JPEG, GIF or BMP image.`);
  const kind = kindOf(bytes);
  if (!kind) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new ImageReadError(
      `${name} is not a PNG, JPEG, GIF or BMP image (it starts with bytes ${head}); save the digit in one of those formats.`,
    );
  }
  let decoded: ReturnType<ReturnType<typeof imageCodecs>["decodeImage"]>;
  try {
    decoded = imageCodecs().decodeImage(bytes, 0, "int32", false);
  } catch (e) {
    const reason = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    throw new ImageReadError(
      `${name} looks like a ${kind.toUpperCase()} file but TensorFlow cannot decode it (${reason}); is it complete? Save it again as PNG or JPEG.`,
    );
  }
  try {
    const [height, width, channels] = decoded.shape.slice(-3);
    return luminance(decoded.dataSync(), width, height, channels);
  } finally {
    tf.dispose(decoded);
  }
}

function readBytes(file: string): Uint8Array {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new ImageReadError(
      `No image at ${file} (looked from ${process.cwd()}): check the path; in the notebook, paths are relative to the project root.`,
      file,
    );
  }
  if (stat.isDirectory())
    throw new ImageReadError(
      `${file} is a folder: give an image file, or readDigits("${file}") for every image in it.`,
      file,
    );
  return fs.readFileSync(file);
}

function preview(image: GreyImage): GreyImage {
  if (image.width <= PREVIEW_SIZE && image.height <= PREVIEW_SIZE) return image;
  const size = fitBox(image.width, image.height, PREVIEW_SIZE);
  return resizeArea(image, size.width, size.height);
}

/** The image files in `folder`, sorted by name. */
function imagesIn(folder: string): string[] {
  const files = fs
    .readdirSync(folder)
    .filter((f) => IMAGE_EXTENSIONS.includes(path.extname(f).toLowerCase()))
    .sort()
    .map((f) => path.join(folder, f));
  if (files.length === 0)
    throw new ImageReadError(`${folder} holds no image (${IMAGE_EXTENSIONS.join(", ")} files).`, folder);
  return files;
}

/**
 * Several images as digits, in order: file paths, image bytes, or a folder (every image in it,
 * sorted by name). Each is made to look like an MNIST digit (see ./mnist_style.ts): grey, white on
 * black, cropped to the ink, scaled into 20×20 and centred by its centre of mass in 28×28.
 */
export function readDigits(
  sources: string | ReadonlyArray<string | Uint8Array>,
  options: ReadDigitOptions = {},
): ReadDigits {
  let list: ReadonlyArray<string | Uint8Array>;
  if (typeof sources === "string") {
    if (fs.existsSync(sources) && fs.statSync(sources).isDirectory()) list = imagesIn(sources);
    else list = [sources];
  } else if (Array.isArray(sources)) {
    list = sources;
  } else {
    throw new Error("readDigits takes a folder, or a list of image paths or image bytes (Uint8Array).");
  }
  if (list.length === 0) throw new Error("readDigits: the list of images is empty; give at least one path.");
  const images = new Uint8Array(list.length * PIXELS);
  const names: string[] = [];
  const previews: GreyImage[] = [];
  list.forEach((source, i) => {
    let name: string;
    let bytes: Uint8Array;
    if (typeof source === "string") {
      name = source;
      bytes = readBytes(source);
    } else if (source instanceof Uint8Array) {
      name = `image ${i + 1} (bytes)`;
      bytes = source;
    } else {
      throw new Error(`readDigits: item ${i} is neither a path nor image bytes (Uint8Array).`);
    }
    const grey = decodeGrey(bytes, name);
    const digit = mnistStyle(grey, { ...options, name });
    images.set(digit.pixels, i * PIXELS);
    names.push(name);
    if (options.previews !== false) previews.push(preview(grey));
  });
  return { images, count: list.length, names, previews: options.previews === false ? undefined : previews };
}

/** One image as a set of one digit (see `readDigits`): a path or the image's bytes. */
export function readDigit(source: string | Uint8Array, options: ReadDigitOptions = {}): ReadDigits {
  if (typeof source !== "string" && !(source instanceof Uint8Array)) {
    throw new Error(
      "readDigit takes the path of an image file or its bytes (Uint8Array); for several images use readDigits.",
    );
  }
  if (typeof source === "string" && fs.existsSync(source) && fs.statSync(source).isDirectory()) {
    throw new ImageReadError(`${source} is a folder: readDigits("${source}") reads every image in it.`, source);
  }
  return readDigits([source], options);
}
