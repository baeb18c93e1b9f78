/**
 * What a Keras user reaches for around `fit`, on both engines:
 *  - TF.js callbacks (class instances, plain objects, lists) see the user's model and Keras's log names;
 *  - `tf.callbacks.earlyStopping` stops training; `tf.node.tensorBoard` writes event files that
 *    TensorFlow's own reader (in .venv) reads back with the history's values;
 *  - `bestWeights` leaves the model with the best epoch's weights; `checkpoint` writes the weights of
 *    improving epochs to files that load back; a checkpoint, TensorBoard folder, save or weights path
 *    that cannot be written is refused before the first batch, and none hangs (under /proc);
 *  - `setLearningRate` keeps Adam's state (the same step at a tenth of the rate moves the weights a
 *    tenth as far), `freeze(depth, { learningRate })` compiles a fresh Adam with that rate, and the
 *    runs record their learning rate and the run they continued from (the comparison table shows them).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { LayerVariable, Tensor } from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import type { KerasAdam } from "../src/keras/optimizers/adam";
import { ModelCheckpoint } from "../src/engine/callbacks";
import { loadMnist, take, toTensors } from "../src/data";
import { type TransferFitOptions, type TransferModel } from "../src/model";
import { buildTransferModel } from "../src/model_build";
import { loadTransferModel } from "../src/model_archive";
import { loadKerasWeights } from "../src/keras/saving/weight_order";
import { saveKerasWeights } from "../src/keras/saving/legacy_h5_write";
import { comparisonTable } from "../src/notebook/figures/comparison";
import { PYTHON, ROOT, tmpDir } from "./support/helpers";
import { tableRecords } from "./support/tables";

const ENGINES = ["graph", "eager"] as const;

/** The model's weights in one fixed order (`model.weights` lists trainable ones first: its order changes with freezing). */
function weights(tm: TransferModel): Float32Array[] {
  return tm.model.weights
    .slice()
    .sort((a, b) => a.id - b.id)
    .map((w) => w.read().dataSync().slice() as Float32Array);
}

function equal(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((w, i) => w.length === b[i].length && w.every((v, k) => v === b[i][k]));
}

for (const engine of ENGINES) {
  test(`${engine} engine: TF.js callbacks, alone or in a list, see the user's model and Keras's log names; earlyStopping stops training`, async () => {
    const mnist = await loadMnist({ trainLimit: 80 });
    const tm = await buildTransferModel({ base: "inception_v3", weights: null, key: `callbacks-${engine}` });
    try {
      const seen: { models: unknown[]; epochKeys: string[][]; batches: number; params?: Record<string, unknown> } = {
        models: [],
        epochKeys: [],
        batches: 0,
      };
      const custom = new tf.CustomCallback({
        onEpochEnd: async (_epoch, logs) => {
          seen.epochKeys.push(Object.keys(logs ?? {}).sort());
        },
      });
      const plain = {
        setModel: (m: unknown) => seen.models.push(m),
        setParams: (p: Record<string, unknown>) => (seen.params = p),
        onBatchEnd: () => {
          seen.batches++;
        },
      };
      const h = await tm.fit(mnist.train, {
        epochs: 2,
        batchSize: 32,
        progress: false,
        engine,
        callbacks: [custom, plain],
      });
      assert.equal(h.epoch.length, 2);
      assert.deepEqual(seen.models, [tm.model], "callbacks get the user's model, not the part that trains");
      // Keras's names, and learning_rate as Keras 3 logs it (ReduceLROnPlateau, LearningRateScheduler).
      const keys = ["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"];
      assert.deepEqual(seen.epochKeys, [keys, keys]);
      assert.equal(seen.batches, 2 * 2, "64 training digits in batches of 32, two epochs");
      assert.equal(seen.params?.epochs, 2);
      assert.equal(seen.params?.samples, 64);

      // A validation loss can never beat a baseline of 0: after `patience` epochs without improvement, training stops.
      const stop = await tm.fit(mnist.train, {
        epochs: 10,
        batchSize: 32,
        progress: false,
        engine,
        callbacks: tf.callbacks.earlyStopping({ monitor: "val_loss", patience: 2, baseline: 0 }),
      });
      assert.equal(stop.epoch.length, 2, "early stopping stopped after two epochs without improvement");
      assert.equal(stop.interrupted, true);
      assert.equal(tm.model.stopTraining, false, "the stop flag is cleared for the next fit");
    } finally {
      tm.dispose();
    }
  });
}

