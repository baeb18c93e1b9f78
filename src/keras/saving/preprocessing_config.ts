/**
 * Keras's augmentation layers read back from a `.keras` archive's config.json: the other direction
 * of ./serialization.ts for RandomRotation, RandomTranslation, RandomZoom and RandomContrast
 * (keras/src/layers/preprocessing/image_preprocessing/random_*.py, get_config).
 *
 *   augmentationFromKeras(layer)   the TF.js layer (../preprocessing/layers.ts) a layer config
 *                                  describes, with its name and seed; a setting the layers here do not
 *                                  take is an error that names it
 */
import {
  AUGMENTATION_CLASSES,
  RandomContrast,
  RandomRotation,
  RandomTranslation,
  RandomZoom,
  type AugmentationClass,
  type AugmentationLayer,
} from "../preprocessing/layers";
import type { Factor, FillMode, Interpolation } from "../preprocessing/factors";
import type { Json } from "./serialization";

type Config = Record<string, Json>;

/** Whether a layer config is one of Keras's augmentation layers read here. */
export function isAugmentationConfig<T extends { class_name?: Json }>(
  layer: T,
): layer is T & { class_name: AugmentationClass } {
  const c = layer.class_name;
  return typeof c === "string" && (AUGMENTATION_CLASSES as readonly string[]).includes(c);
}

/** A config value in a message: a string as it is, anything else as JSON. */
const asText = (v: Json | undefined): string => (typeof v === "string" ? v : String(JSON.stringify(v)));

/** A factor as Keras writes it: a number or a list of two (any other value is left for the layer to refuse). */
const factor = (v: Json | undefined): Factor =>
  Array.isArray(v) ? (v.slice() as unknown as [number, number]) : (v as number);

/** The TF.js layer for a Keras augmentation layer config (see the module comment). */
export function augmentationFromKeras(layer: { class_name?: Json; config?: Json; name?: Json }): AugmentationLayer {
  const className = asText(layer.class_name) as AugmentationClass;
  const c = (
    layer.config && typeof layer.config === "object" && !Array.isArray(layer.config) ? layer.config : {}
  ) as Config;
  const name = asText(layer.name ?? c.name ?? "");
  const common = {
    name: name || undefined,
    seed: (c.seed as number | null | undefined) ?? null,
    dataFormat: (c.data_format as string | undefined) ?? "channels_last",
  };
  const fill = {
    fillMode: (c.fill_mode as FillMode | undefined) ?? "reflect",
    interpolation: (c.interpolation as Interpolation | undefined) ?? "bilinear",
    fillValue: (c.fill_value as number | undefined) ?? 0,
  };
  switch (className) {
    case "RandomRotation":
      return new RandomRotation({ ...common, ...fill, factor: factor(c.factor) });
    case "RandomTranslation":
      return new RandomTranslation({
        ...common,
        ...fill,
        heightFactor: factor(c.height_factor),
        widthFactor: factor(c.width_factor),
      });
    case "RandomZoom":
      return new RandomZoom({
        ...common,
        ...fill,
        heightFactor: factor(c.height_factor),
        widthFactor: c.width_factor === null || c.width_factor === undefined ? null : factor(c.width_factor),
      });
    case "RandomContrast": {
      const range = c.value_range;
      return new RandomContrast({
        ...common,
        factor: factor(c.factor),
        valueRange: Array.isArray(range) ? (range.slice() as unknown as [number, number]) : undefined,
      });
    }
    default:
      throw new Error(
        `layer "${name}" is a ${asText(layer.class_name)}, ` +
          `not one of the augmentation layers read here (${AUGMENTATION_CLASSES.join(", ")})`,
      );
  }
}
