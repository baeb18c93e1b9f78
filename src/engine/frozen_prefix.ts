/**
 * Training only what is trainable: a model whose first layers are frozen is
 * split at the freeze point into
 *
 *   features = prefix(front(x))     computed once per `fit`, in inference mode,
 *   output   = suffix(features)     trained, epoch after epoch,
 *
 * where `front` is the part of the whole model before its base network (the
 * upsampling), `prefix` the frozen first layers of the base, and `suffix` the
 * rest of the base and the head, re-wired onto new inputs but sharing the same
 * layers and weights. Exact when nothing in the front and the prefix is random
 * or depends on training mode: true for the tutorial (no augmentation, no
 * dropout before the head, frozen batch normalisation runs in inference mode).
 * With data augmentation in the front (`randomLayersInFront`), the frozen layers
 * see other images at every step: there is no split, as Keras's transfer-learning
 * guide says of feature extraction with augmentation.
 *
 * The suffix shares the whole model's optimizer, with its trainable weights in
 * the whole model's order, so training the suffix is training the model: the
 * same weights, the same optimizer state.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tfjs/backend";
import { setTrainedWeights, trainedWeights } from "../tfjs/internals";

type Layer = TF.layers.Layer;
type Sym = TF.SymbolicTensor;

/** What is needed to split a model built as input → front → base → head. */
export interface SplittableModel {
  model: TF.LayersModel;
  /** The whole model's input. */
  input: Sym;
  /** The tensor the base network is applied to (the front's output), in the whole model's graph. */
  frontOutput: Sym;
  base: TF.LayersModel;
  /** The layers after the base, in order, each applied to the previous one's output (a chain). */
  head: Layer[];
}

export interface PrefixSplit {
  /** Number of base layers in the frozen prefix. */
  depth: number;
  /** x → the base's input. */
  front: TF.LayersModel;
  /** The base's input → the features (the frozen layers' outputs that later layers use). */
  prefix: TF.LayersModel;
  /** Features → class probabilities: the trainable part. */
  suffix: TF.LayersModel;
  /** Shape of each feature tensor, without the batch dimension. */
  featureShapes: number[][];
  /** Bytes of float32 features per example. */
  bytesPerExample: number;
  /**
   * Gives back the references the suffix took on the shared layers (TF.js counts every use of a layer
   * in a graph and frees its weights when the count drops to zero): call it once, when the split is
   * no longer used, before or after the whole model is disposed.
   */
  release(): void;
}

function asArray<T>(x: T | T[]): T[] {
  return Array.isArray(x) ? x : [x];
}

/** Whether a layer's output is random in training (augmentation, dropout, noise). */
function randomInTraining(layer: Layer): boolean {
  const cls = layer.getClassName();
  return cls === "Dropout" || cls.includes("Noise") || cls.startsWith("Random");
}

/** The layers between the model's input and the base whose output is random in training, input first. */
export function randomLayersInFront(m: Pick<SplittableModel, "input" | "frontOutput">): Layer[] {
  const found: Layer[] = [];
  const seen = new Set<number>();
  const stack: Sym[] = [m.frontOutput];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t.id) || t.id === m.input.id) continue;
    seen.add(t.id);
    if (randomInTraining(t.sourceLayer) && !found.includes(t.sourceLayer)) found.unshift(t.sourceLayer);
    stack.push(...t.inputs);
  }
  return found;
}

/** The node through which `layer` takes part in the graph it was first built in. */
export function firstNode(layer: Layer): { inputs: Sym[]; outputs: Sym[] } {
  const node = layer.inboundNodes[0];
  if (!node) throw new Error(`Layer ${layer.name} is not connected to a graph.`);
  return { inputs: node.inputTensors, outputs: node.outputTensors };
}

/**
 * Splits `m` after the first `depth` layers of its base. Returns undefined when there is nothing to
 * gain (depth 0) or when the front or a frozen layer could behave differently in training (data
 * augmentation in the front, a trainable layer in the prefix, or a Dropout).
 */
