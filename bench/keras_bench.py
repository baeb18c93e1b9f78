#!/usr/bin/env python3
"""Keras side of the benchmark: the tutorial's model in Keras 3, timed on this machine.

    .venv/bin/python bench/keras_bench.py --model inception_v3 \
        --x out/bench/train-x.npy --y out/bench/train-y.npy [--quick]

The model is the tutorial's, layer for layer:

    Input (28, 28, 1) -> Reshape (28, 28, 1, 1) -> UpSampling3D (3, 3, 3) -> Reshape (84, 84, 3)
    -> keras.applications.InceptionV3 / Xception (include_top=False, weights=None)
    -> GlobalAveragePooling2D -> Dense(1024, relu) -> Dropout(0.5) -> Dense(10, softmax)

(`--precision mixed_bfloat16`: built after keras.mixed_precision.set_global_policy of that name)
with base.layers[:64] (InceptionV3) or base.layers[:36] (Xception) frozen, compiled with
Adam, categorical cross-entropy and accuracy, in Keras's default execution mode (a traced
tf.function, no run_eagerly; jit_compile left at "auto", which Keras resolves to False on a
machine without GPU). The base starts from random weights: ImageNet weights cannot be
downloaded here, and weights do not change the amount of computation.

Figures (all printed as one JSON object on the last line of stdout; progress goes to stderr):
  train   median wall time of train_on_batch over `--train-steps` batches of 64, after
          `--warmup` steps (the first one traces the graph), as images per second;
  infer   the same for predict_on_batch; infer_eager, the same batches through model(x) in
          eager mode (op by op, like TF.js), to separate graph execution from kernel speed;
  fit     wall time of model.fit(x, y, batch_size=64, epochs=E, validation_split=0.2)
          over the given digits (the bundled 8,000: 6,400 train + 1,600 validation), per
          epoch, after a short warm-up fit that traces fit's train and test functions
          (fit steps through a tf.data iterator in a function of its own);
  peak    the process's peak resident set size (VmHWM).

With --scale-digits N (the scale row; see bench/scale.ts), only this: the tutorial's fit on the
first N digits of --x/--y (one epoch, batch 64, validation_split=0.2, shuffled; validation_freq=2 so
that the one epoch does not validate), stopped after --scale-warmup + --scale-batches training
batches, with the wall time of the timed batches per 1,000 training digits and the peak RSS.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

FREEZE = {"inception_v3": 64, "xception": 36}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def peak_rss_bytes():
    """Peak resident set size of this process (VmHWM), in bytes."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def synthetic_digits(n, seed=0):
    """Deterministic stand-in digits when no data file is given (a bright stroke on noise)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    y = (np.arange(n) % 10).astype(np.uint8)
    for i in range(n):
        c = 4 + 2 * int(y[i])
        x[i, 4:24, c : c + 3] = 255
    return x, y


def build_model(keras, name):
    layers = keras.layers
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Reshape((28, 28, 1, 1))(inputs)
    x = layers.UpSampling3D(size=(3, 3, 3))(x)
    x = layers.Reshape((84, 84, 3))(x)
    app = keras.applications.InceptionV3 if name == "inception_v3" else keras.applications.Xception
    base = app(include_top=False, weights=None, input_shape=(84, 84, 3))
    x = base(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    for layer in base.layers[: FREEZE[name]]:
        layer.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
    return model, base


def count(weights):
    import numpy as np

    return int(sum(np.prod(w.shape) for w in weights))


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed_steps(fn, batches, warmup, steps, batch_size):
    """Runs fn on `warmup` then `steps` batches (cycling); returns the step figures (as bench.ts's StepFigures)."""
    first = None
    for i in range(warmup):
        t = time.perf_counter()
        fn(*batches[i % len(batches)])
        if first is None:
            first = time.perf_counter() - t
    times = []
    cpu0 = cpu_seconds()
    for i in range(steps):
        b = batches[(warmup + i) % len(batches)]
        t = time.perf_counter()
        fn(*b)
        times.append(time.perf_counter() - t)
    cores = (cpu_seconds() - cpu0) / sum(times)
    med = statistics.median(times)
    return {
        "warmup": warmup,
        "first_step_seconds": first,
        "step_seconds": times,
        "median_step_seconds": med,
        "images_per_second": batch_size / med,
        "cpu_cores_busy": cores,
    }


def scale_run(args):
    """The scale row at one size: a steady-state portion of the tutorial's fit (bench/scale.ts)."""
    import numpy as np
    import keras

    started = time.perf_counter()
    n = args.scale_digits
    # As the tutorial does: the whole set as float32 in [0, 1], one-hot labels, fit with validation_split.
    x = np.load(args.x)[:n].reshape(-1, 28, 28, 1).astype("float32") / 255.0
    y = keras.utils.to_categorical(np.load(args.y)[:n], 10).astype("float32")
    model, _ = build_model(keras, args.model)
    warmup, timed = args.scale_warmup, args.scale_batches
    ends = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ends.append(time.perf_counter())
            if len(ends) >= warmup + timed:
                self.model.stop_training = True

    log(f"[keras scale] {args.model}: fit on {n} digits, {warmup} warm-up + {timed} timed batches")
    model.fit(
        x, y, batch_size=args.batch_size, epochs=1, validation_split=0.2, validation_freq=2, shuffle=True,
        verbose=0, callbacks=[Clock()],
    )
    seconds = [ends[i] - ends[i - 1] for i in range(warmup, min(warmup + timed, len(ends)))]
    per_1000 = sum(seconds) / (len(seconds) * args.batch_size) * 1000
    log(f"[keras scale] {per_1000:.2f} s per 1,000 training digits")
    return {
        "framework": "keras",
        "model": args.model,
        "digits": n,
        "train_digits": int(n * 0.8),
        "warmup_batches": warmup,
        "timed_batches": len(seconds),
        "batch_seconds": seconds,
        "seconds_per_1000": per_1000,
        "peak_rss_bytes": peak_rss_bytes(),
        "seconds": time.perf_counter() - started,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(FREEZE), required=True)
    ap.add_argument("--x", help="uint8 .npy of shape (n, 28, 28) or (n, 28, 28, 1): the training digits")
    ap.add_argument("--y", help="uint8 .npy of shape (n,): their labels")
    ap.add_argument("--count", type=int, default=8000, help="synthetic digits when no --x/--y (default 8000)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=10)
    ap.add_argument("--infer-steps", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=1, help="epochs of the timed fit (0: skip fit)")
    ap.add_argument("--fit-limit", type=int, default=0, help="fit on the first n digits only (0: all)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 warm-up, 2 steps, fit on 160 digits")
    ap.add_argument("--scale-digits", type=int, default=0, help="the scale row only, on the first n digits")
    ap.add_argument("--scale-warmup", type=int, default=4, help="scale row: training batches before timing")
    ap.add_argument("--scale-batches", type=int, default=16, help="scale row: timed training batches")
    ap.add_argument("--precision", choices=["float32", "mixed_bfloat16"], default="float32",
                    help="Keras's global dtype policy when the model is built (default float32)")
    args = ap.parse_args()
    if args.scale_digits:
        print(json.dumps(scale_run(args)))
        return
    if args.quick:
        args.warmup, args.train_steps, args.infer_steps = 1, 2, 2
        args.fit_limit = args.fit_limit or 160

    import numpy as np
    import tensorflow as tf
    import keras

    if args.x and args.y:
        x_raw = np.load(args.x)
        y_raw = np.load(args.y)
        data = {"source": os.path.basename(args.x), "count": int(len(y_raw))}
    else:
        x_raw, y_raw = synthetic_digits(args.count)
        data = {"source": "synthetic", "count": int(len(y_raw))}
    x_all = (x_raw.reshape(-1, 28, 28, 1).astype("float32") / 255.0)
    y_all = keras.utils.to_categorical(y_raw, 10).astype("float32")
    bs = args.batch_size

    result = {
        "framework": "keras",
        "model": args.model,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "backend": keras.backend.backend(),
        "devices": [d.device_type for d in tf.config.list_physical_devices()],
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "weights": None,
        "batch_size": bs,
        "data": data,
    }

    keras.mixed_precision.set_global_policy(args.precision)
    result["precision"] = args.precision
    log(f"[keras] building {args.model} ({args.precision}) ...")
    t = time.perf_counter()
    model, base = build_model(keras, args.model)
    result["build_seconds"] = time.perf_counter() - t
    result["run_eagerly"] = bool(model.run_eagerly)
    result["jit_compile"] = bool(model.jit_compile)
    result["freeze"] = FREEZE[args.model]
    result["base_layers"] = len(base.layers)
    result["params"] = {
        "total": count(model.weights),
        "trainable": count(model.trainable_weights),
        "non_trainable": count(model.non_trainable_weights),
    }

    n_train = int(len(x_all) * (1 - 0.2))
    train_batches = [(x_all[i : i + bs], y_all[i : i + bs]) for i in range(0, n_train - bs + 1, bs)]
    log(f"[keras] train_on_batch: {args.warmup} warm-up + {args.train_steps} timed steps")
    result["train"] = timed_steps(lambda a, b: model.train_on_batch(a, b), train_batches, args.warmup, args.train_steps, bs)
    log(f"[keras] train: {result['train']['images_per_second']:.1f} img/s (first step {result['train']['first_step_seconds']:.1f} s)")

    log(f"[keras] predict_on_batch: {args.warmup} warm-up + {args.infer_steps} timed steps")
    result["infer"] = timed_steps(lambda a, b: model.predict_on_batch(a), train_batches, args.warmup, args.infer_steps, bs)
    log(f"[keras] infer: {result['infer']['images_per_second']:.1f} img/s (first step {result['infer']['first_step_seconds']:.1f} s)")

    # The same batches run eagerly (op by op, as TF.js runs them): how much of Keras's speed is
    # graph execution rather than faster kernels.
    log(f"[keras] eager inference: {args.warmup} warm-up + {args.infer_steps} timed steps")
    result["infer_eager"] = timed_steps(lambda a, b: model(a, training=False).numpy(), train_batches, args.warmup, args.infer_steps, bs)
    log(f"[keras] eager inference: {result['infer_eager']['images_per_second']:.1f} img/s")

    if args.epochs > 0:
        x_fit, y_fit = x_all, y_all
        if args.fit_limit:
            x_fit, y_fit = x_all[: args.fit_limit], y_all[: args.fit_limit]
        # fit runs its own traced function (a loop over a tf.data iterator), not the one
        # train_on_batch traced, and so does its validation: a short fit first traces both,
        # so that the timed fit runs traced functions.
        warm = min(len(x_fit), 2 * bs + bs // 2)
        log(f"[keras] warm-up fit on {warm} digits (traces fit's functions)")
        t = time.perf_counter()
        model.fit(x_fit[:warm], y_fit[:warm], batch_size=bs, epochs=1, validation_split=0.2, verbose=0)
        warmup_seconds = time.perf_counter() - t
        epoch_times = []

        marks = {}

        class EpochTimer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t = time.perf_counter()
                marks.setdefault("first_epoch_begin", self.t)

            def on_epoch_end(self, epoch, logs=None):
                marks["last_epoch_end"] = time.perf_counter()
                epoch_times.append(marks["last_epoch_end"] - self.t)

        split = int(len(x_fit) * (1 - 0.2))
        log(f"[keras] fit: {args.epochs} epoch(s) on {split} + {len(x_fit) - split} validation digits")
        t = time.perf_counter()
        hist = model.fit(
            x_fit, y_fit, batch_size=bs, epochs=args.epochs, validation_split=0.2, shuffle=True, verbose=0,
            callbacks=[EpochTimer()],
        )
        end = time.perf_counter()
        total = end - t
        result["fit"] = {
            "seconds_before_first_epoch": marks.get("first_epoch_begin", end) - t,
            "seconds_after_last_epoch": end - marks.get("last_epoch_end", end),
            "epochs": args.epochs,
            "warmup_fit_seconds": warmup_seconds,
            "train_images": split,
            "val_images": len(x_fit) - split,
            "epoch_seconds": epoch_times,
            "total_seconds": total,
            "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()},
        }
        log(f"[keras] fit: {total:.1f} s ({', '.join(f'{s:.1f}' for s in epoch_times)} s per epoch)")

    result["peak_rss_bytes"] = peak_rss_bytes()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
