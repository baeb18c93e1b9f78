/**
 * The default value of every attribute that has one, for each TensorFlow op the graph compiler
 * emits, as TensorFlow's op registry defines them (printed by scripts/tf_op_defaults.py from the
 * TensorFlow in .venv; test/graph_serialization.test.ts checks this table against it).
 *
 * The serialiser leaves out attributes equal to their default, as TensorFlow's own SavedModel export
 * does (`strip_default_attrs`): TensorFlow fills them in when it loads the graph, and an older
 * TensorFlow (the 2.9 that tfjs-node-gpu downloads) does not meet attributes added after it (MatMul's
 * grad_a, MaxPool's explicit_paddings). An op missing from this table cannot be serialised.
 */
import type { Attr } from "./graph";

/** "int64" stands for a 64-bit default the compiler never writes (it uses int32 there). */
type DefaultAttr = Attr | { kind: "type"; value: "int64" };

export const OP_DEFAULTS: Record<string, Record<string, DefaultAttr>> = {
  AddN: {},
  AddV2: {},
  ArgMax: { Tidx: { kind: "type", value: "int32" }, output_type: { kind: "type", value: "int64" } },
  AvgPool: { data_format: { kind: "string", value: "NHWC" } },
  AvgPoolGrad: { data_format: { kind: "string", value: "NHWC" } },
  BiasAdd: { data_format: { kind: "string", value: "NHWC" } },
  BiasAddGrad: { data_format: { kind: "string", value: "NHWC" } },
  BroadcastTo: { Tidx: { kind: "type", value: "int32" } },
  Cast: { Truncate: { kind: "bool", value: false } },
  ConcatV2: { Tidx: { kind: "type", value: "int32" } },
  Const: {},
  Cos: {},
  Conv2D: {
    data_format: { kind: "string", value: "NHWC" },
    dilations: { kind: "ints", value: [1, 1, 1, 1] },
    explicit_paddings: { kind: "ints", value: [] },
    use_cudnn_on_gpu: { kind: "bool", value: true },
  },
  Conv2DBackpropFilter: {
    data_format: { kind: "string", value: "NHWC" },
    dilations: { kind: "ints", value: [1, 1, 1, 1] },
    explicit_paddings: { kind: "ints", value: [] },
    use_cudnn_on_gpu: { kind: "bool", value: true },
  },
  Conv2DBackpropInput: {
    data_format: { kind: "string", value: "NHWC" },
    dilations: { kind: "ints", value: [1, 1, 1, 1] },
    explicit_paddings: { kind: "ints", value: [] },
    use_cudnn_on_gpu: { kind: "bool", value: true },
  },
  DepthwiseConv2dNative: {
    data_format: { kind: "string", value: "NHWC" },
    dilations: { kind: "ints", value: [1, 1, 1, 1] },
    explicit_paddings: { kind: "ints", value: [] },
  },
  DepthwiseConv2dNativeBackpropFilter: {
    data_format: { kind: "string", value: "NHWC" },
    dilations: { kind: "ints", value: [1, 1, 1, 1] },
    explicit_paddings: { kind: "ints", value: [] },
  },
  DepthwiseConv2dNativeBackpropInput: {
    data_format: { kind: "string", value: "NHWC" },
    dilations: { kind: "ints", value: [1, 1, 1, 1] },
    explicit_paddings: { kind: "ints", value: [] },
  },
  Equal: { incompatible_shape_error: { kind: "bool", value: true } },
  FusedBatchNormGradV3: {
    data_format: { kind: "string", value: "NHWC" },
    epsilon: { kind: "float", value: 9.999999747378752e-5 },
    is_training: { kind: "bool", value: true },
  },
  FusedBatchNormV3: {
    data_format: { kind: "string", value: "NHWC" },
    epsilon: { kind: "float", value: 9.999999747378752e-5 },
    exponential_avg_factor: { kind: "float", value: 1.0 },
    is_training: { kind: "bool", value: true },
  },
  GreaterEqual: {},
  Identity: {},
  ImageProjectiveTransformV3: { fill_mode: { kind: "string", value: "CONSTANT" } },
  // The project's own op (src/tfjs/native/adam.cc; scripts/tf_op_defaults.py loads it): no defaults.
  KtAdam: {},
  MatMul: {
    grad_a: { kind: "bool", value: false },
    grad_b: { kind: "bool", value: false },
    transpose_a: { kind: "bool", value: false },
    transpose_b: { kind: "bool", value: false },
  },
  MaxPool: {
    T: { kind: "type", value: "float32" },
    data_format: { kind: "string", value: "NHWC" },
    explicit_paddings: { kind: "ints", value: [] },
  },
  MaxPoolGrad: {
    T: { kind: "type", value: "float32" },
    data_format: { kind: "string", value: "NHWC" },
    explicit_paddings: { kind: "ints", value: [] },
  },
  Maximum: {},
  Mean: { Tidx: { kind: "type", value: "int32" }, keep_dims: { kind: "bool", value: false } },
  Minimum: {},
  Mul: {},
  Neg: {},
  Pad: { Tpaddings: { kind: "type", value: "int32" } },
  Placeholder: { shape: { kind: "shape", value: null } },
  Pow: {},
  RealDiv: {},
  Relu: {},
  ReluGrad: {},
  Reshape: { Tshape: { kind: "type", value: "int32" } },
  Shape: { out_type: { kind: "type", value: "int32" } },
  Sin: {},
  Size: { out_type: { kind: "type", value: "int32" } },
  Slice: {},
  Softmax: {},
  SoftmaxCrossEntropyWithLogits: {},
  SplitV: { Tlen: { kind: "type", value: "int64" } },
  Sqrt: {},
  Square: {},
  StatelessRandomUniform: {
    T: { kind: "type", value: "int32" },
    Tseed: { kind: "type", value: "int64" },
    dtype: { kind: "type", value: "float32" },
  },
  Sub: {},
  Sum: { Tidx: { kind: "type", value: "int32" }, keep_dims: { kind: "bool", value: false } },
  Tile: { Tmultiples: { kind: "type", value: "int32" } },
};
