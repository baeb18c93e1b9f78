/**
 * The augmentation layers (src/keras/preprocessing/, src/engine/graph/augment.ts, src/model_augment.ts):
 *
 *  - each layer made with a seed gives the output of Keras's layer made with that seed, call after
 *    call (Python Keras run live, scripts/keras_augmentation.py): the same draws (Keras's
 *    SeedGenerator, TensorFlow's StatelessRandomUniform) and the same transform;
 *  - the transforms as plain functions of the drawn parameters equal Keras's own transform of the
 *    same parameters and a numpy computation by hand from Keras's and TensorFlow's source, also on
 *    TF.js's pure-JavaScript backend (in a child process), where `tf.image.transform` stands in for
 *    TensorFlow's kernel;
 *  - the graph engine draws and transforms as the eager layer does;
 *  - the parameters stay in their ranges over many draws, and reach both ends;
 *  - in inference (predict, evaluate, the graph's inference signature) each layer is the identity;
 *  - bad arguments get clear errors;
 *  - `buildTransferModel({ augment })` puts them between the upsampling and the base; `fit` then
 *    refuses the frozen-prefix cache with one note and trains the whole model; at freeze depth 0 no
 *    gradient is taken through them; fits leak no tensors.
 *
 * Tolerances: our layers and Keras's run the same TensorFlow kernels (Cos, Sin, Mul,
 * StatelessRandomUniform, ImageProjectiveTransformV3) from the same library, and agree exactly here
 * (measured 0); 1e-5 on values in [0, 1] leaves room for another TensorFlow build (tfjs-node's own
 * 2.9) rounding a sine or a product in the last bit, where a coordinate moves by ~1e-6 pixel and a
 * bilinear value by at most that, while a wrong draw or transform moves values by 0.01 to 1. The
 * numpy computation is in float64 where TensorFlow's is in float32: a coordinate of up to ~100
 * pixels is off by up to ~1e-5 pixel, and a bilinear value (neighbours differ by at most 1) by as
 * much, plus float32 rounding of the weights (~1e-7): 1e-4 leaves a margin of 10. With nearest
 * interpolation the values are exact copies, except where a coordinate lies on a rounding tie
 * (x.5), where float32 and float64 may pick different neighbours; the script marks those pixels.
 */
