/**
 * A TF.js model as Keras 3 describes it in a `.keras` archive's `config.json`: what
 * keras/src/saving/serialization_lib.py's `serialize_keras_object(model)` produces, with
 * keras/src/models/functional.py's `Functional.get_config` (the layers, their inbound nodes, the
 * inputs and outputs) and each layer's own `get_config` (keras/src/layers/…), as Keras 3.15 writes
 * them for the tutorial's model.
 *
 *   serializeModel(model, compile)   the whole config.json object: the functional model (a nested
 *                                    model, such as the base network, in place as a nested
 *                                    `Functional`), trainable flags, build and compile configs
 *   kerasLayerInfo(layer)            the Keras class of a TF.js layer and the names of its variables
 *                                    in Keras's order (what model.weights.h5 stores)
 *   compileConfig(adam)              `model.get_compile_config()`: Adam, categorical cross-entropy,
 *                                    accuracy
 *   adamFromCompileConfig(config)    the Adam settings back, or why they cannot be followed here
 *
 * The layers mapped are those of the tutorial's model and its two base networks: InputLayer,
 * Reshape, UpSampling3D, Rescaling, Conv2D, SeparableConv2D, BatchNormalization (the project's,
 * ../layers.ts), Activation, MaxPooling2D, AveragePooling2D, Concatenate, Add,
 * GlobalAveragePooling2D, Dense, Dropout, the augmentation layers (RandomRotation,
 * RandomTranslation, RandomZoom, RandomContrast: ../preprocessing/layers.ts), and Functional.
 * Anything else is refused by name rather than written in a form Keras would read differently.
 *
 * A nested model called in inference mode (`base(x, training=False)` in Keras; `setInferenceCall`
 * in ../layers.ts here) has `training: false` in its call's kwargs, as Keras records it.
 *
 * What is left out: `shared_object_id`. Keras adds it to the second and later occurrences of one
 * Python object (every layer's dtype policy is the same object) so that loading can share it; it is
 * the object's `id()` in the writing process, optional when reading, and the policy is stateless.
 */
import type * as TF from "@tensorflow/tfjs";
import { KERAS_ADAM, type AdamSettings } from "../optimizers/adam";
import { containerNodeKeys, isContainer } from "../../tfjs/internals";
import { isInferenceCall, numberPair } from "../layers";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

type Layer = TF.layers.Layer;
/** A call of a layer in a TF.js graph (tfjs-layers' `Node`, which the package does not export by name). */
type Node = Layer["inboundNodes"][number];
type TfjsConfig = Record<string, unknown>;
type Shape = Array<number | null>;

/** Keras's own dtype policy object, `DTypePolicy("float32")`, as every layer's config carries it. */
function float32Policy(): JsonObject {
  return { module: "keras", class_name: "DTypePolicy", config: { name: "float32" }, registered_name: null };
}

/** Why a model cannot be written as Keras would read it: names the layer and the setting. */
export class SerializationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SerializationError";
  }
}

/**
 * keras/src/utils/naming.py, `to_snake_case`: "SeparableConv2D" → "separable_conv2d", "UpSampling3D"
 * → "up_sampling3d"; also Keras's spelling of TF.js's camelCase names: "channelsLast" →
 * "channels_last", "hardSigmoid" → "hard_sigmoid".
 */
export function toSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, "")
    .replace(/(.)([A-Z][a-z]+)/g, "$1_$2")
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .toLowerCase();
}

function pair(v: unknown, what: string, layer: Layer): [number, number] {
  const p = numberPair(v);
  if (!p) throw new SerializationError(`layer "${layer.name}": ${what} ${JSON.stringify(v)} is not two numbers`);
  return p;
}

