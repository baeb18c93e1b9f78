/**
 * Custom TF.js layers with Keras 3 semantics, for the Keras applications
 * (InceptionV3, Xception) and the tutorial's input pipeline.
 *
 *  - `BatchNormalization`: Keras's layer. TF.js's own one crashes in training
 *    with `scale: false` (all 94 BN layers of InceptionV3) and keeps updating
 *    its moving statistics when frozen; this one follows Keras 3:
 *      * training (`training: true` and the layer trainable): normalise with
 *        the batch mean and the biased batch variance (`tf.nn.moments`), and
 *        update `moving = moving * momentum + batch * (1 - momentum)` with the
 *        same (biased) variance;
 *      * inference (`training` not true, the layer frozen, or kept in inference
 *        mode by `setInferenceCall` on a model around it): normalise with the
 *        moving statistics, which stay untouched (gamma and beta still train
 *        when the layer is trainable);
 *      * weights `[gamma?, beta?, moving_mean, moving_variance]` (gamma only
 *        with `scale`, beta only with `center`), Keras's order and names.
 *  - `UpSampling3D`: Keras's nearest-neighbour repeat along the three spatial
 *    axes of a rank-5 tensor (TF.js has no such layer).
 *
 * The normalisation itself is in ./normalization.ts, as plain functions: on the native backends,
 * 4-D channels-last batch normalisation runs TensorFlow's fused kernels (../tfjs/native_ops.ts),
 * with the same results to float rounding; elsewhere elementwise TF.js ops.
 *
 * Training flag: TF.js hands the `training` flag of `fit` (true) or `predict`
 * / `evaluate` (false) to every layer, nested models included. Unlike Keras's
 * `base(x, training=False)`, a flag given at graph-building time
 * (`base.apply(x, {training: false})`) is ignored when the model runs; to keep
 * a batch-norm layer in inference mode during `fit`, freeze it
 * (`layer.trainable = false`, or `setTrainable(model, false)`), or keep a
 * whole nested model's batch normalisation in inference mode while it trains
 * with `setInferenceCall(model, true)` (Keras's `base(x, training=False)`).
 *
 * Both are registered with `tf.serialization`, so models using them survive
 * `model.toJSON()` / `tf.models.modelFromJSON()` and `model.save()` /
 * `tf.loadLayersModel()` in the same process.
 */
import type { LayerVariable, Tensor } from "@tensorflow/tfjs";
import { tf } from "../tfjs/backend";
import { isContainer } from "../tfjs/internals";
import { formatShape } from "../util/format";
import { movingAverage, normalize } from "./normalization";

/** Base arguments of every TF.js layer (name, trainable, inputShape, ...). */
type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
/** A TF.js initializer instance (e.g. `tf.initializers.ones()`). */
export type Initializer = ReturnType<typeof tf.initializers.ones>;
/** A TF.js regularizer instance (e.g. `tf.regularizers.l2()`). */
export type Regularizer = ReturnType<typeof tf.regularizers.l2>;
/** A TF.js weight constraint instance (e.g. `tf.constraints.nonNeg()`). */
export type Constraint = ReturnType<typeof tf.constraints.nonNeg>;
/** Layer output / input shape, `null` for unknown dimensions. */
export type Shape = Array<number | null>;
/** The keyword arguments TF.js passes to `Layer.call` (`training`, `mask`). */
export type Kwargs = { [key: string]: unknown };
/** A serialised TF.js object, as found in model JSON: `{className, config}`. */
interface SerializedObject {
  className: string;
  config: { [key: string]: unknown };
}

/** Initializers that can be named by a string, as in `tf.layers`. */
type InitializerIdentifier =
  "zeros" | "ones" | "glorotUniform" | "glorotNormal" | "heUniform" | "heNormal" | "leCunUniform" | "leCunNormal";

const INITIALIZERS: Record<InitializerIdentifier, () => Initializer> = {
  zeros: () => tf.initializers.zeros(),
  ones: () => tf.initializers.ones(),
  glorotUniform: () => tf.initializers.glorotUniform({}),
  glorotNormal: () => tf.initializers.glorotNormal({}),
  heUniform: () => tf.initializers.heUniform({}),
  heNormal: () => tf.initializers.heNormal({}),
  leCunUniform: () => tf.initializers.leCunUniform({}),
  leCunNormal: () => tf.initializers.leCunNormal({}),
};