import { before, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { SymbolicTensor, Tensor } from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { loadMnist, take, toTensors } from "../src/data";
import { CompiledModel } from "../src/engine/graph/compiled";
import { lowerModel } from "../src/engine/graph/lower";
import { streamOffset } from "../src/engine/graph/augment";
import { buildSignatures } from "../src/engine/graph/signatures";
import * as ops from "../src/engine/graph/ops";
import { rotate, translate, zoom } from "../src/keras/preprocessing/affine";
import { adjustContrast } from "../src/keras/preprocessing/contrast";
import {
  AugmentationLayer,
  RandomContrast,
  RandomRotation,
  RandomTranslation,
  RandomZoom,
} from "../src/keras/preprocessing/layers";
import { SeedGenerator } from "../src/keras/preprocessing/random";
import { adamOf } from "../src/keras/optimizers/adam";
import { buildTransferModel, upsample } from "../src/model_build";
import { augmentationLayers, DIGIT_AUGMENTATION } from "../src/model_augment";
import { captureConsole } from "./support/console";
import { runGraphOnce } from "./support/graph";
import { PYTHON, ROOT, tmpDir } from "./support/helpers";
import { writeNpy } from "./support/npy";
import { maxAbsDiff } from "./support/numeric";
import { trainedWeights } from "../src/tfjs/internals";
import { parseNpy } from "../src/util/npy";

const SAME_KERNELS = 1e-5;
const BY_HAND = 1e-4;

type Case = {
  cls: "RandomRotation" | "RandomTranslation" | "RandomZoom" | "RandomContrast";
  ours: Record<string, unknown>;
  keras: Record<string, unknown>;
};

/** A case per setting worth covering: each class, every fill mode, both interpolations, one- and two-number factors. */
const CASES: Case[] = [
  {
    cls: "RandomRotation",
    ours: { factor: 0.2, fillMode: "constant", fillValue: 0.5, seed: 11 },
    keras: { factor: 0.2, fill_mode: "constant", fill_value: 0.5, seed: 11 },
  },
  {
    cls: "RandomRotation",
    ours: { factor: [-0.4, 0.1], interpolation: "nearest", seed: 12 },
    keras: { factor: [-0.4, 0.1], interpolation: "nearest", seed: 12 },
  },
  {
    cls: "RandomTranslation",
    ours: { heightFactor: 0.2, widthFactor: [-0.3, 0.1], seed: 13 },
    keras: { height_factor: 0.2, width_factor: [-0.3, 0.1], seed: 13 },
  },
  {
    cls: "RandomTranslation",
    ours: { heightFactor: 0.3, widthFactor: 0.3, fillMode: "wrap", seed: 14 },
    keras: { height_factor: 0.3, width_factor: 0.3, fill_mode: "wrap", seed: 14 },
  },
  {
    cls: "RandomZoom",
    ours: { heightFactor: 0.3, widthFactor: 0.2, fillMode: "wrap", interpolation: "nearest", seed: 15 },
    keras: { height_factor: 0.3, width_factor: 0.2, fill_mode: "wrap", interpolation: "nearest", seed: 15 },
  },
  {
    cls: "RandomZoom",
    ours: { heightFactor: [-0.5, -0.2], fillMode: "nearest", seed: 16 },
    keras: { height_factor: [-0.5, -0.2], fill_mode: "nearest", seed: 16 },
  },
  {
    cls: "RandomContrast",
    ours: { factor: [0.3, 0.5], valueRange: [0, 1], seed: 17 },
    keras: { factor: [0.3, 0.5], value_range: [0, 1], seed: 17 },
  },
  {
    cls: "RandomContrast",
    ours: { factor: 0.4, valueRange: [0, 1], seed: 18 },
    keras: { factor: 0.4, value_range: [0, 1], seed: 18 },
  },
];

function make(c: Case, name?: string): AugmentationLayer {
  const args = { ...c.ours, name } as never;
  switch (c.cls) {
    case "RandomRotation":
      return new RandomRotation(args);
    case "RandomTranslation":
      return new RandomTranslation(args);
    case "RandomZoom":
      return new RandomZoom(args);
    case "RandomContrast":
      return new RandomContrast(args);
  }
}

const label = (c: Case) => `${c.cls}(${JSON.stringify(c.ours)})`;

/** Small images with smooth and sharp parts, values in [0, 1]: [3, 13, 11, 2]. */
const SHAPE = [3, 13, 11, 2];
function images(): Tensor {
  const n = SHAPE.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 101) / 100),
    SHAPE,
  );
}

const dir = tmpDir("augmentation");
const read = (file: string) => parseNpy(fs.readFileSync(file));

