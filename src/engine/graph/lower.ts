/**
 * From a TF.js LayersModel to TensorFlow ops: each layer of the model (and of the models nested in
 * it, such as the base network inside the tutorial's model) emits the ops that compute what the
 * layer's `call` computes, in the order TF.js itself runs them (`Container.runInternalGraph`: the
 * model's nodes by decreasing depth).
 *
 *   Reshape, UpSampling3D (this project's), Rescaling     → Reshape, Tile, Mul/Add
 *   Conv2D, SeparableConv2D, DepthwiseConv2D              → Conv2D, DepthwiseConv2dNative, BiasAdd (a
 *                                                           trainable one that is a matrix product,
 *                                                           in training: MatMul, `convolve`)
 *   BatchNormalization (this project's, Keras 3)          → FusedBatchNormV3
 *   Activation, and the activations of Conv/Dense         → Relu, Softmax (linear: nothing)
 *   MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D → MaxPool, AvgPool, Mean
 *   Concatenate, Add, Flatten, Dense, Dropout             → ConcatV2, AddV2, Reshape, MatMul, random mask
 *   RandomRotation, RandomTranslation, RandomZoom,        → ./augment.ts (ImageProjectiveTransformV3,
 *   RandomContrast                                          …; the identity in inference)
 *
 * Mode "train" follows `fit`: batch normalisation of a trainable layer normalises with the batch
 * statistics and reports them (`onBatchStatistics`) for the moving averages; a frozen one, or one
 * kept in inference mode, runs in inference mode (Keras 3's semantics, as src/keras/layers.ts);
 * dropout draws its mask from StatelessRandomUniform with the step's seed. Mode "inference" follows
 * `predict`.
 *
 * Every weight is an input of the graph (`weight(variable)` gives its placeholder): the graph holds
 * no state. A layer the compiler does not know stops it with an error that names the layer.
 *
 * Mixed precision (`dtypeOf`, from Keras's dtype policy of each layer, ../../keras/dtype_policy.ts):
 * as Keras's autocast does, a layer casts its floating inputs to the dtype it computes in, and its
 * weights (float32 graph inputs) when it reads them, so their gradients are cast back to float32;
 * batch normalisation keeps its scale, offset and statistics in float32 (FusedBatchNormV3's `U`),
 * and global average pooling sums in float32, as Keras's `mean` does. Without `dtypeOf` every layer
 * computes in float32 and no Cast is emitted.
 *
 * Batch normalisation folded into the convolution before it, under mixed precision (`foldsInto`):
 * a Conv2D or SeparableConv2D whose only use is a batch normalisation that normalises with its
 * moving statistics (every one in inference graphs; the frozen ones in training graphs) takes that
 * normalisation into its kernel and a bias, computed in float32 from the weights at each run
 * (Keras's own arithmetic, moved through the convolution). One bfloat16 convolution with a bias then
 * runs where TensorFlow would run a convolution and a separate FusedBatchNormV3: its optimiser folds
 * the pair in float32 graphs, but not with bfloat16 data and float32 statistics. It folds where that
 * pays (the kernel at most half a batch's outputs: large maps, as in Xception's middle flow, not
 * InceptionV3's 1×1 and 3×3 ones). Float32 graphs are emitted as before.
 */
import type * as TF from "@tensorflow/tfjs";
import type { ComputeDtype } from "../../keras/dtype_policy";
import { BatchNormalization, numberPair } from "../../keras/layers";
import type { AugmentationLayer } from "../../keras/preprocessing/layers";
import { isContainer, layerWeightField, nodesByDepth, type GraphNode } from "../../tfjs/internals";
import { lowerAugmentation } from "./augment";
import { isFloat, type Dim, type Graph, type SymTensor } from "./graph";
import * as ops from "./ops";

type Mode = "train" | "inference";

export interface LoweringContext {
  g: Graph;
  mode: Mode;
  /** The graph input holding a weight's value. */
  weight(variable: TF.LayerVariable): SymTensor;
  /** Training mode, trainable batch normalisation: the batch mean and biased variance of `layer`. */
  onBatchStatistics?(layer: BatchNormalization, mean: SymTensor, variance: SymTensor): void;
  /** Training mode with dropout: an int32 [2] seed input (each dropout layer derives its own stream). */
  seed?: SymTensor;
  /** The dtype each layer computes in (mixed precision); float32 for every layer when absent. */
  dtypeOf?(layer: TF.layers.Layer): ComputeDtype;
}