/** A TF.js initializer's `{className, config}` as Keras's `keras.initializers` object. */
function initializer(spec: unknown, what: string, layer: Layer): JsonObject {
  const s = spec as { className?: string; config?: Record<string, unknown> } | null;
  const keras = (className: string, config: JsonObject = {}): JsonObject => ({
    module: "keras.initializers",
    class_name: className,
    config,
    registered_name: null,
  });
  const glorot = { seed: (s?.config?.seed as number | null | undefined) ?? null, input_axes: null, output_axes: null };
  switch (s?.className) {
    case "Zeros":
      return keras("Zeros");
    case "Ones":
      return keras("Ones");
    case "GlorotUniform":
      return keras("GlorotUniform", glorot);
    case "GlorotNormal":
      return keras("GlorotNormal", glorot);
    case "VarianceScaling": {
      // TF.js serialises its Glorot initializers as the VarianceScaling they are.
      const c = s.config ?? {};
      if (c.scale === 1 && c.mode === "fanAvg" && c.distribution === "uniform") return keras("GlorotUniform", glorot);
      if (c.scale === 1 && c.mode === "fanAvg" && (c.distribution === "normal" || c.distribution === "truncatedNormal"))
        return keras("GlorotNormal", glorot);
      break;
    }
  }
  throw new SerializationError(
    `layer "${layer.name}": its ${what} ${JSON.stringify(spec)} has no Keras counterpart here (the tutorial's layers use Glorot, zeros and ones)`,
  );
}

/** Regularizers, constraints: the tutorial's layers have none, and none is written. */
function none(c: TfjsConfig, keys: string[], layer: Layer): void {
  for (const k of keys) {
    if (c[k] !== null && c[k] !== undefined)
      throw new SerializationError(
        `layer "${layer.name}" has a ${toSnakeCase(k).replace(/_/g, " ")}, which is not written to .keras archives here`,
      );
  }
}

interface LayerMapping {
  /** Keras's class (in `keras.layers`). */
  kerasClass: string;
  /** Keras's `get_config()` after name, trainable and dtype, in Keras's key order. */
  config: (c: TfjsConfig, layer: Layer) => JsonObject;
  /** Whether Keras writes a `build_config` (layers whose class defines `build`). */
  built: boolean;
  /** The keyword arguments Keras records for a call of the layer (`inbound_nodes[i].kwargs`). */
  kwargs?: () => JsonObject;
  /** The layer's variables in Keras's order (`_trainable_variables + _non_trainable_variables`). */
  variables?: (c: TfjsConfig) => string[];
}

/** Keras's augmentation layers record the training flag their `call` defaults to (True) when the model is built. */
const augmentationKwargs = (): JsonObject => ({ training: true });

/** The fill settings of RandomRotation, RandomTranslation and RandomZoom. */
const fill = (c: TfjsConfig) => ({
  fill_mode: c.fillMode as string,
  interpolation: c.interpolation as string,
  seed: (c.seed as number | null) ?? null,
  fill_value: c.fillValue as number,
});

const pooling = (kerasClass: string): LayerMapping => ({
  kerasClass,
  built: false,
  config: (c, l) => ({
    pool_size: pair(c.poolSize, "pool size", l),
    padding: c.padding as string,
    strides: pair(c.strides ?? c.poolSize, "strides", l),
    data_format: toSnakeCase(c.dataFormat as string),
  }),
});

/**
 * TF.js class name → Keras. BatchNormalization is the project's (registered as
 * "KerasBatchNormalization" beside TF.js's own), UpSampling3D the project's too.
 */
