/**
 * Weight quantization as TensorFlow.js's converter does it (src/keras/saving/tfjs_quantization.ts),
 * one plain function at a time: float16 bit for bit against numpy's `astype(np.float16)` (what the
 * converter calls), run live in the project's virtualenv; decoding against TF.js's own loader
 * (`tf.io.decodeWeights`, what a page runs); the affine (uint8 / uint16) scheme against the
 * converter's documented example and against what it promises (0 exact, half a step at most).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { tf } from "../src/tfjs/backend";
import {
  affineQuantize,
  dequantize,
  fromFloat16Bits,
  quantizationErrorBound,
  quantizeWeight,
  roundHalfEven,
  toFloat16Bits,
  type QuantizationDtype,
} from "../src/keras/saving/tfjs_quantization";
import { PYTHON } from "./support/helpers";

/** A reproducible stream of numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What TF.js's loader decodes from `bytes` described by `quantization` (a weight of `n` float32 values). */
function tfjsDecode(
  bytes: Uint8Array,
  n: number,
  quantization: { dtype: QuantizationDtype; min?: number; scale?: number },
): Float32Array {
  const buffer = bytes.slice().buffer;
  const spec = { name: "w", shape: [n], dtype: "float32" as const, quantization };
  const tensors = tf.io.decodeWeights(buffer, [spec]);
  const values = tensors.w.dataSync() as Float32Array;
  tf.dispose(Object.values(tensors));
  return Float32Array.from(values);
}

test("roundHalfEven rounds as numpy's np.round: halves to the even neighbour, the rest to the nearest", () => {
  const cases: Array<[number, number]> = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [3.5, 4],
    [-0.5, 0],
    [-1.5, -2],
    [-2.5, -2],
    [2.4999, 2],
    [2.5001, 3],
    [-2.5001, -3],
    [254.5, 254],
    [255.5, 256],
    [7, 7],
  ];
  for (const [x, want] of cases) assert.equal(roundHalfEven(x) + 0, want, `roundHalfEven(${x})`);
});

test("float16: the bits equal numpy's astype(np.float16) on edge cases, ties, subnormals and 20,000 random values", () => {
  const next = random(23);
  const values: number[] = [
    0,
    -0,
    1,
    -1,
    0.1,
    1 / 3,
    65504,
    -65504,
    65505,
    65519,
    65519.99,
    65520,
    1e5,
    -1e5,
    2 ** -14,
    2 ** -15,
    2 ** -24,
    2 ** -25,
    1.5 * 2 ** -25,
    2 ** -26,
    3 * 2 ** -26,
    5.9604645e-8,
    1e-10,
    1e-40,
    // Ties between two float16 neighbours: to the even one.
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
    1024 + 0.5,
    1024 + 1.5,
    2 ** -14 + 2 ** -25,
    2 ** -14 + 3 * 2 ** -25,
    Infinity,
    -Infinity,
  ];
  for (let i = 0; i < 10_000; i++) values.push((next() * 2 - 1) * 10 ** Math.floor(next() * 16 - 10));
  const bits = new Uint32Array(1);
  const asFloat = new Float32Array(bits.buffer);
  while (values.length < 30_000) {
    bits[0] = Math.floor(next() * 2 ** 32);
    if (!Number.isNaN(asFloat[0])) values.push(asFloat[0]);
  }
  const f32 = Float32Array.from(values);
  const script = [
    "import sys, numpy as np, warnings",
    "warnings.simplefilter('ignore')",
    "x = np.frombuffer(sys.stdin.buffer.read(), dtype='<f4')",
    "sys.stdout.buffer.write(x.astype(np.float16).view('<u2').tobytes())",
  ].join("\n");
  const r = spawnSync(PYTHON, ["-c", script], { input: Buffer.from(f32.buffer), maxBuffer: 1 << 24 });
  assert.equal(r.status, 0, String(r.stderr));
  const numpy = new Uint16Array(new Uint8Array(r.stdout).buffer);
  const ours = toFloat16Bits(f32);
  let differ = 0;
  for (let i = 0; i < f32.length; i++) {
    if (ours[i] !== numpy[i] && differ++ < 5)
      console.log(`float16 of ${f32[i]}: ours 0x${ours[i].toString(16)}, numpy 0x${numpy[i].toString(16)}`);
  }
  assert.equal(differ, 0, `${differ} of ${f32.length} values differ from numpy`);
  assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits([NaN]))[0]), "NaN stays NaN");
});

test("float16: every one of the 65,536 bit patterns decodes as TF.js's loader decodes it", () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const ours = fromFloat16Bits(all);
  const theirs = tfjsDecode(new Uint8Array(all.buffer), all.length, { dtype: "float16" });
  for (let i = 0; i < all.length; i++) {
    if (Number.isNaN(ours[i]) || Number.isNaN(theirs[i]))
      assert.ok(Number.isNaN(ours[i]) && Number.isNaN(theirs[i]), `0x${i.toString(16)}`);
    else assert.ok(Object.is(ours[i], theirs[i]), `0x${i.toString(16)}: ours ${ours[i]}, TF.js ${theirs[i]}`);
  }
  // And a float16 value converts back to its own bits.
  const finite = all.filter((b) => (b & 0x7c00) !== 0x7c00);
  assert.deepEqual(toFloat16Bits(fromFloat16Bits(finite)), finite);
});

