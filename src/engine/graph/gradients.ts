/**
 * Reverse-mode differentiation of a Graph, emitting TensorFlow's own gradient kernels.
 *
 * `gradients(g, ys, seeds, xs)` adds the nodes that compute d(sum of ys · seeds)/d(each x) and
 * returns them (null for an x the ys do not depend on). Only what is needed is emitted: a node gets
 * a gradient only when it lies on a path from some x to some y, and an input of a node gets one
 * only when it depends on some x. So a frozen weight gets no gradient, and nothing is computed
 * below the first layer that has a trainable weight.
 *
 * One rule per op (`GRADIENTS`), written after TensorFlow's Python gradient functions
 * (tensorflow/python/ops/nn_grad.py, math_grad.py, array_grad.py):
 *
 *   Conv2D                  Conv2DBackpropInput, Conv2DBackpropFilter (in bfloat16: one MatMul per
 *                           tap for 1×1 filters and wide ones, float32 Conv2DBackpropFilter
 *                           otherwise; conv2dBfloat16Filter)
 *   DepthwiseConv2dNative   DepthwiseConv2dNativeBackpropInput / ...BackpropFilter
 *   FusedBatchNormV3        FusedBatchNormGradV3 (training: the batch statistics' reserve space;
 *                           inference: the given mean and variance)
 *   Relu                    ReluGrad (on the output, as TensorFlow does)
 *   MaxPool / AvgPool       MaxPoolGrad / AvgPoolGrad
 *   ConcatV2                SplitV at the inputs' sizes
 *   MatMul, BiasAdd         MatMul with transposes, BiasAddGrad
 *   Softmax, SoftmaxCrossEntropyWithLogits
 *   Mean, Sum               broadcast back (Reshape + Tile)
 *   Reshape, Tile           Reshape back; Reshape + Sum over the copies
 *   Slice                   Pad with zeros (known shapes)
 *   AddV2, Sub, Mul, RealDiv, Neg, Square, Sqrt, AddN, Identity (with broadcasting)
 *   Cast                    Cast back, between float32 and bfloat16 (mixed precision)
 *
 * Each gradient is in its tensor's dtype: a bfloat16 op's gradient is computed in bfloat16, and the
 * Cast a layer applies to a float32 weight casts the weight's gradient back to float32.
 *
 * Each rule is checked against TF.js's own gradient (`tf.grad`) in test/graph_gradients.test.ts.
 */
import { isFloat, type Dim, type Graph, type GraphNode, type SymTensor } from "./graph";
import * as ops from "./ops";

/**
 * A gradient rule: given the gradients flowing into a node's outputs (null where none flows), the
 * gradients of its inputs; `needed[i]` says whether input i needs one (null may be returned where not).
 */
type GradientRule = (
  g: Graph,
  node: GraphNode,
  dys: Array<SymTensor | null>,
  needed: boolean[],
) => Array<SymTensor | null>;

function convOptions(node: GraphNode): ops.ConvOptions {
  const ints = (name: string) => {
    const a = node.attrs[name];
    if (!a || a.kind !== "ints") throw new Error(`${node.op} ${node.name}: attribute ${name} missing.`);
    return a.value;
  };
  const padding = node.attrs.padding;
  if (!padding || padding.kind !== "string" || (padding.value !== "SAME" && padding.value !== "VALID")) {
    throw new Error(`${node.op} ${node.name}: only SAME and VALID padding are differentiated.`);
  }
  const s = ints("strides");
  const d = ints("dilations");
  return { strides: [s[1], s[2]], padding: padding.value, dilations: [d[1], d[2]] };
}

function poolOptions(node: GraphNode): ops.PoolOptions {
  const k = node.attrs.ksize;
  const s = node.attrs.strides;
  const p = node.attrs.padding;
  if (k?.kind !== "ints" || s?.kind !== "ints" || p?.kind !== "string")
    throw new Error(`${node.op} ${node.name}: pooling attributes missing.`);
  return { size: [k.value[1], k.value[2]], strides: [s.value[1], s.value[2]], padding: p.value as ops.Padding };
}

function boolAttr(node: GraphNode, name: string): boolean {
  const a = node.attrs[name];
  return a?.kind === "bool" ? a.value : false;
}