function isSerializedObject(x: unknown): x is SerializedObject {
  return typeof x === "object" && x !== null && typeof (x as SerializedObject).className === "string" && "config" in x;
}

/** Rebuilds a registered TF.js object (initializer, regularizer, constraint) from `{className, config}`. */
function deserializeRegistered<T>(spec: SerializedObject, what: string): T {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[spec.className];
  if (entry === undefined) {
    throw new Error(`Unknown ${what} class "${spec.className}": it is not registered with tf.serialization.`);
  }
  const [cls, fromConfig] = entry;
  return fromConfig(cls, spec.config as never) as unknown as T;
}

function resolveInitializer(
  spec: Initializer | InitializerIdentifier | SerializedObject | undefined,
  fallback: InitializerIdentifier,
): Initializer {
  if (spec === undefined || spec === null) return INITIALIZERS[fallback]();
  if (typeof spec === "string") {
    const make = INITIALIZERS[spec];
    if (make === undefined) {
      throw new Error(
        `Unknown initializer "${spec}"; use one of ${Object.keys(INITIALIZERS).join(", ")} or an initializer object.`,
      );
    }
    return make();
  }
  if (spec instanceof tf.serialization.Serializable) return spec as Initializer;
  if (isSerializedObject(spec)) return deserializeRegistered<Initializer>(spec, "initializer");
  throw new Error(`Not an initializer: ${JSON.stringify(spec)}`);
}

function resolveOptional<T>(spec: T | SerializedObject | null | undefined, what: string): T | null {
  if (spec === undefined || spec === null) return null;
  if (spec instanceof tf.serialization.Serializable) return spec as T;
  if (isSerializedObject(spec)) return deserializeRegistered<T>(spec, what);
  throw new Error(`Not a ${what}: ${JSON.stringify(spec)}`);
}

function serializeObject(x: { getClassName(): string; getConfig(): object } | null): SerializedObject | null {
  return x === null ? null : { className: x.getClassName(), config: { ...x.getConfig() } };
}

function oneTensor(inputs: Tensor | Tensor[]): Tensor {
  if (Array.isArray(inputs)) {
    if (inputs.length !== 1) throw new Error(`Expected exactly one input tensor, got ${inputs.length}.`);
    return inputs[0];
  }
  return inputs;
}

function oneShape(shape: Shape | Shape[]): Shape {
  if (shape.length > 0 && Array.isArray(shape[0])) {
    const shapes = shape as Shape[];
    if (shapes.length !== 1) throw new Error(`Expected exactly one input shape, got ${shapes.length}.`);
    return shapes[0];
  }
  return shape as Shape;
}

// ---------------------------------------------------------------------------
// BatchNormalization
// ---------------------------------------------------------------------------

export interface BatchNormalizationArgs extends LayerArgs {
  /** The feature axis to normalise (keep one statistic per entry). Default -1 (channels last). */
  axis?: number;
  /** Momentum of the moving averages. Default 0.99 (Keras). */
  momentum?: number;
  /** Added to the variance before the square root. Default 1e-3 (Keras). */
  epsilon?: number;
  /** Whether to add the learned offset `beta`. Default true. */
  center?: boolean;
  /** Whether to multiply by the learned scale `gamma`. Default true. */
  scale?: boolean;
  betaInitializer?: Initializer | InitializerIdentifier | SerializedObject;
  gammaInitializer?: Initializer | InitializerIdentifier | SerializedObject;
  movingMeanInitializer?: Initializer | InitializerIdentifier | SerializedObject;
  movingVarianceInitializer?: Initializer | InitializerIdentifier | SerializedObject;
  betaRegularizer?: Regularizer | SerializedObject | null;
  gammaRegularizer?: Regularizer | SerializedObject | null;
  betaConstraint?: Constraint | SerializedObject | null;
  gammaConstraint?: Constraint | SerializedObject | null;
}

/**
 * Keras 3's `BatchNormalization` (see the module comment for the semantics).
 *
 * Registered as "KerasBatchNormalization" so that it does not replace TF.js's
 * own "BatchNormalization"; `kerasClassName` is the name Keras prints.
 */