/** Runs a command of scripts/keras_augmentation.py; returns its output folder. */
function keras(command: "layers" | "transforms", spec: unknown): string {
  const out = path.join(dir, command);
  const specFile = path.join(dir, `${command}.json`);
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const r = spawnSync(PYTHON, [path.join(ROOT, "scripts", "keras_augmentation.py"), command, specFile, out], {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, `keras_augmentation.py ${command} failed:\n${r.stderr}`);
  return out;
}

let kerasOutputs = "";
let mnistForTests: Awaited<ReturnType<typeof loadMnist>>["train"];
before(async () => {
  mnistForTests = (await loadMnist({ trainLimit: 96, testLimit: 16 })).train;
  const x = images();
  writeNpy(path.join(dir, "x.npy"), x.dataSync() as Float32Array, SHAPE);
  x.dispose();
  kerasOutputs = keras("layers", {
    input: path.join(dir, "x.npy"),
    calls: 2,
    layers: CASES.map((c) => ({ class: c.cls, kwargs: c.keras })),
  });
});

test("each layer made with a seed gives the output of Keras's layer made with that seed, call after call, and its input unchanged in inference", (t) => {
  const x = images();
  let largest = 0;
  try {
    CASES.forEach((c, i) => {
      const layer = make(c);
      for (let k = 0; k < 2; k++) {
        const ours = layer.apply(x, { training: true }) as Tensor;
        const want = read(path.join(kerasOutputs, `${i}-${k}.npy`)).data;
        const d = maxAbsDiff(ours, want);
        assert.ok(d <= SAME_KERNELS, `${label(c)}, call ${k + 1}: differs from Keras's by ${d}`);
        largest = Math.max(largest, d);
        assert.ok(maxAbsDiff(ours, x) > 0.01, `${label(c)}, call ${k + 1}: the images hardly changed`);
        ours.dispose();
      }
      const inference = layer.apply(x) as Tensor;
      assert.deepEqual(inference.dataSync(), x.dataSync(), `${label(c)}: not the identity in inference`);
      assert.deepEqual(
        read(path.join(kerasOutputs, `${i}-inference.npy`)).data,
        x.dataSync(),
        `${label(c)}: Keras's layer is the identity in inference`,
      );
    });
    t.diagnostic(`largest difference from Keras's outputs: ${largest}`);
  } finally {
    x.dispose();
  }
});

test("the transforms as plain functions of the drawn parameters equal Keras's transform of the same parameters and a numpy computation by hand", (t) => {
  const largest = { keras: 0, numpy: 0 };
  // The small images, and two real digits at the model's size (84×84×3).
  const digits = tf.tidy(() => upsample(toTensors(take(mnistForTests, 2)).x as never));
  for (const [name, x] of [
    ["small", images()],
    ["digits", digits],
  ] as const) {
    const shape = x.shape as number[];
    writeNpy(path.join(dir, `${name}.npy`), x.dataSync() as Float32Array, shape);
    const cases = CASES.map((c, i) => {
      const layer = make(c);
      const p = layer.draw(x);
      const parameters: Record<string, string> = {};
      for (const [k, t] of Object.entries(p)) {
        parameters[k] = path.join(dir, `${name}-${i}-${k}.npy`);
        writeNpy(parameters[k], t.dataSync() as Float32Array, t.shape);
      }
      // The layer's transform is the plain function of its parameters.
      const ours = layer.transform(x, p);
      const options = (layer as RandomRotation).transformOptions;
      const plain =
        c.cls === "RandomRotation"
          ? rotate(x, p.angles, options)
          : c.cls === "RandomTranslation"
            ? translate(x, p.dx, p.dy, options)
            : c.cls === "RandomZoom"
              ? zoom(x, p.zx, p.zy, options)
              : adjustContrast(x, p.factors, (layer as RandomContrast).valueRange);
      assert.deepEqual(
        plain.dataSync(),
        ours.dataSync(),
        `${label(c)}: the layer's transform is not the plain function's`,
      );
      const values = ours.dataSync().slice();
      tf.dispose([ours, plain, ...Object.values(p)]);
      return { spec: { class: c.cls, kwargs: c.keras, parameters }, values };
    });
    const out = keras("transforms", { input: path.join(dir, `${name}.npy`), cases: cases.map((c) => c.spec) });
    /** `values` against the numpy computation of case i (see the module comment for the tolerances). */
    const byHand = (values: ArrayLike<number>, i: number, what: string) => {
      const c = CASES[i];
      const hand = read(path.join(out, `${i}-numpy.npy`)).data;
      if (c.ours.interpolation === "nearest") {
        const ties = read(path.join(out, `${i}-ties.npy`)).data;
        const channels = shape[3];
        let tied = 0;
        for (let k = 0; k < values.length; k++) {
          if (ties[Math.floor(k / channels)]) {
            tied++;
            continue;
          }
          assert.ok(
            Math.abs(values[k] - hand[k]) <= 1e-6,
            `${what}, ${label(c)}: value ${k} is ${values[k]}, by hand ${hand[k]}`,
          );
        }
        assert.ok(tied < values.length / 100, `${what}, ${label(c)}: ${tied} values at rounding ties`);
      } else {
        const dh = maxAbsDiff(values, hand);
        assert.ok(dh <= BY_HAND, `${what}, ${label(c)}: differs from the numpy computation by ${dh}`);
        largest.numpy = Math.max(largest.numpy, dh);
      }
    };
    cases.forEach(({ values }, i) => {
      const c = CASES[i];
      const d = maxAbsDiff(values, read(path.join(out, `${i}-keras.npy`)).data);
      assert.ok(
        d <= SAME_KERNELS,
        `${name}, ${label(c)}: differs from Keras's transform of the same parameters by ${d}`,
      );
      largest.keras = Math.max(largest.keras, d);
      byHand(values, i, name);
    });
    if (name === "small") {
      // The same parameters on TF.js's pure-JavaScript backend.
      const specFile = path.join(dir, "js.json");
      fs.writeFileSync(
        specFile,
        JSON.stringify({
          input: path.join(dir, `${name}.npy`),
          cases: CASES.map((c, i) => {
            const layer = make(c);
            const options = (layer as RandomRotation).transformOptions;
            return {
              class: c.cls,
              options,
              valueRange: (layer as RandomContrast).valueRange,
              parameters: cases[i].spec.parameters,
            };
          }),
        }),
      );
      const env: NodeJS.ProcessEnv = { ...process.env, KT_BACKEND: "js" };
      delete env.NODE_TEST_CONTEXT;
      const r = spawnSync(
        process.execPath,
        ["--import", "tsx", path.join(ROOT, "test", "fixtures", "augment_js.ts"), specFile, out],
        { cwd: ROOT, env, encoding: "utf8" },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /"backend":"cpu"/);
      CASES.forEach((_, i) => byHand(read(path.join(out, `${i}-js.npy`)).data, i, "pure-JavaScript backend"));
    }
    x.dispose();
  }
  t.diagnostic(
    `largest differences: from Keras's transform ${largest.keras}, ` +
      `from the numpy computation (bilinear) ${largest.numpy.toExponential(2)}`,
  );
});

test("the graph engine draws and transforms as the eager layer does: with the step seed [s − offset, 0] it gives Keras's first call of the layer made with seed s", async () => {
  const x = images();
  const [, h, w, ch] = SHAPE;
  try {
    for (const [i, c] of CASES.entries()) {
      const layer = make(c, `augment_${i}`);
      const input = tf.input({ shape: [h, w, ch] });
      const model = tf.model({ inputs: input, outputs: layer.apply(input) as SymbolicTensor });
      const seed = c.ours.seed as number;
      const run = (mode: "train" | "inference") =>
        runGraphOnce(
          (g) => {
            const xi = g.placeholder("x", "float32", [null, h, w, ch]);
            const s = g.placeholder("seed", "int32", [2]);
            const [y] = lowerModel({ g, mode, weight: () => assert.fail("no weights"), seed: s }, model, [xi]);
            // (A graph cannot fetch what it is fed: in inference y is the input itself.)
            return { inputs: mode === "train" ? [xi, s] : [xi], outputs: [ops.identity(g, y)] };
          },
          mode === "train" ? [x, tf.tensor1d([seed - streamOffset(layer.name), 0], "int32")] : [x],
        );
      const [trained] = await run("train");
      const d = maxAbsDiff(trained, read(path.join(kerasOutputs, `${i}-0.npy`)).data);
      assert.ok(
        d <= SAME_KERNELS,
        `${label(c)}: the graph's draw and transform differ from Keras's first call by ${d}`,
      );
      const [inferred] = await run("inference");
      assert.deepEqual(inferred.dataSync(), x.dataSync(), `${label(c)}: the graph is not the identity in inference`);
      tf.dispose([trained, inferred]);
      model.dispose();
    }
  } finally {
    x.dispose();
  }
});

test("the parameters stay in their ranges over many draws and reach both ends; the same seed draws the same, the next call draws anew", () => {
  const n = 4000;
  const x = tf.zeros([n, 20, 30, 1]);
  const check = (what: string, t: Tensor, lower: number, upper: number) => {
    const v = t.dataSync();
    const min = Math.min(...v);
    const max = Math.max(...v);
    const slack = 1e-5 * Math.max(1, Math.abs(lower), Math.abs(upper));
    assert.ok(
      min >= lower - slack && max <= upper + slack,
      `${what}: drawn from [${min}, ${max}], outside [${lower}, ${upper}]`,
    );
    // With 4000 uniform draws, the gap left at each end is below 0.3 % of the range but with probability e^-12.
    const reach = 0.003 * (upper - lower);
    assert.ok(
      min - lower < reach && upper - max < reach,
      `${what}: [${min}, ${max}] does not reach the ends of [${lower}, ${upper}]`,
    );
  };
  tf.tidy(() => {
    check("rotation 0.05", new RandomRotation({ factor: 0.05, seed: 1 }).draw(x).angles, -18, 18);
    check(
      "rotation [0.1, -0.2] (sorted)",
      new RandomRotation({ factor: [0.1, -0.2], seed: 2 }).draw(x).angles,
      -72,
      36,
    );
    const t = new RandomTranslation({ heightFactor: 0.1, widthFactor: [-0.2, 0.3], seed: 3 }).draw(x);
    check("translation height 0.1 of 20 pixels", t.dy, -2, 2);
    check("translation width [-0.2, 0.3] of 30 pixels", t.dx, -6, 9);
    const z = new RandomZoom({ heightFactor: [-0.3, 0.1], widthFactor: 0.2, seed: 4 }).draw(x);
    check("zoom height [-0.3, 0.1]", z.zy, 0.7, 1.1);
    check("zoom width 0.2", z.zx, 0.8, 1.2);
    const same = new RandomZoom({ heightFactor: 0.2, seed: 5 }).draw(x);
    assert.deepEqual(same.zx.dataSync(), same.zy.dataSync(), "without a widthFactor, the height's zoom both ways");
    check("contrast 0.4 (Keras: [0, 0.4])", new RandomContrast({ factor: 0.4, seed: 6 }).draw(x).factors, 1, 1.4);
    check("contrast [0.2, 0.5]", new RandomContrast({ factor: [0.2, 0.5], seed: 7 }).draw(x).factors, 0.8, 1.5);
    // Seeds: the same seed draws the same; the next call of one layer draws anew (Keras's SeedGenerator).
    const a = new RandomRotation({ factor: 0.1, seed: 9 });
    const b = new RandomRotation({ factor: 0.1, seed: 9 });
    const first = a.draw(x).angles.dataSync();
    assert.deepEqual(b.draw(x).angles.dataSync(), first);
    assert.notDeepEqual(a.draw(x).angles.dataSync(), first);
    const g = new SeedGenerator(42);
    assert.deepEqual(
      [g.next(), g.next(), g.state],
      [
        [42, 0],
        [42, 1],
        [42, 2],
      ],
    );
    // Without a seed, each layer picks its own, as Keras does.
    assert.notEqual(
      new RandomRotation({ factor: 0.1 }).generator.seed,
      new RandomRotation({ factor: 0.1 }).generator.seed,
    );
  });
  x.dispose();
});

test("in inference each layer is the identity: predict, and the compiled model's predict", async () => {
  const [, h, w, ch] = SHAPE;
  const input = tf.input({ shape: [h, w, ch] });
  let y = input;
  for (const [i, c] of CASES.entries()) y = make(c, `layer_${i}`).apply(y) as SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: y });
  const x = images();
  const compiled = await CompiledModel.compile(model, { signatures: ["predict"] });
  try {
    const eager = model.predict(x) as Tensor;
    const [graph] = compiled.predictBatch([x]);
    assert.deepEqual(eager.dataSync(), x.dataSync());
    assert.deepEqual(graph.dataSync(), x.dataSync());
    tf.dispose([eager, graph]);
  } finally {
    compiled.dispose();
    x.dispose();
    model.dispose();
  }
});

