/**
 * The speed-ups on the native backend change no result:
 *  - batch normalisation through TensorFlow's fused kernels (src/tfjs/native_ops.ts) gives the outputs,
 *    gradients and moving statistics of the layer's elementwise code, and ReLU's gradient through
 *    ReluGrad equals TF.js's;
 *  - oneDNN is on by default (src/tfjs/backend.ts), and TensorFlow sees the setting;
 *  - the whole model computes the same with them, and training it a step at freeze depth 64 and one
 *    at 100 ends as close to the same weights as float rounding allows (see below).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { LayersModel, SymbolicTensor, Tensor, Variable } from "@tensorflow/tfjs";
import { tf, backendInfo } from "../src/tfjs/backend";
import { BatchNormalization } from "../src/keras/layers";
import { buildTransferModel } from "../src/model_build";
import { fusedKernelsActive, useFusedKernels } from "../src/tfjs/native_ops";
import { ROOT, outDir } from "./support/helpers";
import { lcg, maxRelDiff, nudgeByOneUlp, relRms } from "./support/numeric";

/** Everything one batch-norm layer computes: training output, its gradients, moving statistics, inference output. */
function runLayer(fused: boolean, args: { scale: boolean; center: boolean }): { names: string[]; tensors: Tensor[] } {
  const before = useFusedKernels(fused);
  try {
    return tf.tidy(() => {
      const layer = new BatchNormalization({
        ...args,
        momentum: 0.9,
        gammaInitializer: "glorotUniform",
        betaInitializer: "glorotUniform",
      });
      const x = tf.randomNormal([4, 5, 5, 6], 0.5, 2, "float32", 7);
      const r = tf.randomNormal([4, 5, 5, 6], 0, 1, "float32", 8);
      layer.apply(x); // builds it
      layer.setWeights(layer.getWeights().map((w, i) => tf.randomUniform(w.shape, 0.5, 1.5, "float32", 10 + i)));
      const trainable = layer.trainableWeights.map((w) => (w as unknown as { read(): Variable }).read());
      const loss = (input: Tensor) => tf.sum(tf.mul(layer.apply(input, { training: true }) as Tensor, r)) as Tensor;
      const { value, grads } =
        trainable.length > 0
          ? tf.variableGrads(() => loss(x) as never, trainable)
          : { value: loss(x), grads: {} as Record<string, Tensor> };
      const dx = tf.grad(loss)(x);
      const inference = layer.apply(x) as Tensor;
      // The gradient through a layer in inference mode (a frozen layer between trainable ones).
      const dxInference = tf.grad((input: Tensor) => tf.sum(tf.mul(layer.apply(input) as Tensor, r)))(x);
      const names = [
        "loss",
        "dx",
        ...trainable.map((w) => `d ${w.name}`),
        ...layer.weights.map((w) => w.name),
        "inference output",
        "dx in inference",
      ];
      const tensors = [
        value,
        dx,
        ...trainable.map((w) => grads[w.name]),
        ...layer.getWeights(),
        inference,
        dxInference,
      ];
      const kept = tensors.map((t) => tf.keep(t.clone()));
      layer.dispose();
      return { names, tensors: kept };
    });
  } finally {
    useFusedKernels(before);
  }
}

test("fused batch norm equals the elementwise code: output, gradients of x, gamma, beta, moving statistics, inference", () => {
  assert.ok(fusedKernelsActive(), "the fused kernels should be active on the native backend");
  const baseline = tf.memory().numTensors;
  for (const scale of [true, false]) {
    for (const center of [true, false]) {
      const plain = runLayer(false, { scale, center });
      const fused = runLayer(true, { scale, center });
      plain.tensors.forEach((t, i) => {
        const d = maxRelDiff(fused.tensors[i], t);
        assert.ok(
          d < 1e-5,
          `scale ${scale}, center ${center}: ${plain.names[i]} differs by ${d.toExponential(2)} (relative)`,
        );
      });
      // The moving statistics did move (momentum 0.9), so the comparison above is not of untouched values.
      tf.dispose([...plain.tensors, ...fused.tensors]);
    }
  }
  assert.equal(tf.memory().numTensors, baseline, "the fused path leaks tensors");
});

