/**
 * Making an image look like an MNIST digit (src/images/mnist_style.ts), one plain function at a
 * time against values worked out by hand, then the whole: a dark digit on light paper comes out
 * as MNIST has its digits, and MNIST's own digits, made this way already, come back unchanged.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { bundledDigits, PIXELS } from "../src/data";
import {
  BlankImageError,
  borderLevel,
  centreOfMass,
  crop,
  digitScale,
  fitBox,
  greyImage,
  inkBox,
  inkLevels,
  luminance,
  mnistPolarity,
  mnistStyle,
  placeByCentreOfMass,
  resizeArea,
  type GreyImage,
} from "../src/images/mnist_style";
import { assertClose } from "./support/numeric";

const values = (image: GreyImage) => Array.from(image.pixels);

test("luminance: Rec. 601 luma of RGB, grey as is, and transparent parts become the paper opposite to the ink", () => {
  // Pure red, green, blue and white: the weights themselves, then 1.
  assertClose(
    values(luminance([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255], 4, 1, 3)),
    [0.299, 0.587, 0.114, 1],
    1e-6,
    "RGB",
  );
  assertClose(values(luminance([0, 51, 255], 3, 1, 1)), [0, 0.2, 1], 1e-6, "grey");
  // Dark ink on a transparent sheet: the transparent pixel is white paper; a half-transparent ink pixel is half way.
  assertClose(values(luminance([0, 255, 0, 0, 0, 128], 3, 1, 2)), [0, 1, 127 / 255], 1e-6, "dark ink, grey + alpha");
  // Light ink on a transparent sheet: the transparent pixels are black.
  assertClose(values(luminance([255, 255, 255, 255, 9, 9, 9, 0], 2, 1, 4)), [1, 0], 1e-6, "light ink, RGBA");
  assert.throws(() => luminance([1, 2, 3], 2, 1, 1), /a 2×1 image with 1 channels has 2 values, got 3/);
  assert.throws(() => luminance([1, 2], 2, 1, 5), /1, 2, 3 or 4 channels/);
});

test("borderLevel: the median of the outermost rows and columns, whatever the inside holds", () => {
  // 4×3: border 0.8 ×7 and 0.1 ×3 → median 0.8; the inside (0 and 0) does not count.
  const image = greyImage([0.8, 0.8, 0.1, 0.8, 0.8, 0, 0, 0.1, 0.8, 0.8, 0.1, 0.8], 4, 3);
  assert.equal(borderLevel(image), Math.fround(0.8));
  assert.equal(borderLevel(greyImage([0.3], 1, 1)), Math.fround(0.3));
});

test("mnistPolarity: a light background is inverted to MNIST's white on black, a dark one is kept", () => {
  const paper = greyImage([0.9, 0.9, 0.9, 0.9, 0.2, 0.9, 0.9, 0.9, 0.9], 3, 3);
  const { image, inverted } = mnistPolarity(paper);
  assert.equal(inverted, true);
  assertClose(values(image), [0.1, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.1, 0.1], 1e-6, "inverted");
  const dark = greyImage([0, 0, 0, 0, 1, 0, 0, 0, 0], 3, 3);
  assert.deepEqual(mnistPolarity(dark), { image: dark, inverted: false });
});

test("inkLevels: background → 0, strongest ink → 1, below the floor → 0; a blank image is a BlankImageError", () => {
  // Background 0.1 (the border), strongest 0.6: (v − 0.1) / 0.5, and 0.15 → 0.1 < 0.2 → 0.
  const image = greyImage([0.1, 0.1, 0.1, 0.1, 0.6, 0.35, 0.15, 0.1, 0.1, 0.1, 0.1, 0.1], 4, 3);
  assertClose(values(inkLevels(image)), [0, 0, 0, 0, 1, 0.5, 0, 0, 0, 0, 0, 0], 1e-6, "levels");
  assertClose(values(inkLevels(image, { floor: 0 })), [0, 0, 0, 0, 1, 0.5, 0.1, 0, 0, 0, 0, 0], 1e-6, "no floor");
  const blank = greyImage([0.5, 0.51, 0.5, 0.5, 0.53, 0.5, 0.49, 0.5, 0.5], 3, 3);
  assert.throws(
    () => inkLevels(blank, { name: "blank.png" }),
    (e: Error) =>
      e instanceof BlankImageError &&
      /^blank\.png has no ink: no pixel differs from the background \(grey level 128\) by more than 8 of 255/.test(
        e.message,
      ),
  );
});

test("inkBox and crop: the smallest box holding the ink above a level, and its pixels", () => {
  const image = greyImage([0, 0, 0, 0, 0, 0, 0.3, 0.9, 0, 0, 0.6, 0, 0, 0, 0, 0], 4, 4);
  // Row 1 holds 0.3 and 0.9 at columns 2 and 3, row 2 holds 0.6 at column 2.
  assert.deepEqual(inkBox(image), { x: 2, y: 1, width: 2, height: 2 });
  assert.deepEqual(inkBox(image, 0.5), { x: 2, y: 1, width: 2, height: 2 });
  assert.deepEqual(inkBox(image, 0.7), { x: 3, y: 1, width: 1, height: 1 });
  assert.equal(inkBox(greyImage(new Array(9).fill(0), 3, 3)), undefined);
  assertClose(values(crop(image, { x: 2, y: 1, width: 2, height: 2 })), [0.3, 0.9, 0.6, 0], 1e-6, "crop");
  assertClose(values(crop(image, { x: 1, y: 2, width: 2, height: 1 })), [0, 0.6], 1e-6, "crop of a row");
  assert.throws(() => crop(image, { x: 3, y: 0, width: 2, height: 1 }), /not inside the 4×4 image/);
});

test("fitBox: the larger side becomes the box, the other keeps the aspect ratio (rounded, at least 1)", () => {
  assert.deepEqual(fitBox(40, 10), { width: 20, height: 5 });
  assert.deepEqual(fitBox(10, 30), { width: 7, height: 20 });
  assert.deepEqual(fitBox(1, 100), { width: 1, height: 20 });
  assert.deepEqual(fitBox(5, 5), { width: 20, height: 20 });
});

test("resizeArea: each new pixel is the mean of what it covers, partly covered pixels by the part covered", () => {
  // 4×4 → 2×2: the means of the 2×2 blocks.
  const image = greyImage([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0.5, 0.5, 0, 0, 0.5, 0.1], 4, 4);
  assertClose(values(resizeArea(image, 2, 2)), [1, 0, 0, 0.4], 1e-6, "blocks");
  // 3 → 2: the first new pixel covers pixel 0 and half of pixel 1: (a + b/2) / 1.5.
  assertClose(
    values(resizeArea(greyImage([0.3, 0.6, 0.9], 3, 1), 2, 1)),
    [(0.3 + 0.3) / 1.5, (0.3 + 0.9) / 1.5],
    1e-6,
    "3 → 2",
  );
  // Anti-aliased: a one-pixel line halved in width becomes a half-strength line, not nothing.
  const line = greyImage([0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0], 4, 4);
  assertClose(values(resizeArea(line, 2, 2)), [0.5, 0.5, 0, 0], 1e-6, "thin line");
  // Enlarging 2 → 3: blocks with a blended middle.
  assertClose(values(resizeArea(greyImage([0, 1], 2, 1), 3, 1)), [0, 0.5, 1], 1e-6, "2 → 3");
});

test("centreOfMass: in pixel indices, weighted by the values; undefined for an empty image", () => {
  const one = greyImage(new Array(48).fill(0), 8, 6);
  one.pixels[5 * 8 + 3] = 0.7;
  assert.deepEqual(centreOfMass(one), { x: 3, y: 5 });
  const two = greyImage([1, 0, 0, 3], 2, 2);
  assert.deepEqual(centreOfMass(two), { x: 0.75, y: 0.75 });
  assert.equal(centreOfMass(greyImage([0, 0], 2, 1)), undefined);
});

test("placeByCentreOfMass: the centre of mass lands on pixel (14, 14) of 28×28, unless that would push the image out", () => {
  // A 3×3 image whose ink is its top-left pixel: that pixel goes to (14, 14).
  const corner = greyImage([1, 0, 0, 0, 0, 0, 0, 0, 0], 3, 3);
  const placed = placeByCentreOfMass(corner);
  assert.equal(placed.width, 28);
  assert.equal(placed.pixels[14 * 28 + 14], 1);
  assert.equal(
    placed.pixels.reduce((s, v) => s + v, 0),
    1,
  );
  // 20×20 with all its ink in the top-left corner: moving it to (14, 14) would push it out; it stops at the edge.
  const big = greyImage(new Array(400).fill(0), 20, 20);
  big.pixels[0] = 1;
  const stopped = placeByCentreOfMass(big);
  assert.equal(stopped.pixels[8 * 28 + 8], 1, "moved by 8, as far as it can go");
  assert.throws(
    () => placeByCentreOfMass(greyImage(new Array(30).fill(0), 30, 1)),
    /does not fit in 28×28; scale it first/,
  );
});

test("digitScale: the strokes' larger side becomes 20, unless the faint ink around them would not fit 28", () => {
  assert.equal(digitScale({ x: 0, y: 0, width: 10, height: 5 }, { x: 0, y: 0, width: 12, height: 7 }), 2);
  assert.equal(digitScale({ x: 0, y: 0, width: 4, height: 10 }, { x: 0, y: 0, width: 6, height: 20 }), 1.4);
});

/** A dark "L" on a light 60×40 sheet, off centre: a 4-pixel stroke, 24 tall and 14 wide. */
function paperL(): GreyImage {
  const image = greyImage(new Array(60 * 40).fill(0.92), 60, 40);
  for (let y = 6; y < 30; y++) for (let x = 38; x < 42; x++) image.pixels[y * 60 + x] = 0.1;
  for (let y = 26; y < 30; y++) for (let x = 38; x < 52; x++) image.pixels[y * 60 + x] = 0.1;
  return image;
}

