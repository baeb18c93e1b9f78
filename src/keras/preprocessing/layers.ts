/**
 * Keras 3's image augmentation layers as TF.js layers (keras/src/layers/preprocessing/
 * image_preprocessing/), with Keras's class names and arguments in TF.js's spelling (fill_mode →
 * fillMode):
 *
 *   RandomRotation({ factor })                          a turn of factor × 360° drawn per image
 *   RandomTranslation({ heightFactor, widthFactor })    a shift of factor × the image's size
 *   RandomZoom({ heightFactor, widthFactor? })          a zoom of 1 + factor (no widthFactor: the
 *                                                       same zoom both ways)
 *   RandomContrast({ factor, valueRange? })             a contrast factor drawn from [1 - lower, 1 + upper]
 *
 * and fillMode ("reflect", "wrap", "constant", "nearest"), interpolation ("bilinear", "nearest"),
 * fillValue and seed as in Keras. Each is a thin shell: it checks its arguments (./factors.ts),
 * draws its parameters as Keras draws them (./random.ts: the same numbers as Keras's layer made with
 * the same seed, on native TensorFlow) and applies the transform (./affine.ts, ./contrast.ts).
 *
 * Training only: in `fit` (TF.js passes `training: true`) the layer transforms each image; in
 * `predict` and `evaluate` it passes its input through unchanged. (Keras's layer called on its own
 * defaults to training; TF.js passes no flag in `predict`, so only `training: true` transforms here.)
 * No weights. Registered with `tf.serialization`; the graph engine compiles them
 * (../../engine/graph/augment.ts) and the `.keras` archive writes and reads them
 * (../saving/serialization.ts, ../saving/preprocessing_config.ts).
 */
import type { Tensor } from "@tensorflow/tfjs";
import { tf } from "../../tfjs/backend";
import { rotate, translate, zoom, type TransformOptions } from "./affine";
import { adjustContrast } from "./contrast";
import {
  checkChannelsLast,
  checkFillMode,
  checkFillValue,
  checkInterpolation,
  checkSeed,
  factorRange,
  type Factor,
  type FillMode,
  type Interpolation,
  type Range,
} from "./factors";
import { SeedGenerator, uniform } from "./random";

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Shape = Array<number | null>;
type LayerConfig = ReturnType<InstanceType<typeof tf.layers.Layer>["getConfig"]>;

/** The arguments every augmentation layer takes. */
export interface AugmentationArgs extends LayerArgs {
  /** A whole number for reproducible draws (those of Keras's layer with this seed); null (default): a random one. */
  seed?: number | null;
  /** Only "channelsLast" (the default) is supported. */
  dataFormat?: string;
}

/** The arguments of the geometric layers (rotation, translation, zoom). */
export interface GeometricArgs extends AugmentationArgs {
  /** How points outside the image are filled (default "reflect", Keras's). */
  fillMode?: FillMode;
  /** "bilinear" (default) or "nearest". */
  interpolation?: Interpolation;
  /** The value outside the image with fillMode "constant" (default 0). */
  fillValue?: number;
}

/** The class names of the augmentation layers (Keras's and TF.js's). */
export const AUGMENTATION_CLASSES = ["RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast"] as const;
export type AugmentationClass = (typeof AUGMENTATION_CLASSES)[number];

function oneTensor(inputs: Tensor | Tensor[], layer: string): Tensor {
  if (Array.isArray(inputs)) {
    if (inputs.length !== 1) throw new Error(`${layer} takes one tensor of images, got ${inputs.length}.`);
    return inputs[0];
  }
  return inputs;
}

/** What every augmentation layer shares: the seed, the training switch, the shape checks. */
export abstract class AugmentationLayer extends tf.layers.Layer {
  /** The seed given (null: a random one was drawn, as Keras does). */
  readonly seed: number | null;
  /** Where the layer's draws come from: Keras's SeedGenerator, started at `seed`. */
  readonly generator: SeedGenerator;

  constructor(args: AugmentationArgs) {
    super(args);
    const what = new.target.name;
    this.seed = checkSeed(args.seed, what);
    checkChannelsLast(args.dataFormat, what);
    this.generator = new SeedGenerator(this.seed);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override call(inputs: Tensor | Tensor[], kwargs: Record<string, unknown>): Tensor {
    const x = oneTensor(inputs, this.name);
    if (kwargs?.["training"] !== true) return x;
    if (x.rank !== 4) {
      throw new Error(
        `${this.getClassName()} "${this.name}" takes a batch of images [n, height, width, channels], ` +
          `got shape [${x.shape.join(", ")}].`,
      );
    }
    return tf.tidy(() => this.transform(x, this.draw(x)));
  }

  /** The layer's random parameters for a batch like `images`, drawn as Keras draws them (the generator moves on). */
  abstract draw(images: Tensor): Record<string, Tensor>;

  /** `images` transformed with drawn parameters (what `draw` returns). */
  abstract transform(images: Tensor, parameters: Record<string, Tensor>): Tensor;

  protected baseConfig(): Record<string, unknown> {
    return { seed: this.seed, dataFormat: "channelsLast" };
  }

  protected withBase(config: Record<string, unknown>): LayerConfig {
    return { ...super.getConfig(), ...config, ...this.baseConfig() } as unknown as LayerConfig;
  }
}

/** The fill and interpolation settings of a geometric layer. */
abstract class GeometricLayer extends AugmentationLayer {
  readonly fillMode: FillMode;
  readonly interpolation: Interpolation;
  readonly fillValue: number;

