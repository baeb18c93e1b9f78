/**
 * Where the graph engine's time goes, per kind of TensorFlow op: compiles the tutorial's model
 * (random weights) at a freeze depth, then profiles one signature of its graph with
 * bench/graph_profile.py (TensorFlow's full tracing, in .venv).
 *
 *   node --import tsx bench/graph_profile.ts [--model inception_v3|xception] [--depth N]
 *        [--part whole|suffix|features|inference] [--signature train|evaluate|predict] [--batch 64]
 *        [--precision float32|mixed_bfloat16]
 *
 * "suffix" is the training step of the layers after the frozen ones (what `fit` runs with the
 * frozen-prefix cache), "whole" the whole model's, "features" the front and frozen layers,
 * "inference" the whole model in inference mode.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
  };
  const model = flag("model", "inception_v3") as "inception_v3" | "xception";
  const part = flag("part", "suffix");
  const { buildTransferModel, TUTORIAL_FREEZE } = await import("../src/model_build");
  const { CompiledModel } = await import("../src/engine/graph/compiled");
  const depth = Number(flag("depth", String(TUTORIAL_FREEZE[model])));
  const signature = flag("signature", part === "features" ? "predict" : part === "inference" ? "predict" : "train");
  const precision = flag("precision", "float32") as "float32" | "mixed_bfloat16";
  const tm = await buildTransferModel({ base: model, weights: null, freeze: depth, key: "profile", precision });
  // Adam's constants as fit compiles them: the fused kernel where it is loaded (KT_FUSED_ADAM=0: the twelve ops).
  const { adamConstants } = await import("../src/engine/graph/model_graphs");
  const { adamKernelFile } = await import("../src/tfjs/adam_kernel");
  const adam = adamConstants(tm.model);
  const trainable = (tm.model as unknown as { collectedTrainableWeights: never[] }).collectedTrainableWeights;
  let compiled;
  if (part === "features" || part === "suffix") {
    const split = tm.prefixSplit();
    if (!split) throw new Error(`Nothing is frozen at depth ${depth}.`);
    compiled =
      part === "features"
        ? await CompiledModel.compile([split.front, split.prefix], { signatures: ["predict"], precision })
        : await CompiledModel.compile(split.suffix, { signatures: ["train", "evaluate"], trainable, adam, precision });
  } else if (part === "whole") {
    compiled = await CompiledModel.compile(tm.model, { signatures: ["train", "evaluate"], trainable, adam, precision });
  } else {
    compiled = await CompiledModel.compile(tm.model, { signatures: ["evaluate", "predict"], precision });
  }
  const dir = compiled.directory;
  const update = adam.fused ? "Adam fused" : "Adam in elementwise ops";
  console.log(`${model} at depth ${depth}, ${part}, ${precision}, ${update}: ${compiled.timings.nodes} nodes; ${dir}`);
  compiled.dispose();
  tm.dispose();
  const r = spawnSync(
    path.join(ROOT, ".venv", "bin", "python"),
    [
      path.join(ROOT, "bench", "graph_profile.py"),
      dir,
      signature,
      "--batch",
      flag("batch", "64"),
      ...(adam.fused ? ["--library", adamKernelFile()] : []),
    ],
    {
      stdio: "inherit",
    },
  );
  process.exitCode = r.status ?? 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
