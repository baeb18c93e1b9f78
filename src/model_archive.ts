/**
 * The tutorial's model read back from Keras 3's `.keras` archive: one that `learner.save()` wrote,
 * or one Python Keras wrote with `model.save("digits.keras")` for the same model (an InceptionV3 or
 * Xception base nested in the tutorial's front and head). Saving is `TransferModel.save`
 * (./model.ts, through ./keras/saving/).
 *
 *   loadTransferModel(file)   a TransferModel with the archive's weights, freeze depth, Adam settings
 *                             and Adam state
 *
 * How: config.json says which base, which preprocessing, the data augmentation before the base,
 * the head's sizes, the Adam settings, which layers are frozen and whether the base was called in
 * inference mode (`training: false` in its call, Keras's `base_model(x, training=False)`: the
 * model's batchNorm "inference"); the model is built from that (random weights), its own config is
 * compared with the archive's, layer by layer (./keras/saving/architecture.ts), then every stored
 * variable is checked against it before any is assigned. Anything that does not fit is a
 * `KerasArchiveError` saying what and what to do; a model already known under the same key stays
 * as it was, and the archive is only read.
 *
 * Freeze depth: TransferModel freezes the first N layers of the base. Keras records `trainable` for
 * every layer but the input layer, so depths 0 and 1 (the input layer alone, which has no weights)
 * read back as 0: the same model.
 */
import * as path from "node:path";
import { architectureDifference, functionalLayers } from "./keras/saving/architecture";
import {
  KerasArchiveError,
  assignModelWeights,
  assignOptimizerState,
  checkModelWeights,
  openKerasArchive,
  readOptimizerState,
  storedLearningRate,
} from "./keras/saving/keras_archive";
import { adamFromCompileConfig, float32Decimal, serializeModel, type Json } from "./keras/saving/serialization";
import { augmentationFromKeras, isAugmentationConfig } from "./keras/saving/preprocessing_config";
import type { AugmentationLayer } from "./keras/preprocessing/layers";
import { adamOf } from "./keras/optimizers/adam";
import { type BaseName, type Preprocessing, type TransferModel } from "./model";
import type { BatchNormMode } from "./model_batch_norm";
import { assembleTransferModel, registerTransferModel } from "./model_build";
import { warning } from "./notebook/display";

export interface LoadTransferModelOptions {
  /**
   * Loading again with the same key disposes the model loaded (or built) under it before, once the
   * new one has loaded (default: "archive:" and the file's absolute path, so that loading does not
   * dispose the model you are training, and loading the same file again replaces the earlier copy).
   */
  key?: string;
}

/** The base networks by their layer count in Keras (`len(base_model.layers)`). */
const BASES: Array<{ name: BaseName; layers: number; title: string }> = [
  { name: "inception_v3", layers: 311, title: "InceptionV3" },
  { name: "xception", layers: 132, title: "Xception" },
];

const TUTORIAL_SHAPE =
  "digits 28×28×1 → Reshape → UpSampling3D(3, 3, 3) → Reshape (84, 84, 3) " +
  "[→ RandomRotation, RandomTranslation, RandomZoom, RandomContrast] " +
  "[→ Rescaling] → InceptionV3 or Xception without its top, " +
  "nested as one layer → GlobalAveragePooling2D → Dense → Dropout → Dense(10, softmax)";

function notTheTutorials(file: string, reason: string): KerasArchiveError {
  return new KerasArchiveError(
    file,
    `${file} holds a Keras model, but not the tutorial's: ${reason}. loadTransferModel reads the tutorial's model (${TUTORIAL_SHAPE}), ` +
      `as learner.save() or Keras's model.save() writes it; open other models with Keras's keras.saving.load_model.`,
  );
}

type LayerConfig = Record<string, Json>;

const configOf = (layer: LayerConfig): Record<string, Json> =>
  layer.config && typeof layer.config === "object" && !Array.isArray(layer.config)
    ? (layer.config as Record<string, Json>)
    : {};
const nameOf = (layer: LayerConfig): string => {
  const name = layer.name ?? configOf(layer).name;
  return typeof name === "string" ? name : "?";
};

/** What the archive's config says about the tutorial's options (before the full comparison). */
interface Plan {
  base: (typeof BASES)[number];
  preprocessing: Preprocessing;
  denseUnits?: number;
  dropout?: number;
  depth: number;
  augment: AugmentationLayer[];
  batchNorm: BatchNormMode;
}

/** The freeze depth from the base's `trainable` flags: a frozen prefix, then only trainable layers. */
function freezeDepth(file: string, baseLayer: LayerConfig, layers: LayerConfig[]): number {
  if (configOf(baseLayer).trainable === false) return layers.length; // `base_model.trainable = False`
  const flags = layers.map((l) => configOf(l).trainable);
  const first = flags.findIndex((f) => f === true);
  if (first < 0) return layers.length;
  const frozenAfter = flags.findIndex((f, i) => i > first && f === false);
  if (frozenAfter >= 0) {
    throw notTheTutorials(
      file,
      `its base network trains layer #${first} ("${nameOf(layers[first])}") but freezes layer #${frozenAfter} ("${nameOf(layers[frozenAfter])}") after it, ` +
        `where TransferModel freezes a first run of layers (Keras: \`for layer in base_model.layers[:N]: layer.trainable = False\`)`,
    );
  }
  // Only the input layer (no flag, no weights) before the first trainable one: nothing is frozen.
  return flags.slice(0, first).some((f) => f === false) ? first : 0;
}