test("bad arguments get errors that say what was wrong and what to pass", () => {
  const cases: Array<[() => unknown, RegExp]> = [
    [
      () => new RandomContrast({ factor: -0.2 }),
      /RandomContrast: factor must be a number in \[0, 1\].*got -0\.2\. It cannot be negative/,
    ],
    [() => new RandomContrast({ factor: [0.2, -0.1] }), /RandomContrast: factor .*-0\.1 is outside \[0, 1\]/],
    [
      () => new RandomRotation({ factor: 1.5 }),
      /RandomRotation: factor must be a number in \[-1, 1\] .*a fraction of a full turn.*got 1\.5/,
    ],
    [() => new RandomZoom({ heightFactor: -1 }), /RandomZoom: heightFactor must be a number in \(-1, 1\]/],
    [
      () => new RandomTranslation({ heightFactor: 0.1, widthFactor: [0.1, 0.2, 0.3] as never }),
      /RandomTranslation: widthFactor must be .* got \[0\.1,0\.2,0\.3\]/,
    ],
    [
      () => new RandomRotation({ factor: 0.1, fillMode: "mirror" as never }),
      /RandomRotation: unknown fillMode "mirror"; use one of "reflect", "wrap", "constant", "nearest"/,
    ],
    [
      () => new RandomZoom({ heightFactor: 0.1, interpolation: "bicubic" as never }),
      /RandomZoom: unknown interpolation "bicubic"; use "nearest" or "bilinear"/,
    ],
    [() => new RandomRotation({ factor: 0.1, seed: 1.5 }), /RandomRotation: seed must be a whole number ≥ 0, or null/],
    [() => new RandomRotation({ factor: 0.1, dataFormat: "channelsFirst" }), /only channels-last images/],
    [
      () => new RandomContrast({ factor: 0.1, valueRange: [1, 0] }),
      /RandomContrast: valueRange must be \[low, high\] with low < high/,
    ],
    [() => augmentationLayers({ rotation: 0.6 }), /augment: rotation 0\.6 turns digits by more than half a turn/],
    [() => augmentationLayers({ rotation: [-0.1, 0.7] }), /more than half a turn/],
    [() => augmentationLayers({ flip: true } as never), /augment: unknown setting "flip".*No flips/],
    [() => augmentationLayers({ zoom: -2 }), /RandomZoom: heightFactor must be/],
    [() => augmentationLayers("yes" as never), /augment must be true .* got "yes"/],
    [
      () => augmentationLayers([tf.layers.dense({ units: 1, name: "not_augmentation" })] as never),
      /augment: "not_augmentation" is not an augmentation layer; pass layers made with kt\.RandomRotation/,
    ],
  ];
  for (const [fn, pattern] of cases) assert.throws(fn, pattern);
  const x = tf.zeros([4, 5]);
  assert.throws(
    () => new RandomRotation({ factor: 0.1, name: "r" }).apply(x, { training: true }),
    /RandomRotation "r" takes a batch of images \[n, height, width, channels\], got shape \[4, 5\]/,
  );
  x.dispose();
});

