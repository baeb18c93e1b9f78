/**
 * The TensorFlow ops the compiler emits, one typed function each: it checks its inputs, computes the
 * output's static shape as TensorFlow's shape function would, and adds the node with the attributes
 * TensorFlow's op definition asks for (all of them; the serialiser leaves out those equal to their
 * default). Each op computes in its inputs' dtype (float32, or bfloat16 under mixed precision; batch
 * normalisation keeps float32 statistics beside a bfloat16 x) and refuses inputs of mixed dtypes.
 * Gradients of these ops are in ./gradients.ts.
 *
 *   convolution     conv2d, depthwiseConv2d, and their backprops (input, filter)
 *   normalisation   fusedBatchNorm, fusedBatchNormGrad
 *   activations     relu, reluGrad, softmax, softmaxCrossEntropyWithLogits
 *   pooling         maxPool, maxPoolGrad, avgPool, avgPoolGrad, mean (global average pooling)
 *   dense           matMul, biasAdd, biasAddGrad
 *   structure       reshape, tile, concat, splitV, slice, shape, size, identity, cast
 *   elementwise     add, addN, sub, mul, div, sqrt, square, pow, maximum, minimum, cos, sin,
 *                   greaterEqual, equal
 *   reductions      sum, mean, argMax
 *   random          statelessRandomUniform
 *   images          imageProjectiveTransform (ImageProjectiveTransformV3)
 *   optimizer       ktAdam (the project's fused Adam kernel)
 */
import { attr, formatDims, staticSize, type Attr, type Dim, type DType, type Graph, type SymTensor } from "./graph";

export type Padding = "SAME" | "VALID";

function fail(op: string, message: string): never {
  throw new Error(`${op}: ${message}`);
}

function one(
  g: Graph,
  op: string,
  inputs: SymTensor[],
  attrs: Record<string, Attr>,
  dtype: DType,
  shape: Dim[],
  name?: string,
): SymTensor {
  return g.addNode(op, inputs, attrs, [{ dtype, shape }], name).outputs[0];
}

/** Ops whose inputs share one type attribute (`T`) need inputs of one dtype. */
function sameDtype(op: string, ...xs: SymTensor[]): void {
  for (const x of xs) {
    if (x.dtype !== xs[0].dtype)
      fail(op, `inputs must have one dtype, got ${xs.map((t) => t.dtype).join(" and ")} (cast one of them).`);
  }
}

function checkRank(op: string, t: SymTensor, rank: number, what = "input"): void {
  if (t.shape.length !== rank) fail(op, `the ${what} must have rank ${rank}, got shape ${formatDims(t.shape)}.`);
}

function sameDims(a: Dim, b: Dim): boolean {
  return a === null || b === null || a === b;
}

/** The output size of a window op along one axis, as TensorFlow's GetWindowedOutputSize. */
function windowedOutputSize(input: Dim, window: number, stride: number, padding: Padding, dilation = 1): Dim {
  if (input === null) return null;
  const effective = (window - 1) * dilation + 1;
  if (padding === "VALID") {
    const out = Math.floor((input - effective + stride) / stride);
    if (out < 1) fail("window", `an input of size ${input} is smaller than the window (${effective}).`);
    return out;
  }
  return Math.ceil(input / stride);
}

const T = (dtype: DType = "float32") => attr.type(dtype);

// --- structure -----------------------------------------------------------------------------------

export function identity(g: Graph, x: SymTensor, name?: string): SymTensor {
  return one(g, "Identity", [x], { T: T(x.dtype) }, x.dtype, x.shape, name);
}

/** `Reshape(x, shape)`; one entry of `shape` may be -1 (inferred), as in TensorFlow. */
export function reshape(g: Graph, x: SymTensor, shape: number[], name?: string): SymTensor {
  const known = staticSize(x.shape);
  const inferred = shape.indexOf(-1);
  if (shape.filter((d) => d === -1).length > 1)
    fail("Reshape", `at most one -1 in the new shape [${shape.join(", ")}].`);
  const product = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const out: Dim[] = shape.map((d) => (d === -1 ? (known === null ? null : known / product) : d));
  if (known !== null && inferred < 0 && product !== known)
    fail("Reshape", `cannot reshape ${formatDims(x.shape)} (${known} values) to [${shape.join(", ")}].`);
  if (known !== null && inferred >= 0 && known % product !== 0)
    fail("Reshape", `cannot reshape ${formatDims(x.shape)} to [${shape.join(", ")}].`);
  return one(
    g,
    "Reshape",
    [x, g.constant(shape, [shape.length], "int32")],
    { T: T(x.dtype), Tshape: T("int32") },
    x.dtype,
    out,
    name,
  );
}

