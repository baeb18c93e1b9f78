/**
 * bfloat16 in plain numbers: the top 16 bits of a float32 (sign, the same 8-bit exponent, 7 stored
 * bits of the significand, 8 with the implicit one), as TensorFlow stores it.
 *
 *   bfloat16Bits(x)     the 16-bit pattern of x rounded to bfloat16, to nearest, ties to even
 *                       (TensorFlow's float → bfloat16 cast; NaN stays a quiet NaN)
 *   roundToBfloat16(x)  that value, as a number
 *   isBfloat16(x)       whether x is exactly a bfloat16 value (the low 16 bits of its float32 are 0)
 *   toBfloat16Bits(v)   bfloat16Bits of each value of a Float32Array, as a Uint16Array
 *   fromBfloat16Bits(b, out)   the float32 values of those patterns, into out
 *
 * Unit roundoff: a rounding to bfloat16 changes a value by at most 2^-8 of its magnitude
 * (`BFLOAT16_EPSILON / 2`); one step between neighbouring values is 2^-7 of the smaller power of two.
 */

/** Distance from 1 to the next bfloat16 value: 2^-7 (8 significand bits). */
export const BFLOAT16_EPSILON = 2 ** -7;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bfloat16 bit pattern of `x` (rounded to nearest, ties to even). */
export function bfloat16Bits(x: number): number {
  f32[0] = x;
  return roundedHalf(u32[0]);
}

/** The bfloat16 pattern of the float32 whose bits are `bits`: its top half, rounded to nearest, ties to even. */
function roundedHalf(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return (bits >>> 16) | 0x0040; // quiet NaN
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** `x` rounded to the nearest bfloat16 value (ties to even), as a number. */
export function roundToBfloat16(x: number): number {
  u32[0] = bfloat16Bits(x) << 16;
  return f32[0];
}

/** Whether `x` is exactly representable in bfloat16. */
export function isBfloat16(x: number): boolean {
  f32[0] = x;
  return (u32[0] & 0xffff) === 0 && f32[0] === x;
}

/** The bfloat16 bit patterns of `values`, each rounded as `bfloat16Bits` rounds. */
export function toBfloat16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) out[i] = roundedHalf(bits[i]);
  return out;
}

/** The float32 values of bfloat16 bit patterns, into `out` (exact: a bfloat16 is the top half of a float32). */
export function fromBfloat16Bits(bits: Uint16Array, out: Float32Array): void {
  if (out.length !== bits.length) throw new Error(`Expected ${bits.length} values out, got room for ${out.length}.`);
  const words = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i] << 16;
}