const LAYERS: Record<string, LayerMapping> = {
  Reshape: { kerasClass: "Reshape", built: false, config: (c) => ({ target_shape: c.targetShape as number[] }) },
  UpSampling3D: {
    kerasClass: "UpSampling3D",
    built: true,
    config: (c) => ({ size: c.size as number[], data_format: toSnakeCase(c.dataFormat as string) }),
  },
  Rescaling: {
    kerasClass: "Rescaling",
    built: true,
    config: (c) => ({ scale: c.scale as number, offset: c.offset as number }),
  },
  Conv2D: {
    kerasClass: "Conv2D",
    built: true,
    config: (c, l) => {
      none(c, ["kernelRegularizer", "biasRegularizer", "activityRegularizer", "kernelConstraint", "biasConstraint"], l);
      return {
        filters: c.filters as number,
        kernel_size: pair(c.kernelSize, "kernel size", l),
        strides: pair(c.strides, "strides", l),
        padding: c.padding as string,
        data_format: toSnakeCase(c.dataFormat as string),
        dilation_rate: pair(c.dilationRate, "dilation rate", l),
        groups: 1,
        activation: toSnakeCase((c.activation as string) ?? "linear"),
        use_bias: c.useBias as boolean,
        kernel_initializer: initializer(c.kernelInitializer, "kernel initializer", l),
        bias_initializer: initializer(c.biasInitializer, "bias initializer", l),
        kernel_regularizer: null,
        bias_regularizer: null,
        activity_regularizer: null,
        kernel_constraint: null,
        bias_constraint: null,
      };
    },
    variables: (c) => ["kernel", ...(c.useBias ? ["bias"] : [])],
  },
  SeparableConv2D: {
    kerasClass: "SeparableConv2D",
    built: true,
    config: (c, l) => {
      none(
        c,
        [
          "depthwiseRegularizer",
          "pointwiseRegularizer",
          "biasRegularizer",
          "activityRegularizer",
          "depthwiseConstraint",
          "pointwiseConstraint",
          "biasConstraint",
        ],
        l,
      );
      return {
        depth_multiplier: (c.depthMultiplier as number) ?? 1,
        filters: c.filters as number,
        kernel_size: pair(c.kernelSize, "kernel size", l),
        strides: pair(c.strides, "strides", l),
        padding: c.padding as string,
        data_format: toSnakeCase(c.dataFormat as string),
        dilation_rate: pair(c.dilationRate, "dilation rate", l),
        activation: toSnakeCase((c.activation as string) ?? "linear"),
        use_bias: c.useBias as boolean,
        depthwise_initializer: initializer(c.depthwiseInitializer, "depthwise initializer", l),
        pointwise_initializer: initializer(c.pointwiseInitializer, "pointwise initializer", l),
        bias_initializer: initializer(c.biasInitializer, "bias initializer", l),
        depthwise_regularizer: null,
        pointwise_regularizer: null,
        bias_regularizer: null,
        activity_regularizer: null,
        depthwise_constraint: null,
        pointwise_constraint: null,
        bias_constraint: null,
      };
    },
    variables: (c) => ["depthwise_kernel", "pointwise_kernel", ...(c.useBias ? ["bias"] : [])],
  },
  KerasBatchNormalization: {
    kerasClass: "BatchNormalization",
    built: true,
    config: (c, l) => {
      none(c, ["betaRegularizer", "gammaRegularizer", "betaConstraint", "gammaConstraint"], l);
      return {
        axis: c.axis as number,
        momentum: c.momentum as number,
        epsilon: c.epsilon as number,
        center: c.center as boolean,
        scale: c.scale as boolean,
        beta_initializer: initializer(c.betaInitializer, "beta initializer", l),
        gamma_initializer: initializer(c.gammaInitializer, "gamma initializer", l),
        moving_mean_initializer: initializer(c.movingMeanInitializer, "moving mean initializer", l),
        moving_variance_initializer: initializer(c.movingVarianceInitializer, "moving variance initializer", l),
        beta_regularizer: null,
        gamma_regularizer: null,
        beta_constraint: null,
        gamma_constraint: null,
        synchronized: false,
        renorm: false,
        renorm_clipping: null,
        renorm_momentum: 0.99,
      };
    },
    // keras/src/layers/normalization/batch_normalization.py: call(inputs, training=None, mask=None).
    kwargs: () => ({ mask: null }),
    variables: (c) => [...(c.scale ? ["gamma"] : []), ...(c.center ? ["beta"] : []), "moving_mean", "moving_variance"],
  },
  Activation: {
    kerasClass: "Activation",
    built: false,
    config: (c) => ({ activation: toSnakeCase(c.activation as string) }),
  },
  MaxPooling2D: pooling("MaxPooling2D"),
  AveragePooling2D: pooling("AveragePooling2D"),
  Concatenate: { kerasClass: "Concatenate", built: true, config: (c) => ({ axis: (c.axis as number) ?? -1 }) },
  Add: { kerasClass: "Add", built: true, config: () => ({}) },
  GlobalAveragePooling2D: {
    kerasClass: "GlobalAveragePooling2D",
    built: false,
    config: (c) => ({ data_format: toSnakeCase((c.dataFormat as string) ?? "channelsLast"), keepdims: false }),
  },
  Dense: {
    kerasClass: "Dense",
    built: true,
    config: (c, l) => {
      none(c, ["kernelRegularizer", "biasRegularizer", "activityRegularizer", "kernelConstraint", "biasConstraint"], l);
      return {
        units: c.units as number,
        activation: toSnakeCase((c.activation as string) ?? "linear"),
        use_bias: c.useBias as boolean,
        kernel_initializer: initializer(c.kernelInitializer, "kernel initializer", l),
        bias_initializer: initializer(c.biasInitializer, "bias initializer", l),
        kernel_regularizer: null,
        bias_regularizer: null,
        kernel_constraint: null,
        bias_constraint: null,
        quantization_config: null,
      };
    },
    variables: (c) => ["kernel", ...(c.useBias ? ["bias"] : [])],
  },
  Dropout: {
    kerasClass: "Dropout",
    built: false,
    config: (c, l) => {
      if (c.noiseShape !== null && c.noiseShape !== undefined)
        throw new SerializationError(`layer "${l.name}": a dropout noise shape is not written here`);
      return { rate: c.rate as number, seed: (c.seed as number | null | undefined) ?? null, noise_shape: null };
    },
    // Keras records the training flag it resolved when the model was built (keras/src/layers/layer.py, __call__).
    kwargs: () => ({ training: false }),
  },
  // keras/src/layers/preprocessing/image_preprocessing/random_*.py, get_config (the base's data_format first).
  RandomRotation: {
    kerasClass: "RandomRotation",
    built: true,
    config: (c) => {
      const { fill_mode, interpolation, seed, fill_value } = fill(c);
      return { data_format: "channels_last", factor: c.factor as number[], fill_mode, fill_value, interpolation, seed };
    },
    kwargs: augmentationKwargs,
  },
  RandomTranslation: {
    kerasClass: "RandomTranslation",
    built: true,
    config: (c) => ({
      data_format: "channels_last",
      height_factor: c.heightFactor as Json,
      width_factor: c.widthFactor as Json,
      ...fill(c),
    }),
    kwargs: augmentationKwargs,
  },
  RandomZoom: {
    kerasClass: "RandomZoom",
    built: true,
    config: (c) => ({
      data_format: "channels_last",
      height_factor: c.heightFactor as Json,
      width_factor: (c.widthFactor as Json) ?? null,
      ...fill(c),
    }),
    kwargs: augmentationKwargs,
  },
  RandomContrast: {
    kerasClass: "RandomContrast",
    built: true,
    config: (c) => ({
      data_format: "channels_last",
      factor: c.factor as number[],
      value_range: c.valueRange as number[],
      seed: (c.seed as number | null) ?? null,
    }),
    kwargs: augmentationKwargs,
  },
};