/**
 * `Reshape(x, Shape(like))`: x to the run-time shape of `like`; with `keep`, to that shape with the
 * axes where `keep` is 1 set to 1 (a reduction's result with its axes kept).
 */
export function reshapeLike(g: Graph, x: SymTensor, like: SymTensor, keep?: Dim[]): SymTensor {
  let target = shape(g, like);
  let out = like.shape;
  if (keep) {
    const ones = keep.map((d) => (d === 1 ? 0 : 1));
    const fill = keep.map((d) => (d === 1 ? 1 : 0));
    target = add(g, mul(g, target, g.constant(ones, [ones.length], "int32")), g.constant(fill, [fill.length], "int32"));
    out = keep;
  }
  return one(g, "Reshape", [x, target], { T: T(x.dtype), Tshape: T("int32") }, x.dtype, out);
}

/** `BroadcastTo(x, shape)` with a run-time shape; `like` is the result's static shape. */
export function broadcastTo(g: Graph, x: SymTensor, shapeTensor: SymTensor, like: Dim[], name?: string): SymTensor {
  return one(g, "BroadcastTo", [x, shapeTensor], { T: T(x.dtype), Tidx: T("int32") }, x.dtype, like, name);
}

export function tile(g: Graph, x: SymTensor, multiples: number[], name?: string): SymTensor {
  if (multiples.length !== x.shape.length)
    fail("Tile", `${multiples.length} multiples for an input of rank ${x.shape.length}.`);
  const out = x.shape.map((d, i) => (d === null ? null : d * multiples[i]));
  return one(
    g,
    "Tile",
    [x, g.constant(multiples, [multiples.length], "int32")],
    { T: T(x.dtype), Tmultiples: T("int32") },
    x.dtype,
    out,
    name,
  );
}

/** `Shape(x)` as int32 (run-time shape). */
export function shape(g: Graph, x: SymTensor, name?: string): SymTensor {
  return one(g, "Shape", [x], { T: T(x.dtype), out_type: T("int32") }, "int32", [x.shape.length], name);
}

/** `Size(x)` as int32 (run-time number of elements). */
export function size(g: Graph, x: SymTensor, name?: string): SymTensor {
  return one(g, "Size", [x], { T: T(x.dtype), out_type: T("int32") }, "int32", [], name);
}

/** The shape of `x` as a constant when it is fully known, else `Shape(x)`. */
export function shapeOf(g: Graph, x: SymTensor): SymTensor {
  const known = x.shape.every((d) => d !== null);
  return known ? g.constant(x.shape as number[], [x.shape.length], "int32") : shape(g, x);
}

export function cast(g: Graph, x: SymTensor, dtype: DType, name?: string): SymTensor {
  return one(g, "Cast", [x], { SrcT: T(x.dtype), DstT: T(dtype), Truncate: attr.bool(false) }, dtype, x.shape, name);
}

/** `ConcatV2(values, axis)`. */
export function concat(g: Graph, values: SymTensor[], axis: number, name?: string): SymTensor {
  if (values.length < 2) fail("ConcatV2", "needs at least two inputs.");
  const rank = values[0].shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  const out = values[0].shape.slice();
  let total: Dim = 0;
  for (const v of values) {
    if (v.shape.length !== rank || v.dtype !== values[0].dtype)
      fail("ConcatV2", "inputs must have the same rank and dtype.");
    v.shape.forEach((d, i) => {
      if (i !== ax && !sameDims(d, out[i]))
        fail("ConcatV2", `shapes ${formatDims(values[0].shape)} and ${formatDims(v.shape)} differ outside axis ${ax}.`);
    });
    total = total === null || v.shape[ax] === null ? null : total + (v.shape[ax] as number);
  }
  out[ax] = total;
  const dtype = values[0].dtype;
  return one(
    g,
    "ConcatV2",
    [...values, g.constant(ax, [], "int32")],
    { N: attr.int(values.length), T: T(dtype), Tidx: T("int32") },
    dtype,
    out,
    name,
  );
}

