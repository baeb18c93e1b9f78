/**
 * A model's layers as Keras lists them (`for i, layer in enumerate(model.layers)`
 * and `model.summary()`): index, name, class as Keras prints it, output shape,
 * parameter count, trainability; and the parameter counts that end `summary()`.
 */
import type { LayersModel } from "@tensorflow/tfjs";
import { kerasClassName } from "../layers";
import { formatShape } from "./common";

type Dims = Array<number | null>;

export interface LayerRow {
  /** Position in `model.layers`. */
  index: number;
  name: string;
  /** The class Keras prints ("BatchNormalization", "Conv2D", "Functional" for a nested model, ...). */
  className: string;
  /** The output shape as Keras prints it: "(None, 84, 84, 3)" (a list of such for several outputs). */
  outputShape: string;
  /** The output shape as numbers, `null` for the batch and other free dimensions. */
  shape: Dims | Dims[];
  /** All parameters of the layer, trainable or not (Keras's `count_params()`). */
  params: number;
  /** `layer.trainable`. */
  trainable: boolean;
}

/** Parameter counts as Keras's `summary()` ends: total, trainable and non-trainable. */
export interface ParamCounts {
  total: number;
  trainable: number;
  nonTrainable: number;
}

function isShapeList(shape: Dims | Dims[]): shape is Dims[] {
  return shape.length > 0 && Array.isArray(shape[0]);
}

/** The rows of `model.layers`, in order. */
export function layerTable(model: LayersModel): LayerRow[] {
  return model.layers.map((layer, index) => {
    const shape = layer.outputShape as Dims | Dims[];
    const outputShape = isShapeList(shape) ? `[${shape.map((s) => formatShape(s)).join(", ")}]` : formatShape(shape);
    return {
      index,
      name: layer.name,
      className: kerasClassName(layer),
      outputShape,
      shape,
      params: layer.countParams(),
      trainable: layer.trainable,
    };
  });
}

/** One row as in the Keras reference tables: "18 conv2d_8 Conv2D (None, 8, 8, 64) 12288". */
export function formatLayerRow(row: LayerRow): string {
  return `${row.index} ${row.name} ${row.className} ${row.outputShape} ${row.params}`;
}
