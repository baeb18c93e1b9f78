/**
 * What the CPU offers for bfloat16, from its feature flags (Linux: /proc/cpuinfo).
 *
 *   bfloat16Support(cpuinfo)   from the text of /proc/cpuinfo: which bfloat16 features the CPU has
 *   cpuBfloat16()              the same for this machine (read once; "unknown" where there is no /proc/cpuinfo)
 *
 * TensorFlow's oneDNN kernels run bfloat16 convolutions and matrix products natively with
 * AVX512-BF16 (`avx512_bf16`: dot products of bfloat16 pairs) or AMX (`amx_bf16`: tile matrix
 * multiplication); ARM's BF16 extension shows as `bf16` among the "Features". Without any of them
 * TensorFlow still runs bfloat16, by converting to float32 and back around float32 arithmetic,
 * which is slower than float32 alone.
 */
import * as fs from "node:fs";

/** The bfloat16 features of a CPU: none on a CPU that only emulates it; undefined when unknown. */
export interface Bfloat16Support {
  /** Whether the CPU computes bfloat16 natively; undefined when its flags could not be read. */
  native: boolean | undefined;
  /** The flags found, as /proc/cpuinfo names them (e.g. "avx512_bf16", "amx_bf16"). */
  features: string[];
}

/** The flags that mean native bfloat16 arithmetic: x86's AVX512-BF16 and AMX-BF16, ARM's BF16. */
const NATIVE_FLAGS = ["avx512_bf16", "amx_bf16", "bf16"];

/** The bfloat16 features named in the text of /proc/cpuinfo (the first processor's flags). */
export function bfloat16Support(cpuinfo: string): Bfloat16Support {
  const line = /^(?:flags|Features)\s*:(.*)$/m.exec(cpuinfo);
  if (!line) return { native: undefined, features: [] };
  const flags = new Set(line[1].trim().split(/\s+/));
  const features = NATIVE_FLAGS.filter((f) => flags.has(f));
  return { native: features.length > 0, features };
}

let cached: Bfloat16Support | undefined;

/** This machine's bfloat16 features (read once). */
export function cpuBfloat16(): Bfloat16Support {
  if (!cached) {
    let text: string | undefined;
    try {
      text = fs.readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      text = undefined;
    }
    cached = text === undefined ? { native: undefined, features: [] } : bfloat16Support(text);
  }
  return { ...cached, features: [...cached.features] };
}