/** `SplitV(x, sizes, axis)`: the inverse of concat, one output per size. */
export function splitV(g: Graph, x: SymTensor, sizes: number[], axis: number, name?: string): SymTensor[] {
  const rank = x.shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  const total = sizes.reduce((a, b) => a + b, 0);
  if (x.shape[ax] !== null && x.shape[ax] !== total)
    fail("SplitV", `sizes add up to ${total} but axis ${ax} of ${formatDims(x.shape)} has ${x.shape[ax]}.`);
  const node = g.addNode(
    "SplitV",
    [x, g.constant(sizes, [sizes.length], "int32"), g.constant(ax, [], "int32")],
    { num_split: attr.int(sizes.length), T: T(x.dtype), Tlen: T("int32") },
    sizes.map((s) => {
      const out = x.shape.slice();
      out[ax] = s;
      return { dtype: x.dtype, shape: out };
    }),
    name,
  );
  return node.outputs;
}

/** `Slice(x, begin, size)` with constant begin and size (-1: to the end of the axis). */
export function slice(g: Graph, x: SymTensor, begin: number[], size: number[], name?: string): SymTensor {
  if (begin.length !== x.shape.length || size.length !== x.shape.length) {
    fail("Slice", `begin and size need ${x.shape.length} entries each.`);
  }
  const out = x.shape.map((d, i) => (size[i] >= 0 ? size[i] : d === null ? null : d - begin[i]));
  const consts = [g.constant(begin, [begin.length], "int32"), g.constant(size, [size.length], "int32")];
  return one(g, "Slice", [x, ...consts], { T: T(x.dtype), Index: T("int32") }, x.dtype, out, name);
}

/** `Pad(x, paddings)`: `paddings[i]` = [before, after] zeros along axis i. */
export function pad(g: Graph, x: SymTensor, paddings: Array<[number, number]>, name?: string): SymTensor {
  if (paddings.length !== x.shape.length) fail("Pad", `paddings need ${x.shape.length} entries.`);
  if (paddings.some(([a, b]) => a < 0 || b < 0)) fail("Pad", "paddings cannot be negative.");
  const out = x.shape.map((d, i) => (d === null ? null : d + paddings[i][0] + paddings[i][1]));
  const amounts = g.constant(paddings.flat(), [paddings.length, 2], "int32");
  return one(g, "Pad", [x, amounts], { T: T(x.dtype), Tpaddings: T("int32") }, x.dtype, out, name);
}

// --- elementwise ---------------------------------------------------------------------------------

/** Broadcast result shape of a binary elementwise op (numpy rules). */
function broadcastShape(op: string, a: Dim[], b: Dim[]): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else if (da === null) out.push(db);
    else if (db === null || da === db) out.push(da);
    else fail(op, `shapes ${formatDims(a)} and ${formatDims(b)} do not broadcast.`);
  }
  return out;
}

function binary(g: Graph, op: string, a: SymTensor, b: SymTensor, name?: string, outDtype?: DType): SymTensor {
  if (a.dtype !== b.dtype) fail(op, `inputs have different dtypes (${a.dtype}, ${b.dtype}).`);
  return one(g, op, [a, b], { T: T(a.dtype) }, outDtype ?? a.dtype, broadcastShape(op, a.shape, b.shape), name);
}

export const add = (g: Graph, a: SymTensor, b: SymTensor, name?: string) => binary(g, "AddV2", a, b, name);
export const sub = (g: Graph, a: SymTensor, b: SymTensor, name?: string) => binary(g, "Sub", a, b, name);
export const mul = (g: Graph, a: SymTensor, b: SymTensor, name?: string) => binary(g, "Mul", a, b, name);
export const div = (g: Graph, a: SymTensor, b: SymTensor, name?: string) => binary(g, "RealDiv", a, b, name);
export const pow = (g: Graph, a: SymTensor, b: SymTensor, name?: string) => binary(g, "Pow", a, b, name);
export const maximum = (g: Graph, a: SymTensor, b: SymTensor, name?: string) => binary(g, "Maximum", a, b, name);
export const minimum = (g: Graph, a: SymTensor, b: SymTensor, name?: string) => binary(g, "Minimum", a, b, name);

