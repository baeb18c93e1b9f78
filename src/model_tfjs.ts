/**
 * The tutorial's model for a web page: `exportTransferModel` (what `TransferModel.exportTfjs` runs)
 * writes it in TF.js's LayersModel format (./keras/saving/tfjs_export.ts: model.json and 4 MiB
 * weight shards, optionally quantized as TensorFlow.js's converter quantizes), with what a page
 * needs to know about it in model.json's `userDefinedMetadata` (`WebModelMetadata`): the base, the
 * input it expects, the classes, how it was trained and how well it did.
 *
 * A page loads it with `tf.loadLayersModel(".../model.json")` once the project's custom layers are
 * registered: importing ./keras/layers.ts into the page's bundle does that (web/, `npm run demo`).
 *
 * ./model.ts calls this module, so it names what it reads of a `TransferModel` itself
 * (`ExportedModel`) instead of importing model.ts; `TransferModel` passes itself, which checks that
 * it has all of it.
 */
import type * as TF from "@tensorflow/tfjs";
import {
  checkExportOptions,
  exportLayersModel,
  type TfjsExport,
  type TfjsExportOptions,
  type TfjsQuantization,
} from "./keras/saving/tfjs_export";
import type { KerasApplicationName } from "./keras/applications/imagenet_weights";

/** Options of `TransferModel.exportTfjs`. */
export interface TransferExportOptions extends Omit<TfjsExportOptions, "metadata" | "convertedBy"> {
  /** A sentence about the model shown beside it in the demo page (how it was made, what it is for). */
  note?: string;
}

/** What an export reads of the tutorial's model (a `TransferModel`, ./model.ts). */
interface ExportedModel {
  readonly model: TF.LayersModel;
  /** ./model.ts's `BaseName`: "inception_v3" or "xception". */
  readonly baseName: KerasApplicationName;
  /** ./model.ts's `Preprocessing`. */
  readonly preprocessing: "tutorial" | "keras";
  readonly weights: string;
  readonly freezeDepth: number;
  readonly runs: ReadonlyArray<ExportedRun>;
}

/** One training run as an export records it (the part of ./model.ts's `RunRecord` a web page shows). */
interface ExportedRun {
  run: number;
  epochs: number;
  trainImages: number;
  freezeDepth: number;
  valAccuracy?: number;
  testAccuracy?: number;
}

/** What model.json's `userDefinedMetadata.digits` says about an exported tutorial model. */
export interface WebModelMetadata {
  base: ExportedModel["baseName"];
  /** "InceptionV3", "Xception". */
  title: string;
  quantize: TfjsQuantization;
  preprocessing: ExportedModel["preprocessing"];
  /** Where the base's weights came from ("imagenet", "random", a file). */
  weights: string;
  freezeDepth: number;
  /** The input: 28×28×1 grey levels in [0, 1], a white digit on black as MNIST's (`mnistStyle` makes them). */
  input: { shape: [28, 28, 1]; range: [0, 1] };
  /** The classes, in the order of the output's probabilities. */
  classes: string[];
  /** The training runs (epochs, digits, accuracy on validation and test digits, when measured). */
  runs: ExportedRun[];
  note?: string;
  /** When it was exported (ISO 8601). */
  exported: string;
}

const TITLES: Record<ExportedModel["baseName"], string> = { inception_v3: "InceptionV3", xception: "Xception" };

/** The metadata of `tm` as exported with `quantize`. */
function webModelMetadata(tm: ExportedModel, quantize: TfjsQuantization, note?: string): WebModelMetadata {
  return {
    base: tm.baseName,
    title: TITLES[tm.baseName],
    quantize,
    preprocessing: tm.preprocessing,
    weights: tm.weights,
    freezeDepth: tm.freezeDepth,
    input: { shape: [28, 28, 1], range: [0, 1] },
    classes: Array.from({ length: 10 }, (_, i) => String(i)),
    runs: tm.runs.map((r) => ({
      run: r.run,
      epochs: r.epochs,
      trainImages: r.trainImages,
      freezeDepth: r.freezeDepth,
      ...(r.valAccuracy !== undefined ? { valAccuracy: r.valAccuracy } : {}),
      ...(r.testAccuracy !== undefined ? { testAccuracy: r.testAccuracy } : {}),
    })),
    ...(note !== undefined ? { note } : {}),
    exported: new Date().toISOString(),
  };
}

/** Writes `tm`'s whole model (front, base, head) as a TF.js LayersModel into `dir`, with its metadata. */
export async function exportTransferModel(
  tm: ExportedModel,
  dir: string,
  options: TransferExportOptions = {},
): Promise<TfjsExport> {
  const { quantize } = checkExportOptions(dir, options);
  const metadata = { digits: webModelMetadata(tm, quantize, options.note) };
  const convertedBy = `keras-transfer-ts exportTfjs (${quantize === false ? "float32" : `${quantize} quantization`})`;
  return exportLayersModel(tm.model, dir, { ...options, metadata, convertedBy });
}
