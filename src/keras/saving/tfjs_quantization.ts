/**
 * Weight quantization for TF.js's LayersModel format, as TensorFlow.js's converter does it
 * (tfjs-converter, python/tensorflowjs/quantization.py `quantize_weights` and write_weights.py
 * `_quantize_entry`), as plain functions, so that TF.js's own loader (tfjs-core, io/io_utils.ts
 * `decodeWeight`) dequantizes what ./tfjs_export.ts writes:
 *
 * - `roundHalfEven`        numpy's `np.round`: halves go to the even neighbour
 * - `toFloat16Bits`        float32 → the nearest float16 (IEEE 754 binary16, round half to even, as
 *                          numpy's `astype(np.float16)`); `fromFloat16Bits` back
 * - `affineQuantize`       uint8 / uint16: q = round((clip(w, min, max) − min) / scale) over the
 *                          weight's own range, scale = (max − min) / (2^bits − 1); when 0 lies in the
 *                          range, the range is "nudged" (TF-Lite's NudgeQuantizationRange) so that 0
 *                          is one of the levels exactly (zero padding stays zero). A constant weight
 *                          is all zeros with scale 1 and min its value. TF.js decodes q·scale + min.
 * - `quantizeWeight`       one float32 weight → its bytes and the manifest's `quantization` entry
 *                          (`{dtype: "float16"}`, or `{dtype, min, scale}`, with `original_dtype`)
 * - `dequantize`           what TF.js's loader computes from them (float32)
 * - `quantizationErrorBound`  the most a weight can move: |w|·2^-11 (float16, normal range; 2^-25
 *                          below it), scale/2 (affine), plus the float32 rounding of the decoded value
 *
 * The converter quantizes float32 weights only; so does ./tfjs_export.ts.
 */

/** What a weight can be quantized to (the converter's `--quantize_float16`, `_uint8`, `_uint16`). */
export type QuantizationDtype = "float16" | "uint8" | "uint16";
export const QUANTIZATION_DTYPES: readonly QuantizationDtype[] = ["float16", "uint8", "uint16"];

/** The `quantization` entry of a weight in model.json's `weightsManifest`, as the converter writes it. */
export interface ManifestQuantization {
  dtype: QuantizationDtype;
  /** Affine only: the value of level 0. */
  min?: number;
  /** Affine only: the step between levels. */
  scale?: number;
  /** The weight's own type (the converter writes it; TF.js reads the entry's `dtype`). */
  original_dtype: "float32";
}

/** A quantized weight: its bytes in the shard (little-endian) and its manifest entry. */
export interface QuantizedWeight {
  bytes: Uint8Array;
  quantization: ManifestQuantization;
}

/** Bytes per value of each quantized type (tfjs-core's DTYPE_VALUE_SIZE_MAP). */
const QUANTIZED_BYTES: Record<QuantizationDtype, number> = { float16: 2, uint8: 1, uint16: 2 };

/** numpy's `np.round` (and Python's `round`): to the nearest integer, halves to the even one. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round takes halves up (towards +∞); a half whose upper neighbour is odd goes down instead.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One float32 (its bits) → the bits of the nearest float16, ties to even; overflow → ±Infinity, NaN stays NaN. */
function float16BitsOf(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Below float16's normal range: a multiple k of 2^-24 (k ≤ 1024; 1024 is the smallest normal,
    // whose bits are 0x400, so the count is the bit pattern either way). Exact in float64.
    if (exponent === 0) return sign; // float32 subnormals are far below 2^-25
    const value = (1 + mantissa / 0x800000) * 2 ** (exponent - 127);
    return sign | roundHalfEven(value * 2 ** 24);
  }
  // Normal: keep the top 10 of 23 mantissa bits, round on the other 13 (a carry may raise the
  // exponent, up to 0x7c00 = Infinity, which is what rounding to nearest gives past 65504).
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
  return sign | half;
}

/** float32 values → the bits of the nearest float16 values (numpy's `astype(np.float16)`). */
export function toFloat16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i];
    out[i] = float16BitsOf(u32[0]);
  }
  return out;
}

/** The float16 values of `bits`, as float32. */
export function fromFloat16Bits(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    const sign = b & 0x8000 ? -1 : 1;
    const exponent = (b >>> 10) & 0x1f;
    const mantissa = b & 0x3ff;
    if (exponent === 0x1f) out[i] = mantissa ? NaN : sign * Infinity;
    else if (exponent === 0) out[i] = sign * mantissa * 2 ** -24;
    else out[i] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return out;
}

/** The largest finite float16, 65504: larger weights would become Infinity. */
const FLOAT16_MAX = 65504;

/**
 * Affine quantization of `values` to `dtype` ("uint8": 256 levels, "uint16": 65,536), as the
 * converter's `quantize_weights`: levels and the `min` and `scale` that TF.js decodes them with
 * (value ≈ level · scale + min). The range is computed in float64, as numpy does.
 */