test("augment: true puts the digits' defaults between the upsampling and the base (fill 0, MNIST's background); settings and layers made by hand go there too", async () => {
  const layers = augmentationLayers(true);
  assert.deepEqual(
    layers.map((l) => l.name),
    ["random_rotation", "random_translation", "random_zoom"],
  );
  const [r, t, z] = layers as [RandomRotation, RandomTranslation, RandomZoom];
  assert.deepEqual(r.factor, { lower: -DIGIT_AUGMENTATION.rotation, upper: DIGIT_AUGMENTATION.rotation });
  assert.deepEqual(
    [t.height, t.width],
    [
      { lower: -0.1, upper: 0.1 },
      { lower: -0.1, upper: 0.1 },
    ],
  );
  assert.deepEqual([z.height, z.width], [{ lower: -0.1, upper: 0.1 }, null]);
  assert.ok(layers.every((l) => (l as RandomZoom).fillMode === "constant" && (l as RandomZoom).fillValue === 0));
  assert.deepEqual(
    augmentationLayers({ rotation: 0, zoom: 0, contrast: 0.2, seed: 5 }).map((l) => [l.name, l.seed]),
    [
      ["random_translation", 6],
      ["random_contrast", 8],
    ],
  );
  assert.deepEqual(augmentationLayers(false), []);
  const tm = await buildTransferModel({
    base: "xception",
    weights: null,
    key: "augment-build",
    augment: { contrast: 0.1 },
    preprocessing: "keras",
  });
  try {
    assert.deepEqual(tm.model.layers.map((l) => l.name).slice(0, 10), [
      "digits",
      "to_volume",
      "up_sampling3d",
      "to_image",
      "random_rotation",
      "random_translation",
      "random_zoom",
      "random_contrast",
      "rescaling",
      "xception",
    ]);
  } finally {
    tm.dispose();
  }
});

