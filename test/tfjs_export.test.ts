/**
 * `learner.exportTfjs` (src/model_tfjs.ts, src/keras/saving/tfjs_export.ts): the folder TF.js's own
 * loader reads. A small model with the project's layer classes, in every variant and in small
 * shards, is loaded back with `tf.loadLayersModel`: the topology and weight names as TF.js's
 * `model.save` hands them over, every weight exactly as src/keras/saving/tfjs_quantization.ts
 * decodes it (and within its error bound), the same predictions as the model with those weights.
 * Then the tutorial's InceptionV3 (random weights: the format does not care): 4 MiB shards, the
 * sizes, the metadata, and each export predicting exactly what the model does with the weights it
 * decodes to. Then the errors: an unknown quantization, a folder that cannot be written or holds
 * other files, a model still training, a write that fails half way; none leaves anything
 * half-written, and an earlier export stays as it was.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { loadMnist, take } from "../src/data";
import type { TransferModel } from "../src/model";
import { buildTransferModel } from "../src/model_build";
import {
  exportLayersModel,
  layersModelArtifacts,
  SHARD_BYTES,
  shardNames,
  shardSizes,
  TfjsExportError,
} from "../src/keras/saving/tfjs_export";
import { BatchNormalization, UpSampling3D } from "../src/keras/layers";
import {
  dequantize,
  quantizationErrorBound,
  quantizeWeight,
  type QuantizationDtype,
} from "../src/keras/saving/tfjs_quantization";
import { predictDecoded } from "./support/decoded";
import { tmpDir } from "./support/helpers";

let tm: TransferModel;
const dir = tmpDir("tfjs-export");

before(async () => {
  tm = await buildTransferModel({ base: "inception_v3", weights: "random", key: "tfjs-export" });
});
after(() => {
  tm.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Everything in `folder`, with a hash of each file, to tell whether anything changed. */
function listing(folder: string): Record<string, string> {
  if (!fs.existsSync(folder)) return {};
  return Object.fromEntries(
    fs
      .readdirSync(folder, { recursive: true, encoding: "utf8" })
      .sort()
      .map((f) => {
        const p = path.join(folder, f);
        return [f, fs.statSync(p).isFile() ? createHash("sha256").update(fs.readFileSync(p)).digest("hex") : "folder"];
      }),
  );
}

test("shards are cut as the converter cuts them: full 4 MiB ones, then the rest, named group1-shardNofM.bin", () => {
  assert.deepEqual(shardSizes(0, 4), []);
  assert.deepEqual(shardSizes(8, 4), [4, 4]);
  assert.deepEqual(shardSizes(9, 4), [4, 4, 1]);
  assert.deepEqual(shardNames(3), ["group1-shard1of3.bin", "group1-shard2of3.bin", "group1-shard3of3.bin"]);
  assert.equal(SHARD_BYTES, 4 * 1024 * 1024);
});

/** A small model with the project's two layer classes, its batch statistics made non-trivial. */
function smallModel(): TF.LayersModel {
  const input = tf.input({ shape: [28, 28, 1], name: "digits" });
  let x = tf.layers.reshape({ targetShape: [28, 28, 1, 1] }).apply(input) as TF.SymbolicTensor;
  x = new UpSampling3D({ size: [3, 3, 3] }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.reshape({ targetShape: [84, 84, 3] }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, useBias: false }).apply(x) as TF.SymbolicTensor;
  x = new BatchNormalization({ scale: false }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.activation({ activation: "relu" }).apply(x) as TF.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as TF.SymbolicTensor;
  x = tf.layers.dense({ units: 10, activation: "softmax" }).apply(x) as TF.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: x, name: "small" });
  // Every weight random (the moving variance, the fourth, positive), so that quantizing changes them all.
  const values = model
    .getWeights()
    .map((w, i) => tf.randomUniform(w.shape, i === 3 ? 0.5 : -0.5, i === 3 ? 2 : 0.5, "float32", 7 + i));
  model.setWeights(values);
  tf.dispose(values);
  return model;
}

