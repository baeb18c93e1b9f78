/**
 * What the Keras application builders share: Keras's layer auto-naming, Keras's
 * layer defaults (where TF.js's differ), and `obtain_input_shape`'s checks.
 */
import type { LayersModel, SymbolicTensor } from "@tensorflow/tfjs";
import { tf } from "../../tfjs/backend";
import { formatShape } from "../../util/format";
import { BatchNormalization, type BatchNormalizationArgs, type Shape } from "../layers";

/** An image input shape, channels last: (height, width, channels); `null` for a free height or width. */
export type ImageShape = [number | null, number | null, number];

/**
 * Keras's automatic layer names: the first `Conv2D` is "conv2d", the next
 * "conv2d_1", and so on, one counter per prefix (Keras keeps these counters
 * for the whole session; here each builder starts from fresh counters unless
 * it is given a `KerasNames` to continue).
 */
export class KerasNames {
  private readonly counts = new Map<string, number>();

  /** The next automatic name for a prefix ("conv2d", "batch_normalization", ...). */
  next(prefix: string): string {
    const n = this.counts.get(prefix) ?? 0;
    this.counts.set(prefix, n + 1);
    return n === 0 ? prefix : `${prefix}_${n}`;
  }

  /** How many names this prefix has handed out. */
  count(prefix: string): number {
    return this.counts.get(prefix) ?? 0;
  }
}

type Sym = SymbolicTensor;
type Apply = (x: Sym | Sym[]) => Sym;
type Conv2DArgs = Parameters<typeof tf.layers.conv2d>[0];
type SeparableConv2DArgs = Parameters<typeof tf.layers.separableConv2d>[0];
type Pooling2DArgs = Parameters<typeof tf.layers.maxPooling2d>[0];
type ActivationArgs = Parameters<typeof tf.layers.activation>[0];
type ConcatenateArgs = NonNullable<Parameters<typeof tf.layers.concatenate>[0]>;
type AddArgs = NonNullable<Parameters<typeof tf.layers.add>[0]>;
type Layer = InstanceType<typeof tf.layers.Layer>;

function applier(layer: Layer): Apply {
  return (x) => layer.apply(x) as Sym;
}

/**
 * Keras's layer constructors with Keras's defaults and Keras's automatic names,
 * so a builder reads like Keras: `x = layers.conv2d({...})(x)` for
 * `x = layers.Conv2D(...)(x)`. Only what InceptionV3 and Xception use.
 */
export class KerasLayers {
  constructor(readonly names: KerasNames = new KerasNames()) {}

  /** `keras.Input(shape)`: the model's input layer, named "input_layer". */
  input(shape: Shape, name?: string): Sym {
    return tf.input({ shape, name: name ?? this.names.next("input_layer") });
  }

  /** `layers.Conv2D`; kernels glorot_uniform and biases zeros, as in Keras (TF.js defaults to glorotNormal). */
  conv2d(args: Conv2DArgs): Apply {
    return applier(
      tf.layers.conv2d({
        kernelInitializer: "glorotUniform",
        biasInitializer: "zeros",
        ...args,
        name: args.name ?? this.names.next("conv2d"),
      }),
    );
  }

  /** `layers.SeparableConv2D`; both kernels glorot_uniform, as in Keras. */
  separableConv2d(args: SeparableConv2DArgs): Apply {
    return applier(
      tf.layers.separableConv2d({
        depthwiseInitializer: "glorotUniform",
        pointwiseInitializer: "glorotUniform",
        biasInitializer: "zeros",
        ...args,
        name: args.name ?? this.names.next("separable_conv2d"),
      }),
    );
  }

  /** `layers.BatchNormalization`, Keras semantics (see ../layers). */
  batchNormalization(args: BatchNormalizationArgs = {}): Apply {
    return applier(new BatchNormalization({ ...args, name: args.name ?? this.names.next("batch_normalization") }));
  }

  /** `layers.Activation`. */
  activation(args: ActivationArgs): Apply {
    return applier(tf.layers.activation({ ...args, name: args.name ?? this.names.next("activation") }));
  }

  /** `layers.MaxPooling2D` (strides default to the pool size, padding "valid"). */
  maxPooling2d(args: Pooling2DArgs): Apply {
    return applier(tf.layers.maxPooling2d({ ...args, name: args.name ?? this.names.next("max_pooling2d") }));
  }