/** An error for a model the graph compiler cannot translate (the eager engine still runs it). */
export class GraphCompileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GraphCompileError";
  }
}

type Config = Record<string, unknown>;

function pair(v: unknown, what: string): [number, number] {
  const p = numberPair(v);
  if (!p) throw new GraphCompileError(`${what}: expected one or two numbers, got ${JSON.stringify(v)}.`);
  return p;
}

function padding(v: unknown, layer: string): ops.Padding {
  if (v === "same") return "SAME";
  if (v === "valid") return "VALID";
  throw new GraphCompileError(`Layer ${layer}: padding "${String(v)}" is not supported by the graph engine.`);
}

function channelsLast(config: Config, layer: string): void {
  const f = config.dataFormat;
  if (f !== undefined && f !== null && f !== "channelsLast")
    throw new GraphCompileError(`Layer ${layer}: only channels-last data is supported by the graph engine.`);
}

function activation(ctx: LoweringContext, x: SymTensor, name: unknown, layer: string): SymTensor {
  switch (name ?? "linear") {
    case "linear":
      return x;
    case "relu":
      return ops.relu(ctx.g, x);
    case "softmax":
      if (x.shape.length !== 2)
        throw new GraphCompileError(`Layer ${layer}: softmax is supported on rank-2 outputs only.`);
      return ops.softmax(ctx.g, x);
    default:
      throw new GraphCompileError(`Layer ${layer}: activation "${String(name)}" is not supported by the graph engine.`);
  }
}

/** A convolution layer's strides, padding and dilations (channels last only). */
function convolution(config: Config, layer: string): ops.ConvOptions {
  channelsLast(config, layer);
  return {
    strides: pair(config.strides, layer),
    padding: padding(config.padding, layer),
    dilations: pair(config.dilationRate ?? 1, layer),
  };
}

/** The end of a convolution or dense layer: its bias (when it has one), then its activation. */
function biasAndActivation(c: LayerCall, y: SymTensor): SymTensor {
  const bias = layerWeightField(c.layer, "bias");
  if (c.config.useBias && bias) y = ops.biasAdd(c.g, y, readAs(c, bias));
  return activation(c.ctx, y, c.config.activation, c.layer.name);
}

/** A weight as the layer computes with it: its graph input, cast to the layer's dtype (Keras's autocast). */
function readAs(c: LayerCall, variable: TF.LayerVariable): SymTensor {
  const w = c.ctx.weight(variable);
  return w.dtype === c.dtype ? w : ops.cast(c.g, w, c.dtype);
}

function required(layer: TF.layers.Layer, name: string): TF.LayerVariable {
  const v = layerWeightField(layer, name);
  if (!v) throw new GraphCompileError(`Layer ${layer.name}: its ${name} is missing (is the layer built?).`);
  return v;
}

/**
 * The same Tile on fewer axes: size-1 axes that are not tiled are dropped, and neighbouring axes
 * merge when both are tiled size-1 axes (their copies nest) or both are untiled (a reshape).
 */
export function compactTile(dims: number[], multiples: number[]): { dims: number[]; multiples: number[] } {
  const outDims: number[] = [];
  const outMultiples: number[] = [];
  dims.forEach((d, i) => {
    const m = multiples[i];
    if (d === 1 && m === 1) return;
    const last = outDims.length - 1;
    if (last >= 0 && d === 1 && outDims[last] === 1 && outMultiples[last] > 1 && m > 1) {
      outMultiples[last] *= m;
    } else if (last >= 0 && m === 1 && outMultiples[last] === 1) {
      outDims[last] *= d;
    } else {
      outDims.push(d);
      outMultiples.push(m);
    }
  });
  if (outDims.length === 0) return { dims: [1], multiples: [1] };
  return { dims: outDims, multiples: outMultiples };
}

/** A stable 31-bit number for a name (each dropout layer's random stream). */
function nameHash(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return (h >>> 1) & 0x3fffffff;
}

