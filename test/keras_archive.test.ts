/**
 * The whole model as Keras 3's `.keras` archive: `learner.save(path)` and `loadTransferModel(path)`.
 *
 *   - the archive has Keras's own layout: the same members, config.json and model.weights.h5 groups,
 *     datasets, shapes and attributes as Keras's `model.save` writes for the same model (both bases);
 *   - ours → Python Keras: `keras.saving.load_model` opens a trained model's archive, predicts what we
 *     predict, and has Adam's state where we had it;
 *   - Keras → ours: an archive Keras wrote (in a session whose automatic layer names had moved on)
 *     loads with Keras's predictions, freeze depth, Adam settings and state;
 *   - data augmentation and `base(x, training=False)` (batchNorm "inference") both ways: the layout
 *     against Keras's, and Keras's archive read here and written back, read again by Keras;
 *   - ours → ours: identical weights, freeze depth, trainable counts, Adam settings and state; Adam's
 *     state for other trainable layers is skipped with a warning, as Keras does;
 *   - bad archives and failed saves: a clear error each, files and models left as they were;
 *   - no tensors left behind.
 *
 * Python Keras runs through scripts/keras_small_models.py (write-archives, load-archive,
 * describe-archive) on this machine. The archives are large (88–280 MB): they go to a temporary
 * folder, removed at the end. Weights are random (no ImageNet download); where predictions are
 * compared, every batch normalisation first takes the statistics of real digits, so that the
 * predictions depend on the whole base (see ./support/calibrate.ts).
 */
import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { tf } from "../src/tfjs/backend";
import { take, toTensors, type Mnist } from "../src/data";
import { type TransferModel } from "../src/model";
import { buildTransferModel, upsample } from "../src/model_build";
import { loadTransferModel } from "../src/model_archive";
import { KerasArchiveError, layerSlots, openKerasArchive } from "../src/keras/saving/keras_archive";
import { ZipReader } from "../src/keras/saving/zip_archive";
import { calibrateBatchNorm } from "./support/calibrate";
import { tmpDir } from "./support/helpers";
import { asSpec, digits } from "./support/digits";
import { maxAbsDiff } from "./support/numeric";
import {
  adamState,
  configLayers,
  describeArchives,
  hiddenFiles,
  kerasScript,
  l1,
  rewriteArchive,
  sha256,
  weightValues,
  withoutSharedIds,
  type KerasReport,
} from "./support/archives";

const dir = tmpDir("archives");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Every batch normalisation of the base set to the statistics of these digits (a stand-in for pre-trained weights). */
function calibrate(tm: TransferModel, set: Mnist["train"]): void {
  const { x, y } = toTensors(set);
  const up = upsample(x);
  calibrateBatchNorm(tm.base, up);
  tf.dispose([x, y, up]);
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<KerasArchiveError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(
    caught instanceof KerasArchiveError,
    `expected a KerasArchiveError matching ${pattern}, got ${caught instanceof Error ? caught.stack : String(caught)}`,
  );
  assert.match(caught.message, pattern);
  assert.equal(caught.stack, `KerasArchiveError: ${caught.message}`, "prints as its message alone");
  return caught;
}

/**
 * Largest difference allowed between Keras's class probabilities and ours for the same weights.
 * Both compute in float32 with different kernels (ours: TF.js's graph engine; Keras: its own graph,
 * both with oneDNN), so rounding differs and grows through the ~100 convolutions of the base, most
 * where the trained head's softmax saturates. Measured here on 16 digits, four runs with new random
 * weights each: 1.5e-8 to 3.7e-5 (InceptionV3, ours → Keras), 1.8e-7 to 3.0e-7 (Xception, Keras →
 * ours); test/model.test.ts saw up to 3.7e-5 through InceptionV3 in 7 runs. Weights in the wrong
 * place change the probabilities on the order of their spread (0.65 to 1 here; the tests check it is
 * over 0.05), so 1e-3 leaves rounding a margin of 27 and is still far below a misplaced weight. The
 * weights themselves are compared exactly elsewhere (ours → ours, and the file layout against
 * Keras's).
 */
const PREDICTION_TOLERANCE = 1e-3;

// ---------------------------------------------------------------------------
// The layout: ours against Keras's for the same model
// ---------------------------------------------------------------------------