export function greaterEqual(g: Graph, a: SymTensor, b: SymTensor, name?: string): SymTensor {
  return binary(g, "GreaterEqual", a, b, name, "bool");
}

export function equal(g: Graph, a: SymTensor, b: SymTensor, name?: string): SymTensor {
  if (a.dtype !== b.dtype) fail("Equal", `inputs have different dtypes (${a.dtype}, ${b.dtype}).`);
  return one(
    g,
    "Equal",
    [a, b],
    { T: T(a.dtype), incompatible_shape_error: attr.bool(true) },
    "bool",
    broadcastShape("Equal", a.shape, b.shape),
    name,
  );
}

/** Sum of several tensors of one shape (`AddN`); the tensor itself when there is one. */
export function addN(g: Graph, xs: SymTensor[], name?: string): SymTensor {
  if (xs.length === 0) fail("AddN", "needs at least one input.");
  if (xs.length === 1) return xs[0];
  const shape0 = xs[0].shape;
  sameDtype("AddN", ...xs);
  for (const x of xs) {
    if (x.shape.length !== shape0.length || x.shape.some((d, i) => !sameDims(d, shape0[i]))) {
      fail("AddN", `inputs must have one shape, got ${formatDims(shape0)} and ${formatDims(x.shape)}.`);
    }
  }
  return one(g, "AddN", xs, { N: attr.int(xs.length), T: T(xs[0].dtype) }, xs[0].dtype, shape0, name);
}

function unary(g: Graph, op: string, x: SymTensor, name?: string): SymTensor {
  return one(g, op, [x], { T: T(x.dtype) }, x.dtype, x.shape, name);
}

export const sqrt = (g: Graph, x: SymTensor, name?: string) => unary(g, "Sqrt", x, name);
export const square = (g: Graph, x: SymTensor, name?: string) => unary(g, "Square", x, name);
export const neg = (g: Graph, x: SymTensor, name?: string) => unary(g, "Neg", x, name);
export const relu = (g: Graph, x: SymTensor, name?: string) => unary(g, "Relu", x, name);
export const softmax = (g: Graph, x: SymTensor, name?: string) => unary(g, "Softmax", x, name);
export const cos = (g: Graph, x: SymTensor, name?: string) => unary(g, "Cos", x, name);
export const sin = (g: Graph, x: SymTensor, name?: string) => unary(g, "Sin", x, name);

export function reluGrad(g: Graph, dy: SymTensor, features: SymTensor, name?: string): SymTensor {
  sameDtype("ReluGrad", dy, features);
  return one(g, "ReluGrad", [dy, features], { T: T(features.dtype) }, features.dtype, features.shape, name);
}

// --- reductions ----------------------------------------------------------------------------------

function reduction(g: Graph, op: string, x: SymTensor, axes: number[], keepDims: boolean, name?: string): SymTensor {
  const rank = x.shape.length;
  const pos = axes.map((a) => (a < 0 ? a + rank : a));
  const out: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!pos.includes(i)) out.push(d);
    else if (keepDims) out.push(1);
  });
  return one(
    g,
    op,
    [x, g.constant(pos, [pos.length], "int32")],
    { keep_dims: attr.bool(keepDims), T: T(x.dtype), Tidx: T("int32") },
    x.dtype,
    out,
    name,
  );
}

export const sum = (g: Graph, x: SymTensor, axes: number[], keepDims = false, name?: string) =>
  reduction(g, "Sum", x, axes, keepDims, name);
export const mean = (g: Graph, x: SymTensor, axes: number[], keepDims = false, name?: string) =>
  reduction(g, "Mean", x, axes, keepDims, name);

/** Index of the largest entry along `axis`, as int32. */
export function argMax(g: Graph, x: SymTensor, axis: number, name?: string): SymTensor {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  const out = x.shape.filter((_, i) => i !== ax);
  return one(
    g,
    "ArgMax",
    [x, g.constant(ax, [], "int32")],
    { T: T(x.dtype), Tidx: T("int32"), output_type: T("int32") },
    "int32",
    out,
    name,
  );
}

// --- convolution ---------------------------------------------------------------------------------

export interface ConvOptions {
  strides: [number, number];
  padding: Padding;
  dilations?: [number, number];
}

