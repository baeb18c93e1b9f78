/**
 * The public API: what a notebook cell calls, flat, from the three layers below it:
 *
 *   keras/     the Keras port: applications (InceptionV3, Xception), layers, batch normalisation's
 *              arithmetic, the legacy .h5 weight files, the .keras model archive, Keras's cache folder and
 *              get_file-like downloads
 *   engine/    how it runs: the one TensorFlow.js loader (backend.ts), fused kernels, the frozen-prefix
 *              cache, the fit loop, Keras 3's Adam, the eager and graph engines
 *   notebook/  what a notebook shows: display, progress, reports, figures/
 *
 * and the modules beside this one: model.ts (the tutorial's model, `TransferModel`), model_archive.ts
 * (loading it back from a Keras `.keras` archive), model_tfjs.ts (exporting it for a web page) and
 * data.ts (MNIST), and images/ (your own digits: image files made to look like MNIST digits). util/
 * holds what all of them share (formatting, errors, files, .npy).
 *
 *   import * as kt from "./src/index";   // tslab resolves imports to files: name index, not the folder
 *   const mnist = await kt.loadMnist();
 *   const learner = await kt.buildTransferModel({ base: "inception_v3" });
 *   learner.freeze(64);
 *   const found = await learner.findLearningRate(mnist.train);   // fastai's lr_find
 *   kt.show(kt.lrFinderPlot(found));
 *   const history = await learner.fit(mnist.train);
 *   kt.show(kt.historyPlot(history, { metric: "accuracy" }));
 *   await learner.save("out/digits.keras");          // Keras 3's .keras archive
 *   const again = await kt.loadTransferModel("out/digits.keras");
 */
import {
  cosineDecay,
  cosineDecayRestarts,
  exponentialDecay,
  inverseTimeDecay,
  piecewiseConstantDecay,
  polynomialDecay,
} from "./keras/optimizers/schedules";
import { oneCycle } from "./engine/one_cycle";
import { reduceLROnPlateau } from "./engine/reduce_lr_on_plateau";