test("learner.save writes what Keras's model.save writes for the same model: members, config.json, and every group, dataset, shape and attribute of model.weights.h5", async () => {
  // The digits' augmentation (augment: true) as Keras's layers, for the third case.
  const fill = { fill_mode: "constant", fill_value: 0.0, interpolation: "bilinear" };
  const kerasAugmentation = [
    ["RandomRotation", { factor: 0.03, ...fill, name: "random_rotation" }],
    ["RandomTranslation", { height_factor: 0.1, width_factor: 0.1, ...fill, name: "random_translation" }],
    ["RandomZoom", { height_factor: 0.1, ...fill, name: "random_zoom" }],
  ];
  const cases = [
    { base: "inception_v3" as const, freeze: 64, preprocessing: "tutorial" as const, file: "inception_v3" },
    { base: "xception" as const, freeze: 36, preprocessing: "keras" as const, file: "xception" },
    // Augmentation between the upsampling and the rescaling, and the base called with training=False.
    {
      base: "xception" as const,
      freeze: 100,
      preprocessing: "keras" as const,
      file: "xception-augmented",
      augment: true,
      batchNorm: "inference" as const,
    },
  ];
  const set = take((await digits()).test, 2);
  kerasScript(dir, "write-archives", {
    ...asSpec(set),
    items: cases.map((c) => ({
      base: c.base,
      freeze: c.freeze,
      preprocessing: c.preprocessing,
      out: path.join(dir, `keras-${c.file}.keras`),
      clearSession: true,
      ...(c.augment ? { augment: kerasAugmentation, baseTraining: false } : {}),
    })),
  });
  for (const c of cases) {
    const tm = await buildTransferModel({
      base: c.base,
      weights: null,
      freeze: c.freeze,
      preprocessing: c.preprocessing,
      key: "archive-layout",
      augment: c.augment,
      batchNorm: c.batchNorm,
    });
    try {
      const saved = await tm.save(path.join(dir, `ours-${c.file}.keras`));
      assert.equal(
        saved.optimizerState,
        false,
        "an optimizer that has not taken a step keeps only its step count and rate, as in Keras",
      );
      assert.equal(saved.bytes, fs.statSync(saved.file).size);
    } finally {
      tm.dispose();
    }
    const [keras, ours] = describeArchives(
      path.join(dir, `keras-${c.file}.keras`),
      path.join(dir, `ours-${c.file}.keras`),
    );
    assert.deepEqual(
      ours.members.map((m) => [m.name, m.compressed]),
      [
        ["metadata.json", 0],
        ["config.json", 0],
        ["model.weights.h5", 0],
      ],
      "Keras's three members, stored uncompressed",
    );
    assert.deepEqual(
      ours.members.map((m) => [m.name, m.compressed]),
      keras.members.map((m) => [m.name, m.compressed]),
    );
    assert.deepEqual(Object.keys(ours.metadata), Object.keys(keras.metadata));
    assert.equal(ours.metadata.keras_version, keras.metadata.keras_version);
    assert.match(String(ours.metadata.date_saved), /^\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d$/);
    // config.json: equal as JSON, key order included; only Keras's shared_object_id differs.
    assert.equal(
      JSON.stringify(withoutSharedIds(ours.config)),
      JSON.stringify(withoutSharedIds(keras.config)),
      `${c.base}: config.json differs from Keras's`,
    );
    const { outer, base } = configLayers(ours.config);
    assert.equal(
      base.filter((l) => l.config.trainable === false).length,
      c.freeze - 1,
      "the frozen layers (the input layer has no flag)",
    );
    assert.equal(
      outer.some((l) => l.class_name === "Rescaling"),
      c.preprocessing === "keras",
    );
    assert.equal(outer.filter((l) => /^Random/.test(l.class_name)).length, c.augment ? 3 : 0);
    const baseCall = outer.find((l) => l.class_name === "Functional")!.inbound_nodes[0].kwargs;
    assert.deepEqual(
      baseCall,
      c.batchNorm === "inference" ? { training: false, mask: null } : { mask: null },
      "the base's call",
    );
    // model.weights.h5: the same entries, in Keras's paths.
    const byPath = (d: typeof ours) => new Map(d.h5.map((e) => [e.path, e]));
    const k = byPath(keras);
    const o = byPath(ours);
    assert.deepEqual([...o.keys()].sort(), [...k.keys()].sort(), `${c.base}: the h5 paths differ from Keras's`);
    for (const [p, e] of k) assert.deepEqual(o.get(p), e, `${c.base}: ${p}`);
    assert.deepEqual(o.get("optimizer/vars/0"), {
      path: "optimizer/vars/0",
      kind: "dataset",
      shape: [],
      dtype: "int64",
      attrs: {},
    });
    const sample =
      c.base === "xception"
        ? "layers/functional/layers/separable_conv2d_3/vars/1"
        : "layers/functional/layers/batch_normalization_93/vars/2";
    assert.ok(o.has(sample), `${sample} is missing`);
  }
});