test("the fused path is the one taken: no elementwise moments in a training call, and the switch turns it off", async () => {
  const layer = new BatchNormalization({ scale: false });
  const x = tf.randomNormal([8, 4, 4, 16], 0, 1, "float32", 3);
  layer.apply(x);
  const kernels = async (fused: boolean) => {
    const before = useFusedKernels(fused);
    try {
      const info = await tf.profile(() =>
        tf.tidy(() => tf.grad((t: Tensor) => tf.sum(layer.apply(t, { training: true }) as Tensor))(x)),
      );
      tf.dispose(info.result as Tensor);
      return info.kernels.map((k) => k.name);
    } finally {
      useFusedKernels(before);
    }
  };
  const fused = await kernels(true);
  const plain = await kernels(false);
  assert.ok(
    plain.includes("Mean") || plain.includes("Square"),
    `the elementwise code computes moments: ${plain.join(" ")}`,
  );
  assert.ok(
    !fused.includes("Mean") && !fused.includes("Square"),
    `the fused path still computes moments: ${fused.join(" ")}`,
  );
  assert.ok(fused.length * 2 < plain.length, `fused ${fused.length} kernels vs elementwise ${plain.length}`);
  tf.dispose(x);
  layer.dispose();
});

test("ReLU's gradient through TensorFlow's ReluGrad equals TF.js's dy * step(x), and replaces it", async () => {
  const x = tf.tensor1d([-2, -0.5, 0, 1e-30, 0.5, 3]).reshape([1, 2, 3, 1]);
  const dy = tf.tensor1d([1, 2, 3, 4, 5, 6]).reshape([1, 2, 3, 1]);
  const gradient = async (fused: boolean) => {
    const before = useFusedKernels(fused);
    try {
      const info = await tf.profile(() => tf.grad((t: Tensor) => tf.relu(t))(x, dy));
      const g = info.result as Tensor;
      const values = Array.from(g.dataSync());
      g.dispose();
      return { values, kernels: info.kernels.map((k) => k.name) };
    } finally {
      useFusedKernels(before);
    }
  };
  const fused = await gradient(true);
  const plain = await gradient(false);
  // dy where x > 0, else 0 (0 at x = 0, as both TensorFlow and TF.js define it).
  assert.deepEqual(fused.values, [0, 0, 0, 4, 5, 6]);
  assert.deepEqual(plain.values, fused.values);
  assert.ok(
    plain.kernels.includes("Step") && !fused.kernels.includes("Step"),
    `kernels: fused ${fused.kernels.join(" ")}; TF.js ${plain.kernels.join(" ")}`,
  );
  tf.dispose([x, dy]);
});

test("oneDNN is on by default, TensorFlow sees it, and TF_ENABLE_ONEDNN_OPTS=0 turns it off", () => {
  assert.equal(backendInfo().oneDNN, process.env.TF_ENABLE_ONEDNN_OPTS === "1");
  const probe = `const { backendInfo, tf } = require(${JSON.stringify(path.join(ROOT, "src", "tfjs", "backend.ts"))}); tf.conv2d(tf.ones([1, 4, 4, 1]), tf.ones([3, 3, 1, 1]), 1, "same").dataSync(); console.log(JSON.stringify(backendInfo()));`;
  for (const setting of [undefined, "0"]) {
    const env: NodeJS.ProcessEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: "0" };
    delete env.TF_ENABLE_ONEDNN_OPTS;
    if (setting !== undefined) env.TF_ENABLE_ONEDNN_OPTS = setting;
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", probe], { cwd: ROOT, env, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout.trim().split("\n").pop()!);
    // TensorFlow's own log line, printed when it reads the setting (its log level 0 shows it).
    const said = /oneDNN custom operations are on/.test(r.stderr);
    if (setting === undefined) {
      assert.equal(info.oneDNN, true);
      assert.ok(said, `TensorFlow did not report oneDNN on:\n${r.stderr}`);
      assert.match(info.device, /oneDNN/);
    } else {
      assert.equal(info.oneDNN, false);
      assert.ok(!said, "TensorFlow reports oneDNN on although TF_ENABLE_ONEDNN_OPTS=0");
    }
  }
});

