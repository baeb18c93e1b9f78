"""How fast this CPU multiplies matrices right now, in bfloat16 and in float32: the context of the
benchmark's precision row (bench/bench.ts runs it before each process of that row and at its end).

    .venv/bin/python bench/matmul_probe.py [--seconds S] [--repeat]

A 2048 x 2048 by 2048 x 2048 product (17.2 GFLOP) in TensorFlow's CPU kernels (oneDNN; bfloat16 on
AVX512-BF16 or AMX where the CPU has them), bfloat16 and float32 alternated for S seconds (default
2) after a warm-up; prints the median of each as JSON: {"bf16_tflops": ..., "f32_tflops": ...}.
With --repeat, prints one line per pair until interrupted, with the time: to watch drift.

Why: on a shared virtual machine the bfloat16 units' throughput can change from one moment to the
next while float32's holds (on the 2-core Xeon of docs/benchmarks.md, 0.31 to 0.91 TFLOP/s within
three minutes), so two bfloat16 fits minutes apart can differ by more than what they are meant to
compare. The figure is a sample of a few seconds, not an average over a run: it shows the state of
the machine around each process, and a process that met a slow phase may show it there.
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

N = 2048
FLOP = 2 * N**3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--repeat", action="store_true")
    args = ap.parse_args()
    a32 = tf.random.stateless_uniform((N, N), seed=(1, 2))
    b32 = tf.random.stateless_uniform((N, N), seed=(3, 4))
    a16, b16 = tf.cast(a32, tf.bfloat16), tf.cast(b32, tf.bfloat16)
    product = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32)))

    def seconds(a, b, times):
        start = time.perf_counter()
        for _ in range(times):
            product(a, b).numpy()
        return (time.perf_counter() - start) / times

    seconds(a16, b16, 2)
    seconds(a32, b32, 2)
    while True:
        pairs = []
        end = time.perf_counter() + args.seconds
        while not pairs or time.perf_counter() < end:
            pairs.append((seconds(a16, b16, 4), seconds(a32, b32, 2)))
        bf16 = FLOP / statistics.median(p[0] for p in pairs) / 1e12
        f32 = FLOP / statistics.median(p[1] for p in pairs) / 1e12
        if not args.repeat:
            print(json.dumps({"bf16_tflops": round(bf16, 3), "f32_tflops": round(f32, 3)}))
            return
        print(f"{time.strftime('%H:%M:%S')} bfloat16 {bf16:6.2f} TFLOP/s, float32 {f32:6.2f} TFLOP/s", flush=True)


if __name__ == "__main__":
    main()