test("fit with augmentation: one note that the frozen-prefix cache cannot apply, the whole model trains on both engines, and fits leak no tensors", async () => {
  const set = take(mnistForTests, 40);
  const tm = await buildTransferModel({
    base: "xception",
    weights: null,
    key: "augment-fit",
    augment: { seed: 1 },
    freeze: 36,
  });
  try {
    const counts: number[] = [];
    for (const engine of ["graph", "eager", "graph", "eager"] as const) {
      const printed = await captureConsole(() => tm.fit(set, { epochs: 1, batchSize: 16, engine }));
      const notes = printed.out.filter((l) =>
        l.startsWith(
          "Data augmentation (random_rotation, random_translation, random_zoom) comes before the frozen layers",
        ),
      );
      assert.equal(notes.length, 1, `${engine}: ${JSON.stringify(printed.out)}`);
      assert.ok(
        !printed.out.some((l) => l.includes("Frozen layers' output computed once")),
        `${engine}: the frozen layers' output was cached`,
      );
      const run = tm.runs[tm.runs.length - 1];
      assert.equal(run.prefixCached, false);
      assert.equal(run.engine, engine);
      counts.push(tf.memory().numTensors);
    }
    assert.equal(counts[2], counts[0], "tensors grew between two graph-engine fits");
    assert.equal(counts[3], counts[1], "tensors grew between two eager fits");
    const quiet = await captureConsole(() =>
      tm.fit(set, { epochs: 1, batchSize: 16, cachePrefix: false, progress: false }),
    );
    assert.deepEqual(quiet.out, [], "cachePrefix: false and no progress: nothing to say");
  } finally {
    tm.dispose();
  }
});