/** The Keras class of a layer and its variables' names in Keras's order (none for a nested model). */
export function kerasLayerInfo(layer: Layer): { kerasClass: string; variables: string[] } {
  if (isContainer(layer)) return { kerasClass: "Functional", variables: [] };
  const className = layer.getClassName();
  if (className === "InputLayer") return { kerasClass: "InputLayer", variables: [] };
  const mapping = LAYERS[className];
  if (!mapping) throw unknownLayer(layer);
  return { kerasClass: mapping.kerasClass, variables: mapping.variables?.(layer.getConfig() as TfjsConfig) ?? [] };
}

function unknownLayer(layer: Layer): SerializationError {
  return new SerializationError(
    `layer "${layer.name}" is a TF.js ${layer.getClassName()}, which is not mapped to a Keras class here ` +
      `(mapped: InputLayer, Functional, ${Object.values(LAYERS)
        .map((m) => m.kerasClass)
        .join(", ")})`,
  );
}

/** keras/src/layers/core/input_layer.py, InputLayer.get_config. */
function inputLayerConfig(layer: Layer): JsonObject {
  const c = layer.getConfig() as TfjsConfig;
  return {
    module: "keras.layers",
    class_name: "InputLayer",
    config: {
      batch_shape: c.batchInputShape as Shape,
      dtype: (c.dtype as string) ?? "float32",
      sparse: Boolean(c.sparse),
      ragged: false,
      name: layer.name,
      optional: false,
    },
    registered_name: null,
  };
}