test("uint8: the converter's documented example, [0, -0.1, 1.2] → levels [20, 0, 255], min -0.10196078817, scale 0.00509803940852", () => {
  // tfjs-converter, write_weights.py, `_quantize_entry`'s docstring.
  const q = affineQuantize(Float32Array.from([0, -0.1, 1.2]), "uint8");
  assert.deepEqual(Array.from(q.levels), [20, 0, 255]);
  assert.ok(Math.abs(q.min - -0.10196078817) < 1e-11, `min ${q.min}`);
  assert.ok(Math.abs(q.scale - 0.00509803940852) < 1e-13, `scale ${q.scale}`);
  // The manifest entry carries them as the converter writes it.
  const w = quantizeWeight(Float32Array.from([0, -0.1, 1.2]), "uint8");
  assert.deepEqual(w.quantization, { dtype: "uint8", min: q.min, scale: q.scale, original_dtype: "float32" });
  assert.deepEqual(Array.from(w.bytes), [20, 0, 255]);
});

test("affine quantization: 0 is a level exactly when the range covers it, a range above 0 is kept, a constant decodes to itself", () => {
  const next = random(7);
  for (const dtype of ["uint8", "uint16"] as const) {
    for (let trial = 0; trial < 20; trial++) {
      const lo = -next() * 3;
      const hi = next() * 3;
      const values = Float32Array.from({ length: 500 }, () => lo + (hi - lo) * next());
      values[17] = 0;
      const w = quantizeWeight(values, dtype);
      assert.equal(dequantize(w.bytes, w.quantization)[17], 0, `${dtype}: 0 decodes to exactly 0`);
    }
    // [1, 2]: no nudging, level 0 is the minimum itself.
    const q = affineQuantize(Float32Array.from([1, 1.5, 2]), dtype);
    assert.equal(q.min, 1);
    assert.equal(q.scale, 1 / (dtype === "uint8" ? 255 : 65535));
    const c = quantizeWeight(new Float32Array(7).fill(0.3), dtype);
    assert.deepEqual(c.quantization, { dtype, min: Math.fround(0.3), scale: 1, original_dtype: "float32" });
    assert.deepEqual(Array.from(dequantize(c.bytes, c.quantization)), new Array(7).fill(Math.fround(0.3)));
  }
});

test("every quantization decodes (by TF.js's loader) within quantizationErrorBound of the original values, and not much closer", () => {
  const next = random(11);
  for (const dtype of ["float16", "uint8", "uint16"] as const) {
    let worst = 0;
    for (let trial = 0; trial < 10; trial++) {
      // Weights as networks have them: mostly small, of either sign, a few larger.
      const spread = 10 ** (next() * 4 - 3);
      const values = Float32Array.from({ length: 2000 }, () => (next() - 0.5) * spread * (next() < 0.02 ? 20 : 1));
      const w = quantizeWeight(values, dtype);
      const decoded = tfjsDecode(w.bytes, values.length, w.quantization);
      assert.deepEqual(decoded, dequantize(w.bytes, w.quantization), `${dtype}: TF.js decodes what dequantize says`);
      const bound = quantizationErrorBound(values, dtype);
      for (let i = 0; i < values.length; i++) {
        const err = Math.abs(decoded[i] - values[i]);
        assert.ok(err <= bound[i], `${dtype}: |${decoded[i]} − ${values[i]}| = ${err} > bound ${bound[i]}`);
        worst = Math.max(worst, err / bound[i]);
      }
    }
    // The bound is tight: some value uses most of it (else it would hide a coarser scheme).
    assert.ok(worst > 0.8, `${dtype}: the largest error is only ${worst.toFixed(2)} of the bound`);
  }
});

test("quantizing refuses what TF.js could not load back: beyond float16's range, NaN, infinities", () => {
  assert.throws(
    () => quantizeWeight(Float32Array.from([1, 70000]), "float16", "dense/kernel"),
    /dense\/kernel holds 70000, which float16 cannot hold .*±65504.*without quantization or with "uint8"/,
  );
  assert.throws(() => quantizeWeight(Float32Array.from([1, NaN]), "float16", "w"), /w holds NaN/);
  assert.throws(
    () => quantizeWeight(Float32Array.from([1, Infinity]), "uint8", "w"),
    /w cannot be quantized to uint8: .*finite/,
  );
  assert.throws(
    () => quantizeWeight(Float32Array.from([1]), "int4" as never),
    /Unknown quantization "int4": use one of float16, uint8, uint16/,
  );
});