test("at freeze depth 0 every weight trains and no gradient is taken through the augmentation layers (nothing trainable comes before them)", async () => {
  const tm = await buildTransferModel({
    base: "xception",
    weights: null,
    key: "augment-depth-0",
    augment: true,
    freeze: 0,
  });
  try {
    const trainable = trainedWeights(tm.model);
    const plan = buildSignatures(tm.model, { signatures: ["train"], trainable, adam: adamOf(tm.model) });
    const forward = plan.graph.nodes.filter((n) => n.op === "ImageProjectiveTransformV3");
    assert.equal(forward.length, 3, "rotation, translation and zoom each transform once");
    const through = plan.graph.nodes.filter(
      (n) => n.name.startsWith("gradients/") && /random_(rotation|translation|zoom)/.test(n.name),
    );
    assert.deepEqual(
      through.map((n) => n.name),
      [],
      "gradient nodes for the augmentation layers",
    );
    // Every trainable weight gets its update (new_w), the first convolution's included.
    const updated = (plan.signatures.train?.outputs ?? []).filter(
      (o) => o.role.kind === "weight" && trainable.includes(o.role.variable),
    ).length;
    assert.equal(updated, trainable.length);
    const { x, y } = toTensors(take(mnistForTests, 8));
    const before = tm.model.weights.map((w) => w.read().dataSync().slice());
    const step = await tm.trainOnBatch(x, y, { engine: "graph" });
    assert.ok(Number.isFinite(step.loss));
    const moved = tm.model.weights.filter(
      (w, i) => w.trainable && maxAbsDiff(w.read().dataSync(), before[i]) > 0,
    ).length;
    assert.equal(moved, trainable.length, "every trainable weight moved");
    tf.dispose([x, y]);
  } finally {
    tm.dispose();
  }
});
