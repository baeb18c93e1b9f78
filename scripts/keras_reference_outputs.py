"""Writes what Keras's no-top InceptionV3 and Xception compute with fixed weights, for the tests.

Usage (from the project root):
    .venv/bin/python scripts/keras_reference_outputs.py OUT_DIR

writes OUT_DIR/outputs.json. What Keras computes depends on the CPU (TensorFlow
picks its kernels' code paths by CPU features), so the tests run it on first
use into .cache/keras-outputs-fixed-weights/<key>/ (test/support/references.ts), never
from a committed copy.

Every weight is set from a counter-based hash (no random generator, so the
TypeScript test recomputes exactly the same values): the weight of layer i
(position in model.layers), weight j (position in layer.weights), element k
(row-major) is u = hash(i, j, k) in [0, 1), turned into
    kernel, pointwise_kernel: (2u - 1) * sqrt(6 / prod(shape[:-1]))
    depthwise_kernel:         (2u - 1) * sqrt(6 / (shape[0] * shape[1]))
    gamma, moving_variance:   0.8 + 0.4u
    beta, moving_mean:        0.2 * (2u - 1)
The input (2 images) is 2 * hash(999, 0, k) - 1.

For each model it records, in inference mode (`model(x, training=False)`) and
in training mode (`model(x, training=True)`: batch statistics), the output's
first CHANNELS channels of each image averaged over the spatial positions, and
per image the mean of |y| and of y^2 over the whole output; after the training
call, the moving statistics of the first and the last BatchNormalization layer.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's plain CPU kernels (no oneDNN): the reference that our run with plain kernels equals exactly.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import keras  # noqa: E402

MASK = 0xFFFFFFFF
CHANNELS = 512
MODELS = {
    "inception_v3": (keras.applications.InceptionV3, (75, 75, 3)),
    "xception": (keras.applications.Xception, (71, 71, 3)),
}


def hash_u(i, j, n):
    """u in [0, 1) for elements 0..n-1 of weight j of layer i (32-bit integer mixing)."""
    k = np.arange(n, dtype=np.uint64)
    x = (k * np.uint64(0x9E3779B1) + np.uint64((j * 0x85EBCA77 + i * 0xC2B2AE3D) & MASK)) & np.uint64(MASK)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x2C1B3C6D)) & np.uint64(MASK)
    x ^= x >> np.uint64(12)
    x = (x * np.uint64(0x297A2D39)) & np.uint64(MASK)
    x ^= x >> np.uint64(15)
    return x.astype(np.float64) / 2.0**32


def weight_value(kind, shape, u):
    if kind in ("kernel", "pointwise_kernel"):
        return (2 * u - 1) * np.sqrt(6.0 / np.prod(shape[:-1]))
    if kind == "depthwise_kernel":
        return (2 * u - 1) * np.sqrt(6.0 / (shape[0] * shape[1]))
    if kind in ("gamma", "moving_variance"):
        return 0.8 + 0.4 * u
    if kind in ("beta", "moving_mean"):
        return 0.2 * (2 * u - 1)
    raise ValueError(f"no rule for weight {kind}")


def summarise(y):
    y = np.asarray(y, dtype=np.float64)
    b = y.shape[0]
    spatial = y.reshape(b, -1, y.shape[-1]).mean(axis=1)
    return {
        "channelMeans": [[float(v) for v in spatial[n, :CHANNELS]] for n in range(b)],
        "meanAbs": [float(np.abs(y[n]).mean()) for n in range(b)],
        "meanSquare": [float((y[n] ** 2).mean()) for n in range(b)],
    }


def main(out_dir):
    out = {"made_by": ".venv/bin/python scripts/keras_reference_outputs.py OUT_DIR", "keras": keras.__version__, "channels": CHANNELS, "models": {}}
    for name, (build, shape) in MODELS.items():
        model = build(include_top=False, weights=None, input_shape=shape)
        for i, layer in enumerate(model.layers):
            values = []
            for j, w in enumerate(layer.weights):
                kind = w.path.split("/")[-1]
                wshape = tuple(w.shape)
                u = hash_u(i, j, int(np.prod(wshape)))
                values.append(weight_value(kind, wshape, u).reshape(wshape).astype(np.float32))
            if values:
                layer.set_weights(values)
        n = 2 * int(np.prod(shape))
        x = (2 * hash_u(999, 0, n) - 1).astype(np.float32).reshape((2,) + shape)
        inference = np.asarray(model(x, training=False))
        training = np.asarray(model(x, training=True))
        bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
        moving = {
            l.name: {
                "moving_mean": [float(v) for v in np.asarray(l.moving_mean)[:16]],
                "moving_variance": [float(v) for v in np.asarray(l.moving_variance)[:16]],
            }
            for l in (bns[0], bns[-1])
        }
        out["models"][name] = {
            "inputShape": list(shape),
            "outputShape": list(inference.shape),
            "inference": summarise(inference),
            "training": summarise(training),
            "movingAfterTraining": moving,
        }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "outputs.json"), "w") as f:
        json.dump(out, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