function convAttrs(o: ConvOptions, cudnn: boolean, dtype: DType): Record<string, Attr> {
  const d = o.dilations ?? [1, 1];
  const a: Record<string, Attr> = {
    T: T(dtype),
    strides: attr.ints([1, o.strides[0], o.strides[1], 1]),
    padding: attr.string(o.padding),
    explicit_paddings: attr.ints([]),
    data_format: attr.string("NHWC"),
    dilations: attr.ints([1, d[0], d[1], 1]),
  };
  if (cudnn) a.use_cudnn_on_gpu = attr.bool(true);
  return a;
}

/** The output shape of a convolution of `x` by a kh × kw window giving `channels` channels. */
export function convOutput(x: SymTensor, kh: number, kw: number, channels: Dim, o: ConvOptions): Dim[] {
  const d = o.dilations ?? [1, 1];
  return [
    x.shape[0],
    windowedOutputSize(x.shape[1], kh, o.strides[0], o.padding, d[0]),
    windowedOutputSize(x.shape[2], kw, o.strides[1], o.padding, d[1]),
    channels,
  ];
}

/** `Conv2D(x [n,h,w,in], filter [kh,kw,in,out])`, NHWC. */
export function conv2d(g: Graph, x: SymTensor, filter: SymTensor, o: ConvOptions, name?: string): SymTensor {
  checkRank("Conv2D", x, 4);
  checkRank("Conv2D", filter, 4, "filter");
  const [kh, kw, cin, cout] = filter.shape as number[];
  if (!sameDims(x.shape[3], cin)) fail("Conv2D", `input has ${x.shape[3]} channels, the filter expects ${cin}.`);
  sameDtype("Conv2D", x, filter);
  return one(g, "Conv2D", [x, filter], convAttrs(o, true, x.dtype), x.dtype, convOutput(x, kh, kw, cout, o), name);
}

export function conv2dBackpropInput(
  g: Graph,
  inputSizes: SymTensor,
  filter: SymTensor,
  dy: SymTensor,
  like: SymTensor,
  o: ConvOptions,
  name?: string,
): SymTensor {
  sameDtype("Conv2DBackpropInput", filter, dy);
  const a = convAttrs(o, true, dy.dtype);
  return one(g, "Conv2DBackpropInput", [inputSizes, filter, dy], a, dy.dtype, like.shape, name);
}

export function conv2dBackpropFilter(
  g: Graph,
  x: SymTensor,
  filterSizes: SymTensor,
  dy: SymTensor,
  like: SymTensor,
  o: ConvOptions,
  name?: string,
): SymTensor {
  sameDtype("Conv2DBackpropFilter", x, dy);
  return one(g, "Conv2DBackpropFilter", [x, filterSizes, dy], convAttrs(o, true, x.dtype), x.dtype, like.shape, name);
}

/** `DepthwiseConv2dNative(x [n,h,w,in], filter [kh,kw,in,multiplier])`, NHWC. */
export function depthwiseConv2d(g: Graph, x: SymTensor, filter: SymTensor, o: ConvOptions, name?: string): SymTensor {
  checkRank("DepthwiseConv2dNative", x, 4);
  checkRank("DepthwiseConv2dNative", filter, 4, "filter");
  const [kh, kw, cin, multiplier] = filter.shape as number[];
  if (!sameDims(x.shape[3], cin))
    fail("DepthwiseConv2dNative", `input has ${x.shape[3]} channels, the filter expects ${cin}.`);
  sameDtype("DepthwiseConv2dNative", x, filter);
  return one(
    g,
    "DepthwiseConv2dNative",
    [x, filter],
    convAttrs(o, false, x.dtype),
    x.dtype,
    convOutput(x, kh, kw, cin * multiplier, o),
    name,
  );
}

export function depthwiseConv2dBackpropInput(
  g: Graph,
  inputSizes: SymTensor,
  filter: SymTensor,
  dy: SymTensor,
  like: SymTensor,
  o: ConvOptions,
  name?: string,
): SymTensor {
  sameDtype("DepthwiseConv2dNativeBackpropInput", filter, dy);
  return one(
    g,
    "DepthwiseConv2dNativeBackpropInput",
    [inputSizes, filter, dy],
    convAttrs(o, false, dy.dtype),
    dy.dtype,
    like.shape,
    name,
  );
}

