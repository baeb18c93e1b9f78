/**
 * Where the time of one training step of the tutorial's model goes, in our implementation.
 *
 *   node --import tsx bench/profile.ts [--model inception_v3|xception] [--steps N] [--json PATH]
 *                                      [--forward-conv-grad] [--fused-kernels] [--bn-bound] [--experiments-only]
 *
 * Splits a training step (batch 64) into the parts the frozen-prefix split gives (src/engine/frozen_prefix.ts):
 *   front    digits → 84×84×3 (Reshape, UpSampling3D, Reshape), forward only,
 *   prefix   the frozen base layers, forward only (inference mode),
 *   suffix   the trainable rest and the head: forward + backward + Adam (trainOnBatch on the features),
 * and compares their sum with a whole-model trainOnBatch. Then, with tf.profile, counts the kernels a
 * whole-model step runs, sums their time by kernel name, and estimates the per-op JavaScript overhead
 * from a loop of tiny ops. With --forward-conv-grad, it then times the training steps again with the
 * input gradient of stride-1 convolutions computed as a forward convolution (bench/conv_grad.ts), after
 * checking that it gives the same gradients (with oneDNN on, TensorFlow's own kernel is as fast: not
 * adopted). With --fused-kernels, the same with the library's fused kernels (src/tfjs/native_ops.ts) off
 * and on; with both, both together. With --bn-bound, it times steps with every batch
 * normalisation replaced by the identity: not the same model, an upper bound of what batch
 * normalisation costs. Each comparison alternates the two variants step by step.
 */
import * as fs from "node:fs";
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { describeBackend } from "../src/engine/select";
import { loadMnist, take, toTensors } from "../src/data";
import { type BaseName } from "../src/model";
import { buildTransferModel } from "../src/model_build";
import { compileSuffixLike } from "../src/engine/frozen_prefix";
import { BatchNormalization } from "../src/keras/layers";
import { installForwardConvInputGrad } from "./conv_grad";
import { useFusedKernels } from "../src/tfjs/native_ops";
import { median } from "./median";

const now = () => performance.now() / 1000;

async function timeIt(label: string, steps: number, fn: () => Promise<void>): Promise<number> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = now();
    await fn();
    times.push(now() - t);
  }
  const m = median(times);
  process.stderr.write(
    `${label.padEnd(44)} ${(m * 1000).toFixed(0).padStart(7)} ms  (${times.map((s) => (s * 1000).toFixed(0)).join(", ")})\n`,
  );
  return m;
}

/**
 * Times `fn` alternately without and with a change (`install` returns its undo), step by step, so
 * that a change in the machine's load hits both alike; one untimed round first.
 */