export class BatchNormalization extends tf.layers.Layer {
  static className = "KerasBatchNormalization";
  /** The class name Keras uses for this layer (model summaries, layer tables). */
  static readonly kerasClassName = "BatchNormalization";

  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  private readonly betaInitializer: Initializer;
  private readonly gammaInitializer: Initializer;
  private readonly movingMeanInitializer: Initializer;
  private readonly movingVarianceInitializer: Initializer;
  private readonly betaRegularizer: Regularizer | null;
  private readonly gammaRegularizer: Regularizer | null;
  private readonly betaConstraint: Constraint | null;
  private readonly gammaConstraint: Constraint | null;
  private gamma: LayerVariable | null = null;
  private beta: LayerVariable | null = null;
  private movingMean: LayerVariable | null = null;
  private movingVariance: LayerVariable | null = null;
  /**
   * Runs in inference mode even in training, as inside Keras's `model(x, training=False)`: set by
   * `setInferenceCall` on a model around it. Not part of the layer's config: in Keras it belongs to
   * the model's call.
   */
  inferenceMode = false;

  constructor(args: BatchNormalizationArgs = {}) {
    super(args);
    this.supportsMasking = true;
    this.axis = args.axis ?? -1;
    this.momentum = args.momentum ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
    if (!Number.isInteger(this.axis)) throw new Error(`BatchNormalization: axis must be an integer, got ${args.axis}.`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) {
      throw new Error(`BatchNormalization: momentum must be in [0, 1], got ${args.momentum}.`);
    }
    if (!(this.epsilon > 0)) throw new Error(`BatchNormalization: epsilon must be positive, got ${args.epsilon}.`);
    this.betaInitializer = resolveInitializer(args.betaInitializer, "zeros");
    this.gammaInitializer = resolveInitializer(args.gammaInitializer, "ones");
    this.movingMeanInitializer = resolveInitializer(args.movingMeanInitializer, "zeros");
    this.movingVarianceInitializer = resolveInitializer(args.movingVarianceInitializer, "ones");
    this.betaRegularizer = resolveOptional<Regularizer>(args.betaRegularizer, "regularizer");
    this.gammaRegularizer = resolveOptional<Regularizer>(args.gammaRegularizer, "regularizer");
    this.betaConstraint = resolveOptional<Constraint>(args.betaConstraint, "constraint");
    this.gammaConstraint = resolveOptional<Constraint>(args.gammaConstraint, "constraint");
  }

  private positiveAxis(rank: number): number {
    const axis = this.axis < 0 ? this.axis + rank : this.axis;
    if (axis < 0 || axis >= rank) {
      throw new Error(
        `BatchNormalization "${this.name}": axis ${this.axis} is out of bounds for an input of rank ${rank}.`,
      );
    }
    return axis;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = oneShape(inputShape);
    const axis = this.positiveAxis(shape.length);
    const dim = shape[axis];
    if (dim === null) {
      throw new Error(
        `BatchNormalization "${this.name}": the normalised axis ${this.axis} of input shape ${formatShape(shape)} must be known.`,
      );
    }
    this.inputSpec = [new tf.InputSpec({ ndim: shape.length, axes: { [axis]: dim } })];
    // Keras's creation order: gamma, beta (trainable), then the moving statistics.
    if (this.scale) {
      this.gamma = this.addWeight(
        "gamma",
        [dim],
        "float32",
        this.gammaInitializer,
        this.gammaRegularizer ?? undefined,
        true,
        this.gammaConstraint ?? undefined,
      );
    }
    if (this.center) {
      this.beta = this.addWeight(
        "beta",
        [dim],
        "float32",
        this.betaInitializer,
        this.betaRegularizer ?? undefined,
        true,
        this.betaConstraint ?? undefined,
      );
    }
    this.movingMean = this.addWeight("moving_mean", [dim], "float32", this.movingMeanInitializer, undefined, false);
    this.movingVariance = this.addWeight(
      "moving_variance",
      [dim],
      "float32",
      this.movingVarianceInitializer,
      undefined,
      false,
    );
    this.built = true;
  }

  /** The layer's weights by role (gamma and beta are null without `scale` / `center`). */
  variables(): {
    gamma: LayerVariable | null;
    beta: LayerVariable | null;
    movingMean: LayerVariable;
    movingVariance: LayerVariable;
  } {
    if (!this.movingMean || !this.movingVariance)
      throw new Error(`BatchNormalization "${this.name}" is not built yet.`);
    return { gamma: this.gamma, beta: this.beta, movingMean: this.movingMean, movingVariance: this.movingVariance };
  }

  /**
   * Whether the layer is frozen. Keras 3 freezes it with `layer.trainable = false`;
   * TF.js's `model.trainable = false` instead marks the weights of the model's
   * layers non-trainable without touching `layer.trainable`, so that counts too.
   */
  isFrozen(): boolean {
    if (!this.trainable) return true;
    const own = [this.gamma, this.beta].filter((w): w is LayerVariable => w !== null);
    return own.length > 0 && own.every((w) => !w.trainable);
  }

