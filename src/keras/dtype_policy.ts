/**
 * Keras's dtype policies (keras/src/dtype_policies/dtype_policy.py), as far as the tutorial's model
 * uses them: the precision a model computes in, by Keras's names.
 *
 *   "float32"         every layer computes and keeps its variables in float32 (Keras's default)
 *   "mixed_bfloat16"  variables stay float32; layers compute in bfloat16 (Keras's autocast,
 *                     keras/src/layers/layer.py: a layer casts its floating inputs to its compute
 *                     dtype, and its variables when it reads them)
 *
 *   checkPrecision(value, what)    a precision given by a user, checked
 *   layerPolicy(precision, layer)  the policy a layer of such a model has
 *   computeDtype(policy)           "float32" or "bfloat16"
 *   policyConfig(name)             the policy as Keras's config.json writes it
 *   policyName(dtype)              a layer config's "dtype" entry back to a policy name
 *
 * What stays float32 under "mixed_bfloat16", as Keras computes it:
 *  - the variables (the TF.js model holds them in float32; a layer reads a bfloat16 copy);
 *  - batch normalisation's statistics: keras/src/layers/normalization/batch_normalization.py casts
 *    its input up to float32, normalises there and casts the result down (the graph engine uses
 *    TensorFlow's FusedBatchNormV3 with a bfloat16 x and float32 scale, offset, mean and variance:
 *    float32 inside, the result rounded once, the same arithmetic);
 *  - global average pooling's sum (keras/src/backend/tensorflow/numpy.py's `mean` computes in float32);
 *  - the loss (a Keras loss computes in float32, keras/src/losses/loss.py).
 * One choice of ours: **a layer whose activation is the softmax computes in float32** (the policy
 * "float32" on that layer, which is how Keras's mixed-precision guide writes a model's output
 * layer: `Dense(10, activation="softmax", dtype="float32")`). So the class probabilities are float32
 * and the loss is computed from float32 logits; Keras with only `set_global_policy("mixed_bfloat16")`
 * would compute the tutorial's last Dense and its softmax in bfloat16. A `.keras` archive records
 * the policy of every layer, so Python's `load_model` computes what the model here computes.
 * Likewise the augmentation layers (training only, ./preprocessing/) keep the policy "float32": they
 * move pixels, whose values bfloat16 would round, and they cost little beside the base. An archive
 * Keras wrote under its global policy alone loads here as "mixed_bfloat16", these layers in float32.
 */
import type * as TF from "@tensorflow/tfjs";
import { AugmentationLayer } from "./preprocessing/layers";

/** A model's precision, by the name of Keras's global dtype policy. */
export type Precision = "float32" | "mixed_bfloat16";

/** The precisions a model can compute in. */
export const PRECISIONS: readonly Precision[] = ["float32", "mixed_bfloat16"];

/** The dtype a layer computes in. */
export type ComputeDtype = "float32" | "bfloat16";

/** A precision given by a user (`what` names the option), checked, with an error that lists the choices. */
export function checkPrecision(value: unknown, what: string): Precision {
  if (value === "float32" || value === "mixed_bfloat16") return value;
  const hint =
    value === "bfloat16"
      ? ' ("bfloat16" alone would keep the variables in bfloat16 too; Keras\'s mixed policy is "mixed_bfloat16")'
      : value === "mixed_float16" || value === "float16"
        ? " (float16 needs loss scaling and a GPU; on the CPU, bfloat16 is the half-precision type TensorFlow runs fast)"
        : "";
  throw new Error(
    `${what}: the precision must be "float32" (the default) or "mixed_bfloat16" (Keras's mixed precision: ` +
      `layers compute in bfloat16, variables stay float32), got ${JSON.stringify(value)}${hint}.`,
  );
}

/** Whether a layer ends in a softmax (a Dense or Activation layer with that activation). */
function endsInSoftmax(layer: TF.layers.Layer): boolean {
  const config = layer.getConfig() as { activation?: unknown };
  return config.activation === "softmax";
}

/** The dtype policy of `layer` in a model of this precision (see the module comment for the exceptions). */
export function layerPolicy(precision: Precision, layer: TF.layers.Layer): Precision {
  if (precision === "float32" || endsInSoftmax(layer) || layer instanceof AugmentationLayer) return "float32";
  return "mixed_bfloat16";
}

/** The dtype a layer of this policy computes in. */
export function computeDtype(policy: Precision): ComputeDtype {
  return policy === "mixed_bfloat16" ? "bfloat16" : "float32";
}

/** Keras's dtype policy object as a layer's config carries it, `DTypePolicy(name)`. */
export function policyConfig(name: Precision): {
  module: string;
  class_name: string;
  config: { name: string };
  registered_name: null;
} {
  return { module: "keras", class_name: "DTypePolicy", config: { name }, registered_name: null };
}

/** A layer config's "dtype" entry as a policy name: Keras 3 writes a DTypePolicy object, older versions a string. */
export function policyName(dtype: unknown): string | undefined {
  if (dtype === undefined || dtype === null) return undefined;
  if (typeof dtype === "string") return dtype;
  if (typeof dtype === "object" && !Array.isArray(dtype)) {
    const config = (dtype as { config?: unknown }).config;
    if (typeof config === "object" && config !== null && typeof (config as { name?: unknown }).name === "string")
      return (config as { name: string }).name;
  }
  return JSON.stringify(dtype);
}

/**
 * The precision a Keras `config.json` records for the model: "mixed_bfloat16" when some layer has
 * that policy (Keras writes it on every layer under `set_global_policy("mixed_bfloat16")`; we leave
 * the softmax layer in float32), "float32" when every layer computes in float32; for any other
 * policy (float16, bfloat16 variables, float64, …) the problem in words.
 */
export function configPrecision(config: unknown): { precision: Precision } | { problem: string } {
  let mixed = false;
  let problem: string | undefined;
  const visit = (v: unknown): void => {
    if (problem !== undefined || typeof v !== "object" || v === null) return;
    if (Array.isArray(v)) return v.forEach(visit);
    const o = v as { class_name?: unknown; config?: unknown };
    const c = o.config as { dtype?: unknown; name?: unknown; layers?: unknown } | undefined;
    // Input layers and the tensors between layers (`__keras_tensor__`) record a tensor's dtype, not a policy.
    const layer = typeof o.class_name === "string" && o.class_name !== "InputLayer" && !o.class_name.startsWith("__");
    if (layer && typeof c === "object" && c !== null) {
      const name = policyName(c.dtype);
      if (name === "mixed_bfloat16") mixed = true;
      else if (name !== undefined && name !== "float32") {
        problem =
          `layer "${String(c.name)}" has the dtype policy ${JSON.stringify(name)}; models here compute in ` +
          `"float32" or "mixed_bfloat16"`;
      }
    }
    Object.values(o).forEach(visit);
  };
  visit(config);
  return problem !== undefined ? { problem } : { precision: mixed ? "mixed_bfloat16" : "float32" };
}
