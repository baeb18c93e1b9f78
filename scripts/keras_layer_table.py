"""Writes Keras's layer table of a no-top Keras application, for the tests.

Usage (from the project root):
    .venv/bin/python scripts/keras_layer_table.py inception_v3 75 75 3 > test/fixtures/keras-inception_v3-notop-75x75.txt
    .venv/bin/python scripts/keras_layer_table.py xception none none 3 > ...

One line per layer of `model.layers`: index, name, class, output shape, parameter
count (the format of the reference tables in shared/reference), after a header
line with the command that made it and Keras's totals.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

BUILDERS = {
    "inception_v3": keras.applications.InceptionV3,
    "xception": keras.applications.Xception,
}


def dim(s):
    return None if s.lower() == "none" else int(s)


def main(argv):
    if len(argv) != 5 or argv[1] not in BUILDERS:
        sys.exit(f"usage: {argv[0]} {{{'|'.join(BUILDERS)}}} HEIGHT WIDTH CHANNELS  (HEIGHT/WIDTH may be 'none')")
    name = argv[1]
    shape = tuple(dim(s) for s in argv[2:5])
    model = BUILDERS[name](include_top=False, weights=None, input_shape=shape)
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    non_trainable = sum(int(keras.ops.size(w)) for w in model.non_trainable_weights)
    print(f"# made by: .venv/bin/python scripts/keras_layer_table.py {' '.join(argv[1:])}")
    print(f"keras {keras.__version__} num layers {len(model.layers)}")
    print(f"total params {model.count_params()}")
    print(f"trainable {trainable} nontrainable {non_trainable}")
    for i, layer in enumerate(model.layers):
        print(i, layer.name, layer.__class__.__name__, tuple(layer.output.shape), layer.count_params())
    print("output", tuple(model.output.shape))


if __name__ == "__main__":
    main(sys.argv)
