/**
 * Writes notebooks/digits/*.png: a few digits of the bundled MNIST test split made to look like
 * photos or scans of handwriting (dark ink on off-white paper with uneven light and grain, a larger
 * canvas, the digit enlarged and off centre with a margin), for the notebooks' "Your own digits"
 * section. `readDigit` has real work to do on them (grey, polarity, crop, scale, centring), and
 * test/own_digits.test.ts checks that it turns each back into (close to) the original digit and
 * that the committed files are what this script makes.
 *
 *   node --import tsx scripts/make_sample_digits.ts [OUT_DIR]     (default notebooks/digits)
 *
 * Deterministic: the same digits and the same seeded grain every time.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { imageCodecs, tf } from "../src/tfjs/backend";
import { IMAGE_SIZE, PIXELS, loadMnist, seededRandom, type DigitSet } from "../src/data";

/** The digits written: the first test digit with each of these labels, under these names. */
export const SAMPLE_DIGITS: ReadonlyArray<{ label: number; file: string }> = [
  { label: 2, file: "two.png" },
  { label: 4, file: "four.png" },
  { label: 5, file: "five.png" },
  { label: 7, file: "seven.png" },
  { label: 9, file: "nine.png" },
];

export const SAMPLE_DIR = path.resolve(__dirname, "..", "notebooks", "digits");

/** An RGB image, 8 bits per channel, interleaved, row-major. */
export interface RgbImage {
  rgb: Uint8Array;
  width: number;
  height: number;
}

/** For each sample: its file name, label, index in the test split and its 784 grey levels. */
export function sampleDigits(
  test: DigitSet,
): Array<{ file: string; label: number; index: number; pixels: Uint8Array }> {
  return SAMPLE_DIGITS.map(({ label, file }) => {
    const index = test.labels.indexOf(label);
    if (index < 0) throw new Error(`The test split has no digit ${label}.`);
    return { file, label, index, pixels: test.images.slice(index * PIXELS, (index + 1) * PIXELS) };
  });
}

/** The 28×28 digit's ink (0–1) at a point, bilinearly interpolated; 0 outside. */
function inkAt(pixels: Uint8Array, x: number, y: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const at = (xi: number, yi: number) =>
    xi < 0 || yi < 0 || xi >= IMAGE_SIZE || yi >= IMAGE_SIZE ? 0 : pixels[yi * IMAGE_SIZE + xi] / 255;
  return (
    (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) +
    fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1))
  );
}

/**
 * One MNIST digit (white on black, 28×28) as a photo of handwriting: dark blue-black ink on
 * off-white paper lit unevenly, with grain, the digit enlarged 3.2–4.6 times (smoothly) and placed
 * off centre on a larger canvas with a margin of at least 12 pixels. `seed` picks the variations.
 */
export function renderScan(pixels: Uint8Array, seed: number): RgbImage {
  const rand = seededRandom(seed);
  const scale = 3.2 + 1.4 * rand();
  const size = Math.ceil(IMAGE_SIZE * scale);
  const margin = 12;
  const width = size + 2 * margin + Math.round(40 + 80 * rand());
  const height = size + 2 * margin + Math.round(30 + 60 * rand());
  const left = margin + Math.round(rand() * (width - size - 2 * margin));
  const top = margin + Math.round(rand() * (height - size - 2 * margin));
  const paper = [236 + 8 * rand(), 231 + 8 * rand(), 216 + 10 * rand()];
  const ink = [28 + 14 * rand(), 34 + 12 * rand(), 62 + 20 * rand()];
  // Uneven light: brighter towards one corner, up to 18 grey levels darker at the other.
  const lx = rand() < 0.5 ? 1 : -1;
  const ly = rand() < 0.5 ? 1 : -1;
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const shade = 18 * (0.5 + 0.25 * lx * ((2 * x) / width - 1) + 0.25 * ly * ((2 * y) / height - 1));
      const a = inkAt(pixels, (x - left + 0.5) / scale - 0.5, (y - top + 0.5) / scale - 0.5);
      const grain = 7 * (rand() - 0.5);
      for (let c = 0; c < 3; c++) {
        const v = (paper[c] - shade) * (1 - a) + ink[c] * a + grain;
        rgb[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { rgb, width, height };
}

/** The PNG bytes of an RGB image (TensorFlow's encoder). */
export async function encodeRgbPng(image: RgbImage): Promise<Uint8Array> {
  const t = tf.tensor3d(image.rgb, [image.height, image.width, 3], "int32");
  try {
    return await imageCodecs().encodePng(t);
  } finally {
    t.dispose();
  }
}

/** Writes every sample into `dir`; returns the files written. */
export async function writeSampleDigits(dir = SAMPLE_DIR): Promise<string[]> {
  const { test } = await loadMnist();
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [i, sample] of sampleDigits(test).entries()) {
    const file = path.join(dir, sample.file);
    fs.writeFileSync(file, await encodeRgbPng(renderScan(sample.pixels, 1000 + i)));
    written.push(file);
  }
  return written;
}

if (require.main === module) {
  writeSampleDigits(process.argv[2] ? path.resolve(process.argv[2]) : SAMPLE_DIR).then(
    (files) => console.log(`wrote ${files.map((f) => path.relative(process.cwd(), f)).join(", ")}`),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