test("mnistStyle: a dark digit on light paper comes out white on black, strokes 20 pixels at their larger side, centre of mass on (14, 14)", () => {
  const digit = mnistStyle(paperL());
  assert.equal(digit.inverted, true);
  assert.deepEqual(digit.inkBox, { x: 38, y: 6, width: 14, height: 24 });
  assert.equal(digit.pixels.length, PIXELS);
  const out = greyImage(
    Array.from(digit.pixels, (v) => v / 255),
    28,
    28,
  );
  assert.equal(out.pixels[0], 0, "the background is black");
  const strokes = inkBox(out, 0.5)!;
  assert.equal(strokes.height, 20, "24 rows of stroke scaled to 20");
  assert.equal(strokes.width, 12, "14 columns scaled by 20/24, rounded");
  const com = centreOfMass(out)!;
  assert.ok(Math.abs(com.x - 14) <= 0.5 && Math.abs(com.y - 14) <= 0.5, `centre of mass at (${com.x}, ${com.y})`);
  assert.equal(Math.max(...digit.pixels), 255, "the stroke's core is full ink");
  // The same digit as light ink on dark paper gives the same result, without inverting.
  const dark = paperL();
  dark.pixels.forEach((v, i) => (dark.pixels[i] = 1 - v));
  const same = mnistStyle(dark);
  assert.equal(same.inverted, false);
  assert.deepEqual(same.pixels, digit.pixels);
  assert.throws(
    () => mnistStyle(greyImage(new Array(100).fill(0.7), 10, 10), { name: "empty.png" }),
    /^BlankImageError: empty\.png has no ink/,
  );
});

test("mnistStyle: MNIST's own digits, made this way already, mostly come back byte for byte (its 20-pixel box and centre of mass)", () => {
  // MNIST scaled its black-and-white originals into 20×20 and put their centre of mass on pixel
  // (14, 14): its digits are fixed points when nothing is dropped (floor 0). Those that are not
  // (their strokes were 19 pixels, or their ink around the strokes does not fit) still come back close.
  const all = bundledDigits();
  let identical = 0;
  const n = 300;
  for (let k = 0; k < n; k++) {
    const i = k * 33;
    const original = all.images.subarray(i * PIXELS, (i + 1) * PIXELS);
    const again = mnistStyle(
      greyImage(
        Array.from(original, (v) => v / 255),
        28,
        28,
      ),
      { floor: 0 },
    ).pixels;
    if (again.every((v, p) => v === original[p])) identical++;
  }
  assert.ok(identical >= 0.8 * n, `${identical} of ${n} digits came back unchanged`);
});