/**
 * What a layer's lowering rule gets: the layer, its config, its inputs (`x`: the first, each already
 * in the layer's dtype), its call arguments and the dtype it computes in.
 */
interface LayerCall {
  ctx: LoweringContext;
  g: Graph;
  layer: TF.layers.Layer;
  config: Config;
  inputs: SymTensor[];
  x: SymTensor;
  callArgs: Record<string, unknown> | undefined;
  dtype: ComputeDtype;
  /** A convolution: the batch normalisation that follows it, to apply in its kernel and bias (`foldsInto`). */
  foldedNorm?: BatchNormalization;
}

/** A layer class's lowering rule: the ops computing what the layer's `call` computes. */
type Lowering = (c: LayerCall) => SymTensor[];

/** Layers that take one input (`x`): the rule gets only that. */
const single =
  (rule: (c: LayerCall) => SymTensor): Lowering =>
  (c) => {
    if (c.inputs.length !== 1) {
      const cls = c.layer.getClassName();
      throw new GraphCompileError(`Layer ${c.layer.name} (${cls}) takes one input, got ${c.inputs.length}.`);
    }
    return [rule(c)];
  };

/** Rank-5 channels-last UpSampling3D as a nearest-neighbour repeat (the project's layer, src/keras/layers.ts). */
function upSampling3d({ g, layer, config, x }: LayerCall): SymTensor {
  const size = config.size as number[];
  if (config.dataFormat !== "channelsLast" || x.shape.length !== 5)
    throw new GraphCompileError(`Layer ${layer.name}: UpSampling3D is compiled for rank-5 channels-last inputs only.`);
  const [, d1, d2, d3, c] = x.shape as number[];
  // (d1, 1, d2, 1, d3, 1, c) tiled by (s1, s2, s3) on the unit axes, written with as few axes as
  // possible (TensorFlow's Tile is many times slower at rank 8).
  const { dims, multiples } = compactTile([d1, 1, d2, 1, d3, 1, c], [1, size[0], 1, size[1], 1, size[2], 1]);
  const tiled = ops.tile(g, ops.reshape(g, x, [-1, ...dims]), [1, ...multiples]);
  return ops.reshape(g, tiled, [-1, d1 * size[0], d2 * size[1], d3 * size[2], c]);
}

/** Conv2D, SeparableConv2D and DepthwiseConv2D, with their bias and activation (or the batch normalisation folded in). */
function convolutionLayer(c: LayerCall): SymTensor {
  const { g, layer, config, x } = c;
  const cls = layer.getClassName();
  const conv = convolution(config, layer.name);
  // The last kernel (a separable convolution's pointwise one) takes a folded normalisation's scale.
  const fold = c.foldedNorm ? folded(c, c.foldedNorm) : undefined;
  const last = (kernel: TF.LayerVariable) => (fold ? fold.scaled(kernel) : readAs(c, kernel));
  let y: SymTensor;
  if (cls === "Conv2D") {
    y = convolve(c, x, last(required(layer, "kernel")), conv);
  } else {
    y = ops.depthwiseConv2d(g, x, readAs(c, required(layer, "depthwiseKernel")), conv);
    if (cls === "SeparableConv2D")
      y = convolve(c, y, last(required(layer, "pointwiseKernel")), { strides: [1, 1], padding: "VALID" });
  }
  return fold ? ops.biasAdd(g, y, fold.offset) : biasAndActivation(c, y);
}

/**
 * A Conv2D of `x` by `kernel`; in a training graph, a trainable convolution that is one matrix
 * product is written as that product (Reshape, MatMul, Reshape; `productTap`), so that its forward
 * pass, its input gradient and its filter gradient are MatMuls too. TensorFlow's oneDNN convolution
 * kernels are much slower than its matrix product where a batch has few output positions. The three
 * kernels of one step, batch 64 (bench/conv_products.py, TensorFlow 2.21, 2-core Intel Xeon):
 * InceptionV3's 1×1 filters on its 1×1 maps (2048 → 448) 12.4 ms as convolutions against 3.1 ms as
 * products, its 3×3 filters there 5.5 against 1.8 ms, Xception's 1×1 filters on its 3×3 maps
 * (1536 → 2048) 60 against 37 ms; on maps of 5×5 and more about even. The cached training step
 * (bench/graph_profile.ts --part suffix) took 22 % (InceptionV3) and 11 % (Xception) less time in
 * float32, 12 % and 6 % in mixed_bfloat16. The sums are the same, in another order: results differ
 * by rounding only. Inference graphs and frozen layers keep the convolution: there TensorFlow's
 * optimiser fuses it with the batch normalisation after it, and the frozen-prefix cache's features
 * must be what the uncached training graph computes.
 */