  constructor(args: GeometricArgs) {
    super(args);
    const what = new.target.name;
    this.fillMode = checkFillMode(args.fillMode ?? "reflect", what);
    this.interpolation = checkInterpolation(args.interpolation ?? "bilinear", what);
    this.fillValue = checkFillValue(args.fillValue ?? 0, what);
  }

  get transformOptions(): TransformOptions {
    return { fillMode: this.fillMode, interpolation: this.interpolation, fillValue: this.fillValue };
  }

  protected geometricConfig(): Record<string, unknown> {
    return { fillMode: this.fillMode, interpolation: this.interpolation, fillValue: this.fillValue };
  }
}

// ---------------------------------------------------------------------------
// RandomRotation
// ---------------------------------------------------------------------------

export interface RandomRotationArgs extends GeometricArgs {
  /**
   * A fraction of a full turn: f turns by up to ±f × 360° (0.05: ±18°), [lower, upper] by lower × to
   * upper × 360°.
   */
  factor: Factor;
}

/** Keras's `RandomRotation`: each image turned about its centre by an angle drawn from the factor's range × 360°. */
export class RandomRotation extends GeometricLayer {
  static className = "RandomRotation";
  static readonly kerasClassName = "RandomRotation";
  /** The range of turns, in fractions of a full turn (Keras's `layer.factor`). */
  readonly factor: Range;

  constructor(args: RandomRotationArgs) {
    super(args);
    this.factor = factorRange(args.factor, {
      what: "RandomRotation: factor",
      meaning: "a fraction of a full turn: 0.05 turns each image by up to ±18°",
      min: -1,
      max: 1,
    });
  }

  /** `{ angles }`: degrees, [n], from [lower × 360, upper × 360). */
  draw(images: Tensor): Record<string, Tensor> {
    return {
      angles: uniform([images.shape[0]], this.factor.lower * 360, this.factor.upper * 360, this.generator.next()),
    };
  }

  transform(images: Tensor, p: Record<string, Tensor>): Tensor {
    return rotate(images, p.angles, this.transformOptions);
  }

  override getConfig(): LayerConfig {
    return this.withBase({ factor: [this.factor.lower, this.factor.upper], ...this.geometricConfig() });
  }
}
tf.serialization.registerClass(RandomRotation);

// ---------------------------------------------------------------------------
// RandomTranslation
// ---------------------------------------------------------------------------

export interface RandomTranslationArgs extends GeometricArgs {
  /**
   * A fraction of the height: f shifts by up to ±f × height, [lower, upper] by lower × to upper × height
   * (< 0: up).
   */
  heightFactor: Factor;
  /** The same for the width (negative: left). */
  widthFactor: Factor;
}

/** Keras's `RandomTranslation`: each image shifted by fractions of its height and width drawn from the factors. */
export class RandomTranslation extends GeometricLayer {
  static className = "RandomTranslation";
  static readonly kerasClassName = "RandomTranslation";
  /** The factors as given (Keras writes them so in its config). */
  readonly heightFactor: Factor;
  readonly widthFactor: Factor;
  readonly height: Range;
  readonly width: Range;

  constructor(args: RandomTranslationArgs) {
    super(args);
    const rule = (what: string) => ({
      what: `RandomTranslation: ${what}`,
      meaning: "a fraction of the image's size: 0.1 shifts by up to ±10 %",
      min: -1,
      max: 1,
    });
    this.height = factorRange(args.heightFactor, rule("heightFactor"));
    this.width = factorRange(args.widthFactor, rule("widthFactor"));
    this.heightFactor = args.heightFactor;
    this.widthFactor = args.widthFactor;
  }

  /** `{ dx, dy }`: pixels, [n, 1] each; the height's draw first, as in Keras. */
  draw(images: Tensor): Record<string, Tensor> {
    const [n, h, w] = images.shape as number[];
    const dy = tf.mul(
      uniform([n, 1], this.height.lower, this.height.upper, this.generator.next()),
      tf.scalar(h, "float32"),
    );
    const dx = tf.mul(
      uniform([n, 1], this.width.lower, this.width.upper, this.generator.next()),
      tf.scalar(w, "float32"),
    );
    return { dx, dy };
  }

  transform(images: Tensor, p: Record<string, Tensor>): Tensor {
    return translate(images, p.dx, p.dy, this.transformOptions);
  }