// ---------------------------------------------------------------------------
// Ours → Python Keras
// ---------------------------------------------------------------------------

test("Python's keras.saving.load_model opens our archive of a trained InceptionV3 model, predicts what we predict, and has our Adam state", async (t) => {
  const mnist = await digits();
  const file = path.join(dir, "trained-inception_v3.keras");
  const tm = await buildTransferModel({ base: "inception_v3", weights: null, key: "archive-to-keras" });
  let ours: number[];
  let state: ReturnType<typeof adamState>;
  let trainableParams: number;
  let trainable: boolean[];
  try {
    calibrate(tm, mnist.train);
    await tm.fit(mnist.train, { epochs: 1, batchSize: 32, progress: false });
    ours = Array.from((await tm.predict(mnist.test)).probabilities);
    state = adamState(tm);
    trainableParams = tm.countParams().trainable;
    trainable = tm.base.layers.map((l) => l.trainable);
    const started = Date.now();
    const saved = await tm.save(file);
    t.diagnostic(`saved ${saved.size} in ${((Date.now() - started) / 1000).toFixed(1)} s (weights and Adam's moments)`);
    assert.equal(saved.optimizerState, true);
  } finally {
    tm.dispose();
  }
  assert.equal(state.iterations, 2, "two batches of 32 (51 training digits after the validation split)");
  assert.ok(
    state.moments.every((m) => m !== null),
    "every trainable variable has its moments",
  );

  const [keras] = kerasScript<{ archives: KerasReport[] }>(dir, "load-archive", {
    ...asSpec(mnist.test),
    archives: [file],
  }).archives;
  assert.deepEqual(keras.warnings, [], "Keras loaded everything, the optimizer included");
  const diff = maxAbsDiff(keras.output, ours);
  const spread = Math.max(...ours) - Math.min(...ours);
  t.diagnostic(
    `Keras's probabilities differ from ours by up to ${diff.toExponential(2)} (spread ${spread.toFixed(3)})`,
  );
  assert.ok(spread > 0.05, `the predictions hardly depend on the weights (spread ${spread})`);
  assert.ok(diff <= PREDICTION_TOLERANCE, `Keras's probabilities differ from ours by up to ${diff}`);
  // The freeze state: Keras's trainable flags (its input layer is rebuilt trainable: Keras records no flag for it).
  assert.deepEqual(keras.trainable.slice(1), trainable.slice(1));
  assert.equal(keras.trainableParams, trainableParams);
  // Adam: the step count, the rate, and each moment on the variable it belongs to.
  const opt = keras.optimizer!;
  assert.equal(opt.iterations, 2);
  assert.equal(opt.learningRate, Math.fround(0.001));
  assert.equal(opt.variables, 2 + 2 * state.moments.length);
  assert.equal(opt.moments.length, state.moments.length);
  opt.moments.forEach(([name, m, v], i) => {
    const mine = state.moments[i]!;
    assert.equal(name, mine.name, `moment ${i}`);
    assert.ok(
      Math.abs(m - l1(mine.m)) <= 1e-9 * Math.max(1e-30, m) && Math.abs(v - l1(mine.v)) <= 1e-9 * Math.max(1e-30, v),
      `${name}: Keras's moments ${m} ${v}, ours ${l1(mine.m)} ${l1(mine.v)}`,
    );
  });
});

// ---------------------------------------------------------------------------
// Keras → ours
// ---------------------------------------------------------------------------