/**
 * The yardstick for "computes the same": the fused kernels round differently from the elementwise
 * code at each of the 94 batch normalisations, and the network carries that on, so their blocks'
 * outputs differ by an amount no fixed number describes (the largest relative difference at mixed10
 * in training mode measured 6.9e-4 to 1.1e-3 on one machine, in runs of the same code: TensorFlow's
 * multi-threaded kernels do not round identically run to run). It is compared with how far the same
 * (elementwise) network moves when every input value changes by one ulp, PERTURBATIONS times with
 * other signs, the largest taken, each block's relative RMS difference against its own yardstick.
 * Measured (2-core Intel Xeon, AVX-512, five runs, some beside other work): in training mode
 * 1.85–2.48 yardsticks at every block, in inference mode 0.94–1.13; both ratios come from the same
 * CPU's kernels, so they carry over to another CPU where the distances need not. BOUND = 5 leaves
 * twice the largest ratio seen. A real difference is far beyond it: the fused kernels given an
 * epsilon 10 % too large (by hand, in src/tfjs/native_ops.ts) were 231 yardsticks away at mixed0.
 */
const PERTURBATIONS = 3;
const BOUND = 5;

test("the whole base computes the same with fused batch norm: every block, in training and inference mode, within rounding's reach", async (t) => {
  const baseline = tf.memory().numTensors;
  const tm = await buildTransferModel({ base: "inception_v3", weights: null, key: "fused-forward", dropout: 0 });
  try {
    tm.freeze(0); // every batch-norm layer runs in training mode when asked to
    const base = tm.model.layers.find((l) => l.name === "inception_v3") as LayersModel;
    const blocks = base.layers.filter((l) => /^mixed\d+$/.test(l.name)).map((l) => l.name);
    const probe = tf.model({
      inputs: base.inputs,
      outputs: blocks.map((n) => base.getLayer(n).output as SymbolicTensor),
    });
    const x = tf.randomUniform([16, 84, 84, 3], -1, 1, "float32", 5);
    const nudged = Array.from({ length: PERTURBATIONS }, (_, seed) =>
      tf.tensor(nudgeByOneUlp(x.dataSync() as Float32Array, lcg(seed + 1)), x.shape),
    );
    for (const training of [true, false]) {
      const run = (fused: boolean, input: Tensor) => {
        const before = useFusedKernels(fused);
        try {
          return tf.tidy(() => probe.apply(input, { training }) as Tensor[]);
        } finally {
          useFusedKernels(before);
        }
      };
      const plain = run(false, x);
      const fused = run(true, x);
      const moved = nudged.map((xn) => run(false, xn));
      const ratios = plain.map((t, i) => {
        const yardstick = Math.max(...moved.map((m) => relRms(m[i], t)));
        const ratio = relRms(fused[i], t) / yardstick;
        assert.ok(
          ratio <= BOUND,
          `${training ? "training" : "inference"} mode: ${blocks[i]} differs by ${ratio.toFixed(2)} times rounding's ` +
            `reach (${relRms(fused[i], t).toExponential(2)} vs ${yardstick.toExponential(2)}; at most ${BOUND})`,
        );
        return ratio;
      });
      t.diagnostic(`${training ? "training" : "inference"}: ${ratios.map((r) => r.toFixed(2)).join(" ")} yardsticks`);
      tf.dispose([...plain, ...fused, ...moved.flat()]);
    }
    tf.dispose([x, ...nudged]);
  } finally {
    tm.dispose();
  }
  assert.equal(tf.memory().numTensors, baseline);
});