function convolve(c: LayerCall, x: SymTensor, kernel: SymTensor, o: ops.ConvOptions): SymTensor {
  const product = c.ctx.mode === "train" && c.layer.trainableWeights.length > 0;
  return (product && convolutionAsProduct(c.g, x, kernel, o)) || ops.conv2d(c.g, x, kernel, o);
}

/**
 * The Conv2D of `x` by `kernel` as one matrix product, each input position's channels by the
 * [in, out] matrix of the one tap that reads them (`productTap`), with the reshapes around it; null
 * when the convolution is not such a product.
 */
export function convolutionAsProduct(g: Graph, x: SymTensor, kernel: SymTensor, o: ops.ConvOptions): SymTensor | null {
  const tap = productTap(x, kernel, o);
  if (!tap) return null;
  const [kh, kw, cin, cout] = kernel.shape as number[];
  const taken = kh * kw === 1 ? kernel : ops.slice(g, kernel, [tap[0], tap[1], 0, 0], [1, 1, cin, cout]);
  const rows = ops.matMul(g, ops.reshape(g, x, [-1, cin]), ops.reshape(g, taken, [cin, cout]));
  const [, h, w] = ops.convOutput(x, kh, kw, cout, o) as number[];
  return ops.reshape(g, rows, [-1, h, w, cout]);
}

/**
 * The one tap [row, column] of the filter through which a convolution reads its input, when it is
 * a plain matrix product of each input position's channels by that tap's [in, out] matrix: a 1×1
 * filter at stride 1, or any undilated filter with SAME padding on a 1×1 map, where every other tap
 * reads only padding (TensorFlow's SAME puts ⌊(k − 1) / 2⌋ zeros before: the tap at that index reads
 * the one input row). Null otherwise, or when the map's size is not known.
 */
function productTap(x: SymTensor, kernel: SymTensor, o: ops.ConvOptions): [number, number] | null {
  const [kh, kw] = kernel.shape as number[];
  const [, h, w] = x.shape;
  if (h === null || w === null) return null;
  if (kh === 1 && kw === 1 && o.strides[0] === 1 && o.strides[1] === 1) return [0, 0];
  const undilated = (o.dilations ?? [1, 1]).every((d) => d === 1);
  if (h === 1 && w === 1 && o.padding === "SAME" && undilated)
    return [Math.floor((kh - 1) / 2), Math.floor((kw - 1) / 2)];
  return null;
}

/**
 * Whether the batch normalisation `bn` can be folded into the convolution `conv` whose output (of
 * shape `shape`) only it reads: both compute in bfloat16 (mixed precision), the convolution is a Conv2D
 * or SeparableConv2D without activation, and the normalisation is channels last and uses its moving
 * statistics. In training graphs only a frozen pair folds: no gradient reaches its weights, and the
 * frozen layers compute what the inference graphs (the frozen-prefix cache's features among them)
 * compute, so that the cache changes nothing but speed.
 */
function foldsInto(ctx: LoweringContext, conv: TF.layers.Layer, shape: Dim[], bn: TF.layers.Layer): boolean {
  if (!(bn instanceof BatchNormalization) || shape.length !== 4 || (bn.axis !== -1 && bn.axis !== 3)) return false;
  if (ctx.dtypeOf?.(conv) !== "bfloat16" || ctx.dtypeOf(bn) !== "bfloat16") return false;
  const cls = conv.getClassName();
  if (cls !== "Conv2D" && cls !== "SeparableConv2D") return false;
  if (((conv.getConfig() as Config).activation ?? "linear") !== "linear") return false;
  if (bn.usesBatchStatistics(ctx.mode === "train")) return false;
  if (ctx.mode === "train" && (conv.trainableWeights.length > 0 || !bn.isFrozen())) return false;
  // Where it pays: the fold reads and scales the kernel at every run, the normalisation it saves
  // reads and writes the batch's outputs; so fold when the kernel is at most half the outputs of a
  // batch of FOLD_BATCH (kh·kw·in·out ≤ FOLD_BATCH·h·w·out / 2). Measured (2-core Intel Xeon, batch
  // 64): InceptionV3's late layers (1×1 and 3×3 maps, kernels of 0.2–1.3 M weights) cost more folded
  // than their normalisation did; Xception's 6×6 maps and 728-channel kernels gain.
  const [, h, w] = shape;
  const [kh, kw, cin] = required(conv, cls === "Conv2D" ? "kernel" : "pointwiseKernel").shape as number[];
  if (h === null || w === null) return false;
  return kh * kw * cin <= (FOLD_BATCH * h * w) / 2;
}