test("loadTransferModel reads Keras's own archive of the tutorial's Xception model: Keras's predictions, freeze depth, Adam settings and state", async (t) => {
  const mnist = await digits();
  const file = path.join(dir, "keras-trained-xception.keras");
  const [keras] = kerasScript<{ archives: KerasReport[] }>(dir, "write-archives", {
    ...asSpec(mnist.test),
    // In a session that built the model before: Keras's automatic names have moved on ("conv2d_4", …).
    items: [
      {
        base: "xception",
        freeze: 126,
        preprocessing: "keras",
        calibrate: true,
        trainSteps: 2,
        learningRate: 0.0005,
        shiftNames: true,
        out: file,
      },
    ],
  }).archives;
  const zip = ZipReader.open(file);
  const names = configLayers(JSON.parse(zip.read("config.json").toString("utf8"))).base.map((l) => l.name as string);
  zip.close();
  assert.equal(names[0], "input_layer_1", "Keras's automatic names differ from ours");
  const started = Date.now();
  const tm = await loadTransferModel(file, { key: "archive-from-keras" });
  try {
    t.diagnostic(`loaded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(tm.baseName, "xception");
    assert.equal(tm.preprocessing, "keras");
    assert.equal(tm.weights, file);
    assert.equal(tm.freezeDepth, 126);
    assert.deepEqual(
      tm.base.layers.slice(1).map((l) => l.trainable),
      keras.trainable.slice(1),
    );
    assert.equal(tm.countParams().trainable, keras.trainableParams);
    assert.deepEqual(tm.optimizerSettings, { learningRate: 0.0005, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
    const state = adamState(tm);
    assert.equal(state.iterations, keras.optimizer!.iterations);
    assert.equal(state.iterations, 2);
    assert.equal(state.moments.length, keras.optimizer!.moments.length);
    keras.optimizer!.moments.forEach(([name, m, v], i) => {
      const mine = state.moments[i];
      assert.ok(mine, `no moments for ${name}`);
      assert.ok(
        Math.abs(m - l1(mine.m)) <= 1e-9 * m && Math.abs(v - l1(mine.v)) <= 1e-9 * v,
        `${name}: Keras's ${m} ${v}, ours ${l1(mine.m)} ${l1(mine.v)}`,
      );
    });
    const ours = Array.from((await tm.predict(mnist.test)).probabilities);
    const diff = maxAbsDiff(ours, keras.output);
    const spread = Math.max(...ours) - Math.min(...ours);
    t.diagnostic(
      `our probabilities differ from Keras's by up to ${diff.toExponential(2)} (spread ${spread.toFixed(3)})`,
    );
    assert.ok(spread > 0.05, `the predictions hardly depend on the weights (spread ${spread})`);
    assert.ok(diff <= PREDICTION_TOLERANCE, `our probabilities differ from Keras's by up to ${diff}`);
  } finally {
    tm.dispose();
  }
});

