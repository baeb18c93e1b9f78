/**
 * The fused Adam kernel (src/tfjs/native/adam.cc, loaded by src/tfjs/adam_kernel.ts):
 *
 *   - npm run setup built it, and it loads on @tensorflow/tfjs-node; describeBackend() says so;
 *   - two training steps of the tutorial's InceptionV3 compiled with it end with the weights, Adam's
 *     moments, moving statistics, loss and accuracy of the same steps compiled with the twelve
 *     elementwise ops, bit for bit, in float32 and in mixed_bfloat16 (so the kernel changes speed
 *     and nothing else; the twelve ops are what the graph engine's tests compare with TF.js and
 *     Keras); under mixed_bfloat16 it takes the bfloat16 gradients as they are;
 *   - a build that no longer matches its source or library is passed over, with the reason;
 *     `KT_FUSED_ADAM=0` switches it off.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { tf, backendInfo } from "../src/tfjs/backend";
import { adamKernel, adamKernelBuildProblem, adamKernelFile } from "../src/tfjs/adam_kernel";
import { trainedWeights } from "../src/tfjs/internals";
import { toTensors, loadMnist } from "../src/data";
import { buildTransferModel } from "../src/model_build";
import { describeBackend } from "../src/engine/select";
import { CompiledModel } from "../src/engine/graph/compiled";
import { buildSignatures } from "../src/engine/graph/signatures";
import type { KerasAdam } from "../src/keras/optimizers/adam";
import type { Precision } from "../src/keras/dtype_policy";
import { tmpDir } from "./support/helpers";

// The kernel is for @tensorflow/tfjs-node, and npm run setup builds it with the machine's C++
// compiler; where there is none the step runs the twelve ops (the graph engine's other tests).
const compiler = spawnSync("sh", ["-c", `command -v "${process.env.CXX ?? "g++"}"`]).status === 0;
const native = backendInfo().kind === "tensorflow" && compiler;
const why = compiler ? "not on @tensorflow/tfjs-node" : "no C++ compiler to build the kernel with";

test(
  "npm run setup built the fused Adam kernel, it loads on the native CPU backend, and describeBackend says which update runs",
  { skip: !native && why },
  () => {
    const state = adamKernel();
    assert.ok(state.loaded, `the fused Adam kernel did not load: ${state.loaded ? "" : state.reason}`);
    assert.match(describeBackend(), /Adam in one fused kernel/);
    const saved = process.env.KT_FUSED_ADAM;
    process.env.KT_FUSED_ADAM = "0";
    try {
      assert.deepEqual(adamKernel(), { loaded: false, reason: "switched off by KT_FUSED_ADAM" });
      assert.match(
        describeBackend(),
        /Adam in elementwise ops, the fused kernel not used: switched off by KT_FUSED_ADAM/,
      );
    } finally {
      if (saved === undefined) delete process.env.KT_FUSED_ADAM;
      else process.env.KT_FUSED_ADAM = saved;
    }
  },
);

test(
  "a build that does not match its source or its TensorFlow library is passed over, with the reason",
  { skip: !native && why },
  () => {
    assert.equal(adamKernelBuildProblem(adamKernelFile()), undefined);
    const dir = tmpDir("adam-kernel");
    const file = path.join(dir, "adam.node");
    assert.match(adamKernelBuildProblem(file) ?? "", /adam\.node is not built/);
    fs.copyFileSync(adamKernelFile(), file);
    const record = JSON.parse(
      fs.readFileSync(path.join(path.dirname(adamKernelFile()), "adam.json"), "utf8"),
    ) as Record<string, string>;
    fs.writeFileSync(path.join(dir, "adam.json"), JSON.stringify({ ...record, source: "0".repeat(64) }));
    assert.match(adamKernelBuildProblem(file) ?? "", /was built from another version of adam\.cc/);
    fs.writeFileSync(
      path.join(dir, "adam.json"),
      JSON.stringify({ ...record, library: "/elsewhere/libtensorflow_framework.so.2" }),
    );
    assert.match(adamKernelBuildProblem(file) ?? "", /was built against another TensorFlow library \(\/elsewhere/);
    fs.writeFileSync(path.join(dir, "adam.json"), "{ cut short");
    assert.match(adamKernelBuildProblem(file) ?? "", /is not built/);
    fs.writeFileSync(path.join(dir, "adam.json"), JSON.stringify(record));
    assert.equal(adamKernelBuildProblem(file), undefined);
  },
);

/** Every variable of the model (`variables`, in one fixed order) and every Adam moment. */
function state(model: TF.LayersModel, variables: TF.LayerVariable[], optimizer: KerasAdam): Float32Array[] {
  const slots = trainedWeights(model).flatMap((w) => {
    const { m, v } = optimizer.slotsFor(w.read() as TF.Variable);
    return [m, v];
  });
  return [...variables.map((w) => w.read()), ...slots].map((t) => t.dataSync().slice() as Float32Array);
}

