"""Small Keras models for the tests of the legacy .h5 weight files.

Their twins in TF.js are in test/weights.test.ts (same layers, same order).

  make-fixtures DIR   writes, for each model, DIR/<model>.h5 (Keras's legacy
                      h5 writer, the layout of the keras.applications files)
                      with seeded random weights and non-trivial batch-norm
                      statistics, plus DIR/small_a_keras2.h5 (the same weights
                      in the Keras 2 naming, "<layer>/<weight>:0", with the
                      layer_names attribute split in two) and DIR/expected.json
                      (the input batch, and per model the output shape and
                      the layers with weights: exact facts, no float outputs).
  outputs DIR OUT     Keras's outputs in inference mode for the files of
                      make-fixtures: loads each DIR/<model>.h5 with Keras's
                      model.load_weights into a fresh model, runs it on the
                      input of DIR/expected.json, and writes OUT/outputs.json
                      ({"models": {name: {"outputShape": [...], "output":
                      [...]}}}). What Keras computes depends on the CPU, so
                      the tests run this on first use into
                      .cache/keras-small-models/<key>/ (test/support/references.ts).
  check SPEC.json     SPEC: {"input": [...], "inputShape": [...], "models":
                      [{"model": name, "h5": path}, ...]}; loads each file
                      with Keras's model.load_weights(path) into a fresh model
                      and prints {"outputs": [[...], ...]} as JSON. An item may
                      name its own "inputNpy", and an "outputNpy" to write
                      the output to instead (its entry is then null). The
                      models also include Keras's inception_v3 and xception
                      (no top, 84x84x3), and the tutorial's whole model on
                      either (tutorial_inception_v3, tutorial_xception: as
                      src/model.ts builds it, the base nested as one layer),
                      whose item names the "freeze" depth: Keras orders a
                      nested model's weights trainable ones first.

  write-archives SPEC.json
                      Keras's own .keras archives of the tutorial's model, for
                      test/keras_archive.test.ts. SPEC: {"input": [...],
                      "inputShape": [n, 28, 28, 1], "labels": [...], "items":
                      [{"base", "freeze", "preprocessing", "out", "calibrate",
                      "trainSteps", "clearSession", "augment", "baseTraining"}]}.
                      Each item builds
                      tutorial_model (in a fresh Keras session when
                      clearSession, else continuing Keras's automatic layer
                      names; shiftNames builds one more first, as a session
                      that built the model before would), optionally sets
                      every batch normalisation to the
                      statistics of the input digits (so that predictions
                      depend on the whole base), freezes, compiles (Adam,
                      categorical cross-entropy, accuracy), optionally trains
                      trainSteps batches (so that Adam has state), saves with
                      model.save(out), and reports what load-archive reports.
  load-archive SPEC.json
                      SPEC: {"input", "inputShape", "archives": [paths]};
                      keras.saving.load_model(path) for each, and prints
                      {"archives": [{"output", "optimizer", "trainable",
                      "warnings"}]}: the probabilities on the input, Adam's
                      iterations, learning rate, number of variables and, per
                      trainable variable in order, its path and the sums of
                      |first moment| and |second moment|, the base's trainable
                      flags, the trainable parameter count and the warnings
                      Keras gave.
  train-inference SPEC.json
                      SPEC: {"archive": path, "batches": [{"x": npy, "y": npy}],
                      "learningRate", "epsilon", "out": path}. Loads the
                      archive (the tutorial's model, as src/model.ts saved
                      it), trains it one train_on_batch per batch with Adam
                      (the given rate and epsilon) with the base called as
                      Keras's transfer-learning guide calls it,
                      base(x, training=False): in a subclassed model, where
                      that flag holds (in a functional model Keras 3.15's
                      fit overrides it with training=True: functional.py,
                      operation_fn), then saves the model to out.
  describe-archive FILE...
                      Archives as Python's zipfile and h5py see them: members,
                      config.json, metadata.json and every group and dataset
                      of model.weights.h5 (path, shape, dtype, attributes).

Run with the project's virtualenv (Keras 3, TensorFlow):
  .venv/bin/python scripts/keras_small_models.py make-fixtures test/fixtures/keras-weights
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import h5py  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

SEED = 1234
INPUT_SHAPE = (12, 12, 3)
BATCH = 2


def small_a():
    inp = keras.Input(INPUT_SHAPE, name="input_a")
    x = layers.Conv2D(4, 3, use_bias=False, name="conv_a")(inp)
    x = layers.BatchNormalization(scale=False, name="bn_a")(x)
    x = layers.Activation("relu", name="relu_a")(x)
    x = layers.SeparableConv2D(6, 3, padding="same", name="sep_b")(x)
    x = layers.BatchNormalization(name="bn_b")(x)
    x = layers.DepthwiseConv2D(3, padding="same", name="dw_c")(x)
    x = layers.MaxPooling2D(2, name="pool_c")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(5, name="dense_d")(x)
    return keras.Model(inp, out, name="small_a")


def small_b():
    inp = keras.Input(INPUT_SHAPE, name="input_b")
    x = layers.Conv2D(4, 3, name="conv_a")(inp)
    x = layers.BatchNormalization(name="bn_a")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(5, name="dense_d")(x)
    return keras.Model(inp, out, name="small_b")


def inner_model():
    inp = keras.Input(INPUT_SHAPE, name="inner_input")
    x = layers.Conv2D(4, 3, name="inner_conv1")(inp)
    x = layers.BatchNormalization(name="inner_bn")(x)
    x = layers.Activation("relu", name="inner_relu")(x)
    x = layers.Conv2D(3, 1, name="inner_conv2")(x)
    x = layers.GlobalAveragePooling2D(name="inner_gap")(x)
    return keras.Model(inp, x, name="inner")


def nested(frozen=False):
    inner = inner_model()
    if frozen:
        inner.trainable = False
    inp = keras.Input(INPUT_SHAPE, name="outer_input")
    x = inner(inp)
    out = layers.Dense(2, name="head")(x)
    return keras.Model(inp, out, name="nested_frozen" if frozen else "nested")


MODELS = {
    "small_a": small_a,
    "small_b": small_b,
    "nested": lambda: nested(False),
    "nested_frozen": lambda: nested(True),
    # For `check` only: the real applications at the tutorial's input size.
    "inception_v3": lambda: keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(84, 84, 3)),
    "xception": lambda: keras.applications.Xception(include_top=False, weights=None, input_shape=(84, 84, 3)),
}
FIXTURE_MODELS = ["small_a", "small_b", "nested", "nested_frozen"]


def tutorial_model(base_name, freeze, preprocessing="tutorial", calibrate_on=None, augment=(), base_training=None):
    """The tutorial's model as src/model.ts builds it: digits upsampled to 84x84x3, the base, a new head.

    preprocessing "keras" adds Rescaling(2, -1) before the base (src/model.ts's option of that name);
    calibrate_on: digits whose statistics every batch normalisation takes before freezing (below);
    augment: [[class name, kwargs], ...], Keras's augmentation layers after the upsampling (the
    option of src/model.ts of that name); base_training False calls the base as
    `base(x, training=False)` (src/model.ts's batchNorm "inference").
    """
    build = {"inception_v3": keras.applications.InceptionV3, "xception": keras.applications.Xception}[base_name]
    base = build(include_top=False, weights=None, input_shape=(84, 84, 3))
    inp = keras.Input((28, 28, 1), name="digits")
    x = layers.Reshape((28, 28, 1, 1), name="to_volume")(inp)
    x = layers.UpSampling3D((3, 3, 3), name="up_sampling3d")(x)
    x = layers.Reshape((84, 84, 3), name="to_image")(x)
    for class_name, kwargs in augment:
        x = getattr(layers, class_name)(**kwargs)(x)
    if preprocessing == "keras":
        x = layers.Rescaling(2.0, -1.0, name="rescaling")(x)
    x = base(x) if base_training is None else base(x, training=base_training)
    x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    x = layers.Dense(1024, activation="relu", name="dense")(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    out = layers.Dense(10, activation="softmax", name="dense_1")(x)
    model = keras.Model(inp, out, name=f"{base_name}_mnist")
    if calibrate_on is not None:
        calibrate_batch_norm(model, calibrate_on)
    for layer in base.layers[:freeze]:
        layer.trainable = False
    return model


def calibrate_batch_norm(model, x):
    """Every batch normalisation set to the statistics of its input on x, in one pass.

    With momentum 0, a forward pass in training mode sets each layer's moving statistics to the
    batch statistics of its input, which the layer also normalises with, so each later layer sees
    what it will see in inference: test/support/calibrate.ts does the same layer by layer.
    """
    bns = [l for l in model._flatten_layers() if isinstance(l, layers.BatchNormalization)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 0.0
    model(x, training=True)
    for bn, m in zip(bns, saved):
        bn.momentum = m


TUTORIAL_MODELS = {
    "tutorial_inception_v3": lambda freeze: tutorial_model("inception_v3", freeze),
    "tutorial_xception": lambda freeze: tutorial_model("xception", freeze),
}


def randomize(model, rng):
    """Seeded random weights; batch-norm gamma and moving variance positive."""
    for v in model.weights:
        shape = tuple(v.shape)
        last = v.path.split("/")[-1]
        if last in ("gamma", "moving_variance"):
            val = rng.uniform(0.5, 1.5, shape)
        elif last in ("beta", "moving_mean", "bias"):
            val = rng.normal(0.0, 0.3, shape)
        else:
            val = rng.normal(0.0, 0.5, shape)
        v.assign(val.astype("float32"))


def save_legacy_h5(model, path):
    """Keras's own legacy writer: the layout of the keras.applications weight files."""
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def save_keras2_style(model, path):
    """The same weights as Keras 2 named them ("<layer>/<weight>:0"), layer_names split in two."""
    with h5py.File(path, "w") as f:
        names = [l.name.encode("utf8") for l in model.layers]
        half = (len(names) + 1) // 2
        f.attrs["layer_names0"] = np.array(names[:half])
        f.attrs["layer_names1"] = np.array(names[half:])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.6"
        for layer in model.layers:
            g = f.create_group(layer.name)
            ws = layer.trainable_weights + layer.non_trainable_weights
            wnames = [f"{layer.name}/{w.path.split('/')[-1]}:0".encode("utf8") for w in ws]
            g.attrs["weight_names"] = np.array(wnames) if wnames else np.array([], dtype="S1")
            for n, w in zip(wnames, ws):
                g.create_dataset(n.decode("utf8"), data=keras.ops.convert_to_numpy(w))


def make_fixtures(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    x = rng.uniform(-1.0, 1.0, (BATCH,) + INPUT_SHAPE).astype("float32")
    expected = {
        "seed": SEED,
        "keras": keras.__version__,
        "inputShape": [BATCH] + list(INPUT_SHAPE),
        "input": [round(float(v), 6) for v in x.ravel()],
        "models": {},
    }
    x = np.array(expected["input"], dtype="float32").reshape((BATCH,) + INPUT_SHAPE)
    for name in FIXTURE_MODELS:
        model = MODELS[name]()
        randomize(model, rng)
        save_legacy_h5(model, os.path.join(out_dir, f"{name}.h5"))
        y = model.predict(x, verbose=0)
        expected["models"][name] = {
            "outputShape": list(y.shape),
            "weightedLayers": [l.name for l in model.layers if l.trainable_weights + l.non_trainable_weights],
        }
        if name == "small_a":
            save_keras2_style(model, os.path.join(out_dir, "small_a_keras2.h5"))
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


def outputs(fixture_dir, out_dir):
    with open(os.path.join(fixture_dir, "expected.json")) as f:
        expected = json.load(f)
    x = np.array(expected["input"], dtype="float32").reshape(expected["inputShape"])
    out = {"keras": keras.__version__, "models": {}}
    for name in FIXTURE_MODELS:
        model = MODELS[name]()
        model.load_weights(os.path.join(fixture_dir, f"{name}.h5"))
        y = keras.ops.convert_to_numpy(model(x, training=False))
        out["models"][name] = {"outputShape": list(y.shape), "output": [float(v) for v in y.ravel()]}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "outputs.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")


def check(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    outputs = []
    for item in spec["models"]:
        if "inputNpy" in item:
            x = np.load(item["inputNpy"])
        else:
            x = np.array(spec["input"], dtype="float32").reshape(spec["inputShape"])
        if item["model"] in TUTORIAL_MODELS:
            model = TUTORIAL_MODELS[item["model"]](item["freeze"])
        else:
            model = MODELS[item["model"]]()
        model.load_weights(item["h5"])
        y = keras.ops.convert_to_numpy(model(x, training=False))
        if "outputNpy" in item:
            np.save(item["outputNpy"], y.astype("float32"))
            outputs.append(None)
        else:
            outputs.append([float(v) for v in y.ravel()])
    json.dump({"outputs": outputs}, sys.stdout)


def archive_report(model, x):
    """What a test compares of a model loaded from (or saved to) an archive."""
    y = keras.ops.convert_to_numpy(model(x, training=False))
    opt = model.optimizer
    moments = []
    if opt is not None and getattr(opt, "_momentums", None):
        # Adam builds its moments from model.trainable_variables, in that order.
        for v, m, u in zip(model.trainable_variables, opt._momentums, opt._velocities):
            moments.append([v.path,
                            float(np.abs(keras.ops.convert_to_numpy(m)).astype("float64").sum()),
                            float(np.abs(keras.ops.convert_to_numpy(u)).astype("float64").sum())])
    base = [l for l in model.layers if isinstance(l, keras.Model)][0]
    return {
        "output": [float(v) for v in y.ravel()],
        "optimizer": None if opt is None else {
            "iterations": int(keras.ops.convert_to_numpy(opt.iterations)),
            "learningRate": float(keras.ops.convert_to_numpy(opt.learning_rate)),
            "variables": len(opt.variables),
            "moments": moments,
        },
        "trainable": [bool(l.trainable) for l in base.layers],
        "trainableParams": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
    }


def write_archives(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    x = np.array(spec["input"], dtype="float32").reshape(spec["inputShape"])
    y = keras.utils.to_categorical(np.array(spec["labels"]), 10)
    reports = []
    for item in spec["items"]:
        if item.get("clearSession", True):
            keras.backend.clear_session()
        if item.get("shiftNames"):
            tutorial_model(item["base"], 0)  # taken names: this model's automatic names go on from there
        model = tutorial_model(item["base"], item["freeze"], item.get("preprocessing", "tutorial"),
                               calibrate_on=x if item.get("calibrate") else None,
                               augment=item.get("augment", ()), base_training=item.get("baseTraining"))
        model.compile(optimizer=keras.optimizers.Adam(item.get("learningRate", 0.001)),
                      loss="categorical_crossentropy", metrics=["accuracy"])
        steps = item.get("trainSteps", 0)
        if steps:
            batch = max(1, len(x) // steps)
            model.fit(x[: batch * steps], y[: batch * steps], batch_size=batch, epochs=1, shuffle=False, verbose=0)
        model.save(item["out"])
        reports.append(archive_report(model, x))
    json.dump({"archives": reports}, sys.stdout)


def load_archive(spec_path):
    import warnings
    with open(spec_path) as f:
        spec = json.load(f)
    x = np.array(spec["input"], dtype="float32").reshape(spec["inputShape"])
    reports = []
    for path in spec["archives"]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = keras.saving.load_model(path)
        report = archive_report(model, x)
        report["warnings"] = [str(w.message) for w in caught]
        reports.append(report)
    json.dump({"archives": reports}, sys.stdout)


def train_inference(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    model = keras.saving.load_model(spec["archive"], compile=False)
    base = [l for l in model.layers if isinstance(l, keras.Model)][0]
    at = model.layers.index(base)
    front, head = model.layers[1:at], model.layers[at + 1:]

    class Guide(keras.Model):
        """The tutorial's model with the base called as the guide calls it."""

        def __init__(self):
            super().__init__()
            self.front, self.base, self.head = front, base, head

        def call(self, x, training=None):
            for layer in self.front:
                x = layer(x)
            x = self.base(x, training=False)
            for layer in self.head:
                x = layer(x)
            return x

    guide = Guide()
    adam = keras.optimizers.Adam(spec["learningRate"], epsilon=spec["epsilon"])
    guide.compile(optimizer=adam, loss="categorical_crossentropy")
    losses = []
    for batch in spec["batches"]:
        losses.append(float(guide.train_on_batch(np.load(batch["x"]), np.load(batch["y"]))))
    model.save(spec["out"])
    json.dump({"losses": losses}, sys.stdout)


def describe_archives(paths):
    json.dump({"archives": [describe_archive(p) for p in paths]}, sys.stdout)


def describe_archive(path):
    import io
    import zipfile
    with zipfile.ZipFile(path) as z:
        members = [{"name": i.filename, "size": i.file_size, "compressed": i.compress_type} for i in z.infolist()]
        config = json.loads(z.read("config.json"))
        metadata = json.loads(z.read("metadata.json"))
        h5 = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
    entries = []

    def visit(name, obj):
        attrs = {k: (v.decode() if isinstance(v, bytes) else v if isinstance(v, str) else v.tolist()) for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            entries.append({"path": name, "kind": "dataset", "shape": list(obj.shape), "dtype": str(obj.dtype), "attrs": attrs})
        else:
            entries.append({"path": name, "kind": "group", "attrs": attrs})

    h5.visititems(visit)
    entries.append({"path": "/", "kind": "group", "attrs": {k: str(v) for k, v in h5.attrs.items()}})
    h5.close()
    return {"members": members, "config": config, "metadata": metadata, "h5": entries}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make-fixtures":
        make_fixtures(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "outputs":
        outputs(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "write-archives":
        write_archives(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "load-archive":
        load_archive(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "train-inference":
        train_inference(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "describe-archive":
        describe_archives(sys.argv[2:])
    else:
        sys.exit(__doc__)