test("Keras's archive with augmentation layers and base(x, training=False) loads here with the same layers, seeds and inference-mode batch normalisation; written back, Keras reads the same config and predicts the same", async (t) => {
  const mnist = await digits();
  const file = path.join(dir, "keras-augmented.keras");
  const augment = [
    ["RandomRotation", { factor: [-0.05, 0.02], seed: 3, name: "turn" }],
    [
      "RandomTranslation",
      {
        height_factor: 0.1,
        width_factor: [-0.2, 0.1],
        fill_mode: "wrap",
        interpolation: "nearest",
        seed: 4,
        name: "shift",
      },
    ],
    [
      "RandomZoom",
      { height_factor: [-0.2, 0.1], width_factor: 0.05, fill_mode: "nearest", fill_value: 0.25, seed: 5, name: "zoom" },
    ],
    ["RandomContrast", { factor: 0.3, value_range: [0, 1], seed: 6, name: "contrast" }],
  ];
  const [keras] = kerasScript<{ archives: KerasReport[] }>(dir, "write-archives", {
    ...asSpec(mnist.test),
    items: [{ base: "xception", freeze: 120, calibrate: true, augment, baseTraining: false, out: file }],
  }).archives;
  const tm = await loadTransferModel(file, { key: "archive-augmented" });
  const again = path.join(dir, "ours-augmented.keras");
  let ours: number[];
  try {
    assert.equal(tm.batchNorm, "inference", 'training=False on the base\'s call reads back as batchNorm "inference"');
    assert.equal(tm.freezeDepth, 120);
    const layers = tm.model.layers.slice(4, 8) as unknown as Array<
      Record<string, unknown> & { name: string; getClassName(): string }
    >;
    assert.deepEqual(
      layers.map((l) => [l.getClassName(), l.name, l.seed]),
      [
        ["RandomRotation", "turn", 3],
        ["RandomTranslation", "shift", 4],
        ["RandomZoom", "zoom", 5],
        ["RandomContrast", "contrast", 6],
      ],
    );
    assert.deepEqual(layers[0].factor, { lower: -0.05, upper: 0.02 });
    assert.deepEqual([layers[1].fillMode, layers[1].interpolation], ["wrap", "nearest"]);
    assert.deepEqual(
      [layers[2].height, layers[2].width, layers[2].fillValue],
      [{ lower: -0.2, upper: 0.1 }, { lower: -0.05, upper: 0.05 }, 0.25],
    );
    assert.deepEqual([layers[3].factor, layers[3].valueRange], [{ lower: 0, upper: 0.3 }, [0, 1]]);
    ours = Array.from((await tm.predict(mnist.test)).probabilities);
    const diff = maxAbsDiff(ours, keras.output);
    t.diagnostic(`our probabilities differ from Keras's by up to ${diff.toExponential(2)}`);
    assert.ok(diff <= PREDICTION_TOLERANCE, `our probabilities differ from Keras's by up to ${diff}`);
    await tm.save(again);
  } finally {
    tm.dispose();
  }
  const [back] = kerasScript<{ archives: KerasReport[] }>(dir, "load-archive", {
    ...asSpec(mnist.test),
    archives: [again],
  }).archives;
  // Adam has not taken a step: its state is the step count and the rate, which Keras skips, saying so.
  assert.ok(
    back.warnings!.every((w) =>
      /Skipping variable loading for optimizer 'adam'.*the saved optimizer has 2 variables/.test(w),
    ),
    back.warnings!.join("\n"),
  );
  assert.ok(maxAbsDiff(back.output, ours) <= PREDICTION_TOLERANCE, "Keras's predictions from our archive");
  const [k, o] = describeArchives(file, again);
  assert.equal(
    JSON.stringify(withoutSharedIds(o.config)),
    JSON.stringify(withoutSharedIds(k.config)),
    "config.json written back differs from Keras's",
  );
});

// ---------------------------------------------------------------------------
// Ours → ours
// ---------------------------------------------------------------------------

test("save then loadTransferModel gives the same model: every weight, the freeze depth, trainable counts, Adam's settings and state, predictions", async () => {
  const mnist = await digits();
  const file = path.join(dir, "round-trip.keras");
  const tm = await buildTransferModel({
    base: "xception",
    weights: null,
    freeze: 100,
    preprocessing: "keras",
    adam: { learningRate: 3e-4 },
    key: "archive-round-trip",
  });
  try {
    calibrate(tm, mnist.train);
    const { x, y } = toTensors(take(mnist.train, 8));
    await tm.trainOnBatch(x, y);
    tf.dispose([x, y]);
    await tm.save(file);
    const loaded = await loadTransferModel(file);
    try {
      assert.notEqual(loaded, tm);
      assert.equal(tm.isDisposed, false, "loading does not dispose the model it was saved from");
      assert.equal(loaded.freezeDepth, 100);
      assert.deepEqual(loaded.countParams(), tm.countParams());
      assert.deepEqual(loaded.baseLayers(), tm.baseLayers());
      assert.deepEqual(loaded.optimizerSettings, tm.optimizerSettings);
      assert.deepEqual(loaded.optimizerSettings.learningRate, 3e-4);
      assert.deepEqual(weightValues(loaded.model), weightValues(tm.model));
      const a = adamState(tm);
      assert.equal(a.iterations, 1);
      assert.ok(a.moments.every((m) => m !== null));
      assert.deepEqual(adamState(loaded), a);
      const test16 = mnist.test;
      assert.deepEqual((await loaded.predict(test16)).probabilities, (await tm.predict(test16)).probabilities);
      // Saving the loaded model again writes the same archive: config.json byte for byte, every
      // stored variable value for value (HDF5 stamps its objects with the time they were written).
      const again = path.join(dir, "round-trip-again.keras");
      await loaded.save(again);
      const [first, second] = [await openKerasArchive(file), await openKerasArchive(again)];
      try {
        assert.deepEqual(second.config, first.config);
        for (const p of [...layerSlots(loaded.model).map((s) => s.path), "optimizer"]) {
          const [a, b] = [first.weights.entry(p)!, second.weights.entry(p)!];
          assert.equal(b.count, a.count, p);
          assert.equal(b.name, a.name, p);
          for (let i = 0; i < a.count; i++) assert.deepEqual(b.read(i), a.read(i), `${p}/vars/${i}`);
        }
      } finally {
        first.close();
        second.close();
      }
      // resetWeights goes back to the weights it was loaded with (and, as always, to a fresh Adam).
      loaded.resetWeights();
      assert.deepEqual(weightValues(loaded.model), weightValues(tm.model));
    } finally {
      loaded.dispose();
    }
    // Nothing frozen, Adam fresh (only its step count and rate are kept): read back so.
    tm.freeze(0);
    await tm.save(file);
    const fresh = await loadTransferModel(file);
    try {
      assert.equal(fresh.freezeDepth, 0);
      assert.deepEqual(fresh.countParams(), tm.countParams());
      assert.deepEqual(adamState(fresh), { iterations: 0, moments: adamState(tm).moments.map(() => null) });
    } finally {
      fresh.dispose();
    }
  } finally {
    tm.dispose();
  }
});

