/**
 * Whether a Keras `config.json` describes the same network as an expected one (./serialization.ts's
 * output for a model built here), and if not, the first difference in words.
 *
 * Compared: the layers in order (a nested model's too), their Keras classes, their settings, which
 * layer feeds which (inbound nodes), the inputs and outputs, float32 everywhere. Not compared, since
 * they do not change what the network computes from its weights, or vary between two Keras sessions
 * building the same network: layer names (Keras numbers automatic names per session: a second
 * InceptionV3 in one Python session has "conv2d_94" where the first had "conv2d"), trainable flags
 * (read separately, as the freeze state), initializers, dropout seeds, tensor shapes (they follow
 * from the rest; an input may be left free, `(None, None, 3)`) and keys that only one Keras version
 * writes.
 */
import type { Json, JsonObject } from "./serialization";

/** Config keys that do not change the computation (see the module comment). */
const IGNORED = new Set(["name", "trainable", "dtype", "seed", "batch_shape", "layers", "shared_object_id"]);

type Obj = Record<string, unknown>;

function isObject(x: unknown): x is Obj {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number") return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (k !== "shared_object_id" && !sameJson(a[k], b[k])) return false;
    return true;
  }
  return a === b;
}

/** The dtype a layer computes in: Keras writes a DTypePolicy object (older versions a string). */
function policyName(dtype: unknown): string | undefined {
  if (dtype === undefined || dtype === null) return undefined;
  if (typeof dtype === "string") return dtype;
  if (isObject(dtype) && isObject(dtype.config) && typeof dtype.config.name === "string") return dtype.config.name;
  return show(dtype);
}

interface Context {
  /** "the model" or "the base network". */
  where: string;
  /** What the expected network is called in messages ("the tutorial's InceptionV3"). */
  expectedName: string;
}

function layerLabel(ctx: Context, i: number, layer: unknown): string {
  const l = isObject(layer) ? layer : {};
  const name = typeof l.name === "string" ? l.name : isObject(l.config) ? String(l.config.name) : "?";
  return `layer #${i} of ${ctx.where} ("${name}", ${String(l.class_name)})`;
}

/** `[layer name, node, tensor]` → `[layer index, node, tensor]`, so that names do not matter. */
function endpoint(v: unknown, index: Map<string, number>): unknown {
  if (Array.isArray(v) && v.length === 3 && typeof v[0] === "string")
    return [index.get(v[0]) ?? `unknown layer ${v[0]}`, v[1], v[2]];
  if (Array.isArray(v)) return v.map((x) => endpoint(x, index));
  return v;
}

/** An inbound node with layer names replaced by indices and shapes left out. */
function nodeShape(node: unknown, index: Map<string, number>): unknown {
  const tensor = (t: unknown): unknown => {
    if (isObject(t) && t.class_name === "__keras_tensor__" && isObject(t.config))
      return endpoint(t.config.keras_history, index);
    if (Array.isArray(t)) return t.map(tensor);
    return t;
  };
  if (Array.isArray(node)) return node.map((x) => endpoint(x, index)); // Keras 2's [[name, node, tensor, kwargs], ...]
  if (!isObject(node)) return node;
  const kwargs = isObject(node.kwargs) ? node.kwargs : {};
  // A layer called with training=True runs in training mode even in inference (e.g. Monte Carlo dropout).
  return { args: tensor(node.args), training: kwargs.training === true };
}

/** The names of the layers a node takes its inputs from, for messages. */
function inputNames(node: unknown): string[] {
  const names: string[] = [];
  const visit = (v: unknown) => {
    if (
      isObject(v) &&
      v.class_name === "__keras_tensor__" &&
      isObject(v.config) &&
      Array.isArray(v.config.keras_history)
    )
      names.push(String(v.config.keras_history[0]));
    else if (Array.isArray(v)) v.forEach(visit);
    else if (isObject(v)) Object.values(v).forEach(visit);
  };
  visit(node);
  return names;
}