  /** `layers.AveragePooling2D` (strides default to the pool size, padding "valid"). */
  averagePooling2d(args: Pooling2DArgs): Apply {
    return applier(tf.layers.averagePooling2d({ ...args, name: args.name ?? this.names.next("average_pooling2d") }));
  }

  /** `layers.concatenate(inputs, axis, name)`. */
  concatenate(inputs: Sym[], args: ConcatenateArgs = {}): Sym {
    return applier(tf.layers.concatenate({ axis: -1, ...args, name: args.name ?? this.names.next("concatenate") }))(
      inputs,
    );
  }

  /** `layers.add(inputs)`. */
  add(inputs: Sym[], args: AddArgs = {}): Sym {
    return applier(tf.layers.add({ ...args, name: args.name ?? this.names.next("add") }))(inputs);
  }

  /** `Functional(inputs, outputs, name)`. */
  model(inputs: Sym, outputs: Sym, name: string): LayersModel {
    return tf.model({ inputs, outputs, name });
  }
}

/** A shape as Python prints a tuple: `(None, 84, 84, 3)` (from ../../util/format.ts). */
export { formatShape };

export interface InputShapeCheck {
  /** The application, for messages ("InceptionV3"). */
  modelName: string;
  /** Keras's default size (299 for both). */
  defaultSize: number;
  /** Keras's minimum height and width (75 for InceptionV3, 71 for Xception). */
  minSize: number;
  /** What weights will be loaded: "imagenet" needs 3 channels. */
  weights: "imagenet" | null | string;
}

/**
 * Keras's `imagenet_utils.obtain_input_shape` for `include_top=False`,
 * channels last: the same checks, the same messages (each followed by what
 * to do), the same default `(None, None, 3)`, and the same warning for a
 * channel count other than 1 or 3 without ImageNet weights.
 */
export function obtainInputShape(
  inputShape: ReadonlyArray<number | null> | null | undefined,
  check: InputShapeCheck,
): ImageShape {
  const { modelName, minSize, weights } = check;
  if (inputShape === null || inputShape === undefined || inputShape.length === 0) {
    return [null, null, 3];
  }
  if (!Array.isArray(inputShape)) {
    throw new Error(
      `\`input_shape\` must be a tuple of three integers. Pass [height, width, channels] for ${modelName}, e.g. [84, 84, 3].`,
    );
  }
  const shape: Array<number | null> = [...(inputShape as Array<number | null>)];
  if (shape.length !== 3) {
    throw new Error(
      `\`input_shape\` must be a tuple of three integers. Received: input_shape=${formatShape(shape)}; ` +
        `pass [height, width, channels] for ${modelName}, e.g. [84, 84, 3].`,
    );
  }
  shape.forEach((d, i) => {
    const free = i < 2 && d === null;
    if (!free && !(typeof d === "number" && Number.isInteger(d) && d > 0)) {
      throw new Error(
        `\`input_shape\` must be a tuple of three integers. Received: input_shape=${formatShape(shape)}; ` +
          `height and width must be positive integers (or null for any size) and channels a positive integer.`,
      );
    }
  });
  if (weights !== "imagenet" && shape[2] !== 1 && shape[2] !== 3) {
    console.warn(
      `This model usually expects 1 or 3 input channels. However, it was passed an input_shape with ${shape[2]} input channels.`,
    );
  }
  if (shape[2] !== 3 && weights === "imagenet") {
    throw new Error(
      `The input must have 3 channels; Received \`input_shape=${formatShape(shape)}\`. ` +
        `${modelName}'s ImageNet weights expect RGB images: repeat a grey channel three times (or build with weights: null).`,
    );
  }
  const [h, w] = shape;
  if ((h !== null && h < minSize) || (w !== null && w < minSize)) {
    throw new Error(
      `Input size must be at least ${minSize}x${minSize}; Received: input_shape=${formatShape(shape)}. ` +
        `${modelName} needs images of at least ${minSize}x${minSize} pixels: resize or upsample smaller ones ` +
        `(the tutorial upsamples 28x28 digits to 84x84x3).`,
    );
  }
  return [shape[0], shape[1], shape[2] as number];
}