/** The tensors a node was called on, one per inbound layer. */
function nodeInputs(node: Node): TF.SymbolicTensor[] {
  return node.inputTensors;
}

/** `layer.inboundNodes` that belong to `model` (functional.py keeps only `self._nodes`), with their original indices. */
function ownNodes(model: TF.LayersModel, layer: Layer): Array<{ node: Node; index: number }> {
  const keys = containerNodeKeys(model);
  return layer.inboundNodes
    .map((node, index) => ({ node, index }))
    .filter(({ index }) => keys.has(`${layer.name}_ib-${index}`));
}

/** A node index as functional.py's `serialize_node` writes it: not counting the layer's nodes outside `model`. */
function reindex(model: TF.LayersModel, layer: Layer, nodeIndex: number): number {
  const keys = containerNodeKeys(model);
  let outside = 0;
  for (let i = 0; i < nodeIndex; i++) if (!keys.has(`${layer.name}_ib-${i}`)) outside++;
  return nodeIndex - outside;
}

/** serialization_lib.py's `__keras_tensor__`: the tensor's shape, dtype and `[layer, node, tensor]` history. */
function kerasTensor(model: TF.LayersModel, node: Node, k: number): JsonObject {
  const source = node.inboundLayers[k];
  return {
    class_name: "__keras_tensor__",
    config: {
      shape: nodeInputs(node)[k].shape as Shape,
      dtype: nodeInputs(node)[k].dtype ?? "float32",
      keras_history: [source.name, reindex(model, source, node.nodeIndices[k]), node.tensorIndices[k]],
    },
  };
}

/** One entry of `inbound_nodes`: `{args, kwargs}`; a merge layer (Add, Concatenate) takes its inputs as one list. */
function serializeNode(model: TF.LayersModel, layer: Layer, node: Node, kwargs: JsonObject): JsonObject {
  const tensors = node.inboundLayers.map((_, k) => kerasTensor(model, node, k));
  const merge = ["Add", "Concatenate"].includes(layer.getClassName());
  return { args: merge ? [tensors] : tensors, kwargs };
}

/** `serialize_keras_object(layer)` for a non-model layer: module, class, config, build config. */
function serializeLayer(layer: Layer): JsonObject {
  const className = layer.getClassName();
  if (className === "InputLayer") return inputLayerConfig(layer);
  const mapping = LAYERS[className];
  if (!mapping) throw unknownLayer(layer);
  const c = layer.getConfig() as TfjsConfig;
  const out: JsonObject = {
    module: "keras.layers",
    class_name: mapping.kerasClass,
    config: { name: layer.name, trainable: layer.trainable, dtype: float32Policy(), ...mapping.config(c, layer) },
    registered_name: null,
  };
  if (mapping.built) {
    const first = layer.inboundNodes[0];
    const shapes = first ? nodeInputs(first).map((t) => t.shape as Shape) : [];
    out.build_config = { input_shape: shapes.length === 1 ? shapes[0] : shapes };
  }
  return out;
}