async function alternate(
  label: string,
  change: string,
  key: string,
  install: () => () => void,
  fn: () => Promise<unknown>,
  steps: number,
  result: Record<string, unknown>,
): Promise<void> {
  const base: number[] = [];
  const changed: number[] = [];
  for (let i = 0; i < steps + 1; i++) {
    for (const on of [false, true]) {
      const undo = on ? install() : undefined;
      try {
        const t = now();
        await fn();
        if (i > 0) (on ? changed : base).push(now() - t);
      } finally {
        undo?.();
      }
    }
  }
  const [a, b] = [median(base), median(changed)];
  const ms = (v: number[]) => v.map((t) => (t * 1000).toFixed(0)).join(", ");
  process.stderr.write(
    `${label}: ${(a * 1000).toFixed(0)} ms; with ${change}: ${(b * 1000).toFixed(0)} ms (${((1 - b / a) * 100).toFixed(0)} % less) [${ms(base)} | ${ms(changed)}]\n`,
  );
  result[key] = { without: a, with: b, without_steps: base, with_steps: changed };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (flag: string, def: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] ? argv[i + 1] : def;
  };
  const model = arg("--model", "inception_v3") as BaseName;
  const steps = Number(arg("--steps", "3"));
  const jsonPath = argv.includes("--json") ? arg("--json", "") : undefined;
  process.stderr.write(`${describeBackend()}; ${model}; batch 64; ${steps} timed steps after 1 warm-up\n`);

  const { train } = await loadMnist();
  const { x, y } = toTensors(take(train, 64));
  const tm = await buildTransferModel({ base: model, weights: null, key: `profile-${model}` });
  const split = tm.prefixSplit();
  if (!split) throw new Error("No frozen-prefix split at this depth.");
  compileSuffixLike(split, tm.model);

  const front = tf.tidy(() => split.front.predict(x) as TF.Tensor);
  const feats = tf.tidy(() => [split.prefix.predict(front) as TF.Tensor | TF.Tensor[]].flat());
  const result: Record<string, number | string | object> = {
    model,
    backend: describeBackend(),
    batch: 64,
    feature_shapes: split.featureShapes,
  };

  const read = async (t: TF.Tensor | TF.Tensor[]) => {
    const ts = Array.isArray(t) ? t : [t];
    await Promise.all(ts.map((a) => a.data()));
    tf.dispose(ts);
  };
  if (!argv.includes("--experiments-only")) {
    result.front_forward = await timeIt("front (upsampling) forward", steps, () =>
      read(split.front.predict(x) as TF.Tensor),
    );
    result.prefix_forward = await timeIt("frozen prefix forward", steps, () =>
      read(split.prefix.predict(front) as TF.Tensor),
    );
    result.suffix_forward = await timeIt("trainable suffix + head forward", steps, () =>
      read(split.suffix.predict(feats.length === 1 ? feats[0] : feats) as TF.Tensor),
    );
    result.suffix_train = await timeIt("trainable suffix + head: train step", steps, async () => {
      await split.suffix.trainOnBatch(feats.length === 1 ? feats[0] : feats, y);
    });
    result.whole_forward = await timeIt("whole model forward (predict)", steps, () =>
      read(tm.model.predict(x) as TF.Tensor),
    );
    result.whole_train = await timeIt("whole model train step (trainOnBatch)", steps, async () => {
      await tm.model.trainOnBatch(x, y);
    });

    // The step without tfjs-layers' bookkeeping: gradients of the loss (forward + backward), then Adam alone.
    const optimizer = tm.model.optimizer;
    const vars = (
      tm.model as unknown as { collectedTrainableWeights: Array<{ read(): TF.Variable }> }
    ).collectedTrainableWeights.map((w) => w.read());
    const lossFn = () =>
      tf.tidy(() => {
        const p = tm.model.apply(x, { training: true }) as TF.Tensor;
        return tf.losses.softmaxCrossEntropy(y, tf.log(tf.clipByValue(p, 1e-7, 1))).mean() as TF.Scalar;
      });
    result.forward_backward = await timeIt("whole model forward + backward (gradients)", steps, async () => {
      const { value, grads } = optimizer.computeGradients(lossFn, vars);
      await value.data();
      tf.dispose([value, ...Object.values(grads)]);
    });
    result.adam = await timeIt(`Adam update alone (${vars.length} variables)`, steps, async () => {
      const grads = Object.fromEntries(vars.map((v) => [v.name, tf.zerosLike(v)]));
      optimizer.applyGradients(grads);
      await vars[vars.length - 1].data();
      tf.dispose(Object.values(grads));
    });

    // Kernels of one whole-model training step.
    const info = await tf.profile(async () => {
      await tm.model.trainOnBatch(x, y);
      return [];
    });
    const byName = new Map<string, { count: number; ms: number }>();
    let kernelMs = 0;
    for (const k of info.kernels) {
      if (k.name.endsWith("__op")) continue; // an op's scope: its kernels are listed on their own
      const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
      kernelMs += ms;
      const e = byName.get(k.name) ?? { count: 0, ms: 0 };
      e.count++;
      e.ms += ms;
      byName.set(k.name, e);
    }
    const top = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
    const kernelCount = [...byName.values()].reduce((a, e) => a + e.count, 0);
    process.stderr.write(
      `\nwhole-model step under tf.profile: ${kernelCount} kernels, ${kernelMs.toFixed(0)} ms inside kernels\n`,
    );
    for (const [name, e] of top.slice(0, 15)) {
      process.stderr.write(
        `  ${name.padEnd(36)} ${String(e.count).padStart(5)} × ${e.ms.toFixed(0).padStart(6)} ms  ${((100 * e.ms) / kernelMs).toFixed(1).padStart(5)} %\n`,
      );
    }
    result.kernels = kernelCount;
    result.step_peak_tensor_bytes = info.peakBytes;
    result.tensor_bytes_before_step = tf.memory().numBytes;
    process.stderr.write(
      `tensor memory: ${(tf.memory().numBytes / 2 ** 20).toFixed(0)} MiB held between steps (weights, Adam slots, inputs), ` +
        `peak ${(info.peakBytes / 2 ** 20).toFixed(0)} MiB during a step\n`,
    );
    result.kernel_ms = kernelMs;
    result.kernels_by_name = Object.fromEntries(top.map(([n, e]) => [n, e]));

    // Per-op overhead: a loop of tiny ops, each through the same dispatch path as a real kernel.
    const a = tf.scalar(1);
    const b = tf.scalar(2);
    const n = 5000;
    for (let i = 0; i < 500; i++) tf.add(a, b).dispose();
    const t0 = now();
    for (let i = 0; i < n; i++) tf.add(a, b).dispose();
    const perOp = (now() - t0) / n;
    result.tiny_op_seconds = perOp;
    tf.dispose([a, b]);
    const overhead = (perOp * kernelCount) / (result.whole_train as number);
    process.stderr.write(
      `\ntiny op (scalar add): ${(perOp * 1e6).toFixed(1)} µs; × ${kernelCount} kernels = ${(perOp * kernelCount * 1000).toFixed(0)} ms ` +
        `≈ ${(100 * overhead).toFixed(1)} % of a whole-model step\n`,
    );
  }
  if (argv.includes("--forward-conv-grad")) {
    // Same gradients? Compare on small convolutions like the models' (same/valid, odd/even, 1×7, stride 2).
    type Shape4 = [number, number, number, number];
    const cases: Array<[Shape4, Shape4, number, "same" | "valid"]> = [
      [[2, 5, 5, 6], [3, 3, 6, 4], 1, "same"],
      [[2, 7, 7, 3], [3, 3, 3, 5], 1, "valid"],
      [[2, 6, 6, 4], [1, 7, 4, 4], 1, "same"],
      [[2, 6, 6, 4], [2, 2, 4, 3], 1, "same"],
      [[2, 9, 9, 3], [3, 3, 3, 4], 2, "valid"],
    ];
    const gradX = (xs: Shape4, ws: Shape4, stride: number, pad: "same" | "valid") =>
      tf.tidy(() => {
        const cx = tf.randomNormal(xs, 0, 1, "float32", 1) as TF.Tensor4D;
        const cw = tf.randomNormal(ws, 0, 1, "float32", 2) as TF.Tensor4D;
        return tf.grad((v: TF.Tensor) =>
          tf
            .conv2d(v as TF.Tensor4D, cw, stride, pad)
            .square()
            .sum(),
        )(cx);
      });
    const refs = cases.map((c) => gradX(...c));
    const uninstall = installForwardConvInputGrad();
    let worst = 0;
    cases.forEach((c, i) => {
      const g = gradX(...c);
      const err = tf.tidy(
        () => tf.max(tf.abs(tf.sub(g, refs[i]))).dataSync()[0] / tf.max(tf.abs(refs[i])).dataSync()[0],
      );
      worst = Math.max(worst, err);
      g.dispose();
    });
    tf.dispose(refs);
    process.stderr.write(
      `\nforward-convolution input gradient: largest relative difference to TensorFlow's ${worst.toExponential(1)}\n`,
    );
    result.forward_conv_grad_max_rel_err = worst;
    uninstall();
    await alternate(
      "whole model train step",
      "forward-conv input grad",
      "whole_train_forward_conv_grad",
      installForwardConvInputGrad,
      () => tm.model.trainOnBatch(x, y),
      steps,
      result,
    );
    await alternate(
      "suffix train step",
      "forward-conv input grad",
      "suffix_train_forward_conv_grad",
      installForwardConvInputGrad,
      () => split.suffix.trainOnBatch(feats.length === 1 ? feats[0] : feats, y),
      steps,
      result,
    );
  }
  // The fused kernels (src/tfjs/native_ops.ts) are on by default; these comparisons switch them off for
  // the "without" steps. That they give the same results is checked by test/native_ops.test.ts.
  const withFused = () => {
    const before = useFusedKernels(true);
    return () => void useFusedKernels(before);
  };
  const fusedDefault = useFusedKernels(false);
  if (argv.includes("--fused-kernels")) {
    await alternate(
      "whole model train step",
      "fused kernels",
      "whole_train_fused",
      withFused,
      () => tm.model.trainOnBatch(x, y),
      steps,
      result,
    );
    await alternate(
      "whole model forward",
      "fused kernels",
      "whole_forward_fused",
      withFused,
      () => read(tm.model.predict(x) as TF.Tensor),
      steps,
      result,
    );
    await alternate(
      "suffix train step",
      "fused kernels",
      "suffix_train_fused",
      withFused,
      () => split.suffix.trainOnBatch(feats.length === 1 ? feats[0] : feats, y),
      steps,
      result,
    );
  }
  const chosen: Array<[string, () => () => void]> = [];
  if (argv.includes("--forward-conv-grad")) chosen.push(["forward-conv input grad", installForwardConvInputGrad]);
  if (argv.includes("--fused-kernels")) chosen.push(["fused kernels", withFused]);
  if (chosen.length > 1) {
    const all = () => {
      const undos = chosen.map(([, install]) => install());
      return () => undos.reverse().forEach((u) => u());
    };
    const names = chosen.map(([n]) => n).join(" + ");
    await alternate(
      "whole model train step",
      names,
      "whole_train_combined",
      all,
      () => tm.model.trainOnBatch(x, y),
      steps,
      result,
    );
    await alternate(
      "suffix train step",
      names,
      "suffix_train_combined",
      all,
      () => split.suffix.trainOnBatch(feats.length === 1 ? feats[0] : feats, y),
      steps,
      result,
    );
    await alternate(
      "whole model forward",
      names,
      "whole_forward_combined",
      all,
      () => read(tm.model.predict(x) as TF.Tensor),
      steps,
      result,
    );
  }
  useFusedKernels(fusedDefault);
  if (argv.includes("--bn-bound")) {
    // Not the same model: batch normalisation replaced by the identity, for an upper bound of what it costs.
    const identityBn = () => {
      const proto = BatchNormalization.prototype as unknown as {
        call: (inputs: TF.Tensor | TF.Tensor[], kwargs: object) => TF.Tensor;
      };
      const call = proto.call;
      proto.call = function (inputs: TF.Tensor | TF.Tensor[]) {
        return tf.clone(Array.isArray(inputs) ? inputs[0] : inputs);
      };
      return () => {
        proto.call = call;
      };
    };
    await alternate(
      "whole model train step",
      "batch norm as identity",
      "whole_train_without_bn",
      identityBn,
      () => tm.model.trainOnBatch(x, y),
      steps,
      result,
    );
    await alternate(
      "whole model forward",
      "batch norm as identity",
      "whole_forward_without_bn",
      identityBn,
      () => read(tm.model.predict(x) as TF.Tensor),
      steps,
      result,
    );
  }
  tf.dispose([x, y, front, ...feats]);
  tm.dispose();
  if (jsonPath) fs.writeFileSync(jsonPath, JSON.stringify(result, null, 2));
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((e) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
