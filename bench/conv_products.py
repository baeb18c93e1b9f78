"""A convolution that is one matrix product, run as a Conv2D and as that product: TensorFlow's
kernels (the ones the graph engine runs, in .venv's TensorFlow) for the forward pass, the input
gradient and the filter gradient, at shapes of the tutorial's trainable layers, batch 64.

    .venv/bin/python bench/conv_products.py [--threads 2] [--runs 30]

src/engine/graph/lower.ts (`convolve`) writes such convolutions as products in training graphs; this
is the measurement behind that choice. Each figure is the median wall time of one kernel's call, in
milliseconds; the last column is the three convolutions' sum over the three products'. The largest
difference between the two ways' results, as a fraction of the largest value, is printed too
(rounding: the same sums in another order).
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# (label, map size, input channels, output channels, filter size): 1×1 filters, and a 3×3 one on a
# 1×1 map (only its centre tap reads the input).
SHAPES = [
    ("InceptionV3 mixed3, 1x1 on 3x3", 3, 768, 192, 1),
    ("InceptionV3 mixed9, 1x1 on 1x1", 1, 2048, 448, 1),
    ("InceptionV3 mixed9, 3x3 on 1x1", 1, 448, 384, 3),
    ("InceptionV3 mixed0, 1x1 on 8x8", 8, 288, 64, 1),
    ("Xception middle flow, 5x5", 5, 728, 728, 1),
    ("Xception exit flow, 3x3", 3, 1536, 2048, 1),
    ("Xception block 4, 10x10", 10, 256, 728, 1),
]


def median_ms(f, args, runs):
    for _ in range(3):
        f(*args).numpy()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f(*args).numpy()
        times.append(time.perf_counter() - t0)
    return 1000 * sorted(times)[runs // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    b = a.batch
    print(f"TensorFlow {tf.__version__}, batch {b}, {a.threads} threads, median of {a.runs} calls, ms")
    print(f"{'shape':34s} {'conv fwd':>9s} {'dx':>7s} {'dw':>7s} | {'product':>8s} {'dx':>7s} {'dw':>7s} | conv/product  max diff (of the largest value)")
    for label, h, cin, cout, k in SHAPES:
        t = k // 2  # the tap that reads a 1×1 map under SAME padding
        x = tf.random.normal([b, h, h, cin])
        w = tf.random.normal([k, k, cin, cout]) / np.sqrt(cin)
        dy = tf.random.normal([b, h, h, cout])
        strides = [1, 1, 1, 1]
        conv = tf.function(lambda x, w: tf.nn.conv2d(x, w, strides, "SAME"))
        conv_dx = tf.function(lambda w, dy: tf.compat.v1.nn.conv2d_backprop_input([b, h, h, cin], w, dy, strides, "SAME"))
        conv_dw = tf.function(lambda x, dy: tf.compat.v1.nn.conv2d_backprop_filter(x, [k, k, cin, cout], dy, strides, "SAME"))
        rows = lambda v, c: tf.reshape(v, [-1, c])  # noqa: E731
        centre = lambda w: w[t, t]  # noqa: E731
        prod = tf.function(lambda x, w: tf.reshape(tf.matmul(rows(x, cin), centre(w)), [b, h, h, cout]))
        prod_dx = tf.function(lambda w, dy: tf.reshape(tf.matmul(rows(dy, cout), centre(w), transpose_b=True), [b, h, h, cin]))
        prod_dw = tf.function(lambda x, dy: tf.matmul(rows(x, cin), rows(dy, cout), transpose_a=True))
        c = [median_ms(conv, (x, w), a.runs), median_ms(conv_dx, (w, dy), a.runs), median_ms(conv_dw, (x, dy), a.runs)]
        m = [median_ms(prod, (x, w), a.runs), median_ms(prod_dx, (w, dy), a.runs), median_ms(prod_dw, (x, dy), a.runs)]
        rel = lambda a, b: float(tf.reduce_max(tf.abs(a - b)) / tf.reduce_max(tf.abs(a)))  # noqa: E731
        diff = max(
            rel(conv(x, w), prod(x, w)),
            rel(conv_dx(w, dy), prod_dx(w, dy)),
            rel(conv_dw(x, dy)[t, t], prod_dw(x, dy)),
        )
        print(
            f"{label:34s} {c[0]:9.2f} {c[1]:7.2f} {c[2]:7.2f} | {m[0]:8.2f} {m[1]:7.2f} {m[2]:7.2f} | "
            f"{sum(c) / sum(m):11.2f}×  {diff:.1e}"
        )


if __name__ == "__main__":
    main()
