/**
 * The one warning about precision that reaches the user: on a CPU without native bfloat16 (no
 * AVX512-BF16, AMX-BF16 or ARM BF16), "mixed_bfloat16" is slower than float32, since TensorFlow then
 * converts every bfloat16 value to float32 and back around float32 arithmetic. Shown once per
 * process, when a model is built or set to that precision.
 */
import type { Precision } from "./keras/dtype_policy";
import { warning } from "./notebook/display";
import { backendInfo } from "./tfjs/backend";
import { cpuBfloat16 } from "./util/cpu";

let warned = false;

/** Warns (once) when `precision` is mixed_bfloat16 on a CPU that emulates bfloat16. */
export function warnIfBfloat16Emulated(precision: Precision): void {
  if (precision !== "mixed_bfloat16" || warned || backendInfo().usingGpu) return;
  const cpu = cpuBfloat16();
  if (cpu.native !== false) return;
  warned = true;
  warning(
    'This CPU has no native bfloat16 arithmetic (no avx512_bf16 or amx_bf16 in /proc/cpuinfo), so "mixed_bfloat16" ' +
      "will run slower than float32: TensorFlow emulates bfloat16 by converting to float32 and back. " +
      'Use precision "float32" here; mixed precision pays off on CPUs with AVX512-BF16 or AMX (and on recent GPUs).',
  );
}
