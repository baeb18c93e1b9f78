/**
 * The compiled graphs as files (src/engine/graph/savedmodel.ts):
 *  - the table of TensorFlow's attribute defaults the serialiser relies on equals TensorFlow's own
 *    op registry (scripts/tf_op_defaults.py, run in .venv);
 *  - the tutorial's graphs (training step, evaluation, prediction, both bases) use only ops in that
 *    table, leave out every attribute equal to its default, and read back with TensorFlow's protobuf
 *    classes as written;
 *  - the same model serialises to the same bytes (the cache key is their hash);
 *  - a graph TensorFlow cannot run, and a graph cache that cannot be written, give clear errors.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { backendInfo } from "../src/tfjs/backend";
import type { KerasAdam } from "../src/keras/optimizers/adam";
import { OP_DEFAULTS } from "../src/engine/graph/op_defaults";
import { isDefaultAttr, serializeSavedModel } from "../src/engine/graph/savedmodel";
import { buildSignatures } from "../src/engine/graph/signatures";
import * as fs from "node:fs";
import { tf } from "../src/tfjs/backend";
import { adamKernelFile } from "../src/tfjs/adam_kernel";
import * as ops from "../src/engine/graph/ops";
import { loadMnist } from "../src/data";
import { buildTransferModel } from "../src/model_build";
import { PYTHON, ROOT, tmpDir } from "./support/helpers";
import { runGraphOnce } from "./support/graph";

test("the attribute defaults the serialiser leaves out are TensorFlow's (its op registry, in .venv)", () => {
  // The project's own op is in the registry once its library is loaded (built by npm run setup where
  // there is a C++ compiler; without the build the graphs never use the op, and it is left out).
  const built = fs.existsSync(adamKernelFile());
  const own = built ? ["--library", adamKernelFile()] : [];
  const checked = Object.entries(OP_DEFAULTS).filter(([op]) => built || op !== "KtAdam");
  const r = spawnSync(PYTHON, [path.join(ROOT, "scripts", "tf_op_defaults.py"), ...own, ...checked.map(([op]) => op)], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const registry = JSON.parse(r.stdout) as Record<string, Record<string, { kind: string; value: unknown }>>;
  for (const [op, attrs] of checked) {
    const want = registry[op];
    assert.deepEqual(Object.keys(attrs).sort(), Object.keys(want).sort(), `${op}: attributes with defaults`);
    for (const [name, a] of Object.entries(attrs)) {
      const w = want[name];
      assert.equal(a.kind, w.kind, `${op}.${name}: kind`);
      if (a.kind === "float") assert.equal(Math.fround(a.value), Math.fround(w.value as number), `${op}.${name}`);
      else assert.deepEqual(a.value, w.value, `${op}.${name}`);
    }
  }
});

test("the tutorial's graphs use known ops only, leave out default attributes, read back as written, and serialise the same way twice", async () => {
  const pb = require(`${backendInfo().package}/dist/proto/api_pb.js`);
  for (const base of ["inception_v3", "xception"] as const) {
    const tm = await buildTransferModel({ base, weights: null, key: `serialise-${base}` });
    try {
      const optimizer = tm.model.optimizer as unknown as KerasAdam;
      const trainable = (tm.model as unknown as { collectedTrainableWeights: never[] }).collectedTrainableWeights;
      const options = { signatures: ["train", "evaluate", "predict"] as const, trainable, adam: optimizer };
      const plan = buildSignatures(tm.model, { ...options, signatures: [...options.signatures] });
      const bytes = serializeSavedModel(plan.graph, plan.signatures as never);
      const again = buildSignatures(tm.model, { ...options, signatures: [...options.signatures] });
      assert.deepEqual(
        serializeSavedModel(again.graph, again.signatures as never),
        bytes,
        `${base}: two serialisations differ`,
      );

      const model = pb.SavedModel.deserializeBinary(bytes);
      const meta = model.getMetaGraphsList()[0];
      assert.deepEqual(meta.getMetaInfoDef().getTagsList(), ["serve"]);
      assert.deepEqual([...meta.getSignatureDefMap().keys()].sort(), ["evaluate", "predict", "train"]);
      const nodes = meta.getGraphDef().getNodeList();
      assert.equal(nodes.length, plan.graph.nodes.length);
      const ops = new Set<string>();
      nodes.forEach(
        (
          nd: {
            getName(): string;
            getOp(): string;
            getInputList(): string[];
            getAttrMap(): { keys(): Iterable<string> };
          },
          i: number,
        ) => {
          const node = plan.graph.nodes[i];
          assert.equal(nd.getName(), node.name);
          assert.equal(nd.getOp(), node.op);
          assert.equal(nd.getInputList().length, node.inputs.length);
          ops.add(node.op);
          const written = new Set(nd.getAttrMap().keys());
          for (const [name, a] of Object.entries(node.attrs)) {
            assert.equal(written.has(name), !isDefaultAttr(node.op, name, a), `${node.name}: attribute ${name}`);
          }
        },
      );
      for (const op of ["Conv2DBackpropFilter", "FusedBatchNormGradV3", "ReluGrad", "SoftmaxCrossEntropyWithLogits"])
        assert.ok(ops.has(op), `${base}: no ${op}`);
      if (base === "xception") assert.ok(ops.has("DepthwiseConv2dNativeBackpropFilter"));
      else assert.ok(ops.has("AvgPoolGrad") && ops.has("SplitV"));
      console.log(`${base}: ${nodes.length} nodes, ${ops.size} kinds of op, ${(bytes.length / 1024).toFixed(0)} KiB`);
    } finally {
      tm.dispose();
    }
  }
});

test("a graph TensorFlow cannot run on the given inputs says why and what to do; an unwritable graph cache too", async () => {
  // A batch of 5 features into a layer that takes 4: TensorFlow refuses the MatMul.
  await assert.rejects(
    runGraphOnce(
      (g) => {
        const x = g.placeholder("x", "float32", [null, 4]);
        const w = g.placeholder("w", "float32", [4, 3]);
        return { inputs: [x, w], outputs: [ops.matMul(g, x, w)] };
      },
      [tf.zeros([2, 5]), tf.zeros([4, 3])],
    ),
    (e: Error) => {
      assert.equal(e.name, "GraphEngineError");
      assert.match(
        e.message,
        /^TensorFlow could not run the compiled graph \("run"\): .*(Matrix size-incompatible|In\[0\] mismatch|5 vs\. 4|4 vs\. 5)/,
      );
      assert.match(e.message, /Nothing was changed: the model holds the weights of its last completed step/);
      return true;
    },
  );

  const dir = tmpDir("graph-cache-file");
  const file = path.join(dir, "not-a-folder");
  fs.writeFileSync(file, "");
  const before = process.env.KT_GRAPH_CACHE;
  process.env.KT_GRAPH_CACHE = path.join(file, "graphs");
  const mnist = await loadMnist({ trainLimit: 40 });
  const tm = await buildTransferModel({ base: "xception", weights: null, key: "unwritable-cache" });
  try {
    const weights = tm.model.getWeights().map((w) => w.dataSync().slice());
    await assert.rejects(
      tm.fit(mnist.train, { epochs: 1, progress: false }),
      /Cannot write the compiled graph into .*not-a-folder.*set KT_GRAPH_CACHE to a writable folder/,
    );
    tm.model.getWeights().forEach((w, i) => assert.deepEqual(w.dataSync(), weights[i]));
    assert.equal(tm.runs.length, 0);
  } finally {
    tm.dispose();
    if (before === undefined) delete process.env.KT_GRAPH_CACHE;
    else process.env.KT_GRAPH_CACHE = before;
  }
});