/** The batch the fold's cost is weighed at (`foldsInto`): predict's and the tutorial's. */
const FOLD_BATCH = 64;

/**
 * The batch normalisation after a convolution, applied through its kernel and bias, as Keras's
 * normalisation computes it in float32 (tf.nn.batch_normalization: x·inv + (β − mean·inv),
 * inv = γ / √(variance + ε)): `scaled(kernel)`, the last kernel scaled by inv on its output channels,
 * and `offset`, the bias β + (b − mean)·inv, both cast once to the layer's dtype.
 */
function folded(
  c: LayerCall,
  bn: BatchNormalization,
): { scaled(kernel: TF.LayerVariable): SymTensor; offset: SymTensor } {
  const { g, layer } = c;
  const v = bn.variables();
  const read = (w: TF.LayerVariable) => c.ctx.weight(w);
  const root = ops.sqrt(g, ops.add(g, read(v.movingVariance), g.constant(bn.epsilon)));
  const inv = ops.div(g, v.gamma ? read(v.gamma) : g.constant(1), root);
  const bias = layerWeightField(layer, "bias");
  const centred =
    c.config.useBias && bias ? ops.sub(g, read(bias), read(v.movingMean)) : ops.neg(g, read(v.movingMean));
  const shifted = ops.mul(g, centred, inv);
  return {
    scaled: (kernel: TF.LayerVariable) => ops.cast(g, ops.mul(g, read(kernel), inv), c.dtype),
    offset: ops.cast(g, v.beta ? ops.add(g, read(v.beta), shifted) : shifted, c.dtype),
  };
}

function pooling({ g, layer, config, x }: LayerCall): SymTensor {
  channelsLast(config, layer.name);
  const size = pair(config.poolSize, layer.name);
  const o: ops.PoolOptions = {
    size,
    strides: pair(config.strides ?? size, layer.name),
    padding: padding(config.padding, layer.name),
  };
  return layer.getClassName() === "MaxPooling2D" ? ops.maxPool(g, x, o) : ops.avgPool(g, x, o);
}

/** Keras 3's dropout in training (tf.nn.experimental.stateless_dropout): keep where uniform ≥ rate, scale by 1/(1 - rate). */
function dropout({ ctx, g, layer, config, x, callArgs }: LayerCall): SymTensor {
  const rate = config.rate as number;
  const training = ctx.mode === "train" && callArgs?.training !== false;
  if (!training || rate === 0) return x;
  if (config.noiseShape)
    throw new GraphCompileError(
      `Layer ${layer.name}: dropout with a noise shape is not supported by the graph engine.`,
    );
  if (!ctx.seed) throw new GraphCompileError(`Layer ${layer.name}: dropout in training needs a seed input.`);
  const stream = ops.add(g, ctx.seed, g.constant([0, nameHash(layer.name)], [2], "int32"));
  const u = ops.statelessRandomUniform(g, ops.shape(g, x), stream, x.shape);
  const keep = ops.cast(g, ops.greaterEqual(g, u, g.constant(rate)), x.dtype);
  return ops.mul(g, x, ops.mul(g, keep, g.constant(1 / (1 - rate), [], x.dtype)));
}

/** The augmentation layers: their random transform in training, the identity otherwise (./augment.ts). */
const augmentation = single(({ ctx, layer, x, callArgs }) =>
  lowerAugmentation(ctx, layer as AugmentationLayer, x, callArgs, (message) => new GraphCompileError(message)),
);

