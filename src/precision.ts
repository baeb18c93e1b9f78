/**
 * The one warning about precision that reaches the user: on a CPU without native bfloat16 (no
 * AVX512-BF16, AMX-BF16 or ARM BF16), "mixed_bfloat16" is slower than float32, since TensorFlow then
 * converts every bfloat16 value to float32 and back around float32 arithmetic. Shown once per
 * process, when a model is built or set to that precision.
 *
 *   emulationWarning(precision, cpu, usingGpu)  the warning's text for such a CPU, or undefined
 *   warnIfBfloat16Emulated(precision)           shows it (once) for this machine
 */
import type { Precision } from "./keras/dtype_policy";
import { warning } from "./notebook/display";
import { backendInfo } from "./tfjs/backend";
import { cpuBfloat16, type Bfloat16Support } from "./util/cpu";

let warned = false;

/** The warning for `precision` on a CPU with these bfloat16 features; undefined when there is nothing to say. */
export function emulationWarning(precision: Precision, cpu: Bfloat16Support, usingGpu: boolean): string | undefined {
  if (precision !== "mixed_bfloat16" || usingGpu || cpu.native !== false) return undefined;
  return (
    'This CPU has no native bfloat16 arithmetic (no avx512_bf16 or amx_bf16 in /proc/cpuinfo), so "mixed_bfloat16" ' +
    "will run slower than float32: TensorFlow emulates bfloat16 by converting to float32 and back. " +
    'Use precision "float32" here; mixed precision pays off on CPUs with AVX512-BF16 or AMX (and on recent GPUs).'
  );
}

/** Warns (once) when `precision` is mixed_bfloat16 on a CPU that emulates bfloat16. */
export function warnIfBfloat16Emulated(precision: Precision): void {
  if (warned) return;
  const text = emulationWarning(precision, cpuBfloat16(), backendInfo().usingGpu);
  if (text === undefined) return;
  warned = true;
  warning(text);
}
