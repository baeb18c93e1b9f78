/**
 * The augmentation layers (../../keras/preprocessing/layers.ts) as TensorFlow ops, for ./lower.ts:
 *
 *   RandomRotation, RandomTranslation, RandomZoom   StatelessRandomUniform draws, the transform
 *                                                   matrices (Cos, Sin, Mul, Sub, ConcatV2), then
 *                                                   ImageProjectiveTransformV3, as Keras's TensorFlow
 *                                                   backend runs them
 *   RandomContrast                                  a StatelessRandomUniform draw, Mean, Mul, Add,
 *                                                   then Maximum and Minimum (the clip)
 *
 * The same arithmetic, in the same order, as ../../keras/preprocessing/affine.ts and contrast.ts
 * (the eager engine's), so that the same drawn numbers give the same images.
 *
 * Random numbers: the graph holds no state, so it cannot keep a layer's SeedGenerator; the training
 * step's seed input (a pair fed anew at each step, as for dropout) is offset per layer and per draw:
 * draw k of a layer uses `seed + [hash(layer name), k]`. A step seed of [s - hash, 0] thus gives
 * draws [s, 0], [s, 1], …, the draws of Keras's layer made with seed s (and of the eager layer) on
 * its first call.
 *
 * In inference mode the layers are the identity. Nothing here is differentiated: the gradients
 * (./gradients.ts) are taken only along paths from trainable weights, and nothing trainable comes
 * before an augmentation layer.
 */
import {
  AugmentationLayer,
  RandomContrast,
  RandomRotation,
  RandomTranslation,
  RandomZoom,
} from "../../keras/preprocessing/layers";
import type { Range } from "../../keras/preprocessing/factors";
import type { Graph, SymTensor } from "./graph";
import * as ops from "./ops";

/** What an augmentation layer's lowering needs of ./lower.ts's context (not imported: lower.ts imports this). */
interface AugmentContext {
  g: Graph;
  mode: "train" | "inference";
  /** The training step's int32 [2] seed input. */
  seed?: SymTensor;
}

/** A stable 31-bit number for a layer name: the offset of its random stream (FNV-1a). */
export function streamOffset(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return (h >>> 1) & 0x3fffffff;
}

/** Values in [lower, upper) of the run-time shape `shape` (an int32 tensor; `like` statically), drawn with `seed`. */
function uniform(
  g: Graph,
  shape: SymTensor,
  like: Array<number | null>,
  lower: number,
  upper: number,
  seed: SymTensor,
): SymTensor {
  const u = ops.statelessRandomUniform(g, shape, seed, like);
  const lo = g.constant(lower);
  return ops.add(g, ops.mul(g, u, ops.sub(g, g.constant(upper), lo)), lo);
}

/** Lowering state of one layer: its images, batch size and draws. */
class Draws {
  readonly n: SymTensor;
  private k = 0;

  constructor(
    readonly g: Graph,
    readonly x: SymTensor,
    private readonly seed: SymTensor,
    private readonly offset: number,
  ) {
    this.n = ops.slice(g, ops.shape(g, x), [0], [1]);
  }

  /** [n, ...rest] as a run-time shape. */
  shape(rest: number[]): SymTensor {
    return rest.length === 0 ? this.n : ops.concat(this.g, [this.n, this.g.constant(rest, [rest.length], "int32")], 0);
  }

  /** The next draw of this layer: uniform in [lower, upper) of shape [n, ...rest]. */
  next(lower: number, upper: number, rest: number[]): SymTensor {
    const stream = ops.add(this.g, this.seed, this.g.constant([this.offset, this.k++], [2], "int32"));
    return uniform(this.g, this.shape(rest), [null, ...rest], lower, upper, stream);
  }

  /** A [n, width] tensor filled with `value`. */
  filled(value: number, width: number): SymTensor {
    return ops.broadcastTo(this.g, this.g.constant(value, [1, 1]), this.shape([width]), [null, width]);
  }
}

/** Rows [a0, a1, a2, b0, b1, b2, 0, 0] from [n, 1] columns. */
function rows(d: Draws, columns: SymTensor[]): SymTensor {
  return ops.concat(d.g, [...columns, d.filled(0, 2)], 1);
}

const column = (g: Graph, t: SymTensor) => ops.reshape(g, t, [-1, 1]);

function transform(d: Draws, layer: RandomRotation | RandomTranslation | RandomZoom, matrices: SymTensor): SymTensor {
  return ops.imageProjectiveTransform(d.g, d.x, matrices, {
    interpolation: layer.interpolation === "nearest" ? "NEAREST" : "BILINEAR",
    fillMode: layer.fillMode.toUpperCase() as "REFLECT" | "WRAP" | "CONSTANT" | "NEAREST",
    fillValue: layer.fillValue,
  });
}

