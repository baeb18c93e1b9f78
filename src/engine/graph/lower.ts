/**
 * From a TF.js LayersModel to TensorFlow ops: each layer of the model (and of the models nested in
 * it, such as the base network inside the tutorial's model) emits the ops that compute what the
 * layer's `call` computes, in the order TF.js itself runs them (`Container.runInternalGraph`: the
 * model's nodes by decreasing depth).
 *
 *   Reshape, UpSampling3D (this project's), Rescaling     → Reshape, Tile, Mul/Add
 *   Conv2D, SeparableConv2D, DepthwiseConv2D              → Conv2D, DepthwiseConv2dNative, BiasAdd
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
 */
import type * as TF from "@tensorflow/tfjs";
import { BatchNormalization, numberPair } from "../../keras/layers";
import type { AugmentationLayer } from "../../keras/preprocessing/layers";
import { isContainer, layerWeightField, nodesByDepth } from "../../tfjs/internals";
import { lowerAugmentation } from "./augment";
import type { Graph, SymTensor } from "./graph";
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
function biasAndActivation(ctx: LoweringContext, layer: TF.layers.Layer, config: Config, y: SymTensor): SymTensor {
  const bias = layerWeightField(layer, "bias");
  if (config.useBias && bias) y = ops.biasAdd(ctx.g, y, ctx.weight(bias));
  return activation(ctx, y, config.activation, layer.name);
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

/** What a layer's lowering rule gets: the layer, its config, its inputs (`x`: the first) and call arguments. */
interface LayerCall {
  ctx: LoweringContext;
  g: Graph;
  layer: TF.layers.Layer;
  config: Config;
  inputs: SymTensor[];
  x: SymTensor;
  callArgs: Record<string, unknown> | undefined;
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

/** Conv2D, SeparableConv2D and DepthwiseConv2D, with their bias and activation. */
function convolutionLayer({ ctx, g, layer, config, x }: LayerCall): SymTensor {
  const cls = layer.getClassName();
  const conv = convolution(config, layer.name);
  let y: SymTensor;
  if (cls === "Conv2D") {
    y = ops.conv2d(g, x, ctx.weight(required(layer, "kernel")), conv);
  } else {
    y = ops.depthwiseConv2d(g, x, ctx.weight(required(layer, "depthwiseKernel")), conv);
    if (cls === "SeparableConv2D")
      y = ops.conv2d(g, y, ctx.weight(required(layer, "pointwiseKernel")), { strides: [1, 1], padding: "VALID" });
  }
  return biasAndActivation(ctx, layer, config, y);
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
  const keep = ops.cast(g, ops.greaterEqual(g, u, g.constant(rate)), "float32");
  return ops.mul(g, x, ops.mul(g, keep, g.constant(1 / (1 - rate))));
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
  Rescaling: single(({ g, config, x }) =>
    ops.add(g, ops.mul(g, x, g.constant(config.scale as number)), g.constant(config.offset as number)),
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
    return ops.mean(g, x, [1, 2]);
  }),
  Concatenate: ({ g, config, inputs }) => [ops.concat(g, inputs, (config.axis as number | undefined) ?? -1)],
  Add: ({ g, inputs }) => [inputs.slice(1).reduce((a, b) => ops.add(g, a, b), inputs[0])],
  Dense: single(({ ctx, g, layer, config, x }) => {
    if (x.shape.length !== 2)
      throw new GraphCompileError(`Layer ${layer.name}: Dense is compiled for rank-2 inputs only.`);
    return biasAndActivation(ctx, layer, config, ops.matMul(g, x, ctx.weight(required(layer, "kernel"))));
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
  return rule({ ctx, g: ctx.g, layer, config, inputs, x: inputs[0], callArgs });
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
  for (const depth of depths) {
    for (const node of byDepth[depth]) {
      const layer = node.outboundLayer;
      const args = node.inputTensors.map((t) => map.get(t.id));
      if (args.some((a) => a === undefined)) continue; // not part of this model's computation
      if (layer.getClassName() === "InputLayer") continue;
      const outs = ctx.g.scope(layer.name, () => lowerLayer(ctx, layer, args as SymTensor[], node.callArgs));
      if (outs.length !== node.outputTensors.length)
        throw new GraphCompileError(
          `Layer ${layer.name}: ${outs.length} outputs emitted, ${node.outputTensors.length} expected.`,
        );
      node.outputTensors.forEach((t, i) => map.set(t.id, outs[i]));
    }
  }
  return model.outputs.map((t) => {
    const out = map.get(t.id);
    if (!out) throw new GraphCompileError(`Model ${model.name}: output ${t.name} is not reached.`);
    return out;
  });
}