export function splitAtDepth(m: SplittableModel, depth: number): PrefixSplit | undefined {
  const layers = m.base.layers;
  if (depth <= 0 || depth > layers.length) return undefined;
  if (randomLayersInFront(m).length > 0) return undefined;
  const prefixLayers = layers.slice(0, depth);
  for (const l of prefixLayers) {
    if (l.trainable && l.weights.length > 0 && l.trainableWeights.length > 0) return undefined;
    if (randomInTraining(l)) return undefined;
  }
  const baseInputs = m.base.inputs;
  const baseOutputs = m.base.outputs;

  // Which symbolic tensors of the base graph the prefix produces (the base input counts as produced).
  const produced = new Set<number>(baseInputs.map((t) => t.id));
  for (const l of prefixLayers) for (const t of firstNode(l).outputs) produced.add(t.id);
  // The features: produced tensors that a later layer or the base's output needs, in a stable order.
  const needed: Sym[] = [];
  const seen = new Set<number>();
  const need = (t: Sym) => {
    if (produced.has(t.id) && !seen.has(t.id)) {
      seen.add(t.id);
      needed.push(t);
    }
  };
  for (const l of layers.slice(depth)) for (const t of firstNode(l).inputs) need(t);
  for (const t of baseOutputs) need(t);

  const front = tf.model({ inputs: m.input, outputs: m.frontOutput });
  const prefix = tf.model({ inputs: baseInputs, outputs: needed });

  // Re-wire the rest of the base and the head onto new inputs, sharing the layers.
  const map = new Map<number, Sym>();
  const featureShapes = needed.map((t) => t.shape.slice(1) as number[]);
  const inputs = needed.map((t, i) => {
    const input = tf.input({ shape: featureShapes[i], name: `${m.base.name}_features_${depth}_${i}_${t.id}` });
    map.set(t.id, input);
    return input;
  });
  const applied: Layer[] = [];
  for (const l of layers.slice(depth)) {
    const node = firstNode(l);
    const args = node.inputs.map((t) => {
      const s = map.get(t.id);
      if (!s)
        throw new Error(
          `Cannot split ${m.base.name} at ${depth}: ${l.name} needs a tensor the split does not provide.`,
        );
      return s;
    });
    const out = asArray(l.apply(args.length === 1 ? args[0] : args) as Sym | Sym[]);
    applied.push(l);
    node.outputs.forEach((t, i) => map.set(t.id, out[i]));
  }
  let x = map.get(baseOutputs[0].id);
  if (!x) throw new Error(`Cannot split ${m.base.name} at ${depth}: its output is not reached.`);
  for (const l of m.head) {
    x = l.apply(x) as Sym;
    applied.push(l);
  }
  const suffix = tf.model({ inputs, outputs: x, name: `${m.model.name}_after_${depth}` });
  const bytesPerExample = featureShapes.reduce((s, shape) => s + 4 * shape.reduce((a, b) => a * b, 1), 0);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    // Each symbolic apply above added one reference; dispose() takes one back and frees the weights
    // only if it was the last (after the whole model was disposed).
    for (const l of applied) l.dispose();
  };
  return { depth, front, prefix, suffix, featureShapes, bytesPerExample, release };
}

/** The frozen layers' outputs for a batch of the whole model's input, computed eagerly by TF.js. */
export function prefixOutputs(split: PrefixSplit, x: TF.Tensor): TF.Tensor[] {
  return tf.tidy(() => asArray(split.prefix.predict(split.front.predict(x) as TF.Tensor) as TF.Tensor | TF.Tensor[]));
}

export interface FeatureOptions {
  batchSize?: number;
  /** Called after each batch with the number of examples done. */
  onProgress?: (done: number, total: number) => void;
  /** Checked after each batch: true stops the computation. */
  shouldStop?: () => boolean;
  /** What computes a batch's features (default: the split's front and prefix, eagerly). */
  predictBatch?: (x: TF.Tensor) => TF.Tensor[];
}

/**
 * The features of every example of x ([n, ...] input of the whole model), computed in batches in
 * inference mode and handed to `onBatch(start, features)` (one tensor per feature, disposed after
 * it returns). False when `shouldStop` stopped it (it is asked after each batch).
 */
export async function featureBatches(
  split: PrefixSplit,
  x: TF.Tensor,
  options: FeatureOptions,
  onBatch: (start: number, features: TF.Tensor[]) => void,
): Promise<boolean> {
  const n = x.shape[0];
  const batchSize = options.batchSize ?? 64;
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const batch = x.slice(start, size);
    let out: TF.Tensor[];
    try {
      out = options.predictBatch ? options.predictBatch(batch) : prefixOutputs(split, batch);
    } finally {
      batch.dispose();
    }
    try {
      onBatch(start, out);
    } finally {
      tf.dispose(out);
    }
    options.onProgress?.(start + size, n);
    // Let the event loop breathe (progress displays, interrupts).
    await new Promise((resolve) => setImmediate(resolve));
    if (options.shouldStop?.()) return false;
  }
  return true;
}

/**
 * Compiles the suffix so that training it trains the whole model: the whole model's optimizer, loss and
 * metrics, and its trainable weights in the whole model's order (the optimizer keeps its state by position).
 */
export function compileSuffixLike(split: PrefixSplit, model: TF.LayersModel): void {
  const optimizer = model.optimizer;
  if (!optimizer) throw new Error("Compile the model before splitting it for training.");
  split.suffix.compile({ optimizer, loss: "categoricalCrossentropy", metrics: ["accuracy"] });
  const mine = new Set(trainedWeights(split.suffix).map((w) => w.id));
  const theirs = trainedWeights(model);
  if (theirs.length !== mine.size || theirs.some((w) => !mine.has(w.id))) {
    throw new Error("The frozen-prefix split does not hold exactly the model's trainable weights.");
  }
  setTrainedWeights(split.suffix, theirs.slice());
}