/** As ../../keras/preprocessing/affine.ts, rotationMatrices. */
function rotation(d: Draws, layer: RandomRotation, h: number, w: number): SymTensor {
  const g = d.g;
  const angles = d.next(layer.factor.lower * 360, layer.factor.upper * 360, []);
  const radians = ops.mul(g, angles, g.constant(Math.PI / 180));
  const cos = column(g, ops.cos(g, radians));
  const sin = column(g, ops.sin(g, radians));
  const cx = g.constant(0.5 * (w - 1));
  const cy = g.constant(0.5 * (h - 1));
  const a1 = ops.neg(g, sin);
  const a2 = ops.sub(g, ops.sub(g, cx, ops.mul(g, cx, cos)), ops.mul(g, cy, a1));
  const b2 = ops.sub(g, ops.sub(g, cy, ops.mul(g, cx, sin)), ops.mul(g, cy, cos));
  return transform(d, layer, rows(d, [cos, a1, a2, sin, cos, b2]));
}

/** As translationMatrices: the height's draw first, then the width's. */
function translation(d: Draws, layer: RandomTranslation, h: number, w: number): SymTensor {
  const g = d.g;
  const dy = ops.mul(g, d.next(layer.height.lower, layer.height.upper, [1]), g.constant(h));
  const dx = ops.mul(g, d.next(layer.width.lower, layer.width.upper, [1]), g.constant(w));
  const ones = d.filled(1, 1);
  const zeros = d.filled(0, 1);
  return transform(d, layer, rows(d, [ones, zeros, ops.neg(g, dx), zeros, ones, ops.neg(g, dy)]));
}

/** As zoomMatrices: the height's zoom drawn first, then the width's (when it has its own factor). */
function zoom(d: Draws, layer: RandomZoom, h: number, w: number): SymTensor {
  const g = d.g;
  const draw = (r: Range) => d.next(1 + r.lower, 1 + r.upper, [1]);
  const zy = draw(layer.height);
  const zx = layer.width === null ? zy : draw(layer.width);
  const one = g.constant(1);
  const xOffset = ops.mul(g, g.constant((w - 1) / 2), ops.sub(g, one, zx));
  const yOffset = ops.mul(g, g.constant((h - 1) / 2), ops.sub(g, one, zy));
  const zeros = d.filled(0, 1);
  return transform(d, layer, rows(d, [zx, zeros, xOffset, zeros, zy, yOffset]));
}

/** As ../../keras/preprocessing/contrast.ts. */
function contrast(d: Draws, layer: RandomContrast): SymTensor {
  const g = d.g;
  const factors = d.next(1 - layer.factor.lower, 1 + layer.factor.upper, [1, 1, 1]);
  const mean = ops.mean(g, ops.mean(g, d.x, [1], true), [2], true);
  const y = ops.add(g, ops.mul(g, ops.sub(g, d.x, mean), factors), mean);
  return ops.minimum(g, ops.maximum(g, y, g.constant(layer.valueRange[0])), g.constant(layer.valueRange[1]));
}

/**
 * Emits an augmentation layer applied to `x` (images [n, h, w, c], h and w known): its random
 * transform in training mode (needs `ctx.seed`), `x` itself in inference mode or when the layer was
 * called with `training: false`.
 */
export function lowerAugmentation(
  ctx: AugmentContext,
  layer: AugmentationLayer,
  x: SymTensor,
  callArgs: Record<string, unknown> | undefined,
  fail: (message: string) => Error,
): SymTensor {
  if (ctx.mode !== "train" || callArgs?.training === false) return x;
  const [, h, w] = x.shape;
  if (x.shape.length !== 4 || h === null || w === null)
    throw fail(
      `Layer ${layer.name}: augmentation is compiled for images [n, height, width, channels] of known size, ` +
        `got [${x.shape.join(", ")}].`,
    );
  if (!ctx.seed) throw fail(`Layer ${layer.name}: augmentation in training needs a seed input.`);
  const d = new Draws(ctx.g, x, ctx.seed, streamOffset(layer.name));
  if (layer instanceof RandomRotation) return rotation(d, layer, h, w);
  if (layer instanceof RandomTranslation) return translation(d, layer, h, w);
  if (layer instanceof RandomZoom) return zoom(d, layer, h, w);
  if (layer instanceof RandomContrast) return contrast(d, layer);
  throw fail(`Layer ${layer.name} (${layer.getClassName()}) is an augmentation layer the graph engine does not know.`);
}