  override getConfig(): LayerConfig {
    return this.withBase({ heightFactor: this.heightFactor, widthFactor: this.widthFactor, ...this.geometricConfig() });
  }
}
tf.serialization.registerClass(RandomTranslation);

// ---------------------------------------------------------------------------
// RandomZoom
// ---------------------------------------------------------------------------

export interface RandomZoomArgs extends GeometricArgs {
  /**
   * f zooms the height by a factor from 1 - f to 1 + f (above 1: zoomed out, below: zoomed in); [lower, upper] from
   * 1 + lower to 1 + upper.
   */
  heightFactor: Factor;
  /** The same for the width; null or absent (default): the height's zoom, keeping the aspect ratio. */
  widthFactor?: Factor | null;
}

/** Keras's `RandomZoom`: each image zoomed about its centre by factors drawn from 1 + the factors' ranges. */
export class RandomZoom extends GeometricLayer {
  static className = "RandomZoom";
  static readonly kerasClassName = "RandomZoom";
  readonly heightFactor: Factor;
  readonly widthFactor: Factor | null;
  readonly height: Range;
  readonly width: Range | null;

  constructor(args: RandomZoomArgs) {
    super(args);
    const rule = (what: string) => ({
      what: `RandomZoom: ${what}`,
      meaning: "the zoom factor is 1 + f, so f = 0.1 zooms by 0.9 to 1.1, and f must stay above -1",
      min: -1,
      max: 1,
      minOpen: true,
    });
    this.height = factorRange(args.heightFactor, rule("heightFactor"));
    this.width =
      args.widthFactor === undefined || args.widthFactor === null
        ? null
        : factorRange(args.widthFactor, rule("widthFactor"));
    this.heightFactor = args.heightFactor;
    this.widthFactor = args.widthFactor ?? null;
  }

  /** `{ zx, zy }`: zoom factors, [n, 1] each; the height's draw first, then the width's (if it has its own factor). */
  draw(images: Tensor): Record<string, Tensor> {
    const n = images.shape[0];
    const zy = uniform([n, 1], 1 + this.height.lower, 1 + this.height.upper, this.generator.next());
    const zx =
      this.width === null ? zy : uniform([n, 1], 1 + this.width.lower, 1 + this.width.upper, this.generator.next());
    return { zx, zy };
  }

  transform(images: Tensor, p: Record<string, Tensor>): Tensor {
    return zoom(images, p.zx, p.zy, this.transformOptions);
  }

  override getConfig(): LayerConfig {
    return this.withBase({ heightFactor: this.heightFactor, widthFactor: this.widthFactor, ...this.geometricConfig() });
  }
}
tf.serialization.registerClass(RandomZoom);

// ---------------------------------------------------------------------------
// RandomContrast
// ---------------------------------------------------------------------------

export interface RandomContrastArgs extends AugmentationArgs {
  /**
   * f ≥ 0, or [lower, upper] in [0, 1]: the contrast factor is drawn from [1 - lower, 1 + upper].
   * Keras 3.15 reads one number f as [0, f] (random_contrast.py with its bounds (0, 1)), so f alone
   * only raises the contrast; [f, f] gives 1 - f to 1 + f.
   */
  factor: Factor;
  /** The pixels' range, to which the result is clipped (default [0, 255], Keras's; the digits here are in [0, 1]). */
  valueRange?: readonly [number, number];
}

/** Keras's `RandomContrast`: each image's contrast scaled by a factor from [1 - lower, 1 + upper], then clipped. */
export class RandomContrast extends AugmentationLayer {
  static className = "RandomContrast";
  static readonly kerasClassName = "RandomContrast";
  readonly factor: Range;
  readonly valueRange: [number, number];

  constructor(args: RandomContrastArgs) {
    super(args);
    this.factor = factorRange(args.factor, {
      what: "RandomContrast: factor",
      meaning: "the contrast factor is drawn from 1 - lower to 1 + upper",
      min: 0,
      max: 1,
      fromZero: true,
    });
    const range = args.valueRange ?? [0, 255];
    if (
      !Array.isArray(range) ||
      range.length !== 2 ||
      !range.every((v) => typeof v === "number" && Number.isFinite(v)) ||
      !(range[0] < range[1])
    ) {
      throw new Error(
        `RandomContrast: valueRange must be [low, high] with low < high (the pixels' range, e.g. [0, 1]), ` +
          `got ${JSON.stringify(args.valueRange)}.`,
      );
    }
    this.valueRange = [range[0], range[1]];
  }

  /** `{ factors }`: [n, 1, 1, 1], from [1 - lower, 1 + upper). */
  draw(images: Tensor): Record<string, Tensor> {
    return {
      factors: uniform([images.shape[0], 1, 1, 1], 1 - this.factor.lower, 1 + this.factor.upper, this.generator.next()),
    };
  }

  transform(images: Tensor, p: Record<string, Tensor>): Tensor {
    return adjustContrast(images, p.factors, this.valueRange);
  }

  override getConfig(): LayerConfig {
    return this.withBase({ factor: [this.factor.lower, this.factor.upper], valueRange: [...this.valueRange] });
  }
}
tf.serialization.registerClass(RandomContrast);