test("a small model with the project's layers, in each variant: TF.js's loader reads back exactly the quantized weights, and predicts what they predict", async () => {
  const baseline = tf.memory().numTensors;
  const model = smallModel();
  const x = tf.tensor4d(
    Float32Array.from({ length: 2 * 784 }, (_, i) => ((i * 7919) % 256) / 255),
    [2, 28, 28, 1],
  );
  try {
    const reference = await layersModelArtifacts(model);
    const original = model.getWeights().map((w) => w.dataSync() as Float32Array);
    for (const quantize of [false, "float16", "uint8", "uint16"] as const) {
      const folder = path.join(dir, `small-${quantize || "float32"}`);
      const r = await exportLayersModel(model, folder, { quantize, shardBytes: 64 });
      // Shards of 64 bytes, the last one shorter.
      const shards = r.files.slice(1);
      assert.deepEqual(
        shards.map((f) => f.name),
        shardNames(shards.length),
      );
      assert.deepEqual(
        shards.map((f) => f.bytes),
        shardSizes(r.weightBytes, 64),
      );
      assert.ok(shards.length > 3);
      const json = JSON.parse(fs.readFileSync(r.modelJson, "utf8"));
      assert.deepEqual(json.modelTopology, reference.modelTopology, "TF.js's own topology");
      assert.equal(json.format, "layers-model");
      assert.equal(json.generatedBy, `TensorFlow.js tfjs-layers v${tf.version.tfjs}`);
      const manifest = json.weightsManifest[0].weights as Array<{
        name: string;
        quantization?: { dtype: QuantizationDtype; min?: number; scale?: number };
      }>;
      assert.deepEqual(
        manifest.map((w) => w.name),
        reference.weightSpecs.map((w) => w.name),
        "TF.js's own weight names, in its order",
      );
      const loaded = await tf.loadLayersModel(`file://${r.modelJson}`);
      try {
        // Each weight: exactly what the quantization decodes to, within its bound of the original.
        const expected = original.map((w, i) => {
          if (quantize === false) return w;
          assert.equal(manifest[i].quantization?.dtype, quantize);
          const coded = quantizeWeight(w, quantize, manifest[i].name);
          assert.deepEqual(manifest[i].quantization, coded.quantization);
          return dequantize(coded.bytes, coded.quantization);
        });
        loaded.getWeights().forEach((w, i) => {
          assert.deepEqual(w.dataSync(), expected[i], `${manifest[i].name}`);
          if (quantize !== false) {
            const bound = quantizationErrorBound(original[i], quantize);
            expected[i].forEach((v, k) =>
              assert.ok(Math.abs(v - original[i][k]) <= bound[k], `${manifest[i].name}[${k}]`),
            );
          }
        });
        // And it predicts what the original model predicts with those weights (same backend, same ops: exactly).
        const withExpected = smallModel();
        const values = expected.map((v, i) => tf.tensor(v, model.weights[i].shape as number[]));
        withExpected.setWeights(values);
        tf.dispose(values);
        const want = tf.tidy(() => (withExpected.predict(x) as TF.Tensor).dataSync());
        const got = tf.tidy(() => (loaded.predict(x) as TF.Tensor).dataSync());
        assert.deepEqual(got, want);
        withExpected.dispose();
      } finally {
        loaded.dispose();
      }
    }
  } finally {
    model.dispose();
    x.dispose();
  }
  assert.equal(tf.memory().numTensors, baseline, "no tensor is left behind");
});