export { tf, backendInfo, type BackendInfo, type BackendKind } from "./tfjs/backend";
export {
  describeBackend,
  useEngine,
  resolveEngine,
  graphEngineAvailable,
  type EngineName,
  type EngineChoice,
} from "./engine/select";
export {
  loadMnist,
  toCategorical,
  toTensors,
  scaleImages,
  digitPixels,
  classCounts,
  take,
  select,
  mnistFromNpz,
  checkDigitSet,
  checkDigits,
  KERAS_MNIST,
  type Digits,
  type DigitSet,
  type Mnist,
  type MnistSource,
  type LoadMnistOptions,
} from "./data";
export {
  inceptionV3,
  xception,
  buildInceptionV3,
  buildXception,
  layerTable,
  type LayerRow,
  type WeightsOption,
  type WeightsDownloadOptions,
  type InceptionV3Options,
  type XceptionOptions,
} from "./keras/applications/index";
export { BatchNormalization, UpSampling3D, setInferenceCall, isInferenceCall } from "./keras/layers";
export {
  RandomRotation,
  RandomTranslation,
  RandomZoom,
  RandomContrast,
  AugmentationLayer,
  type RandomRotationArgs,
  type RandomTranslationArgs,
  type RandomZoomArgs,
  type RandomContrastArgs,
  type GeometricArgs,
} from "./keras/preprocessing/layers";
export {
  rotate,
  translate,
  zoom,
  affineTransform,
  rotationMatrices,
  translationMatrices,
  zoomMatrices,
  type TransformOptions,
} from "./keras/preprocessing/affine";
export { adjustContrast } from "./keras/preprocessing/contrast";
export { SeedGenerator } from "./keras/preprocessing/random";
export { augmentationLayers, DIGIT_AUGMENTATION, type AugmentOptions, type Augment } from "./model_augment";
export { PRECISIONS, type Precision } from "./keras/dtype_policy";
export { useFusedKernels, fusedKernelsActive } from "./tfjs/native_ops";
export { imagenetWeights, IMAGENET_WEIGHTS, type KerasApplicationName } from "./keras/applications/imagenet_weights";
export { kerasCacheDir } from "./keras/cache";
export { readKerasH5 } from "./keras/saving/legacy_h5_read";
export { loadKerasWeights } from "./keras/saving/weight_order";
export { saveKerasWeights } from "./keras/saving/legacy_h5_write";
export { KerasArchiveError, type SavedArchive } from "./keras/saving/keras_archive";
export { loadTransferModel, type LoadTransferModelOptions } from "./model_archive";
export {
  exportLayersModel,
  TfjsExportError,
  type TfjsExport,
  type TfjsExportOptions,
  type TfjsQuantization,
} from "./keras/saving/tfjs_export";
export { type TransferExportOptions, type WebModelMetadata } from "./model_tfjs";
export { buildTransferModel, upsample, TUTORIAL_FREEZE, type TransferModelOptions } from "./model_build";
export { type BatchNormMode } from "./model_batch_norm";
export {
  TransferModel,
  type BaseName,
  type Preprocessing,
  type TransferFitOptions,
  type FreezeOptions,
  type InferenceOptions,
  type FreezeReport,
  type ParamCounts,
  type RunRecord,
} from "./model";
export { compileModel } from "./engine/compile";
export { validationSplitIndex, type History } from "./engine/loop";
export { type FitOptions } from "./engine/fit_plan";
export { PrefixCacheError } from "./engine/prefix_cache";
export { type Evaluation, type Predictions } from "./engine/inference";
export { BestWeights, ModelCheckpoint, type Monitor, type ModelCheckpointOptions } from "./engine/callbacks";
export { ReduceLROnPlateau, type ReduceLROnPlateauOptions } from "./engine/reduce_lr_on_plateau";
export type { LearningRateSchedule } from "./keras/optimizers/schedules";
export type { OneCycleSchedule, OneCycleOptions } from "./engine/one_cycle";
export type { FitLearningRate } from "./engine/rate_control";
export type { LearningRateFinding, FinderOptions, FindLearningRateOptions } from "./engine/lr_finder";
export type { Suggestion, SuggestionName } from "./engine/lr_suggestions";
export { KerasAdam, KERAS_ADAM, type AdamSettings } from "./keras/optimizers/adam";
export {
  readDigit,
  readDigits,
  decodeGrey,
  ImageReadError,
  IMAGE_EXTENSIONS,
  type ReadDigits,
  type ReadDigitOptions,
} from "./images/read";
export {
  mnistStyle,
  luminance,
  borderLevel,
  mnistPolarity,
  inkLevels,
  inkBox,
  crop,
  fitBox,
  resizeArea,
  centreOfMass,
  placeByCentreOfMass,
  BlankImageError,
  type GreyImage,
  type Box,
  type MnistStyleDigit,
  type MnistStyleOptions,
} from "./images/mnist_style";
export {
  pickExamples,
  labelledDigits,
  topK,
  type ExamplePick,
  type LabelledDigit,
  type ClassProbability,
  topLosses,
  mostConfused,
  exampleLosses,
  type TopLoss,
  type Confusion,
} from "./interpret";
export {
  historyPlot,
  lrFinderPlot,
  digitImage,
  digitGrid,
  upsampledComparison,
  confusionMatrix,
  confusionCounts,
  comparisonPlot,
  comparisonTable,
  topKPlot,
  topLossesPlot,
  type Figure,
  type PixelData,
  type HistoryRecord,
  type HistoryPlotOptions,
  type LrFinderCurve,
  type LrFinderPlotOptions,
  type DigitImageOptions,
  type GridDigit,
  type DigitGridOptions,
  type UpsampledComparisonOptions,
  type ConfusionMatrixOptions,
  type ComparisonRun,
  type ComparisonPlotOptions,
  type TopKEntry,
  type TopKPlotOptions,
  type TopLossEntry,
  type TopLossesPlotOptions,
} from "./notebook/figures/index";
export { show, markdown, html, table, warning, setFigureOutput } from "./notebook/display";
export { createProgress } from "./notebook/progress";
export { inKernel } from "./notebook/tslab";
export { showLayers, showSummary } from "./notebook/report";

/**
 * Learning-rate schedules for `fit`'s `learningRate`, by Keras's names (keras.optimizers.schedules)
 * and fastai's one cycle: `learner.fit(train, { learningRate: kt.schedules.cosineDecay({ ... }) })`.
 */
export const schedules = {
  exponentialDecay,
  piecewiseConstantDecay,
  polynomialDecay,
  inverseTimeDecay,
  cosineDecay,
  cosineDecayRestarts,
  oneCycle,
} as const;

/** Callbacks for `fit`, by Keras's names (keras.callbacks): `callbacks: [kt.callbacks.reduceLROnPlateau({ patience: 2 })]`. */
export const callbacks = { reduceLROnPlateau } as const;