export function depthwiseConv2dBackpropFilter(
  g: Graph,
  x: SymTensor,
  filterSizes: SymTensor,
  dy: SymTensor,
  like: SymTensor,
  o: ConvOptions,
  name?: string,
): SymTensor {
  sameDtype("DepthwiseConv2dNativeBackpropFilter", x, dy);
  return one(
    g,
    "DepthwiseConv2dNativeBackpropFilter",
    [x, filterSizes, dy],
    convAttrs(o, false, x.dtype),
    x.dtype,
    like.shape,
    name,
  );
}

// --- normalisation -------------------------------------------------------------------------------

export interface FusedBatchNormOutputs {
  y: SymTensor;
  /** Training: the batch mean; inference: the given mean. */
  batchMean: SymTensor;
  /** Training: the batch variance with Bessel's correction (n / (n - 1)); inference: the given variance. */
  batchVariance: SymTensor;
  reserve1: SymTensor;
  reserve2: SymTensor;
  reserve3: SymTensor;
}

/**
 * `FusedBatchNormV3(x, scale, offset, mean, variance)`, NHWC. In training, mean and variance are
 * empty and the batch statistics normalise; in inference, the given ones. x and y may be bfloat16
 * (`T`) while scale, offset and the statistics stay float32 (`U`): TensorFlow computes in float32
 * inside and rounds y.
 */
export function fusedBatchNorm(
  g: Graph,
  x: SymTensor,
  scale: SymTensor,
  offset: SymTensor,
  mean: SymTensor,
  variance: SymTensor,
  o: { epsilon: number; training: boolean },
  name?: string,
): FusedBatchNormOutputs {
  checkRank("FusedBatchNormV3", x, 4);
  sameDtype("FusedBatchNormV3", scale, offset, mean, variance);
  const c = x.shape[3];
  const vec: Dim[] = [c];
  const u = scale.dtype;
  const node = g.addNode(
    "FusedBatchNormV3",
    [x, scale, offset, mean, variance],
    {
      T: T(x.dtype),
      U: T(u),
      epsilon: attr.float(o.epsilon),
      exponential_avg_factor: attr.float(1),
      data_format: attr.string("NHWC"),
      is_training: attr.bool(o.training),
    },
    [
      { dtype: x.dtype, shape: x.shape },
      { dtype: u, shape: vec },
      { dtype: u, shape: vec },
      { dtype: u, shape: vec },
      { dtype: u, shape: vec },
      { dtype: u, shape: [null] },
    ],
    name,
  );
  const [y, batchMean, batchVariance, reserve1, reserve2, reserve3] = node.outputs;
  return { y, batchMean, batchVariance, reserve1, reserve2, reserve3 };
}

/** `FusedBatchNormGradV3`: gradients with respect to x, scale and offset. */
export function fusedBatchNormGrad(
  g: Graph,
  dy: SymTensor,
  x: SymTensor,
  scale: SymTensor,
  reserve1: SymTensor,
  reserve2: SymTensor,
  reserve3: SymTensor,
  o: { epsilon: number; training: boolean },
  name?: string,
): { dx: SymTensor; dScale: SymTensor; dOffset: SymTensor } {
  const vec: Dim[] = [x.shape[3]];
  sameDtype("FusedBatchNormGradV3", dy, x);
  const u = scale.dtype;
  const node = g.addNode(
    "FusedBatchNormGradV3",
    [dy, x, scale, reserve1, reserve2, reserve3],
    {
      T: T(x.dtype),
      U: T(u),
      epsilon: attr.float(o.epsilon),
      data_format: attr.string("NHWC"),
      is_training: attr.bool(o.training),
    },
    [
      { dtype: x.dtype, shape: x.shape },
      { dtype: u, shape: vec },
      { dtype: u, shape: vec },
      { dtype: u, shape: [0] },
      { dtype: u, shape: [0] },
    ],
    name,
  );
  const [dx, dScale, dOffset] = node.outputs;
  return { dx, dScale, dOffset };
}

// --- pooling -------------------------------------------------------------------------------------

export interface PoolOptions {
  size: [number, number];
  strides: [number, number];
  padding: Padding;
}

function poolAttrs(o: PoolOptions, explicit: boolean, dtype: DType): Record<string, Attr> {
  const a: Record<string, Attr> = {
    T: T(dtype),
    ksize: attr.ints([1, o.size[0], o.size[1], 1]),
    strides: attr.ints([1, o.strides[0], o.strides[1], 1]),
    padding: attr.string(o.padding),
    data_format: attr.string("NHWC"),
  };
  if (explicit) a.explicit_paddings = attr.ints([]);
  return a;
}

