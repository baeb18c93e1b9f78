/**
 * Parity with Keras: our InceptionV3 and Xception (src/keras/applications), loaded
 * with weights that Keras wrote (random, with calibrated batch-norm
 * statistics; see scripts/keras_goldens.py), give Keras's outputs in
 * inference mode: with TensorFlow's plain kernels (the ops Keras's run used),
 * max abs diff <= 1e-4 on the model's output (measured: 0); with oneDNN and
 * the fused kernels (the defaults), within float rounding as it grows through
 * the blocks: <= 2e-4 of each block's largest value (measured: up to 7e-5 at
 * InceptionV3's output). The blocks' outputs are compared too, so a failure
 * names the first block that differs.
 *
 * And the other way: our saved weights, loaded by Python Keras's
 * `model.load_weights()`, give the same outputs there.
 *
 * The golden files are generated on first use (test/support/goldens.ts).
 */
import { before, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { buildInceptionV3, buildXception } from "../src/keras/applications/index";
import { parseNpy } from "../src/util/npy";
import { readKerasH5 } from "../src/keras/saving/legacy_h5_read";
import { saveKerasWeights } from "../src/keras/saving/legacy_h5_write";
import { loadKerasWeights } from "../src/keras/saving/weight_order";
import { ensureGoldens, loadGolden } from "./support/goldens";
import { PLAIN_KERNELS, PYTHON, ROOT, outDir, runWithPlainKernels } from "./support/helpers";
import { maxAbsDiff } from "./support/numeric";

/** Largest difference allowed in a block's output, whose largest magnitude is `maxAbs`. */
const tolerance = (maxAbs: number) => (PLAIN_KERNELS ? 1e-4 : 2e-4 * Math.max(1, maxAbs));
let goldens = "";

before(() => {
  goldens = ensureGoldens((m) => console.log(`# ${m}`));
});

interface Comparison {
  layer: string;
  maxAbsDiff: number;
  maxAbs: number;
}

async function compare(
  name: "inception_v3" | "xception",
  build: () => TF.LayersModel,
  log: (msg: string) => void,
): Promise<Comparison[]> {
  const g = loadGolden(goldens, name);
  const model = build();
  try {
    const file = await readKerasH5(g.weights);
    await loadKerasWeights(model, file);
    const missing = g.outputs.filter((o) => !model.layers.some((l) => l.name === o.layer)).map((o) => o.layer);
    assert.deepEqual(missing, [], `layers of Keras's ${name} missing from ours`);
    const probe = tf.model({
      inputs: model.inputs,
      outputs: g.outputs.map((o) => model.getLayer(o.layer).output as TF.SymbolicTensor),
    });
    const x = tf.tensor(g.input, g.inputShape);
    const ys = probe.predict(x) as TF.Tensor | TF.Tensor[];
    const list = Array.isArray(ys) ? ys : [ys];
    const out: Comparison[] = [];
    for (let i = 0; i < g.outputs.length; i++) {
      const want = g.outputs[i];
      assert.deepEqual(list[i].shape, want.shape, `${want.layer}: shape`);
      out.push({ layer: want.layer, maxAbsDiff: maxAbsDiff(list[i], want.data), maxAbs: want.maxAbs });
    }
    x.dispose();
    list.forEach((t) => t.dispose());
    for (const c of out)
      log(`${name} ${c.layer}: max abs diff ${c.maxAbsDiff.toExponential(2)} (values up to ${c.maxAbs.toFixed(2)})`);
    return out;
  } finally {
    model.dispose();
  }
}

function check(name: string, results: Comparison[]): void {
  const first = results.find((c) => !(c.maxAbsDiff <= tolerance(c.maxAbs)));
  const final = results[results.length - 1];
  assert.ok(
    final.maxAbsDiff <= tolerance(final.maxAbs) && first === undefined,
    `${name}: output differs from Keras's by up to ${final.maxAbsDiff} (tolerance ${tolerance(final.maxAbs)}${PLAIN_KERNELS ? ", plain kernels" : ""}); ` +
      `first block that differs: ${first ? `${first.layer} (${first.maxAbsDiff}, tolerance ${tolerance(first.maxAbs)})` : "none"}`,
  );
}

test("InceptionV3 with Keras-written weights gives Keras's outputs (84x84x3, inference)", async (t) => {
  const results = await compare(
    "inception_v3",
    () => buildInceptionV3({ inputShape: [84, 84, 3] }),
    (m) => t.diagnostic(m),
  );
  check("InceptionV3", results);
});

test("Xception with Keras-written weights gives Keras's outputs (84x84x3, inference)", async (t) => {
  const results = await compare(
    "xception",
    () => buildXception({ inputShape: [84, 84, 3] }),
    (m) => t.diagnostic(m),
  );
  check("Xception", results);
});

test(
  "with TensorFlow's plain kernels, both networks give Keras's outputs to 1e-4 (a child process)",
  { skip: PLAIN_KERNELS },
  () => {
    const r = runWithPlainKernels("parity.test.ts", "Keras-written weights gives Keras's outputs");
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /# pass 2\n/, r.output);
  },
);

test("the weights of one model do not load into the other: the error says so", async () => {
  const g = loadGolden(goldens, "xception");
  const model = buildInceptionV3({ inputShape: [84, 84, 3] });
  try {
    await assert.rejects(
      loadKerasWeights(model, g.weights),
      /has 80 layers with weights, the model "inception_v3" has 188; is it the weights of another model\?/,
    );
  } finally {
    model.dispose();
  }
});

test("Python Keras's load_weights() reads our saved InceptionV3 and Xception weights and gives the same outputs", async () => {
  const dir = outDir("parity-export");
  const models: Array<{ model: string; h5: string; inputNpy: string; outputNpy: string }> = [];
  const expected: Float32Array[] = [];
  for (const [name, build] of [
    ["inception_v3", () => buildInceptionV3({ inputShape: [84, 84, 3] })],
    ["xception", () => buildXception({ inputShape: [84, 84, 3] })],
  ] as Array<["inception_v3" | "xception", () => TF.LayersModel]>) {
    const g = loadGolden(goldens, name);
    const model = build();
    try {
      await loadKerasWeights(model, g.weights);
      const h5 = path.join(dir, `${name}.h5`);
      await saveKerasWeights(model, h5);
      models.push({
        model: name,
        h5,
        inputNpy: path.join(g.dir, "input.npy"),
        outputNpy: path.join(dir, `${name}.out.npy`),
      });
      expected.push(g.outputs[g.outputs.length - 1].data);
    } finally {
      model.dispose();
    }
  }
  const spec = path.join(dir, "spec.json");
  fs.writeFileSync(spec, JSON.stringify({ models }));
  const r = spawnSync(PYTHON, [path.join(ROOT, "scripts", "keras_small_models.py"), "check", spec], {
    encoding: "utf8",
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "3", TF_ENABLE_ONEDNN_OPTS: "0" }, // as the goldens were made
  });
  assert.equal(r.status, 0, r.stderr);
  for (let i = 0; i < models.length; i++) {
    const got = parseNpy(fs.readFileSync(models[i].outputNpy)).data;
    const m = maxAbsDiff(got, expected[i]);
    // Keras against Keras (the same kernels): only the file differs.
    assert.ok(m <= 1e-4, `${models[i].model}: Keras's output with our file differs by ${m}`);
  }
});