  /**
   * Whether a call normalises with the batch statistics (and updates the moving ones): in training,
   * when the layer is trainable and not kept in inference mode. Both engines ask this.
   */
  usesBatchStatistics(training: boolean): boolean {
    return training && !this.isFrozen() && !this.inferenceMode;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor {
    return tf.tidy(() => {
      const x = oneTensor(inputs);
      const training = this.usesBatchStatistics(kwargs["training"] === true);
      const out = normalize({
        x,
        axis: this.positiveAxis(x.rank),
        gamma: this.gamma?.read() ?? null,
        beta: this.beta?.read() ?? null,
        epsilon: this.epsilon,
        training,
        mean: training ? undefined : this.movingMean!.read(),
        variance: training ? undefined : this.movingVariance!.read(),
      });
      if (training) this.updateMovingStatistics(out.batchMean!, out.batchVariance!);
      return out.y;
    });
  }

  /** moving = moving * momentum + batch * (1 - momentum), for the mean and the (biased) variance. */
  private updateMovingStatistics(batchMean: Tensor, batchVariance: Tensor): void {
    tf.tidy(() => {
      this.movingMean!.write(movingAverage(this.movingMean!.read(), batchMean, this.momentum));
      this.movingVariance!.write(movingAverage(this.movingVariance!.read(), batchVariance, this.momentum));
    });
  }

  override getConfig() {
    const config = {
      axis: this.axis,
      momentum: this.momentum,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      betaInitializer: serializeObject(this.betaInitializer),
      gammaInitializer: serializeObject(this.gammaInitializer),
      movingMeanInitializer: serializeObject(this.movingMeanInitializer),
      movingVarianceInitializer: serializeObject(this.movingVarianceInitializer),
      betaRegularizer: serializeObject(this.betaRegularizer),
      gammaRegularizer: serializeObject(this.gammaRegularizer),
      betaConstraint: serializeObject(this.betaConstraint),
      gammaConstraint: serializeObject(this.gammaConstraint),
    };
    return { ...super.getConfig(), ...config } as unknown as ReturnType<
      InstanceType<typeof tf.layers.Layer>["getConfig"]
    >;
  }
}
tf.serialization.registerClass(BatchNormalization);

// ---------------------------------------------------------------------------
// UpSampling3D
// ---------------------------------------------------------------------------

export interface UpSampling3DArgs extends LayerArgs {
  /** Repeat factors along the three spatial axes (or one factor for all three). Default [2, 2, 2] (Keras). */
  size?: number | [number, number, number];
  /** Where the channels are, TF.js spelling. Default "channelsLast" (Keras's default image data format). */
  dataFormat?: "channelsLast" | "channelsFirst";
}

/**
 * Keras's `UpSampling3D`: repeats each entry `size[i]` times along spatial axis
 * i of a rank-5 input, `(batch, dim1, dim2, dim3, channels)` (channels last) or
 * `(batch, channels, dim1, dim2, dim3)` (channels first).
 *
 * Exact (a gather of repeated indices) and differentiable (the gradient of a
 * gather sums the copies back).
 */
export class UpSampling3D extends tf.layers.Layer {
  static className = "UpSampling3D";
  static readonly kerasClassName = "UpSampling3D";

  readonly size: [number, number, number];
  readonly dataFormat: "channelsLast" | "channelsFirst";

  constructor(args: UpSampling3DArgs = {}) {
    super(args);
    const size = args.size ?? [2, 2, 2];
    this.size = typeof size === "number" ? [size, size, size] : [size[0], size[1], size[2]];
    if (!Array.isArray(size) && typeof size !== "number")
      throw new Error(`UpSampling3D: size must be a number or three numbers.`);
    if (Array.isArray(size) && size.length !== 3) {
      throw new Error(
        `UpSampling3D: size must have three entries (depth, height, width factors), got [${size.join(", ")}].`,
      );
    }
    for (const s of this.size) {
      if (!Number.isInteger(s) || s < 1) {
        throw new Error(`UpSampling3D: size factors must be positive integers, got [${this.size.join(", ")}].`);
      }
    }
    this.dataFormat = args.dataFormat ?? "channelsLast";
    if (this.dataFormat !== "channelsLast" && this.dataFormat !== "channelsFirst") {
      throw new Error(
        `UpSampling3D: dataFormat must be "channelsLast" or "channelsFirst", got "${String(args.dataFormat)}".`,
      );
    }
    this.inputSpec = [new tf.InputSpec({ ndim: 5 })];
  }