export function affineQuantize(
  values: ArrayLike<number>,
  dtype: "uint8" | "uint16",
): { levels: Uint8Array | Uint16Array; min: number; scale: number } {
  const top = dtype === "uint8" ? 255 : 65535;
  const levels = dtype === "uint8" ? new Uint8Array(values.length) : new Uint16Array(values.length);
  if (values.length === 0) return { levels, min: 0, scale: 1 };
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v) || !Number.isFinite(v))
      throw new RangeError(`affineQuantize: the values must be finite, found ${v} at index ${i}.`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  // A single value: every level 0, decoded as 0 · 1 + min.
  if (lo === hi) return { levels, min: lo, scale: 1 };
  const scale = (hi - lo) / top;
  let min = lo;
  let max = hi;
  if (lo <= 0 && 0 <= hi) {
    // Nudge: move the range by less than half a step so that 0 falls on a level.
    const zeroLevel = roundHalfEven((0 - lo) / scale);
    min = -zeroLevel * scale;
    max = top * scale + min;
  }
  for (let i = 0; i < values.length; i++) {
    const clipped = Math.min(max, Math.max(min, values[i]));
    levels[i] = Math.min(top, Math.max(0, roundHalfEven((clipped - min) / scale)));
  }
  return { levels, min, scale };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The bytes of a typed array, little-endian (what TF.js reads on every platform it runs on). */
function bytesOf(a: Uint8Array | Uint16Array): Uint8Array {
  if (a instanceof Uint8Array) return a;
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) view.setUint16(2 * i, a[i], true);
  return out;
}

/**
 * One float32 weight quantized to `dtype`: its bytes for the shard and its manifest entry. `name`
 * only names the weight in errors. float16 refuses values beyond ±65504 (they would load as
 * Infinity); affine quantization refuses NaN and infinities.
 */
export function quantizeWeight(values: Float32Array, dtype: QuantizationDtype, name = "a weight"): QuantizedWeight {
  if (dtype === "float16") {
    for (let i = 0; i < values.length; i++) {
      if (!(Math.abs(values[i]) <= FLOAT16_MAX)) {
        throw new RangeError(
          `The weight ${name} holds ${values[i]}, which float16 cannot hold (its range is ±${FLOAT16_MAX}): ` +
            `export it without quantization or with "uint8".`,
        );
      }
    }
    return { bytes: bytesOf(toFloat16Bits(values)), quantization: { dtype, original_dtype: "float32" } };
  }
  if (dtype !== "uint8" && dtype !== "uint16")
    throw new Error(`Unknown quantization "${String(dtype)}": use one of ${QUANTIZATION_DTYPES.join(", ")}.`);
  let q;
  try {
    q = affineQuantize(values, dtype);
  } catch (e) {
    throw new RangeError(`The weight ${name} cannot be quantized to ${dtype}: ${(e as Error).message}`, { cause: e });
  }
  return { bytes: bytesOf(q.levels), quantization: { dtype, min: q.min, scale: q.scale, original_dtype: "float32" } };
}

/** What TF.js's loader makes of a quantized weight's bytes (float32 values), for checks and error estimates. */
export function dequantize(
  bytes: Uint8Array,
  quantization: Pick<ManifestQuantization, "dtype" | "min" | "scale">,
): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = QUANTIZED_BYTES[quantization.dtype];
  if (size === undefined)
    throw new Error(
      `Unknown quantization "${String(quantization.dtype)}": use one of ${QUANTIZATION_DTYPES.join(", ")}.`,
    );
  const n = bytes.byteLength / size;
  const raw = Array.from({ length: n }, (_, i) => (size === 1 ? view.getUint8(i) : view.getUint16(2 * i, true)));
  if (quantization.dtype === "float16") return fromFloat16Bits(raw);
  const { min, scale } = quantization;
  if (min === undefined || scale === undefined)
    throw new Error(`A ${quantization.dtype} weight needs its min and scale.`);
  return Float32Array.from(raw, (q) => q * scale + min);
}

/**
 * For each value, the most quantizing to `dtype` and decoding (as TF.js does, into float32) can
 * change it: float16 rounds to 11 significant bits, so by at most |w|·2^-11 in its normal range
 * (|w| ≥ 2^-14) and 2^-25 below; affine quantization by at most half a step (`scale`/2: the nudged
 * range is within half a step of the values' own, so clipping stays within that too), plus the
 * float32 rounding of level · scale + min (2^-24 of the result).
 */
export function quantizationErrorBound(values: Float32Array, dtype: QuantizationDtype): Float32Array {
  if (dtype === "float16") return values.map((v) => Math.max(Math.abs(v) * 2 ** -11, 2 ** -25));
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  // A constant weight decodes to itself (level 0 · 1 + min).
  const step = values.length === 0 || lo === hi ? 0 : affineQuantize(values, dtype).scale;
  return values.map((v) => step / 2 + (Math.abs(v) + step) * 2 ** -24);
}