function poolOutput(x: SymTensor, o: PoolOptions): Dim[] {
  return [
    x.shape[0],
    windowedOutputSize(x.shape[1], o.size[0], o.strides[0], o.padding),
    windowedOutputSize(x.shape[2], o.size[1], o.strides[1], o.padding),
    x.shape[3],
  ];
}

export function maxPool(g: Graph, x: SymTensor, o: PoolOptions, name?: string): SymTensor {
  checkRank("MaxPool", x, 4);
  return one(g, "MaxPool", [x], poolAttrs(o, true, x.dtype), x.dtype, poolOutput(x, o), name);
}

export function maxPoolGrad(
  g: Graph,
  x: SymTensor,
  y: SymTensor,
  dy: SymTensor,
  o: PoolOptions,
  name?: string,
): SymTensor {
  sameDtype("MaxPoolGrad", x, y, dy);
  return one(g, "MaxPoolGrad", [x, y, dy], poolAttrs(o, true, x.dtype), x.dtype, x.shape, name);
}

export function avgPool(g: Graph, x: SymTensor, o: PoolOptions, name?: string): SymTensor {
  checkRank("AvgPool", x, 4);
  return one(g, "AvgPool", [x], poolAttrs(o, false, x.dtype), x.dtype, poolOutput(x, o), name);
}

export function avgPoolGrad(
  g: Graph,
  inputShape: SymTensor,
  dy: SymTensor,
  like: SymTensor,
  o: PoolOptions,
  name?: string,
): SymTensor {
  return one(g, "AvgPoolGrad", [inputShape, dy], poolAttrs(o, false, dy.dtype), dy.dtype, like.shape, name);
}

// --- dense ---------------------------------------------------------------------------------------

export function matMul(
  g: Graph,
  a: SymTensor,
  b: SymTensor,
  o: { transposeA?: boolean; transposeB?: boolean } = {},
  name?: string,
): SymTensor {
  checkRank("MatMul", a, 2, "first input");
  checkRank("MatMul", b, 2, "second input");
  const [m, ka] = o.transposeA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = o.transposeB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (!sameDims(ka, kb)) fail("MatMul", `inner sizes differ: ${formatDims(a.shape)} × ${formatDims(b.shape)}.`);
  sameDtype("MatMul", a, b);
  return one(
    g,
    "MatMul",
    [a, b],
    {
      transpose_a: attr.bool(!!o.transposeA),
      transpose_b: attr.bool(!!o.transposeB),
      T: T(a.dtype),
      grad_a: attr.bool(false),
      grad_b: attr.bool(false),
    },
    a.dtype,
    [m, n],
    name,
  );
}

export function biasAdd(g: Graph, x: SymTensor, bias: SymTensor, name?: string): SymTensor {
  checkRank("BiasAdd", bias, 1, "bias");
  if (!sameDims(x.shape[x.shape.length - 1], bias.shape[0]))
    fail("BiasAdd", `bias of ${bias.shape[0]} for ${formatDims(x.shape)}.`);
  sameDtype("BiasAdd", x, bias);
  return one(g, "BiasAdd", [x, bias], { T: T(x.dtype), data_format: attr.string("NHWC") }, x.dtype, x.shape, name);
}

export function biasAddGrad(g: Graph, dy: SymTensor, name?: string): SymTensor {
  return one(
    g,
    "BiasAddGrad",
    [dy],
    { T: T(dy.dtype), data_format: attr.string("NHWC") },
    dy.dtype,
    [dy.shape[dy.shape.length - 1]],
    name,
  );
}

/** Per-example loss and its gradient with respect to the logits. */
export function softmaxCrossEntropyWithLogits(
  g: Graph,
  logits: SymTensor,
  labels: SymTensor,
  name?: string,
): { loss: SymTensor; backprop: SymTensor } {
  checkRank("SoftmaxCrossEntropyWithLogits", logits, 2, "logits");
  sameDtype("SoftmaxCrossEntropyWithLogits", logits, labels);
  const node = g.addNode(
    "SoftmaxCrossEntropyWithLogits",
    [logits, labels],
    { T: T(logits.dtype) },
    [
      { dtype: logits.dtype, shape: [logits.shape[0]] },
      { dtype: logits.dtype, shape: logits.shape },
    ],
    name,
  );
  return { loss: node.outputs[0], backprop: node.outputs[1] };
}

