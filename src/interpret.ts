/**
 * Looking at predictions: which digits to look at (`pickExamples`: the first, the right, the wrong,
 * the most confident mistakes), each with its labels and prediction, ready for `digitGrid`
 * (`labelledDigits`), and the most probable classes of each image with their probabilities
 * (`topK`, for `topKPlot`).
 */
import { digitPixels, type DigitSet } from "./data";
import type { Predictions } from "./engine/inference";
import type { ClassProbability } from "./notebook/figures/top_k";

export type { ClassProbability };

export type ExamplePick = "first" | "misclassified" | "confident-mistakes" | "correct";

/**
 * Indices of the examples a user wants to look at:
 *  - "first": the first n,
 *  - "correct": the first n predicted right,
 *  - "misclassified": the first n predicted wrong,
 *  - "confident-mistakes": the n wrong predictions with the highest confidence, most confident first.
 */
export function pickExamples(
  labels: ArrayLike<number>,
  predictions: Predictions,
  pick: ExamplePick = "first",
  n = 16,
): number[] {
  if (labels.length !== predictions.count) {
    throw new Error(`${labels.length} labels but ${predictions.count} predictions; they must match.`);
  }
  const all = Array.from({ length: labels.length }, (_, i) => i);
  switch (pick) {
    case "first":
      return all.slice(0, n);
    case "correct":
      return all.filter((i) => predictions.classes[i] === labels[i]).slice(0, n);
    case "misclassified":
      return all.filter((i) => predictions.classes[i] !== labels[i]).slice(0, n);
    case "confident-mistakes":
      return all
        .filter((i) => predictions.classes[i] !== labels[i])
        .sort((a, b) => predictions.confidence[b] - predictions.confidence[a] || a - b)
        .slice(0, n);
    default:
      throw new Error(
        `Unknown pick "${String(pick)}": use "first", "correct", "misclassified" or "confident-mistakes".`,
      );
  }
}

/** A digit with its true label and, when predicted, the predicted class and its probability (for plots). */
export interface LabelledDigit {
  index: number;
  pixels: Float32Array;
  label: number;
  predicted?: number;
  probability?: number;
}

/** The digits at `indices`, scaled to [0, 1], with their labels and predictions, ready for `digitGrid`. */
export function labelledDigits(
  set: DigitSet,
  predictions: Predictions | undefined,
  indices: number[],
): LabelledDigit[] {
  if (predictions && predictions.count !== set.count) {
    throw new Error(`${set.count} digits but ${predictions.count} predictions: predict on the same set of digits.`);
  }
  return indices.map((index) => ({
    index,
    pixels: digitPixels(set, index),
    label: set.labels[index],
    predicted: predictions ? predictions.classes[index] : undefined,
    probability: predictions ? predictions.confidence[index] : undefined,
  }));
}

/**
 * For each image, the `k` most probable classes with their probabilities, most probable first
 * (equal probabilities: the smaller class first), as Keras's `decode_predictions(preds, top=k)`.
 */
export function topK(predictions: Predictions, k = 3): ClassProbability[][] {
  if (
    !predictions ||
    !(predictions.probabilities instanceof Float32Array) ||
    !Number.isInteger(predictions.numClasses)
  ) {
    throw new Error("topK takes what predict() returns ({ probabilities, numClasses, count, ... }).");
  }
  const { probabilities, numClasses, count } = predictions;
  if (!Number.isInteger(k) || k < 1 || k > numClasses)
    throw new Error(`topK: k must be a whole number from 1 to ${numClasses} (the number of classes), got ${k}.`);
  return Array.from({ length: count }, (_, i) => {
    const row = probabilities.subarray(i * numClasses, (i + 1) * numClasses);
    return Array.from(row, (probability, c) => ({ class: c, probability }))
      .sort((a, b) => b.probability - a.probability || a.class - b.class)
      .slice(0, k);
  });
}