/** `[name, node, tensor]` of the model's inputs or outputs; one such triple alone for a single tensor, as Keras writes it. */
function endpoints(model: TF.LayersModel, layers: Layer[], nodes: number[], tensors: number[]): Json {
  const list = layers.map((l, i) => [l.name, reindex(model, l, nodes[i]), tensors[i]] as Json);
  return list.length === 1 ? list[0] : list;
}

/** Functional.get_config: name, trainable, layers (each with its inbound nodes), input and output layers. */
function functionalConfig(model: TF.LayersModel): JsonObject {
  const layers: Json[] = model.layers.map((layer) => {
    const config = isContainer(layer) ? nestedFunctional(layer) : serializeLayer(layer);
    const mapping = LAYERS[layer.getClassName()];
    // A nested model: Keras records `training` only when the call gave it (base(x, training=False)).
    const nested: JsonObject = isInferenceCall(layer) ? { training: false, mask: null } : { mask: null };
    const kwargs: JsonObject = isContainer(layer) ? nested : (mapping?.kwargs?.() ?? {});
    config.name = layer.name;
    config.inbound_nodes = ownNodes(model, layer)
      .filter(({ node }) => node.inboundLayers.length > 0)
      .map(({ node }) => serializeNode(model, layer, node, kwargs));
    return config;
  });
  const m = model;
  return {
    name: model.name,
    trainable: model.trainable,
    layers,
    input_layers: endpoints(model, model.inputLayers, m.inputLayersNodeIndices, m.inputLayersTensorIndices),
    output_layers: endpoints(model, model.outputLayers, m.outputLayersNodeIndices, m.outputLayersTensorIndices),
  };
}

/** A model used as a layer of another: Keras serialises it whole, with an empty compile config. */
function nestedFunctional(model: TF.LayersModel): JsonObject {
  return {
    module: "keras.src.models.functional",
    class_name: "Functional",
    config: functionalConfig(model),
    registered_name: "Functional",
    build_config: { input_shape: null },
    compile_config: {},
  };
}

/** What the model was compiled with. */
export interface CompileSettings {
  adam: AdamSettings;
}

/**
 * The compile config Keras writes for `model.compile(optimizer=Adam(...), loss="categorical_crossentropy",
 * metrics=["accuracy"])` (keras/src/trainers/compile_utils.py, and Adam.get_config in
 * keras/src/optimizers/adam.py and base_optimizer.py). The learning rate is written as Keras writes
 * it, the float32 value of its variable.
 */
function compileConfig(adam: AdamSettings): JsonObject {
  return {
    optimizer: {
      module: "keras.optimizers",
      class_name: "Adam",
      config: {
        name: "adam",
        learning_rate: Math.fround(adam.learningRate),
        weight_decay: null,
        clipnorm: null,
        global_clipnorm: null,
        clipvalue: null,
        use_ema: false,
        ema_momentum: 0.99,
        ema_overwrite_frequency: null,
        loss_scale_factor: null,
        gradient_accumulation_steps: null,
        beta_1: adam.beta1,
        beta_2: adam.beta2,
        epsilon: adam.epsilon,
        amsgrad: false,
      },
      registered_name: null,
    },
    loss: "categorical_crossentropy",
    loss_weights: null,
    metrics: ["accuracy"],
    weighted_metrics: null,
    run_eagerly: false,
    steps_per_execution: 1,
    jit_compile: false,
  };
}

/** The config.json object of a compiled functional model (serialize_keras_object(model)). */
export function serializeModel(model: TF.LayersModel, compile: CompileSettings): JsonObject {
  return {
    module: "keras.src.models.functional",
    class_name: "Functional",
    config: functionalConfig(model),
    registered_name: "Functional",
    build_config: { input_shape: null },
    compile_config: compileConfig(compile.adam),
  };
}

