/**
 * Figures for the notebooks, in the style of Observable Plot: each function
 * takes plain data (arrays, typed arrays) and options and returns one
 * `Figure`, a standalone SVG drawn on a white card with dark text, so it reads
 * the same in light and dark Jupyter themes. Show it with `show()` from
 * ../display.ts. One kind of figure per file:
 *
 * - history.ts     `historyPlot`: training and validation curves per epoch (accuracy or loss), or the
 *                  learning rate per epoch
 * - lr_finder.ts   `lrFinderPlot`: the learning-rate finder's loss against the rate, suggestions marked
 * - digits.ts      `digitImage`: one digit, black ink on white (matplotlib's "binary" colormap);
 *                  `digitGrid`: digits with true and predicted labels, mistakes in red;
 *                  `upsampledComparison`: a 28×28 digit beside its 84×84×3 upsampled copy
 * - confusion.ts   `confusionMatrix`, `confusionCounts`: counts of (true, predicted) pairs
 * - comparison.ts  `comparisonPlot`, `comparisonTable`: runs with different freeze depths
 * - top_k.ts       `topKPlot`: an image, the 28×28 digit the model saw and its most probable
 *                  classes as bars
 * - top_losses.ts  `topLossesPlot`: the digits with the largest losses, with prediction, actual
 *                  class, loss and probability (fastai's `plot_top_losses`)
 *
 * and the pieces they are drawn with: figure.ts (the `Figure` type), card.ts
 * (title, legend, body, caption), theme.ts (colours, font), dom.ts (jsdom and
 * Observable Plot), pixels.ts and png.ts (digits as PNG images).
 *
 * Pixel values: `Uint8Array` and `Uint8ClampedArray` are read as 0–255, every
 * other array (`Float32Array`, `number[]`, …) as [0, 1]; `maxValue` overrides
 * this. 0 is drawn white and the maximum black.
 *
 * No TensorFlow here. Observable Plot and jsdom are loaded on first use, so
 * importing the figures is cheap. The output is deterministic: the same data
 * gives the same SVG text.
 */
export type { Figure, PixelData } from "./figure";
export { historyPlot, type HistoryRecord, type HistoryPlotOptions } from "./history";
export { lrFinderPlot, type LrFinderCurve, type LrFinderPlotOptions } from "./lr_finder";
export {
  digitImage,
  digitGrid,
  upsampledComparison,
  type DigitImageOptions,
  type GridDigit,
  type DigitGridOptions,
  type UpsampledComparisonOptions,
} from "./digits";
export { confusionMatrix, confusionCounts, type ConfusionMatrixOptions } from "./confusion";
export { comparisonPlot, comparisonTable, type ComparisonRun, type ComparisonPlotOptions } from "./comparison";
export { topKPlot, type TopKEntry, type TopKPlotOptions } from "./top_k";
export { topLossesPlot, type TopLossEntry, type TopLossesPlotOptions } from "./top_losses";
export { encodeGreyPng } from "./png";
