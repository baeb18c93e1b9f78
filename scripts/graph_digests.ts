/**
 * The SHA-256 of every graph the tutorial's models compile in float32, as ./src/engine/graph
 * serialises them (the bytes of `saved_model.pb`), for both bases at the tutorial's freeze depth:
 *
 *   inference   the whole model: "evaluate" and "predict" (evaluate, predict)
 *   features    the front and the frozen layers: "predict" (the frozen-prefix cache)
 *   suffix      the training step of the layers after the frozen ones: "train" and "evaluate"
 *   whole       the training step of the whole model (fit without the cache, trainOnBatch)
 *
 * test/precision.test.ts compares them with test/fixtures/float32-graph-digests.json, first written by
 * this script from the code without mixed precision (the main line it was merged with): the float32
 * graphs stay byte for byte what they were. A deliberate change of the float32 graphs writes the file
 * again (the last: trainable convolutions that are matrix products written as MatMuls in training
 * graphs, src/engine/graph/lower.ts, which changed "suffix" and "whole" only):
 *
 *   node --import tsx scripts/graph_digests.ts > test/fixtures/float32-graph-digests.json
 *
 * The bytes include the TensorFlow version (the SavedModel's meta info), recorded beside them.
 */
import * as crypto from "node:crypto";
import type * as TF from "@tensorflow/tfjs";
import { backendInfo, tf } from "../src/tfjs/backend";
import { trainedWeights } from "../src/tfjs/internals";
import { adamOf } from "../src/keras/optimizers/adam";
import { serializeSavedModel, type SignatureTensors } from "../src/engine/graph/savedmodel";
import { buildSignatures, type SignatureName } from "../src/engine/graph/signatures";
import { buildTransferModel } from "../src/model_build";
import type { BaseName, TransferModel } from "../src/model";

/** Options for buildSignatures beyond the signatures (the precision, where the code has one). */
type Extra = Record<string, unknown>;

function digest(chain: TF.LayersModel | TF.LayersModel[], signatures: SignatureName[], extra: Extra = {}): string {
  const built = buildSignatures(chain, { signatures, ...extra });
  const defined: Record<string, SignatureTensors> = {};
  for (const [name, s] of Object.entries(built.signatures)) if (s) defined[name] = s;
  return crypto.createHash("sha256").update(serializeSavedModel(built.graph, defined)).digest("hex");
}

/** The digests of the four graphs of `tm` at its freeze depth. */
export function modelDigests(tm: TransferModel, extra: Extra = {}): Record<string, string> {
  const split = tm.prefixSplit();
  if (!split) throw new Error("graph_digests: the model has no frozen prefix.");
  const optimizer = adamOf(tm.model);
  const adam = { beta2: optimizer.beta2, epsilon: optimizer.epsilon };
  const trainable = trainedWeights(tm.model);
  return {
    inference: digest(tm.model, ["evaluate", "predict"], extra),
    features: digest([split.front, split.prefix], ["predict"], extra),
    suffix: digest(split.suffix, ["train", "evaluate"], { trainable, adam, ...extra }),
    whole: digest(tm.model, ["train", "evaluate"], { trainable, adam, ...extra }),
  };
}

async function main(): Promise<void> {
  const out: Record<string, unknown> = { tensorflow: backendInfo().tensorflowVersion };
  for (const base of ["inception_v3", "xception"] as BaseName[]) {
    const tm = await buildTransferModel({ base, weights: null, key: `digests-${base}` });
    try {
      out[base] = modelDigests(tm);
    } finally {
      tm.dispose();
    }
  }
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  void tf;
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