/** The lowering rule of each layer class the graph engine compiles. */
const LOWERINGS: Record<string, Lowering> = {
  Reshape: single(({ g, config, x }) => ops.reshape(g, x, [-1, ...(config.targetShape as number[])])),
  Flatten: single(({ g, layer, x }) => {
    const n = x.shape.slice(1).reduce<number>((a, d) => {
      if (d === null) throw new GraphCompileError(`Layer ${layer.name}: Flatten needs known sizes.`);
      return a * d;
    }, 1);
    return ops.reshape(g, x, [-1, n]);
  }),
  UpSampling3D: single(upSampling3d),
  // Keras casts scale and offset to the layer's dtype (keras/src/layers/preprocessing/rescaling.py).
  Rescaling: single(({ g, config, x }) =>
    ops.add(
      g,
      ops.mul(g, x, g.constant(config.scale as number, [], x.dtype)),
      g.constant(config.offset as number, [], x.dtype),
    ),
  ),
  Conv2D: single(convolutionLayer),
  SeparableConv2D: single(convolutionLayer),
  DepthwiseConv2D: single(convolutionLayer),
  [BatchNormalization.className]: single(({ ctx, layer, x }) => batchNorm(ctx, layer as BatchNormalization, x)),
  Activation: single(({ ctx, layer, config, x }) => activation(ctx, x, config.activation, layer.name)),
  MaxPooling2D: single(pooling),
  AveragePooling2D: single(pooling),
  GlobalAveragePooling2D: single(({ g, layer, config, x }) => {
    channelsLast(config, layer.name);
    if (x.dtype === "float32") return ops.mean(g, x, [1, 2]);
    // Keras's mean sums in float32 and casts back (keras/src/backend/tensorflow/numpy.py).
    return ops.cast(g, ops.mean(g, ops.cast(g, x, "float32"), [1, 2]), x.dtype);
  }),
  Concatenate: ({ g, config, inputs }) => [ops.concat(g, inputs, (config.axis as number | undefined) ?? -1)],
  Add: ({ g, inputs }) => [inputs.slice(1).reduce((a, b) => ops.add(g, a, b), inputs[0])],
  Dense: single((c) => {
    if (c.x.shape.length !== 2)
      throw new GraphCompileError(`Layer ${c.layer.name}: Dense is compiled for rank-2 inputs only.`);
    return biasAndActivation(c, ops.matMul(c.g, c.x, readAs(c, required(c.layer, "kernel"))));
  }),
  Dropout: single(dropout),
  RandomRotation: augmentation,
  RandomTranslation: augmentation,
  RandomZoom: augmentation,
  RandomContrast: augmentation,
};

/** Emits one layer (a nested model: its layers, in place); returns its outputs. */
function lowerLayer(
  ctx: LoweringContext,
  layer: TF.layers.Layer,
  inputs: SymTensor[],
  callArgs: Record<string, unknown> | undefined,
  foldedNorm?: BatchNormalization,
): SymTensor[] {
  if (isContainer(layer)) return lowerModel(ctx, layer, inputs);
  const cls = layer.getClassName();
  const rule = Object.prototype.hasOwnProperty.call(LOWERINGS, cls) ? LOWERINGS[cls] : undefined;
  if (!rule) {
    throw new GraphCompileError(
      `Layer ${layer.name} (${cls}) is not supported by the graph engine; train with engine: "eager".`,
    );
  }
  const config = layer.getConfig() as Config;
  const dtype = ctx.dtypeOf?.(layer) ?? "float32";
  // Keras's autocast: floating inputs are cast to the dtype the layer computes in.
  const cast = inputs.map((t) => (isFloat(t.dtype) && t.dtype !== dtype ? ops.cast(ctx.g, t, dtype) : t));
  return rule({ ctx, g: ctx.g, layer, config, inputs: cast, x: cast[0], callArgs, dtype, foldedNorm });
}

/**
 * Keras 3's batch normalisation (src/keras/layers.ts) as FusedBatchNormV3: in training (and trainable),
 * the batch mean and variance normalise, and the biased variance (Bessel's correction undone) goes
 * to the moving averages; otherwise the moving statistics normalise.
 */