/** The shortest decimal with the same float32 value: Keras keeps the rate in a float32 variable, so 0.0010000000474974513 reads back as 0.001. */
export function float32Decimal(x: number): number {
  for (let digits = 1; digits <= 17; digits++) {
    const v = Number(x.toPrecision(digits));
    if (Math.fround(v) === Math.fround(x)) return v;
  }
  return x;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * The Adam settings of a compile config, or a reason why this model's training cannot follow it
 * (another optimizer, a learning-rate schedule, AMSGrad, weight decay, clipping, EMA, another loss).
 * No compile config (a model saved before `compile`): Keras's Adam defaults.
 */
export function adamFromCompileConfig(compile: unknown): { adam: AdamSettings } | { problem: string } {
  if (compile === undefined || compile === null || (isObject(compile) && Object.keys(compile).length === 0))
    return { adam: { ...KERAS_ADAM } };
  if (!isObject(compile)) return { problem: "its compile_config is not an object" };
  const loss = compile.loss;
  const lossName = isObject(loss) ? loss.class_name : loss;
  if (lossName !== "categorical_crossentropy" && lossName !== "CategoricalCrossentropy") {
    return {
      problem: `it was compiled with the loss ${JSON.stringify(loss)}; the tutorial's model trains with categorical cross-entropy`,
    };
  }
  if (
    isObject(loss) &&
    isObject(loss.config) &&
    (loss.config.from_logits === true ||
      (typeof loss.config.label_smoothing === "number" && loss.config.label_smoothing !== 0))
  ) {
    return {
      problem:
        "its loss takes logits or smooths labels; the tutorial's model uses plain categorical cross-entropy on probabilities",
    };
  }
  const opt = compile.optimizer;
  if (opt === undefined || opt === null) return { adam: { ...KERAS_ADAM } };
  const className = isObject(opt) ? opt.class_name : opt;
  if (className !== "Adam" && className !== "adam")
    return { problem: `its optimizer is ${JSON.stringify(className)}; the tutorial's model trains with Adam` };
  if (!isObject(opt)) return { adam: { ...KERAS_ADAM } };
  const c = isObject(opt.config) ? opt.config : {};
  const lr = c.learning_rate;
  if (lr !== undefined && typeof lr !== "number")
    return {
      problem: `its Adam has a learning-rate schedule (${JSON.stringify(isObject(lr) ? lr.class_name : lr)}); TransferModel's Adam takes a fixed rate`,
    };
  const unsupported: Array<[string, (v: unknown) => boolean]> = [
    ["amsgrad", (v) => v === true],
    ["weight_decay", (v) => v !== null && v !== undefined && v !== 0],
    ["clipnorm", (v) => v !== null && v !== undefined],
    ["global_clipnorm", (v) => v !== null && v !== undefined],
    ["clipvalue", (v) => v !== null && v !== undefined],
    ["use_ema", (v) => v === true],
    ["loss_scale_factor", (v) => v !== null && v !== undefined],
    ["gradient_accumulation_steps", (v) => v !== null && v !== undefined],
  ];
  for (const [key, bad] of unsupported) {
    if (bad(c[key]))
      return { problem: `its Adam sets ${key}=${JSON.stringify(c[key])}, which TransferModel's Adam does not do` };
  }
  const num = (key: string, fallback: number) => (typeof c[key] === "number" ? (c[key] as number) : fallback);
  return {
    adam: {
      learningRate: lr === undefined ? KERAS_ADAM.learningRate : float32Decimal(lr as number),
      beta1: num("beta_1", KERAS_ADAM.beta1),
      beta2: num("beta_2", KERAS_ADAM.beta2),
      epsilon: num("epsilon", KERAS_ADAM.epsilon),
    },
  };
}