/**
 * Training this network from random weights is chaotic at float rounding: one ulp of change in the
 * initial weights moves the weights after a few steps by a part of the distance training moved
 * them that grows with every step. oneDNN's and the fused kernels' rounding differ from
 * TensorFlow's plain kernels, so "the same weights" can only mean: no further from the reference
 * run than one-ulp perturbations take it. The runs use Adam with epsilon 1, whose step is
 * proportional to the gradient for small gradients, so that the distance measures gradients rather
 * than the sign of rounding noise.
 *
 * One step at depth 64, then one at depth 100 (the 25 training digits of 32 are one batch): the
 * change of depth and the moving statistics are exercised, and rounding has had little time to
 * grow, so a real error stands out. The yardstick is the largest of PERTURBATIONS one-ulp
 * perturbations (seeded signs). Measured (2-core Intel Xeon, AVX-512, six runs): each variant is
 * 0.19–1.05 yardsticks away (about 4e-4 of the distance trained); a batch-norm input gradient 2 %
 * too large (by hand, in src/tfjs/native_ops.ts) is 13.6 yardsticks away. Both distances come from
 * rounding on the CPU the test runs on, so their ratio carries over to another CPU where the
 * distances need not; STEPS_BOUND = 3 leaves nearly three times the largest ratio seen. With three
 * steps at each depth (the earlier form of this test, one perturbation, bound 1.25) rounding had
 * grown tenfold, the ratios spread from 0.75 to 1.23 and a CI run on a fresh clone failed it, while
 * the 2 % error gave only 1.36.
 */
const STEP_DIGITS = 32;
const STEP_PERTURBATIONS = 3;
const STEPS_BOUND = 3;

test("fused batch norm and oneDNN change no result: the weights after a step at depth 64 then 100 are within rounding's reach", () => {
  const dir = outDir("native-ops");
  const initial = path.join(dir, "initial.bin");
  const run = (oneDNN: "0" | "1", mode: "write" | "read") => {
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(ROOT, "test", "fixtures", "train_steps.ts"),
        mode,
        initial,
        path.join(dir, `onednn${oneDNN}`),
        String(STEP_DIGITS),
        String(STEP_PERTURBATIONS),
      ],
      {
        cwd: ROOT,
        env: { ...process.env, TF_ENABLE_ONEDNN_OPTS: oneDNN },
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim().split("\n").pop()!).oneDNN, oneDNN === "1");
  };
  run("0", "write");
  run("1", "read");
  const load = (name: string) => new Float32Array(fs.readFileSync(path.join(dir, `${name}.bin`)).buffer.slice(0));
  const distance = (a: Float32Array, b: Float32Array) => {
    assert.equal(a.length, b.length);
    let s = 0;
    for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
    return Math.sqrt(s);
  };
  const start = load("initial");
  const reference = load("onednn0-elementwise");
  const moved = distance(reference, start);
  assert.ok(moved > 0.1, `training hardly moved the weights (${moved})`);
  const ulps = Array.from(
    { length: STEP_PERTURBATIONS },
    (_, p) => distance(load(`onednn0-ulp${p}`), reference) / moved,
  );
  const yardstick = Math.max(...ulps);
  const report: string[] = [`one ulp: ${ulps.map((u) => u.toExponential(2)).join(" ")}`];
  for (const variant of ["onednn0-fused", "onednn1-elementwise", "onednn1-fused"]) {
    const d = distance(load(variant), reference) / moved;
    report.push(`${variant}: ${d.toExponential(2)} (${(d / yardstick).toFixed(2)} yardsticks)`);
    assert.ok(
      d <= STEPS_BOUND * yardstick,
      `${variant} moved the weights further from the reference than rounding does, at most ${STEPS_BOUND} yardsticks (${report.join(", ")})`,
    );
  }
  console.log(`distance to the reference run / distance trained: ${report.join(", ")}`);
});
