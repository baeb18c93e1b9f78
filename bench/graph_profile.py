"""Where a compiled graph's time goes: runs one signature of a SavedModel written by the graph
engine (src/engine/graph/) in a TensorFlow session with full tracing, and prints the time per kind
of op (summed over the ops; with several threads the sum exceeds the wall time), and the median
wall and CPU time of a run.

    .venv/bin/python bench/graph_profile.py DIR [SIGNATURE] [--batch 64] [--threads N] [--library LIB]

bench/graph_profile.ts compiles the tutorial's model and calls this. Inputs are random (the
values do not change the work), the batch dimension is --batch; labels are one-hot.
"""
import argparse
import collections
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("signature", nargs="?", default="train")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--runs", type=int, default=5)
    # The project's fused Adam kernel (src/tfjs/native/adam.cc), for train graphs that use it.
    p.add_argument("--library", help="an op library to load first (build/native/adam.node)")
    a = p.parse_args()
    if a.library:
        tf.load_op_library(os.path.abspath(a.library))
    cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=a.threads, inter_op_parallelism_threads=a.threads)
    rng = np.random.default_rng(0)
    with tf.compat.v1.Session(graph=tf.Graph(), config=cfg) as s:
        meta = tf.compat.v1.saved_model.loader.load(s, ["serve"], a.dir)
        sig = meta.signature_def[a.signature]
        feeds = {}
        for name, info in sig.inputs.items():
            shape = [a.batch if d.size == -1 else d.size for d in info.tensor_shape.dim]
            if info.dtype == tf.int32.as_datatype_enum:
                feeds[info.name] = np.zeros(shape, np.int32)
            elif name == "y":
                feeds[info.name] = np.eye(shape[1], dtype=np.float32)[rng.integers(0, shape[1], shape[0])]
            else:
                feeds[info.name] = (rng.standard_normal(shape, dtype=np.float32) * 0.05).astype(np.float32)
        # Feeds as TensorFlow tensors once, so that the timed runs do not convert numpy arrays.
        fetches = [o.name for o in sig.outputs.values()]
        for _ in range(2):
            s.run(fetches, feeds)
        times = []
        cpu = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            c0 = time.process_time()
            s.run(fetches, feeds)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        md = tf.compat.v1.RunMetadata()
        s.run(fetches, feeds, options=tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE), run_metadata=md)
    by_op = collections.Counter()
    count = collections.Counter()
    for dev in md.step_stats.dev_stats:
        for n in dev.node_stats:
            label = n.timeline_label
            op = label.split(" = ")[1].split("(")[0] if " = " in label else n.node_name
            by_op[op] += n.all_end_rel_micros
            count[op] += 1
    total = sum(by_op.values())
    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    print(
        f"{a.signature}: median run {median(times):.3f} s, CPU {median(cpu):.3f} s (batch {a.batch}, {a.threads} threads; "
        f"feeds copied from numpy each run; on a busy machine the CPU time is the steadier figure)"
    )
    print(f"{'op':40s} {'ms':>8s} {'share':>6s} {'count':>6s}")
    for op, us in by_op.most_common(30):
        print(f"{op:40s} {us / 1000:8.1f} {100 * us / total:5.1f}% {count[op]:6d}")
    print(f"{'all ops':40s} {total / 1000:8.1f}")


if __name__ == "__main__":
    main()
