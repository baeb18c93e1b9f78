"""Keras's mixed precision (the "mixed_bfloat16" dtype policy) on the tutorial's model, for
test/precision.test.ts: the oracle that the graph engine's bfloat16 graphs compute what Keras computes.

  step SPEC.json      SPEC: {"input": [...], "inputShape": [n, 28, 28, 1], "labels": [...],
                      "archive": path}. Opens the archive with keras.saving.load_model (each layer
                      with the dtype policy the archive records), and prints as JSON:
                        policies      {layer path: policy name} for every layer, the base's nested
                        output        the class probabilities on the input, in inference mode
                        outputDtype   the dtype of those probabilities
                        loss          one train_on_batch on the whole input (the loss before the update)
                        lossFusedBatchNorm  the same loss, the trainable batch normalisations computed
                                      by TensorFlow's fused kernel (no update; see fused_batch_norm_loss)
                        changed       {variable path: sum of |after - before|} for every variable
                        after         {variable path: values after the step} for the head's last Dense
  write SPEC.json     SPEC: {"input", "inputShape", "items": [{"base", "freeze", "out", "floatSoftmax",
                      "calibrate"}]}. For each item, in a fresh session, builds the tutorial's model
                      (scripts/keras_small_models.py, tutorial_model) under
                      keras.mixed_precision.set_global_policy("mixed_bfloat16"), with the last Dense
                      in float32 when floatSoftmax (the output layer of Keras's mixed-precision
                      guide), every batch normalisation calibrated on the input when calibrate,
                      freezes, compiles (Adam, categorical cross-entropy, accuracy), saves with
                      model.save(out), and prints {"archives": [{"policies", "output"}]}.

Run with the project's virtualenv: .venv/bin/python scripts/keras_mixed_precision.py step spec.json
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras_small_models import tutorial_model  # noqa: E402


def inputs(spec):
    x = np.array(spec["input"], dtype="float32").reshape(spec["inputShape"])
    y = keras.utils.to_categorical(np.array(spec["labels"]), 10) if "labels" in spec else None
    return x, y


def policies(model, prefix=""):
    """Every layer's dtype policy by its path (a nested model's layers under its name)."""
    out = {}
    for layer in model.layers:
        out[prefix + layer.name] = layer.dtype_policy.name
        if isinstance(layer, keras.Model):
            out.update(policies(layer, prefix + layer.name + "/"))
    return out


def numpy(v):
    return np.asarray(keras.ops.convert_to_numpy(v))


def fused_batch_norm_loss(model, x, y):
    """The loss in training mode with every trainable batch normalisation computed by TensorFlow's fused
    kernel on its bfloat16 input (FusedBatchNormV3, what tf.keras's fused=True ran and what the graph
    engine emits), instead of Keras 3's moments and batch_normalization in float32."""
    import tensorflow as tf
    from keras.src.layers.normalization import batch_normalization as bn

    keras_call = bn.BatchNormalization.call

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable):
            return keras_call(self, inputs, training, mask)
        c = inputs.shape[-1]
        scale = tf.cast(self.gamma, "float32") if self.scale else tf.ones([c])
        offset = tf.cast(self.beta, "float32") if self.center else tf.zeros([c])
        empty = tf.zeros([0])
        return tf.raw_ops.FusedBatchNormV3(x=inputs, scale=scale, offset=offset, mean=empty, variance=empty,
                                           epsilon=self.epsilon, is_training=True)[0]

    bn.BatchNormalization.call = call
    try:
        probabilities = model(x, training=True)
    finally:
        bn.BatchNormalization.call = keras_call
    return float(numpy(keras.losses.categorical_crossentropy(y, probabilities)).mean())


def step(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    x, y = inputs(spec)
    model = keras.saving.load_model(spec["archive"])
    probabilities = model(x, training=False)
    before = {v.path: numpy(v).astype("float64") for v in model.weights}
    fused = fused_batch_norm_loss(model, x, y)
    logs = model.train_on_batch(x, y, return_dict=True)
    last = model.layers[-1]
    json.dump(
        {
            "policies": policies(model),
            "output": [float(v) for v in numpy(probabilities).ravel()],
            "outputDtype": str(probabilities.dtype.name if hasattr(probabilities.dtype, "name") else probabilities.dtype),
            "loss": float(logs["loss"]),
            "lossFusedBatchNorm": fused,
            "changed": {v.path: float(np.abs(numpy(v).astype("float64") - before[v.path]).sum()) for v in model.weights},
            "after": {v.path: [float(a) for a in numpy(v).ravel()] for v in last.weights},
        },
        sys.stdout,
    )


def write(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    x, _ = inputs(spec)
    reports = []
    for item in spec["items"]:
        keras.backend.clear_session()  # which also resets the global policy
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = tutorial_model(item["base"], item["freeze"], calibrate_on=x if item.get("calibrate") else None,
                               output_dtype="float32" if item.get("floatSoftmax") else None)
        model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
        model.save(item["out"])
        reports.append({"policies": policies(model),
                        "output": [float(v) for v in numpy(model(x, training=False)).ravel()]})
    json.dump({"archives": reports}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "step":
        step(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        sys.exit(__doc__)