test("learner.exportTfjs writes the tutorial's model as TF.js's model.save would, in 4 MiB shards, and TF.js loads each export and predicts exactly what the model predicts with the weights the export decodes to", async () => {
  const reference = await layersModelArtifacts(tm.model);
  const x = tf.tensor4d(
    Float32Array.from({ length: 3 * 784 }, (_, i) => ((i * 7919) % 256) / 255),
    [3, 28, 28, 1],
  );
  const expected = tf.tidy(() => (tm.model.predict(x) as TF.Tensor).dataSync());
  const parameters = tm.countParams().total;
  const sizes: string[] = [];
  // The count without x (disposed before the check): nothing else made here may stay.
  const baseline = tf.memory().numTensors - 1;
  for (const quantize of [false, "float16", "uint8"] as const) {
    const folder = path.join(dir, `inception_v3-${quantize || "float32"}`);
    const r = await tm.exportTfjs(folder, { quantize });
    sizes.push(`${quantize || "float32"} ${r.size}`);
    const bytesPer = quantize === false ? 4 : quantize === "float16" ? 2 : 1;
    assert.equal(
      r.weightBytes,
      parameters * bytesPer,
      "every weight is float32, so the shards hold parameters × bytes per value",
    );
    assert.equal(r.parameters, parameters);
    // The files: model.json, then full 4 MiB shards and a shorter last one.
    assert.deepEqual(fs.readdirSync(folder).sort(), r.files.map((f) => f.name).sort());
    const shards = r.files.slice(1);
    assert.deepEqual(
      shards.map((f) => f.name),
      shardNames(shards.length),
    );
    assert.deepEqual(
      shards.map((f) => f.bytes),
      shardSizes(r.weightBytes, SHARD_BYTES),
    );
    shards.forEach((f) => assert.equal(fs.statSync(path.join(folder, f.name)).size, f.bytes));
    // model.json: what TF.js's model.save hands over, with the manifest and the model's metadata.
    const json = JSON.parse(fs.readFileSync(r.modelJson, "utf8"));
    assert.equal(json.format, "layers-model");
    assert.equal(json.generatedBy, `TensorFlow.js tfjs-layers v${tf.version.tfjs}`);
    assert.deepEqual(json.modelTopology, reference.modelTopology);
    const manifest = json.weightsManifest[0].weights as Array<{
      name: string;
      shape: number[];
      dtype: string;
      quantization?: { dtype: string };
    }>;
    assert.deepEqual(
      manifest.map((w) => [w.name, w.shape, w.dtype]),
      reference.weightSpecs.map((w) => [w.name, w.shape, w.dtype]),
    );
    assert.ok(
      manifest.every((w) => (quantize === false ? w.quantization === undefined : w.quantization?.dtype === quantize)),
    );
    const meta = json.userDefinedMetadata.digits;
    assert.deepEqual(
      [meta.base, meta.title, meta.quantize, meta.freezeDepth, meta.weights],
      ["inception_v3", "InceptionV3", quantize, tm.freezeDepth, "random"],
    );
    assert.deepEqual(meta.classes, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    assert.deepEqual(meta.input, { shape: [28, 28, 1], range: [0, 1] });
    // TF.js's loader reads it back (the custom layers found by their registered names). The float32
    // export predicts exactly what the model predicts; a quantized one exactly what the model predicts
    // with the weights the export decodes to (the same layers, weights and kernels in the same process).
    const loaded = await tf.loadLayersModel(`file://${r.modelJson}`);
    try {
      assert.deepEqual(loaded.getUserDefinedMetadata(), json.userDefinedMetadata);
      const y = tf.tidy(() => (loaded.predict(x) as TF.Tensor).dataSync());
      if (quantize === false) assert.deepEqual(y, expected, "the float32 export predicts exactly what the model does");
      else
        assert.deepEqual(
          y,
          predictDecoded(tm.model, x, quantize),
          `the ${quantize} export predicts exactly what the model does with the weights it decodes to`,
        );
    } finally {
      loaded.dispose();
    }
  }
  console.log(`InceptionV3 (${parameters.toLocaleString("en")} parameters): ${sizes.join(", ")}`);
  x.dispose();
  assert.equal(tf.memory().numTensors, baseline, "no tensor is left behind");
});

/** The class names in a Keras/TF.js layers config, nested models included. */
function classNames(config: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(config)) for (const c of config) classNames(c, into);
  else if (config !== null && typeof config === "object") {
    const o = config as Record<string, unknown>;
    if (typeof o.class_name === "string") into.add(o.class_name);
    for (const v of Object.values(o)) classNames(v, into);
  }
  return into;
}

/** The classes `files` register with TF.js (`tf.serialization.registerClass(Name)`). */
function registeredIn(files: string[]): Set<string> {
  const names = new Set<string>();
  for (const f of files)
    for (const m of fs.readFileSync(f, "utf8").matchAll(/registerClass\((\w+)\)/g)) names.add(m[1]);
  return names;
}

test("a model with data augmentation exports too, and the web page registers every project class its model.json names", async () => {
  const augmented = await buildTransferModel({
    base: "inception_v3",
    weights: "random",
    key: "tfjs-export-augment",
    augment: true,
  });
  try {
    const folder = path.join(dir, "augmented");
    await augmented.exportTfjs(folder);
    const json = JSON.parse(fs.readFileSync(path.join(folder, "model.json"), "utf8"));
    const used = classNames(json.modelTopology);
    for (const name of ["RandomRotation", "RandomTranslation", "RandomZoom", "UpSampling3D"])
      assert.ok(used.has(name), `the export names ${name}`);
    // The project's own classes, from every module under src/ that registers one; the page must
    // import (for its side effect) a module registering each one the model uses.
    const src = path.join(__dirname, "..", "src");
    const ours = registeredIn(
      fs
        .readdirSync(src, { recursive: true, encoding: "utf8" })
        .filter((f) => f.endsWith(".ts"))
        .map((f) => path.join(src, f)),
    );
    const main = path.join(__dirname, "..", "web", "src", "main.ts");
    const pageImports = [...fs.readFileSync(main, "utf8").matchAll(/^import "(\.\.\/\.\.\/src\/[^"]+)";$/gm)].map((m) =>
      path.resolve(path.dirname(main), `${m[1]}.ts`),
    );
    const onPage = registeredIn(pageImports);
    const missing = [...used].filter((c) => ours.has(c) && !onPage.has(c));
    assert.deepEqual(missing, [], "web/src/main.ts imports the modules that register these classes");
  } finally {
    augmented.dispose();
  }
});