function floatAttr(node: GraphNode, name: string): number {
  const a = node.attrs[name];
  if (a?.kind !== "float") throw new Error(`${node.op} ${node.name}: attribute ${name} missing.`);
  return a.value;
}

/** The constant int values of a Const node's output (axes, multiples, sizes). */
function constInts(t: SymTensor): number[] {
  const v = t.node.attrs.value;
  if (t.node.op !== "Const" || v?.kind !== "tensor") throw new Error(`${t.node.name} is not a constant.`);
  return Array.from(v.value.values);
}

/**
 * Sums `dy` (of a broadcast result's shape) back to `x`'s shape: over the leading axes x lacks and
 * the axes where x has size 1. Static shapes decide which axes; an unknown size (the batch) is taken
 * to be the same on both sides, never broadcast, as in every graph the compiler makes.
 */
function unbroadcast(g: Graph, dy: SymTensor, x: SymTensor): SymTensor {
  const lead = dy.shape.length - x.shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.shape.length; i++) {
    const xd: Dim = i < lead ? 1 : x.shape[i - lead];
    if (i < lead || (xd === 1 && dy.shape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return dy;
  const summed = ops.sum(g, dy, axes, true);
  return x.shape.every((d) => d !== null) ? ops.reshape(g, summed, x.shape as number[]) : ops.reshapeLike(g, summed, x);
}

/** A backprop kernel: (input sizes, filter) for the input, (input, filter sizes) for the filter. */
type Backprop = (
  g: Graph,
  first: SymTensor,
  second: SymTensor,
  dy: SymTensor,
  like: SymTensor,
  o: ops.ConvOptions,
) => SymTensor;

/** A convolution's gradient: the input's by its BackpropInput kernel, the filter's by its BackpropFilter kernel. */
function convolutionGradient(
  backpropInput: Backprop,
  backpropFilter: Backprop,
  bfloat16Filter?: FilterGradient,
): GradientRule {
  return (g, node, [dy], needed) => {
    const [x, w] = node.inputs;
    const o = convOptions(node);
    const dx = needed[0] ? backpropInput(g, ops.shapeOf(g, x), w, dy!, x, o) : null;
    let dw: SymTensor | null = null;
    if (needed[1] && bfloat16Filter && x.dtype === "bfloat16") dw = bfloat16Filter(g, x, w, dy!, o);
    else if (needed[1]) dw = backpropFilter(g, x, ops.shapeOf(g, w), dy!, w, o);
    return [dx, dw];
  };
}

type FilterGradient = (g: Graph, x: SymTensor, w: SymTensor, dy: SymTensor, o: ops.ConvOptions) => SymTensor;

/**
 * A bfloat16 Conv2D's filter gradient, Σ x · dy over every position of every example, computed the
 * fastest way TensorFlow offers on the CPU. Its bfloat16 Conv2DBackpropFilter is slower than even the
 * float32 one (oneDNN's AMX kernel on an Intel Xeon with AMX: 0.70 s against 0.32 s a step for the
 * 75 filters of InceptionV3's trainable layers, batch 64, one thread, oneDNN's own timings), so:
 *  - by taps (`tapProducts`): each tap of the filter is a matrix product, the rows of the input that
 *    tap reads (one per output position) by the output gradient's rows, dW[i, j, c, k] =
 *    Σ_p x[p at tap (i, j), c] · dy[p, k], in bfloat16 with float32 accumulation and one rounding, as
 *    Keras's mixed_bfloat16 filter gradients are, on the CPU's bfloat16 units. Used for a 1×1 filter
 *    at stride 1 (one product of every row: InceptionV3's 31 such filters 0.11–0.14 s a step in float32,
 *    0.03 s so, same measurement), and for any other undilated filter whose input and output channels
 *    are both at least `TAP_PRODUCT_CHANNELS`, where the products are large enough for those units:
 *    InceptionV3's at 84×84 (its 1×7 and 7×1 filters on 3×3 maps 1.7–2.4× faster than float32, its
 *    3×3 and 1×3 filters on 1×1 maps 3–5×, its 3×3 stride-2 reductions 1.7–3.4×; timed one by one,
 *    casts included, two threads). With fewer channels (64 → 96 at 8×8: even; at 35×35: 1.2× slower)
 *    they are not.
 *  - any other filter in float32 from the bfloat16 values (exact in float32). Its gradient stays
 *    float32 (wider than its tensor): the Cast that read the float32 weight passes it on unchanged.
 *    Patches and one product (ExtractImagePatches, then MatMul) measured no faster there.
 */
const conv2dBfloat16Filter: FilterGradient = (g, x, w, dy, o) => {
  const [kh, kw, cin, cout] = w.shape as number[];
  const pointwise = kh === 1 && kw === 1 && o.strides[0] === 1 && o.strides[1] === 1;
  const undilated = (o.dilations ?? [1, 1]).every((d) => d === 1);
  const known = [x.shape[1], x.shape[2], dy.shape[1], dy.shape[2]].every((d) => d !== null);
  if (undilated && known && (pointwise || Math.min(cin, cout) >= TAP_PRODUCT_CHANNELS)) {
    return tapProducts(g, x, dy, [kh, kw, cin, cout], o);
  }
  return ops.conv2dBackpropFilter(g, ops.cast(g, x, "float32"), ops.shapeOf(g, w), ops.cast(g, dy, "float32"), w, o);
};

/** The fewest input and output channels for which a filter's gradient is taken by taps (see above). */
const TAP_PRODUCT_CHANNELS = 128;

/** Along one spatial axis, the output positions each tap of the window reads an input row at. */
interface AxisTaps {
  /** Output size and the zeros before the input (TensorFlow's SAME: half of the total, rounded down). */
  out: number;
  before: number;
  /** The taps that read some input row: `first` to `last`; others get no gradient. */
  first: number;
  last: number;
  /** Tap t reads input row `p × stride + t − before` at output positions `from(t)` ≤ p < `to(t)`. */
  from(t: number): number;
  to(t: number): number;
}

function axisTaps(size: number, window: number, stride: number, padding: ops.Padding, out: number): AxisTaps {
  const before = padding === "SAME" ? Math.floor(Math.max((out - 1) * stride + window - size, 0) / 2) : 0;
  const from = (t: number) => Math.max(0, Math.ceil((before - t) / stride));
  const to = (t: number) => Math.min(out, Math.floor((size - 1 + before - t) / stride) + 1);
  const reading = Array.from({ length: window }, (_, t) => t).filter((t) => to(t) > from(t));
  return { out, before, first: reading[0], last: reading[reading.length - 1], from, to };
}

/**
 * The filter gradient as one bfloat16 matrix product per tap that reads the input (see
 * conv2dBfloat16Filter), the taps that only ever read padding left zero. A strided input is viewed
 * as [batch, rows ÷ s, s, columns ÷ s, s, channels] (zeros added at the end to a multiple of s), so
 * that every tap's rows are one Slice: TensorFlow's StridedSlice with a step is many times slower.
 */
function tapProducts(
  g: Graph,
  x: SymTensor,
  dy: SymTensor,
  [kh, kw, cin, cout]: number[],
  o: ops.ConvOptions,
): SymTensor {
  const [height, width] = [x.shape[1], x.shape[2]] as number[];
  const [sh, sw] = o.strides;
  const rows = axisTaps(height, kh, sh, o.padding, dy.shape[1] as number);
  const cols = axisTaps(width, kw, sw, o.padding, dy.shape[2] as number);
  const strided = sh > 1 || sw > 1;
  let view = x;
  if (strided) {
    const [ph, pw] = [Math.ceil(height / sh) * sh - height, Math.ceil(width / sw) * sw - width];
    const padded =
      ph + pw > 0
        ? ops.pad(g, x, [
            [0, 0],
            [0, ph],
            [0, pw],
            [0, 0],
          ])
        : x;
    view = ops.reshape(g, padded, [-1, (height + ph) / sh, sh, (width + pw) / sw, sw, cin]);
  }
  const products: SymTensor[] = [];
  for (let i = rows.first; i <= rows.last; i++) {
    for (let j = cols.first; j <= cols.last; j++) {
      const [h0, h1, w0, w1] = [rows.from(i), rows.to(i), cols.from(j), cols.to(j)];
      const [r0, c0] = [h0 * sh + i - rows.before, w0 * sw + j - cols.before];
      const whole = r0 === 0 && c0 === 0 && h1 - h0 === height && w1 - w0 === width;
      const input = whole
        ? x
        : strided
          ? ops.slice(
              g,
              view,
              [0, Math.floor(r0 / sh), r0 % sh, Math.floor(c0 / sw), c0 % sw, 0],
              [-1, h1 - h0, 1, w1 - w0, 1, cin],
            )
          : ops.slice(g, x, [0, r0, c0, 0], [-1, h1 - h0, w1 - w0, cin]);
      const allOutputs = h0 === 0 && w0 === 0 && h1 === rows.out && w1 === cols.out;
      const grad = allOutputs ? dy : ops.slice(g, dy, [0, h0, w0, 0], [-1, h1 - h0, w1 - w0, cout]);
      products.push(
        ops.matMul(g, ops.reshape(g, input, [-1, cin]), ops.reshape(g, grad, [-1, cout]), { transposeA: true }),
      );
    }
  }
  const [tapRows, tapCols] = [rows.last - rows.first + 1, cols.last - cols.first + 1];
  const stacked = products.length === 1 ? products[0] : ops.concat(g, products, 0);
  const reading = ops.reshape(g, stacked, [tapRows, tapCols, cin, cout]);
  if (tapRows === kh && tapCols === kw) return reading;
  return ops.pad(g, reading, [
    [rows.first, kh - 1 - rows.last],
    [cols.first, kw - 1 - cols.last],
    [0, 0],
    [0, 0],
  ]);
}

const GRADIENTS: Record<string, GradientRule> = {
  Identity: (_g, _n, [dy]) => [dy],
  StopGradient: () => [null],

  Conv2D: convolutionGradient(ops.conv2dBackpropInput, ops.conv2dBackpropFilter, conv2dBfloat16Filter),
  DepthwiseConv2dNative: convolutionGradient(ops.depthwiseConv2dBackpropInput, ops.depthwiseConv2dBackpropFilter),

  FusedBatchNormV3: (g, node, dys) => {
    const [dy, ...statistics] = dys;
    if (statistics.some((d) => d !== null))
      throw new Error(`${node.name}: gradients through the batch statistics are not supported.`);
    const [x, scale, , mean, variance] = node.inputs;
    const training = boolAttr(node, "is_training");
    const [, , , r1, r2, r3] = node.outputs;
    const epsilon = floatAttr(node, "epsilon");
    // Inference: TensorFlow's gradient passes the population statistics as the reserve space.
    const grads = training
      ? ops.fusedBatchNormGrad(g, dy!, x, scale, r1, r2, r3, { epsilon, training })
      : ops.fusedBatchNormGrad(g, dy!, x, scale, mean, variance, r3, { epsilon, training });
    return [grads.dx, grads.dScale, grads.dOffset, null, null];
  },

  Relu: (g, node, [dy]) => [ops.reluGrad(g, dy!, node.outputs[0])],

  MaxPool: (g, node, [dy]) => [ops.maxPoolGrad(g, node.inputs[0], node.outputs[0], dy!, poolOptions(node))],

  AvgPool: (g, node, [dy]) => [
    ops.avgPoolGrad(g, ops.shapeOf(g, node.inputs[0]), dy!, node.inputs[0], poolOptions(node)),
  ],

  ConcatV2: (g, node, [dy], needed) => {
    const values = node.inputs.slice(0, -1);
    const [axis] = constInts(node.inputs[node.inputs.length - 1]);
    const sizes = values.map((v) => v.shape[axis]);
    if (sizes.some((s) => s === null))
      throw new Error(`${node.name}: concatenated sizes must be known to differentiate.`);
    if (!needed.slice(0, -1).some(Boolean)) return node.inputs.map(() => null);
    const parts = ops.splitV(g, dy!, sizes as number[], axis);
    return [...parts.map((p, i) => (needed[i] ? p : null)), null];
  },

  MatMul: (g, node, [dy], needed) => {
    const [a, b] = node.inputs;
    const ta = boolAttr(node, "transpose_a");
    const tb = boolAttr(node, "transpose_b");
    let da: SymTensor | null = null;
    let db: SymTensor | null = null;
    if (needed[0]) {
      da = !ta
        ? ops.matMul(g, dy!, b, { transposeB: !tb })
        : ops.matMul(g, b, dy!, { transposeA: tb, transposeB: true });
    }
    if (needed[1]) {
      db = !tb
        ? ops.matMul(g, a, dy!, { transposeA: !ta })
        : ops.matMul(g, dy!, a, { transposeA: true, transposeB: ta });
    }
    return [da, db];
  },

  BiasAdd: (g, _node, [dy], needed) => [dy, needed[1] ? ops.biasAddGrad(g, dy!) : null],

  Softmax: (g, node, [dy]) => {
    const y = node.outputs[0];
    const inner = ops.sum(g, ops.mul(g, dy!, y), [-1], true);
    return [ops.mul(g, ops.sub(g, dy!, inner), y)];
  },

  SoftmaxCrossEntropyWithLogits: (g, node, [dLoss, dBackprop]) => {
    if (dBackprop !== null) throw new Error(`${node.name}: differentiating the backprop output is not supported.`);
    const backprop = node.outputs[1];
    return [ops.mul(g, backprop, ops.reshape(g, dLoss!, [-1, 1])), null];
  },

  Mean: (g, node, [dy]) => [reduceBack(g, node, dy!, true), null],
  Sum: (g, node, [dy]) => [reduceBack(g, node, dy!, false), null],

  Reshape: (g, node, [dy]) => [ops.reshapeLike(g, dy!, node.inputs[0]), null],

  // Zeros where the slice did not read (array_grad.py's _SliceGrad); the input's shape must be known.
  Slice: (g, node, [dy]) => {
    const x = node.inputs[0];
    const begin = constInts(node.inputs[1]);
    if (x.shape.some((d) => d === null) || dy!.shape.some((d) => d === null))
      throw new Error(`${node.name}: Slice is differentiated for known shapes only.`);
    const paddings = begin.map((b, i): [number, number] => [b, (x.shape[i] as number) - b - (dy!.shape[i] as number)]);
    return [ops.pad(g, dy!, paddings), null, null];
  },

  Tile: (g, node, [dy]) => {
    const x = node.inputs[0];
    const multiples = constInts(node.inputs[1]);
    // Output index along axis i is k * x_i + j: reshape to (multiple, size) pairs and sum the copies.
    const pairs: number[] = [];
    multiples.forEach((m, i) => pairs.push(m, x.shape[i] ?? -1));
    if (pairs.filter((d) => d === -1).length > 1)
      throw new Error(`${node.name}: at most one unknown size to differentiate Tile.`);
    const summed = ops.sum(
      g,
      ops.reshape(g, dy!, pairs),
      multiples.map((_, i) => 2 * i),
    );
    return [x.shape.every((d) => d !== null) ? summed : ops.reshapeLike(g, summed, x), null];
  },

  AddV2: (g, node, [dy], needed) => [
    needed[0] ? unbroadcast(g, dy!, node.inputs[0]) : null,
    needed[1] ? unbroadcast(g, dy!, node.inputs[1]) : null,
  ],
  Sub: (g, node, [dy], needed) => [
    needed[0] ? unbroadcast(g, dy!, node.inputs[0]) : null,
    needed[1] ? unbroadcast(g, ops.neg(g, dy!), node.inputs[1]) : null,
  ],
  Mul: (g, node, [dy], needed) => {
    const [a, b] = node.inputs;
    return [
      needed[0] ? unbroadcast(g, ops.mul(g, dy!, b), a) : null,
      needed[1] ? unbroadcast(g, ops.mul(g, dy!, a), b) : null,
    ];
  },
  RealDiv: (g, node, [dy], needed) => {
    const [a, b] = node.inputs;
    return [
      needed[0] ? unbroadcast(g, ops.div(g, dy!, b), a) : null,
      needed[1] ? unbroadcast(g, ops.neg(g, ops.div(g, ops.mul(g, dy!, node.outputs[0]), b)), b) : null,
    ];
  },
  Neg: (g, _node, [dy]) => [ops.neg(g, dy!)],
  Square: (g, node, [dy]) => [ops.mul(g, dy!, ops.mul(g, node.inputs[0], g.constant(2, [], dy!.dtype)))],
  Sqrt: (g, node, [dy]) => [ops.div(g, ops.mul(g, dy!, g.constant(0.5, [], dy!.dtype)), node.outputs[0])],
  AddN: (_g, node, [dy]) => node.inputs.map(() => dy),
  // Between float types the gradient is cast back (math_grad.py's _CastGrad); none flows to an integer or a bool.
  Cast: (g, node, [dy]) => {
    const from = node.inputs[0].dtype;
    if (!isFloat(from) || !isFloat(node.outputs[0].dtype)) return [null];
    return [dy!.dtype === from ? dy : ops.cast(g, dy!, from)];
  },
};

/**
 * The gradient of Mean / Sum over constant axes: dy reshaped to keep the reduced axes, then copied
 * along them (Tile when their sizes are known, BroadcastTo the run-time shape otherwise); a mean
 * also divides by the number of values reduced.
 */
function reduceBack(g: Graph, node: GraphNode, dy: SymTensor, divide: boolean): SymTensor {
  const x = node.inputs[0];
  const rank = x.shape.length;
  const axes = constInts(node.inputs[1]).map((a) => (a < 0 ? a + rank : a));
  const keep = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  let grad =
    keep.filter((d) => d === null).length <= 1
      ? ops.reshape(
          g,
          dy,
          keep.map((d) => d ?? -1),
        )
      : ops.reshapeLike(g, dy, x, keep);
  const known = axes.every((a) => x.shape[a] !== null);
  if (divide) {
    const count = known
      ? g.constant(1 / axes.reduce((n, a) => n * (x.shape[a] as number), 1), [], dy.dtype)
      : ops.div(g, ops.cast(g, ops.size(g, dy), dy.dtype), ops.cast(g, ops.size(g, x), dy.dtype));
    grad = ops.mul(g, grad, count);
  }
  return known
    ? ops.tile(
        g,
        grad,
        x.shape.map((d, i) => (axes.includes(i) ? (d as number) : 1)),
      )
    : ops.broadcastTo(g, grad, ops.shape(g, x), x.shape);
}

const key = (t: SymTensor) => `${t.node.id}:${t.index}`;

/**
 * Adds the nodes computing the gradient of Σ_k <ys[k], seeds[k]> with respect to each of `xs`
 * (a scalar loss with seed 1 is the usual case); null for an x the ys do not depend on.
 */
export function gradients(g: Graph, ys: SymTensor[], seeds: SymTensor[], xs: SymTensor[]): Array<SymTensor | null> {
  if (ys.length !== seeds.length) throw new Error("gradients: one seed per output.");
  // Forward: which tensors depend on some x (only float tensors carry gradients).
  const live = new Set<string>(xs.map(key));
  const liveNode = new Set<number>();
  for (const node of g.nodes) {
    if (node.inputs.some((t) => live.has(key(t)))) {
      liveNode.add(node.id);
      for (const t of node.outputs) if (isFloat(t.dtype)) live.add(key(t));
    }
  }
  // Backward: which nodes some y depends on.
  const reaches = new Set<number>();
  const stack = ys.map((y) => y.node);
  while (stack.length) {
    const n = stack.pop()!;
    if (reaches.has(n.id)) continue;
    reaches.add(n.id);
    for (const t of n.inputs) stack.push(t.node);
  }
  const pending = new Map<string, SymTensor[]>();
  const push = (t: SymTensor, grad: SymTensor) => {
    const list = pending.get(key(t));
    if (list) list.push(grad);
    else pending.set(key(t), [grad]);
  };
  ys.forEach((y, i) => push(y, seeds[i]));
  const total = (t: SymTensor): SymTensor | null => {
    const list = pending.get(key(t));
    if (!list || list.length === 0) return null;
    const sum = ops.addN(g, list);
    pending.set(key(t), [sum]);
    return sum;
  };
  const end = g.nodes.length;
  for (let id = end - 1; id >= 0; id--) {
    const node = g.nodes[id];
    if (!liveNode.has(id) || !reaches.has(id)) continue;
    const dys = node.outputs.map(total);
    if (dys.every((d) => d === null)) continue;
    const rule = GRADIENTS[node.op];
    if (!rule) throw new Error(`No gradient rule for TensorFlow op ${node.op} (node ${node.name}).`);
    const needed = node.inputs.map((t) => live.has(key(t)));
    const grads = g.scope(`gradients/${node.name}`, () => rule(g, node, dys, needed));
    grads.forEach((grad, i) => {
      if (grad !== null && needed[i]) push(node.inputs[i], grad);
    });
  }
  return xs.map((x) => total(x));
}