test("tf.node.tensorBoard writes event files that TensorFlow's reader reads back, with the history's values", async () => {
  const mnist = await loadMnist({ trainLimit: 80 });
  const tm = await buildTransferModel({ base: "xception", weights: null, key: "tensorboard" });
  const logdir = tmpDir("tensorboard");
  try {
    const node = (tf as unknown as { node: { tensorBoard(dir: string, args?: object): never } }).node;
    const h = await tm.fit(mnist.train, {
      epochs: 2,
      batchSize: 32,
      progress: false,
      callbacks: [node.tensorBoard(logdir)],
    });
    const script = [
      "import json, os, sys",
      "os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'",
      "import tensorflow as tf",
      "out = {}",
      "for part in ('train', 'val'):",
      "    d = os.path.join(sys.argv[1], part)",
      "    for f in sorted(os.listdir(d)):",
      "        for e in tf.compat.v1.train.summary_iterator(os.path.join(d, f)):",
      "            for v in e.summary.value:",
      "                x = v.simple_value if v.HasField('simple_value') else float(tf.make_ndarray(v.tensor))",
      "                out.setdefault(part + '/' + v.tag, {})[e.step] = x",
      "print(json.dumps(out))",
    ].join("\n");
    const r = spawnSync(PYTHON, ["-c", script, logdir], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const read = JSON.parse(r.stdout) as Record<string, Record<string, number>>;
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
    for (const [tag, values] of [
      ["train/epoch_loss", h.loss],
      ["train/epoch_accuracy", h.accuracy],
      ["val/epoch_loss", h.val_loss!],
      ["val/epoch_accuracy", h.val_accuracy!],
      // As Keras's TensorBoard callback writes it (epoch_learning_rate).
      ["train/epoch_learning_rate", h.learning_rate!],
    ] as Array<[string, number[]]>) {
      assert.ok(read[tag], `no ${tag} in the event files (found ${Object.keys(read).join(", ")})`);
      values.forEach((v, i) =>
        assert.ok(close(read[tag][String(i + 1)], v), `${tag} at epoch ${i + 1}: ${read[tag][String(i + 1)]} vs ${v}`),
      );
    }
  } finally {
    tm.dispose();
  }
});

test("bestWeights leaves the model with the weights of the epoch with the best monitored metric", async () => {
  const mnist = await loadMnist({ trainLimit: 80 });
  // A large learning rate makes the validation loss go up and down.
  const tm = await buildTransferModel({
    base: "inception_v3",
    weights: null,
    key: "best-weights",
    adam: { learningRate: 0.003 },
  });
  try {
    await tm.fit(mnist.train, { epochs: 1, batchSize: 32, progress: false }); // makes Adam's slots
    tm.resetWeights();
    await tm.fit(mnist.train, { epochs: 1, batchSize: 32, progress: false });
    const baseline = tf.memory().numTensors;
    tm.resetWeights();
    const atEpochEnd: Float32Array[][] = [];
    const h = await tm.fit(mnist.train, {
      epochs: 4,
      batchSize: 32,
      progress: false,
      bestWeights: "val_loss",
      callbacks: { onEpochEnd: async () => void atEpochEnd.push(weights(tm)) },
    });
    const losses = h.val_loss!;
    const best = losses.indexOf(Math.min(...losses));
    console.log(`validation losses ${losses.map((l) => l.toFixed(3)).join(", ")}: kept epoch ${best + 1}`);
    assert.equal(tm.runs[tm.runs.length - 1].bestEpoch, best + 1);
    assert.ok(equal(weights(tm), atEpochEnd[best]), `the model does not hold the weights of epoch ${best + 1}`);
    if (best !== losses.length - 1) assert.ok(!equal(weights(tm), atEpochEnd[losses.length - 1]));
    assert.equal(tf.memory().numTensors, baseline, "the copy of the best weights is freed");
    await assert.rejects(
      tm.fit(mnist.train, { epochs: 1, progress: false, bestWeights: "val_acc" as never }),
      /monitor must be one of loss, accuracy, val_loss, val_accuracy/,
    );
  } finally {
    tm.dispose();
  }
});

test("checkpoint writes the weights of improving epochs ({epoch:02d} in the name) to .h5 files, or the whole model to a .keras archive, that load back", async () => {
  const mnist = await loadMnist({ trainLimit: 80 });
  const tm = await buildTransferModel({ base: "xception", weights: null, key: "checkpoint" });
  const dir = tmpDir("checkpoint");
  try {
    const atEpochEnd: Float32Array[][] = [];
    const h = await tm.fit(mnist.train, {
      epochs: 3,
      batchSize: 32,
      progress: false,
      checkpoint: { filepath: path.join(dir, "weights-{epoch:02d}.h5"), monitor: "val_loss", saveBestOnly: false },
      callbacks: { onEpochEnd: async () => void atEpochEnd.push(weights(tm)) },
    });
    assert.deepEqual(fs.readdirSync(dir).sort(), ["weights-01.h5", "weights-02.h5", "weights-03.h5"]);
    // Epoch 2's file holds epoch 2's weights.
    const other = await buildTransferModel({ base: "xception", weights: null, key: "checkpoint-reload" });
    try {
      await loadKerasWeights(other.model, path.join(dir, "weights-02.h5"));
      assert.ok(
        equal(weights(other), atEpochEnd[1]),
        "the checkpoint of epoch 2 does not load back to epoch 2's weights",
      );
    } finally {
      other.dispose();
    }
    assert.equal(h.epoch.length, 3);
    // saveBestOnly (the default) writes only when the monitored metric improves.
    const written: string[] = [];
    const cb = new ModelCheckpoint(
      { filepath: path.join(dir, "best-{epoch}.h5"), monitor: "val_accuracy" },
      async (_m, file) => void written.push(path.basename(file)),
    );
    cb.setModel(tm.model);
    for (const [epoch, acc] of [0.2, 0.5, 0.4, 0.6].entries()) await cb.onEpochEnd(epoch, { val_accuracy: acc });
    assert.deepEqual(written, ["best-1.h5", "best-2.h5", "best-4.h5"]);
    // A .keras path holds the whole model: loadTransferModel reads the best epoch back.
    const best = await tm.fit(mnist.train, {
      epochs: 2,
      batchSize: 32,
      progress: false,
      checkpoint: path.join(dir, "best.keras"),
      callbacks: { onEpochEnd: async () => void atEpochEnd.push(weights(tm)) },
    });
    const losses = best.val_loss!;
    const kept = atEpochEnd[atEpochEnd.length - 2 + losses.indexOf(Math.min(...losses))];
    const reloaded = await loadTransferModel(path.join(dir, "best.keras"));
    try {
      assert.ok(equal(weights(reloaded), kept), "the .keras checkpoint does not hold the best epoch's weights");
      assert.equal(reloaded.freezeDepth, tm.freezeDepth);
    } finally {
      reloaded.dispose();
    }
    // A path with another ending is refused before anything trains or is allocated.
    const [before, runs, tensors] = [weights(tm), tm.runs.length, tf.memory().numTensors];
    await assert.rejects(
      tm.fit(mnist.train, { epochs: 1, progress: false, checkpoint: path.join(dir, "model.bin") }),
      /should end in \.keras \(the whole model.*or \.h5 \(the weights only/,
    );
    assert.ok(equal(weights(tm), before), "the model trained before the checkpoint path was refused");
    assert.equal(tm.runs.length, runs);
    assert.equal(tf.memory().numTensors, tensors);
  } finally {
    tm.dispose();
  }
});

test("a checkpoint, TensorBoard folder, save or weights path that cannot be written is refused before the first batch, with the weights and tensors unchanged", async () => {
  const mnist = await loadMnist({ trainLimit: 64 });
  const tm = await buildTransferModel({ base: "xception", weights: null, key: "checkpoint-refused" });
  const dir = tmpDir("checkpoint-refused");
  const blocker = path.join(dir, "a-file");
  fs.writeFileSync(blocker, "");
  const node = (tf as unknown as { node: { tensorBoard(dir: string): never } }).node;
  try {
    const [before, runs, tensors] = [weights(tm), tm.runs.length, tf.memory().numTensors];
    let batches = 0;
    const counting = { onBatchEnd: async () => void batches++ };
    const cases: Array<[string, Partial<TransferFitOptions>, RegExp]> = [
      [
        "a .keras checkpoint in a folder under a file",
        { checkpoint: path.join(blocker, "best.keras") },
        /PathError: checkpoint: cannot write .*a-file\/best\.keras: .*a-file is a file, not a folder\. Choose another path; nothing was trained\.$/,
      ],
      [
        "a .h5 checkpoint template whose folder is under a file",
        { checkpoint: { filepath: path.join(blocker, "sub", "w-{epoch:02d}.h5"), saveBestOnly: false } },
        /PathError: checkpoint: cannot write .*a-file\/sub\/w-01\.h5: .*a-file is a file, not a folder\./,
      ],
      [
        "a TensorBoard folder under a file",
        { callbacks: [node.tensorBoard(path.join(blocker, "logs"))] },
        /PathError: tf\.node\.tensorBoard\(".*a-file\/logs"\): cannot write its event files in .*a-file\/logs\/train: .*a-file is a file, not a folder\. Choose another log folder; nothing was trained\.$/,
      ],
    ];
    for (const [what, options, pattern] of cases) {
      const callbacks = [
        counting,
        ...((options.callbacks as unknown[] | undefined) ?? []),
      ] as TransferFitOptions["callbacks"];
      await assert.rejects(
        tm.fit(mnist.train, { epochs: 1, batchSize: 32, progress: false, ...options, callbacks }),
        pattern,
        what,
      );
      assert.equal(batches, 0, `${what}: a batch was trained before the path was refused`);
      assert.ok(equal(weights(tm), before), `${what}: the weights changed`);
      assert.equal(tm.runs.length, runs, `${what}: a run was recorded`);
      assert.equal(tf.memory().numTensors, tensors, `${what}: tensors were left behind`);
    }
    await assert.rejects(
      tm.save(path.join(blocker, "model.keras")),
      /KerasArchiveError: Cannot save the model to .*a-file\/model\.keras: .*a-file is a file, not a folder\. Choose another path\.$/,
    );
    await assert.rejects(
      saveKerasWeights(tm.model, path.join(blocker, "w.h5")),
      /Cannot save the weights to .*a-file\/w\.h5: .*a-file is a file, not a folder\. Choose another path\./,
    );
    assert.equal(tf.memory().numTensors, tensors);
    assert.deepEqual(fs.readdirSync(dir), ["a-file"], "the checks left something behind");
  } finally {
    tm.dispose();
  }
});

test(
  "no output path hangs: a checkpoint, TensorBoard folder, save or weights file under /proc fails at once (in a child process, killed after 5 minutes)",
  { timeout: 330_000 },
  () => {
    const src = (f: string) => JSON.stringify(path.join(ROOT, "src", f));
    const code = `
    const { tf } = require(${src("tfjs/backend.ts")});
    const { loadMnist } = require(${src("data.ts")});
    const { buildTransferModel } = require(${src("model_build.ts")});
    const { saveKerasWeights } = require(${src("keras/saving/legacy_h5_write.ts")});
    (async () => {
      const mnist = await loadMnist({ trainLimit: 64 });
      const tm = await buildTransferModel({ base: "xception", weights: null, key: "proc" });
      const out = {};
      const attempt = async (name, f) => { try { await f(); out[name] = "no error"; } catch (e) { out[name] = e.message; } };
      const fit = (o) => tm.fit(mnist.train, { epochs: 1, batchSize: 32, progress: false, ...o });
      await attempt("checkpoint", () => fit({ checkpoint: "/proc/kt-test/best.keras" }));
      await attempt("template", () => fit({ checkpoint: { filepath: "/proc/kt-test/w-{epoch:02d}.h5" } }));
      await attempt("tensorBoard", () => fit({ callbacks: [tf.node.tensorBoard("/proc/kt-test/logs")] }));
      await attempt("save", () => tm.save("/proc/kt-test/model.keras"));
      await attempt("weights", () => saveKerasWeights(tm.model, "/proc/self/kt-test/w.h5"));
      out.runs = tm.runs.length;
      console.log(JSON.stringify(out));
    })();
  `;
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 300_000,
      killSignal: "SIGKILL",
    });
    assert.equal(r.signal, null, `the child process hung and was killed (${r.signal})`);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, string | number>;
    const proc = "/proc is a virtual file system of the kernel, where no files can be made";
    assert.equal(
      out.checkpoint,
      `checkpoint: cannot write /proc/kt-test/best.keras: ${proc}. Choose another path; nothing was trained.`,
    );
    assert.equal(
      out.template,
      `checkpoint: cannot write /proc/kt-test/w-01.h5: ${proc}. Choose another path; nothing was trained.`,
    );
    assert.match(
      String(out.tensorBoard),
      /^tf\.node\.tensorBoard\("\/proc\/kt-test\/logs"\): cannot write its event files in \/proc\/kt-test\/logs\/train: \/proc is a virtual file system/,
    );
    assert.equal(out.save, `Cannot save the model to /proc/kt-test/model.keras: ${proc}. Choose another path.`);
    assert.match(
      String(out.weights),
      /^Cannot save the weights to \/proc\/self\/kt-test\/w\.h5: \/proc\/self is in \/proc, which is a virtual file system/,
    );
    assert.equal(out.runs, 0, "a fit ran");
  },
);

for (const engine of ENGINES) {
  test(`${engine} engine: setLearningRate keeps Adam's state: the same step at a tenth of the rate moves the weights a tenth as far`, async () => {
    const mnist = await loadMnist({ trainLimit: 64 });
    const tm = await buildTransferModel({ base: "inception_v3", weights: null, key: `lr-${engine}`, dropout: 0 });
    try {
      await tm.fit(mnist.train, { epochs: 1, batchSize: 32, progress: false, engine, shuffle: false });
      const optimizer = tm.model.optimizer as unknown as KerasAdam;
      const steps = optimizer.iterations;
      assert.ok(steps > 0);
      const { x, y } = toTensors(take(mnist.train, 32));
      // Every weight (moving statistics too) and every Adam slot, put back before each step.
      const variables = tm.model.weights.slice();
      const trainable = tm.model.trainableWeights.map((w) => optimizer.slotsFor(w.read() as never));
      const saved = {
        w: variables.map((v) => v.read().clone()),
        m: trainable.map((s) => s.m.clone()),
        v: trainable.map((s) => s.v.clone()),
      };
      const kernel = (tm.model.getLayer("dense_1") as unknown as { kernel: LayerVariable }).kernel;
      const before = kernel.read().clone();
      const stepFrom = async (lr: number): Promise<Tensor> => {
        variables.forEach((v, i) => v.write(saved.w[i]));
        trainable.forEach((s, i) => {
          s.m.assign(saved.m[i]);
          s.v.assign(saved.v[i]);
        });
        optimizer.setIterations(steps);
        tm.setLearningRate(lr);
        await tm.trainOnBatch(x, y, { engine });
        return tf.sub(kernel.read(), before);
      };
      const full = await stepFrom(1e-3);
      const tenth = await stepFrom(1e-4);
      assert.equal(tm.learningRate, 1e-4);
      assert.equal(optimizer.iterations, steps + 1, "the step count goes on");
      const ratio = tf.div(tf.sum(tf.abs(tenth)), tf.sum(tf.abs(full))).dataSync()[0];
      assert.ok(Math.abs(ratio - 0.1) < 1e-3, `the step at a tenth of the rate moved the weights ${ratio} as far`);
      tf.dispose([x, y, before, ...saved.w, ...saved.m, ...saved.v, full, tenth]);
      assert.throws(() => tm.setLearningRate(0), /learning rate must be a positive number/);
    } finally {
      tm.dispose();
    }
  });
}

test("a second fine-tuning stage: freeze(depth, { learningRate }) compiles a fresh Adam with that rate; runs record their rate and where they started; the table shows both", async () => {
  const mnist = await loadMnist({ trainLimit: 64, testLimit: 16 });
  const tm = await buildTransferModel({ base: "inception_v3", weights: null, key: "second-stage" });
  try {
    await tm.fit(mnist.train, { epochs: 1, batchSize: 32, progress: false });
    await tm.evaluate(mnist.test);
    const report = tm.freeze(0, { learningRate: 1e-5 });
    assert.equal(report.depth, 0);
    assert.equal(tm.learningRate, 1e-5);
    assert.equal(
      (tm.model.optimizer as unknown as KerasAdam).iterations,
      0,
      "a fresh optimizer, as Keras's compile() makes",
    );
    await tm.fit(mnist.train, { epochs: 1, batchSize: 32, progress: false });
    await tm.evaluate(mnist.test);
    assert.deepEqual(
      tm.runs.map((r) => [r.freezeDepth, r.learningRate, r.startedFrom]),
      [
        [64, 0.001, undefined],
        [0, 1e-5, 1],
      ],
    );
    tm.resetWeights();
    assert.equal(tm.learningRate, 0.001, "resetWeights compiles with the model's own rate again");
    const rows = tableRecords(comparisonTable(tm.runs));
    assert.deepEqual(
      rows.map((r) => [r.Run, r["Freeze depth"], r["Learning rate"], r["Started from"]]),
      [
        ["1", "64", "0.001", "the initial weights"],
        ["2", "0", "0.00001", "run 1"],
      ],
    );
    assert.throws(() => tm.freeze(64, { learningRate: -1 }), /learning rate must be a positive number/);
  } finally {
    tm.dispose();
  }
});
