"""Golden reference files for the parity of our InceptionV3 and Xception with Keras's.

For each model, Keras 3 builds keras.applications.<Model>(include_top=False,
weights=None, input_shape=(84, 84, 3)) with seeded random weights and
non-trivial batch-norm statistics, and writes to OUT_DIR/<model>/:

  weights.h5        the weights in the legacy Keras h5 layout (Keras's own
                    legacy writer, the layout of the keras.applications
                    ImageNet files), for our loadKerasWeights
  input.npy         a seeded input batch, float32 (N, 84, 84, 3) in [-1, 1]
  <layer>.npy       Keras's outputs in inference mode: the model's output and
                    those of the blocks' last layers (mixed0…mixed10 for
                    InceptionV3, add…add_11 for Xception), float32
  manifest.json     shapes, files, seeds, versions, statistics, timings

Weights: Keras's own initialisers (seeded with keras.utils.set_random_seed);
batch-norm layers, in model.layers order, get moving_mean/moving_variance
from the batch statistics of their input on a calibration batch, perturbed
(mean + 0.1 std noise, variance x U(0.7, 1.4)), and random gamma (where the
layer has one) and beta; so every activation stays of order one and a wrong
statistic or weight order shows in the outputs.

  .venv/bin/python scripts/keras_goldens.py OUT_DIR [--models inception_v3,xception] [--batch 4]

The tests (test/support/goldens.ts, test/support/references.ts) run it on first use into
.cache/goldens/<key>/, the key covering this script, the versions of
TensorFlow, Keras, numpy and h5py and the CPU's features: Keras's outputs
depend on the CPU, so they are made where the tests run, never committed.
"""

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow's plain CPU kernels (no oneDNN): the reference that our run with plain kernels equals exactly.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import h5py  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

INPUT_SHAPE = (84, 84, 3)
SEED = 20240611
CALIBRATION_BATCH = 8

BUILDERS = {
    "inception_v3": keras.applications.InceptionV3,
    "xception": keras.applications.Xception,
}


def reference_layers(name, model):
    names = [l.name for l in model.layers]
    if name == "inception_v3":
        picked = [n for n in names if n.startswith("mixed") and n[5:].isdigit()]
    else:
        picked = [n for n in names if n == "add" or (n.startswith("add_") and n[4:].isdigit())]
    last = model.layers[-1].name
    return picked + ([last] if last not in picked else [])


def calibrate_batch_norms(model, x_cal, rng):
    """Sets each batch-norm layer's statistics from its input on x_cal.

    One eager pass through the graph (Keras's own graph runner, in its
    topological order): each batch-norm layer is set from its actual input
    just before it runs, so later layers see calibrated earlier ones.
    """
    stats = []

    def calibrated(layer):
        def run(h, *args, **kwargs):
            a = keras.ops.convert_to_numpy(h).astype("float64")
            axes = tuple(range(a.ndim - 1))
            mean = a.mean(axis=axes)
            var = a.var(axis=axes)
            std = np.sqrt(var + 1e-6)
            c = mean.shape[0]
            values = {
                "moving_mean": mean + 0.1 * std * rng.standard_normal(c),
                "moving_variance": var * rng.uniform(0.7, 1.4, c) + 1e-4,
                "gamma": rng.uniform(0.6, 1.4, c),
                "beta": rng.normal(0.0, 0.2, c),
            }
            for v in layer.weights:
                v.assign(values[v.path.split("/")[-1]].astype("float32"))
            stats.append(float(np.sqrt(var.mean())))
            kwargs["training"] = False
            return layer(h, *args, **kwargs)

        return run

    def operation_fn(op):
        return calibrated(op) if isinstance(op, keras.layers.BatchNormalization) else op

    model._run_through_graph(x_cal, operation_fn=operation_fn)
    n_bn = sum(1 for l in model.layers if isinstance(l, keras.layers.BatchNormalization))
    assert len(stats) == n_bn, f"calibrated {len(stats)} of {n_bn} batch-norm layers"
    return stats


def make(name, out_dir, batch, seed):
    t0 = time.time()
    keras.utils.set_random_seed(seed)
    model = BUILDERS[name](include_top=False, weights=None, input_shape=INPUT_SHAPE)
    t_build = time.time() - t0
    rng = np.random.default_rng(seed)
    x_cal = rng.uniform(-1.0, 1.0, (CALIBRATION_BATCH,) + INPUT_SHAPE).astype("float32")
    t1 = time.time()
    bn_input_rms = calibrate_batch_norms(model, x_cal, rng)
    t_cal = time.time() - t1

    x = rng.uniform(-1.0, 1.0, (batch,) + INPUT_SHAPE).astype("float32")
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "input.npy"), x)

    picked = reference_layers(name, model)
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in picked])
    t2 = time.time()
    ys = probe([x], training=False)
    if not isinstance(ys, (list, tuple)):
        ys = [ys]
    t_predict = time.time() - t2
    outputs = []
    for n, y in zip(picked, ys):
        y = keras.ops.convert_to_numpy(y).astype("float32")
        np.save(os.path.join(d, f"{n}.npy"), y)
        outputs.append({
            "layer": n,
            "file": f"{n}.npy",
            "shape": list(y.shape),
            "maxAbs": float(np.abs(y).max()),
            "mean": float(y.mean()),
            "std": float(y.std()),
        })

    with h5py.File(os.path.join(d, "weights.h5"), "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)

    manifest = {
        "model": name,
        "kerasCall": f"keras.applications.{BUILDERS[name].__name__}(include_top=False, weights=None, input_shape={INPUT_SHAPE})",
        "seed": seed,
        "inputShape": [batch] + list(INPUT_SHAPE),
        "input": "input.npy",
        "weights": "weights.h5",
        "layers": len(model.layers),
        "weightedLayers": sum(1 for l in model.layers if l.weights),
        "params": int(model.count_params()),
        "outputs": outputs,
        "batchNormInputRms": {"min": min(bn_input_rms), "max": max(bn_input_rms)},
        "seconds": {"build": round(t_build, 2), "calibrate": round(t_cal, 2), "predict": round(t_predict, 2)},
    }
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    keras.backend.clear_session()
    return manifest


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--models", default="inception_v3,xception")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    t0 = time.time()
    models = {}
    for name in args.models.split(","):
        m = make(name, args.out_dir, args.batch, args.seed)
        models[name] = m
        print(f"{name}: {m['layers']} layers, {m['params']} parameters, outputs "
              f"{', '.join(o['layer'] + str(tuple(o['shape'])) for o in m['outputs'][-1:])}, "
              f"seconds {m['seconds']}", file=sys.stderr)
    index = {
        "versions": {
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
            "numpy": np.__version__,
            "h5py": h5py.__version__,
            "python": platform.python_version(),
        },
        "models": sorted(models),
        "seconds": round(time.time() - t0, 1),
    }
    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