test("Adam's state saved for other trainable layers than the archive's config freezes is skipped with a warning, as Keras's load_model does", async (t) => {
  const file = path.join(dir, "other-depth.keras");
  const tm = await buildTransferModel({ base: "xception", weights: null, freeze: 120, key: "archive-other-depth" });
  try {
    const { x, y } = toTensors(take((await digits()).train, 4));
    await tm.trainOnBatch(x, y);
    tf.dispose([x, y]);
    await tm.save(file);
  } finally {
    tm.dispose();
  }
  // As if the user froze one more layer after training, then saved (Keras writes the optimizer as it was).
  const edited = path.join(dir, "other-depth-edited.keras");
  rewriteArchive(file, edited, { config: (c) => (configLayers(c).base[120].config.trainable = false) });
  const printed = t.mock.method(console, "error", () => undefined);
  const loaded = await loadTransferModel(edited);
  try {
    assert.equal(loaded.freezeDepth, 121);
    const warnings = printed.mock.calls.map((c) => String(c.arguments[0]));
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(
      warnings[0],
      /other-depth-edited\.keras: the optimizer state in .* has \d+ variables, where Adam needs \d+ for the \d+ trainable variables of the model as it is frozen in the archive; Adam starts afresh \(Keras's load_model skips it the same way\)/,
    );
    const state = adamState(loaded);
    assert.equal(state.iterations, 0);
    assert.ok(state.moments.every((m) => m === null));
  } finally {
    printed.mock.restore();
    loaded.dispose();
  }
});

// ---------------------------------------------------------------------------
// Bad archives, failed saves
// ---------------------------------------------------------------------------

test("each bad archive gives a clear error, and the archive and the model known under the key stay as they were", async (t) => {
  // Temporary folders are counted in a folder of this process's own: the test files that run at the
  // same time open archives too, in the system's temporary folder.
  const tmp = path.join(dir, "bad-archives-tmp");
  fs.mkdirSync(tmp);
  const systemTmp = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  t.after(() => {
    if (systemTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = systemTmp;
  });
  assert.equal(os.tmpdir(), tmp, "os.tmpdir() follows TMPDIR");
  const mnist = await digits();
  const valid = path.join(dir, "valid.keras");
  const source = await buildTransferModel({ base: "xception", weights: null, key: "archive-bad-source" });
  await source.save(valid);
  source.dispose();
  const key = "archive-bad-inputs";
  const existing = await buildTransferModel({ base: "xception", weights: null, key });
  const weightsBefore = weightValues(existing.model);
  const predictionsBefore = (await existing.predict(take(mnist.test, 4))).probabilities;
  const tensors = tf.memory().numTensors;
  const temporary = () => fs.readdirSync(tmp).filter((f) => f.startsWith("kt-keras-archive-")).length;
  const temporaryBefore = temporary();
  const bad = (name: string) => path.join(dir, name);
  const edit = (name: string, change: Parameters<typeof rewriteArchive>[2]) => {
    rewriteArchive(valid, bad(name), change);
    return bad(name);
  };
  const layerAt = (c: Record<string, unknown>) => configLayers(c);

  fs.writeFileSync(bad("text.keras"), "This is not a model.\n");
  const full = fs.readFileSync(valid);
  fs.writeFileSync(bad("truncated.keras"), full.subarray(0, Math.floor(full.length / 2)));
  // One byte of the weights changed in place: the CRC-32 the archive records no longer matches.
  const damaged = Buffer.from(full);
  damaged[Math.floor(full.length / 2)] ^= 0xff;
  fs.writeFileSync(bad("damaged.keras"), damaged);
  fs.mkdirSync(bad("folder.keras"));

  const cases: Array<[string, string, RegExp]> = [
    ["a missing file", bad("missing.keras"), /^No file at .*missing\.keras\. Check the path/],
    ["a folder", bad("folder.keras"), /folder\.keras is a folder, not a \.keras file/],
    [
      "not a zip",
      bad("text.keras"),
      /text\.keras is not a Keras model archive: it is not a zip archive \(21 B\)\. Pass a \.keras file written by learner\.save\(\)/,
    ],
    [
      "a truncated archive",
      bad("truncated.keras"),
      /truncated\.keras is not a Keras model archive: it starts like a zip archive but has no end record: it is truncated/,
    ],
    [
      "damaged weights",
      bad("damaged.keras"),
      /model\.weights\.h5 in .*damaged\.keras cannot be read: model\.weights\.h5 does not match its CRC-32 \(a damaged file\)\. The archive is damaged; save the model again/,
    ],
    [
      "no config.json",
      edit("no-config.keras", { drop: ["config.json"] }),
      /is a zip archive but not a Keras model archive: it has no config\.json \(its members: metadata\.json, model\.weights\.h5\)/,
    ],
    [
      "no weights",
      edit("no-weights.keras", { drop: ["model.weights.h5"] }),
      /has no model\.weights\.h5 \(its members: metadata\.json, config\.json\): the weights are missing/,
    ],
    [
      "config.json not JSON",
      edit("bad-json.keras", { replace: { "config.json": Buffer.from("{ not json") } }),
      /config\.json in .*bad-json\.keras cannot be read: .*JSON/,
    ],
    [
      "weights not HDF5",
      edit("not-h5.keras", { replace: { "model.weights.h5": Buffer.from("not HDF5") } }),
      /model\.weights\.h5 in .*not-h5\.keras cannot be read: it is not an HDF5 file/,
    ],
    [
      "another convolution",
      edit("kernel.keras", { config: (c) => (layerAt(c).base[1].config.kernel_size = [5, 5]) }),
      /holds a Keras model, but not the tutorial's: layer #1 of the base network \("block1_conv1", Conv2D\) has kernel_size \[5,5\], where the tutorial's Xception model has \[3,3\]\. loadTransferModel reads the tutorial's model/,
    ],
    [
      "another connection",
      edit("rewired.keras", {
        config: (c) => (layerAt(c).base[3].inbound_nodes[0].args[0].config.keras_history[0] = "block1_conv1"),
      }),
      /layer #3 of the base network \("block1_conv1_act", Activation\) is connected differently: it takes the outputs of \[\["block1_conv1"\]\], where the tutorial's Xception model has \[\["block1_conv1_bn"\]\]/,
    ],
    [
      "a base of another size",
      edit("short-base.keras", { config: (c) => layerAt(c).base.pop() }),
      /its base network \("xception"\) has 131 layers, where the tutorial's InceptionV3 has 311 and Xception 132/,
    ],
    [
      "no nested base",
      edit("flat.keras", { config: (c) => layerAt(c).outer.splice(4, 1) }),
      /it has no base network nested as one layer/,
    ],
    [
      "not a prefix frozen",
      edit("frozen-gap.keras", { config: (c) => (layerAt(c).base[50].config.trainable = false) }),
      /trains layer #36 \("block5_sepconv1_act"\) but freezes layer #50 \(".*"\) after it/,
    ],
    [
      "another optimizer",
      edit("sgd.keras", { config: (c) => ((c.compile_config as any).optimizer.class_name = "SGD") }),
      /its optimizer is "SGD"; the tutorial's model trains with Adam/,
    ],
    [
      "weights of another shape",
      edit("units.keras", { config: (c) => (layerAt(c).outer.find((l) => l.name === "dense")!.config.units = 512) }),
      /The weights in .*units\.keras do not fit the model: Dense layer "dense" \(model\.weights\.h5: layers\/dense\/vars\) has kernel \(vars\/0\) of shape \(2048, 1024\), where the model's is \(2048, 512\)\./,
    ],
  ];
  for (const [what, file, pattern] of cases) {
    const before = fs.existsSync(file) && fs.statSync(file).isFile() ? sha256(file) : undefined;
    await rejects(loadTransferModel(file, { key }), pattern);
    assert.equal(existing.isDisposed, false, `${what}: the model known under the key was disposed`);
    assert.equal(tf.memory().numTensors, tensors, `${what}: tensors left behind`);
    assert.equal(temporary(), temporaryBefore, `${what}: a temporary folder was left behind`);
    if (before) assert.equal(sha256(file), before, `${what}: the archive changed`);
  }
  assert.deepEqual(weightValues(existing.model), weightsBefore);
  assert.deepEqual((await existing.predict(take(mnist.test, 4))).probabilities, predictionsBefore);
  existing.dispose();
});

test("a failed save leaves nothing half-written, an existing archive as it was, and the model untouched", async (t) => {
  const folder = path.join(dir, "saves");
  fs.mkdirSync(folder);
  const file = path.join(folder, "model.keras");
  const tm = await buildTransferModel({ base: "xception", weights: null, key: "archive-failed-save" });
  try {
    await tm.save(file);
    const archive = sha256(file);
    const weights = weightValues(tm.model);
    const state = adamState(tm);
    assert.ok(
      state.moments.every((m) => m === null),
      "a fresh model: Adam has no moments yet",
    );

    await rejects(
      tm.save(path.join(folder, "model.h5")),
      /Invalid path ".*model\.h5": a Keras model archive's name ends in "\.keras"/,
    );
    const blocker = path.join(folder, "a-file");
    fs.writeFileSync(blocker, "");
    await rejects(
      tm.save(path.join(blocker, "sub", "model.keras")),
      /Cannot save the model to .*a-file\/sub\/model\.keras: .*a-file is a file, not a folder\. Choose another path\./,
    );
    fs.mkdirSync(path.join(folder, "dir.keras"));
    await rejects(tm.save(path.join(folder, "dir.keras")), /Cannot save the model to .*dir\.keras: that is a folder/);

    // A failure at the very end (the rename onto the old archive): the old one stays, the temporary files go.
    const nodeFs = require("node:fs") as typeof fs;
    const rename = t.mock.method(nodeFs, "renameSync", () => {
      throw Object.assign(new Error("EXDEV: cross-device link not permitted, rename"), { code: "EXDEV" });
    });
    await rejects(
      tm.save(file),
      /Could not save the model to .*model\.keras: EXDEV: cross-device link not permitted, rename\. The file that was there is unchanged\./,
    );
    assert.equal(rename.mock.callCount(), 1);
    rename.mock.restore();

    assert.equal(sha256(file), archive, "the archive changed");
    assert.deepEqual(hiddenFiles(folder), [], "temporary files left behind");
    assert.deepEqual(fs.readdirSync(folder).sort(), ["a-file", "dir.keras", "model.keras"]);
    assert.deepEqual(weightValues(tm.model), weights, "the weights changed");
    assert.deepEqual(adamState(tm), state, "Adam's state changed (saving must not create moments)");
    // And a save that works replaces the archive.
    await tm.save(file);
    assert.deepEqual(hiddenFiles(folder), []);
  } finally {
    tm.dispose();
  }
});

test("saving creates no tensors, and loading then disposing leaves none, also when loading fails", async () => {
  const file = path.join(dir, "leaks.keras");
  const baseline = tf.memory().numTensors;
  const tm = await buildTransferModel({ base: "xception", weights: null, key: "archive-leaks" });
  const { x, y } = toTensors(take((await digits()).train, 4));
  await tm.trainOnBatch(x, y);
  tf.dispose([x, y]);
  const withModel = tf.memory().numTensors;
  await tm.save(file);
  assert.equal(tf.memory().numTensors, withModel, "saving created tensors");
  tm.dispose();
  assert.equal(tf.memory().numTensors, baseline);
  for (let i = 0; i < 2; i++) {
    const loaded = await loadTransferModel(file);
    await loaded.predict(take((await digits()).test, 4));
    loaded.dispose();
    assert.equal(tf.memory().numTensors, baseline, `after load ${i + 1} and dispose`);
  }
  const misfit = path.join(dir, "leaks-misfit.keras");
  rewriteArchive(file, misfit, {
    config: (c) => (configLayers(c).outer.find((l) => l.name === "dense")!.config.units = 512),
  });
  await rejects(loadTransferModel(misfit), /do not fit the model/);
  assert.equal(tf.memory().numTensors, baseline, "a failed load left tensors");
});
