/**
 * The models the page offers: `models/index.json`, made by web/serve.ts from the folders of exported
 * models it serves (each one `learner.exportTfjs` wrote: model.json and its shards), and read by the
 * page. What a model is comes from its model.json's `userDefinedMetadata.digits`
 * (src/model_tfjs.ts `WebModelMetadata`); a folder without it is still offered, under its name.
 *
 * No TensorFlow and no Node here: both sides use it.
 */
import type { WebModelMetadata } from "../../src/model_tfjs";

export interface CatalogEntry {
  /** The folder's name, e.g. "inception_v3-float16". */
  id: string;
  /** model.json's address, relative to the page. */
  url: string;
  /** For the choice: "InceptionV3 · float16". */
  title: string;
  /** All its files. */
  bytes: number;
  /** Its metadata, when it has the project's. */
  metadata?: WebModelMetadata;
}

export interface Catalog {
  models: CatalogEntry[];
  /** Where the server found them (for messages). */
  source: string;
}

/** "InceptionV3 · float16" from the metadata, else the folder's name. */
export function entryTitle(id: string, metadata: WebModelMetadata | undefined): string {
  if (!metadata) return id;
  return `${metadata.title} · ${metadata.quantize === false ? "float32" : metadata.quantize}`;
}

/** One line on how a model was trained and how well it did, from its metadata. */
export function trainingText(metadata: WebModelMetadata | undefined): string {
  if (!metadata) return "No description: exported without the project's metadata.";
  const runs = metadata.runs;
  const epochs = runs.reduce((s, r) => s + r.epochs, 0);
  const last = runs[runs.length - 1];
  const parts: string[] = [];
  parts.push(`${metadata.title}, base weights: ${metadata.weights}`);
  if (runs.length === 0) parts.push("not trained");
  else parts.push(`${epochs} epoch${epochs === 1 ? "" : "s"} on ${last.trainImages.toLocaleString("en")} digits`);
  const test = [...runs].reverse().find((r) => r.testAccuracy !== undefined)?.testAccuracy;
  if (test !== undefined) parts.push(`test accuracy ${(test * 100).toFixed(1)} %`);
  return parts.join(" · ") + ".";
}