// --- random --------------------------------------------------------------------------------------

/** Uniform [0, 1) values of `shape` (an int32 shape tensor) from a seed pair (int32 [2]). */
export function statelessRandomUniform(
  g: Graph,
  shapeTensor: SymTensor,
  seed: SymTensor,
  like: Dim[],
  name?: string,
): SymTensor {
  return one(
    g,
    "StatelessRandomUniform",
    [shapeTensor, seed],
    { dtype: T("float32"), T: T("int32"), Tseed: T("int32") },
    "float32",
    like,
    name,
  );
}

// --- images --------------------------------------------------------------------------------------

/** How `imageProjectiveTransform` samples and fills (TensorFlow's spelling). */
export interface ProjectiveOptions {
  interpolation: "NEAREST" | "BILINEAR";
  fillMode: "REFLECT" | "WRAP" | "CONSTANT" | "NEAREST";
  fillValue: number;
}

/**
 * `ImageProjectiveTransformV3(images [n,h,w,c], transforms [n,8], output_shape, fill_value)`: each
 * output pixel (x, y) read from the input at ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k),
 * k = c0 x + c1 y + 1; the output has the input's size.
 */
export function imageProjectiveTransform(
  g: Graph,
  images: SymTensor,
  transforms: SymTensor,
  o: ProjectiveOptions,
  name?: string,
): SymTensor {
  checkRank("ImageProjectiveTransformV3", images, 4, "images");
  checkRank("ImageProjectiveTransformV3", transforms, 2, "transforms");
  const [, h, w] = images.shape;
  if (h === null || w === null) {
    fail("ImageProjectiveTransformV3", `the images' height and width must be known, got ${formatDims(images.shape)}.`);
  }
  return one(
    g,
    "ImageProjectiveTransformV3",
    [images, transforms, g.constant([h, w], [2], "int32"), g.constant(o.fillValue)],
    { dtype: T(images.dtype), interpolation: attr.string(o.interpolation), fill_mode: attr.string(o.fillMode) },
    images.dtype,
    images.shape,
    name,
  );
}

// --- optimizer -----------------------------------------------------------------------------------

/**
 * `KtAdam(w, m, v, g, alpha, one_minus_beta_1)`: the project's own kernel (src/tfjs/native/adam.cc,
 * loaded by src/tfjs/adam_kernel.ts), Keras 3's Adam update of one float32 weight in one pass,
 * rounding as the twelve elementwise ops it replaces. The gradient may be bfloat16 (widened exactly,
 * as a Cast to float32 would); everything else is float32. Returns the new weight and moments.
 */
export function ktAdam(
  g: Graph,
  p: { w: SymTensor; m: SymTensor; v: SymTensor; grad: SymTensor },
  alpha: SymTensor,
  oneMinusBeta1: SymTensor,
  o: { oneMinusBeta2: number; epsilon: number },
  name?: string,
): { w: SymTensor; m: SymTensor; v: SymTensor } {
  const all = [p.w, p.m, p.v, p.grad, alpha, oneMinusBeta1];
  for (const t of all) {
    if (t.dtype !== "float32" && !(t === p.grad && t.dtype === "bfloat16"))
      fail("KtAdam", `inputs must be float32 (the gradient may be bfloat16), got ${t.dtype}.`);
  }
  for (const t of [p.m, p.v, p.grad]) {
    if (t.shape.length !== p.w.shape.length || t.shape.some((d, i) => !sameDims(d, p.w.shape[i])))
      fail("KtAdam", `w, m, v and g must have one shape, got ${formatDims(p.w.shape)} and ${formatDims(t.shape)}.`);
  }
  for (const t of [alpha, oneMinusBeta1]) checkRank("KtAdam", t, 0, "step constant");
  const out = { dtype: "float32" as const, shape: p.w.shape };
  const node = g.addNode(
    "KtAdam",
    all,
    { one_minus_beta_2: attr.float(o.oneMinusBeta2), epsilon: attr.float(o.epsilon), T: T(p.grad.dtype) },
    [out, out, out],
    name,
  );
  const [w, m, v] = node.outputs;
  return { w, m, v };
}