function diffLayerConfig(ctx: Context, i: number, expected: Obj, actual: Obj): string | undefined {
  const e = isObject(expected.config) ? expected.config : {};
  const a = isObject(actual.config) ? actual.config : {};
  const label = layerLabel(ctx, i, actual);
  const policy = policyName(a.dtype);
  if (policy !== undefined && policy !== "float32") {
    return `${label} computes in ${policy}; the model here computes in float32`;
  }
  if (expected.class_name === "InputLayer") {
    const es = e.batch_shape as Array<number | null>;
    const as = (a.batch_shape ?? a.batch_input_shape) as Array<number | null> | undefined;
    if (!Array.isArray(as) || as.length !== es.length || as.some((d, k) => d !== null && d !== es[k])) {
      return `${label} takes inputs of shape ${show(as)}; ${ctx.expectedName} takes ${show(es)}`;
    }
  }
  for (const key of Object.keys(e)) {
    if (IGNORED.has(key) || key.endsWith("_initializer") || !(key in a)) continue;
    if (!sameJson(e[key], a[key]))
      return `${label} has ${key} ${show(a[key])}, where ${ctx.expectedName} has ${show(e[key])}`;
  }
  return undefined;
}

function diffFunctional(ctx: Context, expected: Obj, actual: unknown): string | undefined {
  if (!isObject(actual) || !isObject(actual.config) || !Array.isArray(actual.config.layers)) {
    return `${ctx.where} is not a functional model with a list of layers (class ${show(isObject(actual) ? actual.class_name : actual)})`;
  }
  const e = expected.config as Obj;
  const a = actual.config as Obj;
  const el = e.layers as Obj[];
  const al = a.layers as unknown[];
  if (el.length !== al.length)
    return `${ctx.where} has ${al.length} layers, where ${ctx.expectedName} has ${el.length}`;
  const nameOf = (l: unknown) =>
    isObject(l) && typeof l.name === "string" ? l.name : isObject(l) && isObject(l.config) ? String(l.config.name) : "";
  const eIndex = new Map(el.map((l, i) => [nameOf(l), i]));
  const aIndex = new Map(al.map((l, i) => [nameOf(l), i]));
  if (aIndex.size !== al.length) return `two layers of ${ctx.where} have the same name`;
  for (let i = 0; i < el.length; i++) {
    const x = el[i];
    const y = al[i];
    if (!isObject(y)) return `layer #${i} of ${ctx.where} is not a layer config`;
    if (y.class_name !== x.class_name) {
      return `${layerLabel(ctx, i, y)} is a ${String(y.class_name)}, where ${ctx.expectedName} has a ${String(x.class_name)} ("${nameOf(x)}")`;
    }
    if (x.class_name === "Functional") {
      const inner = diffFunctional({ where: "the base network", expectedName: ctx.expectedName }, x, y);
      if (inner) return inner;
    } else {
      const d = diffLayerConfig(ctx, i, x, y);
      if (d) return d;
    }
    const en = ((x.inbound_nodes as unknown[]) ?? []).map((n) => nodeShape(n, eIndex));
    const an = (Array.isArray(y.inbound_nodes) ? y.inbound_nodes : []).map((n) => nodeShape(n, aIndex));
    if (!sameJson(en, an)) {
      const from = (layer: Obj) => show(((layer.inbound_nodes as unknown[]) ?? []).map(inputNames));
      return `${layerLabel(ctx, i, y)} is connected differently: it takes the outputs of ${from(y)}, where ${ctx.expectedName} has ${from(x)}`;
    }
  }
  if (!sameJson(endpoint(e.input_layers, eIndex), endpoint(a.input_layers, aIndex)))
    return `${ctx.where} has other inputs (${show(a.input_layers)})`;
  if (!sameJson(endpoint(e.output_layers, eIndex), endpoint(a.output_layers, aIndex)))
    return `${ctx.where} has other outputs (${show(a.output_layers)})`;
  return undefined;
}

/**
 * The first way in which `actual` (a parsed config.json) differs from `expected` as a network, or
 * undefined when it is the same network. `expectedName` names the expected one in the message.
 */
export function architectureDifference(
  expected: JsonObject,
  actual: unknown,
  expectedName: string,
): string | undefined {
  if (!isObject(actual)) return "config.json does not hold an object";
  if (actual.class_name !== "Functional" && actual.class_name !== "Model") {
    return `it holds a ${show(actual.class_name)}, not a functional model`;
  }
  return diffFunctional({ where: "the model", expectedName }, expected as Obj, actual);
}

/** The layer configs of a functional config (empty when it has none). */
export function functionalLayers(config: unknown): Array<Record<string, Json>> {
  if (!isObject(config) || !isObject(config.config) || !Array.isArray(config.config.layers)) return [];
  return config.config.layers.filter(isObject) as Array<Record<string, Json>>;
}