for (const precision of ["float32", "mixed_bfloat16"] as Precision[]) {
  test(
    `${precision}: two training steps with the fused Adam kernel end bit for bit where the twelve elementwise ops do`,
    { skip: !native && why },
    async () => {
      assert.ok(adamKernel().loaded, "the fused Adam kernel is built and loads (the test above)");
      const mnist = await loadMnist({ trainLimit: 16 });
      const tm = await buildTransferModel({
        base: "inception_v3",
        weights: null,
        key: `adam-kernel-${precision}`,
        dropout: 0,
        precision,
      });
      const { x, y } = toTensors(mnist.train);
      // model.weights lists trainable weights first, so its order changes with freezing: keep one.
      const variables = tm.model.weights.slice().sort((a, b) => a.id - b.id);
      const start = variables.map((w) => w.read().dataSync().slice() as Float32Array);
      const results: Array<{ losses: number[]; accuracies: number[]; values: Float32Array[]; nodes: number }> = [];
      try {
        for (const fused of [false, true]) {
          tf.tidy(() => variables.forEach((w, i) => w.write(tf.tensor(start[i], w.shape as number[]))));
          tm.freeze(64); // a fresh optimizer
          const optimizer = tm.model.optimizer as unknown as KerasAdam;
          const compiled = await CompiledModel.compile(tm.model, {
            signatures: ["train"],
            trainable: trainedWeights(tm.model),
            adam: { beta2: optimizer.beta2, epsilon: optimizer.epsilon, fused },
            precision,
          });
          try {
            const steps = [
              compiled.trainStep([x], y, optimizer, [1, 2]),
              compiled.trainStep([x], y, optimizer, [1, 3]),
            ];
            results.push({
              losses: steps.map((s) => s.loss),
              accuracies: steps.map((s) => s.accuracy),
              values: state(tm.model, variables, optimizer),
              nodes: compiled.timings.nodes,
            });
          } finally {
            compiled.dispose();
          }
        }
        // One kernel per trained weight; under mixed_bfloat16 the weights the layers compute with in
        // bfloat16 hand it their bfloat16 gradient (the kernel widens it), the others a float32 one.
        const trainable = trainedWeights(tm.model);
        const { graph } = buildSignatures(tm.model, {
          signatures: ["train"],
          trainable,
          adam: { beta2: 0.999, epsilon: 1e-7, fused: true },
          precision,
        });
        const kernels = graph.nodes.filter((n) => n.op === "KtAdam");
        assert.equal(kernels.length, trainable.length);
        const narrow = kernels.filter((n) => n.inputs[3].dtype === "bfloat16").length;
        if (precision === "float32") assert.equal(narrow, 0);
        else
          assert.ok(narrow > 0 && narrow < kernels.length, `${narrow} of ${kernels.length} take a bfloat16 gradient`);
      } finally {
        tf.dispose([x, y]);
        tm.dispose();
      }
      const [ops, fused] = results;
      assert.ok(fused.nodes < ops.nodes, `the fused graph has fewer nodes (${fused.nodes} against ${ops.nodes})`);
      assert.deepEqual(fused.losses, ops.losses);
      assert.deepEqual(fused.accuracies, ops.accuracies);
      assert.equal(fused.values.length, ops.values.length);
      let moved = 0;
      ops.values.forEach((want, i) => {
        const got = fused.values[i];
        assert.equal(
          Buffer.compare(Buffer.from(got.buffer), Buffer.from(want.buffer)),
          0,
          `variable or moment ${i} differs`,
        );
        if (start[i] && want.some((v, j) => v !== start[i][j])) moved++;
      });
      assert.ok(moved > 100, `the steps changed many weights (${moved})`);
    },
  );
}
