/**
 * Data augmentation for the tutorial's model (`buildTransferModel({ augment })`): the Keras layers
 * of ./keras/preprocessing/layers.ts that go between the upsampling and the base network, where
 * Keras's transfer-learning guide puts its `data_augmentation` block. They change each training
 * digit a little at every step and do nothing in `evaluate` and `predict`.
 *
 *   augmentationLayers(augment)   the layers for `augment`: true (the digits' defaults,
 *                                 DIGIT_AUGMENTATION), settings (AugmentOptions), or layers made by
 *                                 hand; none for false or undefined
 *
 * For digits: small turns, shifts and zooms, and never flips (a mirrored 2, 3, 4, 5, 7 or 9 is no
 * digit; there is no flip layer here). The empty border of an MNIST digit is 0, so pixels coming
 * in from outside the image are filled with 0 by default.
 */
import type { Factor, FillMode, Interpolation } from "./keras/preprocessing/factors";
import {
  AUGMENTATION_CLASSES,
  AugmentationLayer,
  RandomContrast,
  RandomRotation,
  RandomTranslation,
  RandomZoom,
} from "./keras/preprocessing/layers";

/** Augmentation settings for digits; each factor 0 leaves its layer out. */
export interface AugmentOptions {
  /** RandomRotation's factor, a fraction of a full turn (default 0.03: up to ±10.8°), at most half a turn (0.5). */
  rotation?: Factor;
  /** RandomTranslation's factor, for the height and the width (default 0.1: shifts of up to ±10 % of the size). */
  translation?: Factor;
  /** RandomZoom's factor, the same zoom both ways (default 0.1: zoom factors from 0.9 to 1.1). */
  zoom?: Factor;
  /** RandomContrast's factor (default 0: no contrast layer); the pixels' range is [0, 1]. */
  contrast?: Factor;
  /** How pixels coming from outside the image are filled (default "constant", with `fillValue`). */
  fillMode?: FillMode;
  /** Default 0: MNIST's background. */
  fillValue?: number;
  /** Default "bilinear". */
  interpolation?: Interpolation;
  /** A seed for reproducible draws (the layers take seed, seed + 1, …); default: random ones. */
  seed?: number | null;
}

/** What `augment: true` means. */
export const DIGIT_AUGMENTATION = { rotation: 0.03, translation: 0.1, zoom: 0.1, contrast: 0 } as const;

/** The augmentation settings `buildTransferModel` takes. */
export type Augment = boolean | AugmentOptions | AugmentationLayer[];

const isZero = (f: Factor) => (typeof f === "number" ? f === 0 : f[0] === 0 && f[1] === 0);

/** The layers for `augment` (see the module comment); errors name the setting and say what to pass. */
export function augmentationLayers(augment: Augment | undefined): AugmentationLayer[] {
  if (augment === undefined || augment === false) return [];
  if (Array.isArray(augment)) {
    const bad = augment.find((l) => !(l instanceof AugmentationLayer));
    if (bad !== undefined) {
      const name = (bad as { name?: unknown })?.name;
      throw new Error(
        `augment: ${JSON.stringify(name ?? bad)} is not an augmentation layer; ` +
          `pass layers made with kt.${AUGMENTATION_CLASSES.join(", kt.")}.`,
      );
    }
    return augment.slice();
  }
  if (augment !== true && (typeof augment !== "object" || augment === null)) {
    throw new Error(
      `augment must be true (the digits' defaults), false, settings such as ` +
        `{ rotation: 0.03, translation: 0.1, zoom: 0.1 }, or a list of augmentation layers; ` +
        `got ${JSON.stringify(augment)}.`,
    );
  }
  const o: AugmentOptions = augment === true ? {} : augment;
  const known = new Set([
    "rotation",
    "translation",
    "zoom",
    "contrast",
    "fillMode",
    "fillValue",
    "interpolation",
    "seed",
  ]);
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  if (unknown.length > 0)
    throw new Error(
      `augment: unknown setting ${unknown.map((k) => `"${k}"`).join(", ")}; ` +
        `the settings are ${[...known].join(", ")}. ` +
        `(No flips: a mirrored digit is no digit.)`,
    );
  const rotation: Factor = o.rotation ?? DIGIT_AUGMENTATION.rotation;
  const halfTurn = (x: number) => Math.abs(x) > 0.5;
  if (
    (typeof rotation === "number" && halfTurn(rotation)) ||
    (Array.isArray(rotation) && rotation.some((x) => typeof x === "number" && halfTurn(x)))
  ) {
    throw new Error(
      `augment: rotation ${JSON.stringify(rotation)} turns digits by more than half a turn ` +
        `(0.5 is ±180°, which already reaches every angle; a 6 turned by half a turn is a 9). ` +
        `Digits want small turns, e.g. rotation: 0.03 (±10.8°).`,
    );
  }
  const seed = o.seed ?? null;
  const seedAt = (k: number) => (seed === null ? null : seed + k);
  const geometric = {
    fillMode: o.fillMode ?? "constant",
    fillValue: o.fillValue ?? 0,
    interpolation: o.interpolation ?? "bilinear",
  } as const;
  const translation: Factor = o.translation ?? DIGIT_AUGMENTATION.translation;
  const zoom: Factor = o.zoom ?? DIGIT_AUGMENTATION.zoom;
  const contrast: Factor = o.contrast ?? DIGIT_AUGMENTATION.contrast;
  const layers: AugmentationLayer[] = [];
  if (!isZero(rotation))
    layers.push(new RandomRotation({ factor: rotation, ...geometric, seed: seedAt(0), name: "random_rotation" }));
  if (!isZero(translation)) {
    layers.push(
      new RandomTranslation({
        heightFactor: translation,
        widthFactor: translation,
        ...geometric,
        seed: seedAt(1),
        name: "random_translation",
      }),
    );
  }
  if (!isZero(zoom))
    layers.push(new RandomZoom({ heightFactor: zoom, ...geometric, seed: seedAt(2), name: "random_zoom" }));
  if (!isZero(contrast))
    layers.push(new RandomContrast({ factor: contrast, valueRange: [0, 1], seed: seedAt(3), name: "random_contrast" }));
  return layers;
}
