"""Prints, for the TensorFlow ops the graph compiler emits, the default value of each attribute
that has one, as JSON: {op: {attr: value}}. Values are written the way src/engine/graph/graph.ts
writes attributes: {"kind": "type"|"int"|"float"|"bool"|"string"|"ints"|"shape", "value": ...}.

    .venv/bin/python scripts/tf_op_defaults.py [--library build/native/adam.node] Conv2D MaxPool ...

--library loads an op library first (the project's fused Adam kernel, src/tfjs/native/adam.cc), so
that its ops are in the registry too.

test/graph_serialization.test.ts compares src/engine/graph/op_defaults.ts with this output: the
compiler leaves out attributes equal to their default, as TensorFlow's SavedModel export does
(`strip_default_attrs`), so that older TensorFlow libraries (tfjs-node-gpu's 2.9) read the graphs.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from tensorflow.core.framework import types_pb2  # noqa: E402
from tensorflow.python.framework import op_def_registry  # noqa: E402

TYPES = {types_pb2.DT_FLOAT: "float32", types_pb2.DT_INT32: "int32", types_pb2.DT_BOOL: "bool", types_pb2.DT_INT64: "int64"}


def value(attr):
    v = attr.default_value
    kind = v.WhichOneof("value")
    if kind == "type":
        return {"kind": "type", "value": TYPES.get(v.type, types_pb2.DataType.Name(v.type))}
    if kind == "i":
        return {"kind": "int", "value": v.i}
    if kind == "f":
        return {"kind": "float", "value": v.f}
    if kind == "b":
        return {"kind": "bool", "value": v.b}
    if kind == "s":
        return {"kind": "string", "value": v.s.decode()}
    if kind == "list":
        return {"kind": "ints", "value": list(v.list.i)}
    if kind == "shape":
        return {"kind": "shape", "value": None if v.shape.unknown_rank else [d.size for d in v.shape.dim]}
    return {"kind": kind}


def main():
    names = sys.argv[1:]
    while names[:1] == ["--library"]:
        import tensorflow as tf

        tf.load_op_library(os.path.abspath(names[1]))
        names = names[2:]
    out = {}
    for name in names:
        op = op_def_registry.get(name)
        if op is None:
            raise SystemExit(f"unknown op {name}")
        out[name] = {a.name: value(a) for a in op.attr if a.HasField("default_value")}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