function batchNorm(ctx: LoweringContext, layer: BatchNormalization, x: SymTensor): SymTensor {
  const g = ctx.g;
  if (x.shape.length !== 4 || (layer.axis !== -1 && layer.axis !== 3)) {
    throw new GraphCompileError(
      `Layer ${layer.name}: batch normalisation is compiled for rank-4 channels-last inputs only.`,
    );
  }
  const c = x.shape[3] as number;
  const v = layer.variables();
  const scale = v.gamma ? ctx.weight(v.gamma) : g.constant(new Float32Array(c).fill(1), [c]);
  const offset = v.beta ? ctx.weight(v.beta) : g.constant(new Float32Array(c), [c]);
  const training = layer.usesBatchStatistics(ctx.mode === "train");
  if (!training) {
    return ops.fusedBatchNorm(g, x, scale, offset, ctx.weight(v.movingMean), ctx.weight(v.movingVariance), {
      epsilon: layer.epsilon,
      training: false,
    }).y;
  }
  const empty = g.constant([], [0]);
  const out = ops.fusedBatchNorm(g, x, scale, offset, empty, empty, { epsilon: layer.epsilon, training: true });
  if (ctx.onBatchStatistics) {
    // n values per channel: variance_biased = variance_unbiased * (n - 1) / n.
    const n = ops.div(g, ops.cast(g, ops.size(g, x), "float32"), g.constant(c));
    const biased = ops.mul(g, out.batchVariance, ops.div(g, ops.sub(g, n, g.constant(1)), n));
    ctx.onBatchStatistics(layer, out.batchMean, biased);
  }
  return out.y;
}

/**
 * Emits `model` applied to `inputs` (one per model input); returns the graph tensors of its outputs.
 * Nested models are emitted in place.
 */
export function lowerModel(ctx: LoweringContext, model: TF.LayersModel, inputs: SymTensor[]): SymTensor[] {
  if (inputs.length !== model.inputs.length)
    throw new GraphCompileError(`Model ${model.name} takes ${model.inputs.length} inputs, got ${inputs.length}.`);
  const map = new Map<number, SymTensor>();
  model.inputs.forEach((t, i) => map.set(t.id, inputs[i]));
  const byDepth = nodesByDepth(model);
  const depths = Object.keys(byDepth)
    .map(Number)
    .sort((a, b) => b - a);
  const nodes = depths.flatMap((d) => byDepth[d]);
  // Who reads each tensor, and what the model returns: a convolution folds the batch normalisation
  // after it only when that is its output's one use.
  const readers = new Map<number, GraphNode[]>();
  for (const node of nodes) for (const t of node.inputTensors) readers.set(t.id, [...(readers.get(t.id) ?? []), node]);
  const returned = new Set(model.outputs.map((t) => t.id));
  const folded = new Set<GraphNode>();
  for (const node of nodes) {
    if (folded.has(node)) continue; // applied by the convolution before it
    const layer = node.outboundLayer;
    const args = node.inputTensors.map((t) => map.get(t.id));
    if (args.some((a) => a === undefined)) continue; // not part of this model's computation
    if (layer.getClassName() === "InputLayer") continue;
    const out = node.outputTensors.length === 1 ? node.outputTensors[0] : undefined;
    const next = out && !returned.has(out.id) ? readers.get(out.id) : undefined;
    const norm =
      out && next?.length === 1 && foldsInto(ctx, layer, out.shape, next[0].outboundLayer) ? next[0] : undefined;
    const outs = ctx.g.scope(layer.name, () =>
      lowerLayer(ctx, layer, args as SymTensor[], node.callArgs, norm?.outboundLayer as BatchNormalization),
    );
    if (outs.length !== node.outputTensors.length)
      throw new GraphCompileError(
        `Layer ${layer.name}: ${outs.length} outputs emitted, ${node.outputTensors.length} expected.`,
      );
    if (norm) {
      folded.add(norm);
      map.set(norm.outputTensors[0].id, outs[0]);
    } else {
      node.outputTensors.forEach((t, i) => map.set(t.id, outs[i]));
    }
  }
  return model.outputs.map((t) => {
    const out = map.get(t.id);
    if (!out) throw new GraphCompileError(`Model ${model.name}: output ${t.name} is not reached.`);
    return out;
  });
}
