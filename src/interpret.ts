/**
 * Looking at predictions, as fastai's `ClassificationInterpretation` does (fastai/interpret.py):
 *
 *   pickExamples(labels, predictions, pick, n)   which digits to look at: the first, the right, the
 *                                                wrong, the most confident mistakes
 *   labelledDigits(set, predictions, indices)    each with its labels and prediction, ready for `digitGrid`
 *   topK(predictions, k)                         the most probable classes of each image with their
 *                                                probabilities, for `topKPlot`
 *
 * and error analysis:
 *
 *   exampleLosses(labels, predictions)   each example's categorical cross-entropy on the predicted
 *                                        probabilities, as Keras's `categorical_crossentropy` computes
 *                                        it: -log of the true class's probability, clipped to
 *                                        [1e-7, 1 - 1e-7]
 *   topLosses(set, predictions, k)       the k examples with the largest loss, largest first (fastai's
 *                                        `top_losses`), each with its pixels, actual and predicted class,
 *                                        loss and the probability of the actual class: what
 *                                        `topLossesPlot` draws (fastai's `plot_top_losses`)
 *   mostConfused(labels, classes, min)   the (actual, predicted) pairs that are not the same class, with
 *                                        how often each occurs, most frequent first, those occurring at
 *                                        least `min` times (fastai's `most_confused`)
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

// ---------------------------------------------------------------------------
// Error analysis

/** Keras's `backend.epsilon()`: probabilities are clipped to [EPSILON, 1 - EPSILON] before the logarithm. */
const EPSILON = 1e-7;

/** One of the examples with the largest losses. */
export interface TopLoss {
  /** Position in its set. */
  index: number;
  /** The digit's pixels in [0, 1], 28×28 row-major. */
  pixels: Float32Array;
  /** The actual class. */
  label: number;
  /** The predicted class. */
  predicted: number;
  /** Categorical cross-entropy: -log(probability of the actual class), clipped as Keras clips it. */
  loss: number;
  /** The probability the model gave the actual class. */
  probability: number;
  /** The probability of the predicted class. */
  confidence: number;
}

/** An actual class mistaken for another, and how often. */
export interface Confusion {
  actual: number;
  predicted: number;
  count: number;
}

function checkPredictions(predictions: Predictions, what: string): void {
  if (
    !predictions ||
    !(predictions.probabilities instanceof Float32Array) ||
    !Number.isInteger(predictions.numClasses) ||
    !Number.isInteger(predictions.count)
  ) {
    throw new Error(`${what} takes what predict() returns ({ probabilities, classes, numClasses, count, ... }).`);
  }
}

/**
 * Each example's loss (see the module comment): Keras's categorical cross-entropy on probabilities
 * (keras/src/backend/tensorflow/nn.py, categorical_crossentropy with from_logits=False): the row
 * divided by its sum, clipped to [1e-7, 1 - 1e-7], -log of the actual class's entry.
 */
export function exampleLosses(labels: ArrayLike<number>, predictions: Predictions): Float64Array {
  checkPredictions(predictions, "exampleLosses");
  const { probabilities, numClasses, count } = predictions;
  if (labels.length !== count)
    throw new Error(`${labels.length} labels but ${count} predictions: predict on the same set of digits.`);
  const losses = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const row = probabilities.subarray(i * numClasses, (i + 1) * numClasses);
    const label = labels[i];
    if (!(Number.isInteger(label) && label >= 0 && label < numClasses))
      throw new Error(`Label ${label} of example ${i} is not a class from 0 to ${numClasses - 1}.`);
    let sum = 0;
    for (const p of row) sum += p;
    const p = Math.min(Math.max(row[label] / sum, EPSILON), 1 - EPSILON);
    losses[i] = -Math.log(p);
  }
  return losses;
}

/**
 * The `k` examples with the largest losses, largest first (equal losses: the earlier example first),
 * with what `topLossesPlot` shows. `k` is a whole number from 1 to the number of examples.
 */
export function topLosses(set: DigitSet, predictions: Predictions, k = 9): TopLoss[] {
  checkPredictions(predictions, "topLosses");
  if (!set || !(set.labels instanceof Uint8Array))
    throw new Error("topLosses needs labelled digits (a set with labels, such as mnist.test) and their predictions.");
  if (set.count !== predictions.count)
    throw new Error(`${set.count} digits but ${predictions.count} predictions: predict on the same set of digits.`);
  if (!Number.isInteger(k) || k < 1 || k > set.count) {
    throw new Error(`topLosses: k must be a whole number from 1 to ${set.count} (the digits predicted), got ${k}.`);
  }
  const losses = exampleLosses(set.labels, predictions);
  const order = Array.from({ length: set.count }, (_, i) => i).sort((a, b) => losses[b] - losses[a] || a - b);
  const n = predictions.numClasses;
  return order.slice(0, k).map((index) => ({
    index,
    pixels: digitPixels(set, index),
    label: set.labels[index],
    predicted: predictions.classes[index],
    loss: losses[index],
    probability: predictions.probabilities[index * n + set.labels[index]],
    confidence: predictions.confidence[index],
  }));
}

/**
 * The confusions between classes (see the module comment): (actual, predicted, count) for every pair
 * of different classes that occurs at least `minCount` times, the most frequent first; equal counts
 * in the order of the confusion matrix's rows, then columns (as fastai's stable sort leaves them).
 */
export function mostConfused(labels: ArrayLike<number>, classes: ArrayLike<number>, minCount = 1): Confusion[] {
  if (!labels || !classes || typeof labels.length !== "number" || typeof classes.length !== "number") {
    throw new Error(
      "mostConfused takes the actual classes and the predicted ones: " +
        "mostConfused(mnist.test.labels, predictions.classes).",
    );
  }
  if (labels.length !== classes.length)
    throw new Error(`${labels.length} labels but ${classes.length} predicted classes; they must match.`);
  if (!Number.isInteger(minCount) || minCount < 1)
    throw new Error(
      `mostConfused: minCount must be a whole number ≥ 1 (pairs seen at least that often), got ${minCount}.`,
    );
  const counts = new Map<string, Confusion>();
  for (let i = 0; i < labels.length; i++) {
    const actual = labels[i];
    const predicted = classes[i];
    if (!Number.isInteger(actual) || !Number.isInteger(predicted) || actual < 0 || predicted < 0) {
      throw new Error(
        `mostConfused: example ${i} has actual class ${actual} and predicted class ${predicted}; ` +
          `classes are whole numbers ≥ 0.`,
      );
    }
    if (actual === predicted) continue;
    const key = `${actual},${predicted}`;
    const c = counts.get(key);
    if (c) c.count++;
    else counts.set(key, { actual, predicted, count: 1 });
  }
  return [...counts.values()]
    .filter((c) => c.count >= minCount)
    .sort((a, b) => b.count - a.count || a.actual - b.actual || a.predicted - b.predicted);
}