  private spatialAxes(): [number, number, number] {
    return this.dataFormat === "channelsLast" ? [1, 2, 3] : [2, 3, 4];
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = oneShape(inputShape);
    if (shape.length !== 5) {
      throw new Error(
        `UpSampling3D "${this.name}" expects a rank-5 input (batch, dim1, dim2, dim3, channels), got shape ${formatShape(shape)}. ` +
          `Reshape images first, e.g. (28, 28, 1) to (28, 28, 1, 1).`,
      );
    }
    const out = shape.slice();
    this.spatialAxes().forEach((axis, i) => {
      const d = out[axis];
      out[axis] = d === null ? null : d * this.size[i];
    });
    return out;
  }

  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor {
    void kwargs;
    return tf.tidy(() => {
      let x = oneTensor(inputs);
      if (x.rank !== 5) {
        throw new Error(`UpSampling3D "${this.name}" expects a rank-5 tensor, got shape [${x.shape.join(", ")}].`);
      }
      this.spatialAxes().forEach((axis, i) => {
        const factor = this.size[i];
        if (factor === 1) return;
        const n = x.shape[axis];
        const idx = new Int32Array(n * factor);
        for (let j = 0; j < idx.length; j++) idx[j] = Math.floor(j / factor);
        x = tf.gather(x, tf.tensor1d(idx, "int32"), axis);
      });
      return x;
    });
  }

  override getConfig() {
    const config = { size: [...this.size], dataFormat: this.dataFormat };
    return { ...super.getConfig(), ...config } as unknown as ReturnType<
      InstanceType<typeof tf.layers.Layer>["getConfig"]
    >;
  }
}
tf.serialization.registerClass(UpSampling3D);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** The class name Keras would print for a layer (our custom classes map to Keras's names; a functional model is "Functional"). */
export function kerasClassName(layer: { getClassName(): string; constructor: unknown }): string {
  const ctor = layer.constructor as { kerasClassName?: string };
  if (typeof ctor.kerasClassName === "string") return ctor.kerasClassName;
  const name = layer.getClassName();
  if (name === "Model") return "Functional";
  return name;
}

type AnyLayer = InstanceType<typeof tf.layers.Layer>;

/**
 * A layer argument that TF.js keeps as one number or two (kernel size, strides, pool size, dilation
 * rate), as two numbers, Keras's `standardize_tuple(value, 2)`; undefined for anything else.
 */
export function numberPair(v: unknown): [number, number] | undefined {
  if (typeof v === "number") return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number"))
    return [v[0] as number, v[1] as number];
  return undefined;
}

/**
 * Keras 3's `layer.trainable = value`: sets the flag on the layer and, for a
 * model, recursively on every layer inside (TF.js's `model.trainable` setter
 * only flips the weights of the direct children). Remember that TF.js, like
 * Keras, needs `compile()` again after changing trainability.
 */
export function setTrainable(layer: AnyLayer, value: boolean): void {
  if (isContainer(layer)) for (const l of layer.layers) setTrainable(l, value);
  layer.trainable = value;
}

/** The nested models called in inference mode (see `setInferenceCall`). */
const inferenceCalls = new WeakSet<object>();

/**
 * Keras's `model(x, training=False)` for a model nested in another: every BatchNormalization inside
 * it (at any depth) runs in inference mode, in `fit` too: the moving statistics normalise and are
 * not updated, while gamma and beta still train where the layer is trainable. TF.js ignores a
 * training flag given when the outer model is built (see the module comment), so the flag is kept
 * on the layers; the `.keras` archive records it on the model's call, as Keras does
 * (./saving/serialization.ts). Changing it needs `compile()` again, like `trainable`.
 */
export function setInferenceCall(model: AnyLayer, on: boolean): void {
  const visit = (layer: AnyLayer) => {
    if (layer instanceof BatchNormalization) layer.inferenceMode = on;
    if (isContainer(layer)) layer.layers.forEach(visit);
  };
  visit(model);
  if (on) inferenceCalls.add(model);
  else inferenceCalls.delete(model);
}

/** Whether `setInferenceCall(model, true)` holds for a model. */
export function isInferenceCall(model: AnyLayer): boolean {
  return inferenceCalls.has(model);
}