test("exporting again replaces an earlier export as a whole and leaves no temporary folder", async () => {
  const folder = path.join(dir, "again");
  await tm.exportTfjs(folder);
  const r = await tm.exportTfjs(folder, { quantize: "uint8" });
  assert.deepEqual(fs.readdirSync(folder).sort(), r.files.map((f) => f.name).sort(), "only the new export's files");
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.startsWith(".")),
    [],
    "no hidden temporary folder left",
  );
});

test("bad input gets a clear error and nothing is written: an unknown quantization, an unwritable folder, a folder of other files, a file in the way", async () => {
  const folder = path.join(dir, "bad");
  const before = listing(dir);
  await assert.rejects(tm.exportTfjs(folder, { quantize: "int4" as never }), (e: Error) => {
    assert.ok(e instanceof TfjsExportError);
    assert.match(
      e.message,
      /unknown quantization "int4": use false \(float32 weights\), "float16" \(half the size\), "uint8" \(a quarter\) or "uint16"\. Nothing was written/,
    );
    return true;
  });
  await assert.rejects(tm.exportTfjs(folder, { quantize: true as never }), /unknown quantization true/);
  // A file where a folder should be: its "folder" cannot be written to, whoever runs the tests (root too).
  const blocker = path.join(dir, "a-file");
  fs.writeFileSync(blocker, "not a folder");
  await assert.rejects(
    tm.exportTfjs(path.join(blocker, "model"), { quantize: "float16" }),
    /Cannot export the model to .*a-file\/model: the folder .*a-file cannot be written to .*Choose another path\. Nothing was written/,
  );
  await assert.rejects(tm.exportTfjs(blocker), /a file is in the way \(a TF\.js model is a folder\)/);
  // A folder holding anything but an earlier export is never replaced.
  const mine = path.join(dir, "my-notes");
  fs.mkdirSync(mine);
  fs.writeFileSync(path.join(mine, "notes.txt"), "keep me");
  await assert.rejects(
    tm.exportTfjs(mine),
    /holds other files than an earlier export \(notes\.txt\), which replacing it would delete\. Choose a new or empty folder/,
  );
  assert.equal(fs.readFileSync(path.join(mine, "notes.txt"), "utf8"), "keep me");
  fs.rmSync(mine, { recursive: true });
  fs.rmSync(blocker);
  assert.deepEqual(listing(dir), before, "nothing was written anywhere");
});

test("a model still training cannot be exported (a clear error); once the fit is over it can", async () => {
  const mnist = await loadMnist({ trainLimit: 64 });
  const folder = path.join(dir, "training");
  const fit = tm.fit(take(mnist.train, 64), { epochs: 1, batchSize: 32, progress: false });
  try {
    await assert.rejects(tm.exportTfjs(folder), (e: Error) => {
      assert.ok(e instanceof TfjsExportError);
      assert.match(
        e.message,
        /the model is still training; wait for fit to finish \(await it, or await learner\.settled\(\)\) and export then\. Nothing was written/,
      );
      return true;
    });
  } finally {
    await fit;
  }
  assert.equal(fs.existsSync(folder), false);
  const r = await tm.exportTfjs(folder, { quantize: "float16" });
  const json = JSON.parse(fs.readFileSync(r.modelJson, "utf8"));
  assert.equal(json.userDefinedMetadata.digits.runs.length, tm.runs.length, "the export records the training run");
});

test("a write that fails half way leaves the earlier export as it was and no temporary folder", async () => {
  const folder = path.join(dir, "kept");
  await tm.exportTfjs(folder, { quantize: "float16" });
  const before = listing(dir);
  // Node's fs module object itself (the modules' `import * as fs` read their functions from it).
  const nodeFs = require("node:fs") as typeof fs;
  const write = nodeFs.writeFileSync;
  let calls = 0;
  // The third file written fails, as a full disk would fail it.
  nodeFs.writeFileSync = ((...args: Parameters<typeof fs.writeFileSync>) => {
    if (++calls === 3) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    return write(...args);
  }) as typeof fs.writeFileSync;
  try {
    await assert.rejects(tm.exportTfjs(folder, { quantize: "uint8" }), (e: Error) => {
      assert.ok(e instanceof TfjsExportError);
      assert.match(
        e.message,
        /Could not export the model to .*kept: ENOSPC: no space left on device, write\. The export that was there is unchanged\./,
      );
      return true;
    });
  } finally {
    nodeFs.writeFileSync = write;
  }
  assert.ok(calls >= 3, "the export went through the patched writeFileSync");
  assert.deepEqual(listing(dir), before, "the earlier export is untouched and nothing else is left");
});

test("a disposed model cannot be exported", async () => {
  const other = await buildTransferModel({ base: "xception", weights: "random", key: "tfjs-export-disposed" });
  other.dispose();
  await assert.rejects(other.exportTfjs(path.join(dir, "disposed")), /This model was disposed/);
});