function plan(file: string, config: unknown): Plan {
  const layers = functionalLayers(config);
  if (layers.length === 0) throw notTheTutorials(file, "its config.json holds no functional model with layers");
  const nested = layers
    .map((l, i) => ({ l, i }))
    .filter(({ l }) => l.class_name === "Functional" || l.class_name === "Model");
  if (nested.length !== 1) {
    throw notTheTutorials(
      file,
      nested.length === 0
        ? "it has no base network nested as one layer"
        : `it nests ${nested.length} models, where the tutorial's nests one base network`,
    );
  }
  const [{ l: baseLayer, i: baseIndex }] = nested;
  const baseLayers = functionalLayers(baseLayer);
  const base = BASES.find((b) => b.layers === baseLayers.length);
  if (!base) {
    throw notTheTutorials(
      file,
      `its base network ("${nameOf(baseLayer)}") has ${baseLayers.length} layers, where the tutorial's InceptionV3 has 311 and Xception 132 (both without their top)`,
    );
  }
  for (const l of layers.slice(baseIndex + 1)) {
    const frozen = configOf(l).trainable === false;
    if (frozen && l.class_name === "Dense") {
      throw notTheTutorials(
        file,
        `its head layer "${nameOf(l)}" is frozen, where TransferModel always trains its head`,
      );
    }
  }
  if ((config as { config?: { trainable?: unknown } }).config?.trainable === false) {
    throw notTheTutorials(
      file,
      "the whole model is frozen (model.trainable = False), where TransferModel always trains its head",
    );
  }
  const augment = layers
    .slice(0, baseIndex)
    .filter(isAugmentationConfig)
    .map((l) => {
      try {
        return augmentationFromKeras(l);
      } catch (e) {
        const what = `its augmentation layer "${nameOf(l)}" (${l.class_name})`;
        throw notTheTutorials(file, `${what} cannot be made here: ${(e as Error).message}`);
      }
    });
  // Keras records `base_model(x, training=False)` in the call's kwargs.
  const baseCalls = Array.isArray(baseLayer.inbound_nodes) ? baseLayer.inbound_nodes : [];
  const call = baseCalls[0] as { kwargs?: { training?: unknown } } | undefined;
  const batchNorm: BatchNormMode = call?.kwargs?.training === false ? "inference" : "training";
  const head = layers.slice(baseIndex + 1);
  const dense = head.find((l) => l.class_name === "Dense");
  const dropout = head.find((l) => l.class_name === "Dropout");
  const units = dense ? configOf(dense).units : undefined;
  const rate = dropout ? configOf(dropout).rate : undefined;
  return {
    base,
    preprocessing: layers.slice(0, baseIndex).some((l) => l.class_name === "Rescaling") ? "keras" : "tutorial",
    denseUnits: typeof units === "number" && Number.isInteger(units) && units > 0 ? units : undefined,
    dropout: typeof rate === "number" && rate >= 0 && rate < 1 ? rate : undefined,
    depth: freezeDepth(file, baseLayer, baseLayers),
    augment,
    batchNorm,
  };
}

/**
 * Reads a `.keras` archive of the tutorial's model into a new TransferModel: the weights, the freeze
 * depth, Adam's settings and (when saved after training) Adam's step count and moments, so that
 * training goes on where it stopped. See the module comment for what is checked.
 */
export async function loadTransferModel(file: string, options: LoadTransferModelOptions = {}): Promise<TransferModel> {
  if (typeof file !== "string" || file.length === 0) {
    throw new KerasArchiveError(
      String(file),
      `loadTransferModel needs the path of a .keras file, got ${JSON.stringify(file)}.`,
    );
  }
  const archive = await openKerasArchive(file);
  let tm: TransferModel | undefined;
  try {
    const p = plan(file, archive.config);
    const compiled = adamFromCompileConfig((archive.config as { compile_config?: unknown }).compile_config);
    if ("problem" in compiled) throw notTheTutorials(file, compiled.problem);
    const adam = { ...compiled.adam };
    const rate = storedLearningRate(archive);
    if (rate !== undefined) adam.learningRate = float32Decimal(rate);
    tm = await assembleTransferModel(
      {
        base: p.base.name,
        weights: null,
        preprocessing: p.preprocessing,
        denseUnits: p.denseUnits,
        dropout: p.dropout,
        adam,
        freeze: p.depth,
        augment: p.augment,
        batchNorm: p.batchNorm,
      },
      file,
    );
    const difference = architectureDifference(
      serializeModel(tm.model, { adam }),
      archive.config,
      `the tutorial's ${p.base.title} model`,
    );
    if (difference) throw notTheTutorials(file, difference);
    const slots = checkModelWeights(archive, tm.model);
    const state = readOptimizerState(archive, tm.model);
    assignModelWeights(archive, slots);
    if (state?.moments) assignOptimizerState(adamOf(tm.model), state);
    if (state?.skipped) warning(`${file}: ${state.skipped}.`);
    tm.snapshotWeights();
    await registerTransferModel(tm, options.key ?? `archive:${path.resolve(file)}`);
    return tm;
  } catch (e) {
    tm?.dispose();
    throw e;
  } finally {
    archive.close();
  }
}
