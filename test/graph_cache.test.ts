/**
 * The graph cache heals (src/engine/graph/cache.ts):
 *
 *  - an entry whose saved_model.pb was cut short, altered or lost, or that is a file instead of a
 *    folder, is written again with one warning naming it, and the graph loads and runs;
 *  - a sound entry that TensorFlow refuses is not rewritten: the error says the cache is not damaged;
 *  - an entry that cannot be written again is an error naming its folder and what to do;
 *  - end to end: after a fit and a prediction, every saved_model.pb of the cache cut to half its
 *    length; a new model then fits and predicts, and each file is rewritten with the compiled bytes.
 */
import { test, type TestContext } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { tf } from "../src/tfjs/backend";
import { entryDamage, openCachedGraph } from "../src/engine/graph/cache";
import { Graph } from "../src/engine/graph/graph";
import * as ops from "../src/engine/graph/ops";
import { serializeSavedModel, type SignatureTensors } from "../src/engine/graph/savedmodel";
import { loadMnist } from "../src/data";
import { buildTransferModel } from "../src/model_build";
import { tmpDir } from "./support/helpers";

/** A small graph, relu(x) * 2, serialised. */
function smallGraph(): { bytes: Uint8Array; signatures: Record<string, SignatureTensors> } {
  const g = new Graph();
  const x = g.placeholder("x", "float32", [null, 3]);
  const y = ops.mul(g, ops.relu(g, x), g.constant(2));
  const signatures = { run: { inputs: [{ name: "x", tensor: x }], outputs: [{ name: "y", tensor: y }] } };
  return { bytes: serializeSavedModel(g, signatures), signatures };
}

/** Loads the entry, runs it on [-1, 0.5, 2] and checks the result; returns how the entry was found. */
async function openAndRun(
  dir: string,
  bytes: Uint8Array,
  signatures: Record<string, SignatureTensors>,
): Promise<string> {
  const { session, state } = await openCachedGraph(dir, bytes, signatures);
  try {
    const x = tf.tensor2d([[-1, 0.5, 2]]);
    const [y] = session.run("run", [x]);
    assert.deepEqual(Array.from(y.dataSync()), [0, 1, 4]);
    tf.dispose([x, y]);
  } finally {
    session.dispose();
  }
  return state;
}

function warnings(t: TestContext) {
  return t.mock.method(console, "warn", () => undefined);
}

test("a damaged graph cache entry is written again with one warning naming it, and the graph runs", async (t) => {
  const { bytes, signatures } = smallGraph();
  const root = tmpDir("graph-cache-heal");
  const warn = warnings(t);
  const file = (dir: string) => path.join(dir, "saved_model.pb");
  const damages: Array<[string, (dir: string) => void, RegExp]> = [
    [
      "cut short",
      (dir) => fs.truncateSync(file(dir), Math.floor(bytes.length / 2)),
      /has \d+ bytes where the compiled graph has \d+/,
    ],
    ["emptied", (dir) => fs.truncateSync(file(dir), 0), /has 0 bytes where the compiled graph has \d+/],
    [
      "one byte altered",
      (dir) => {
        const b = fs.readFileSync(file(dir));
        b[b.length - 3] ^= 0x55;
        fs.writeFileSync(file(dir), b);
      },
      /differs from the compiled graph from byte \d+ on/,
    ],
    ["its file lost", (dir) => fs.rmSync(file(dir)), /it has no saved_model\.pb/],
    [
      "a file instead of the folder",
      (dir) => {
        fs.rmSync(dir, { recursive: true });
        fs.writeFileSync(dir, "not a folder");
      },
      /it is a file, not a folder/,
    ],
  ];
  for (const [what, damage, why] of damages) {
    const dir = path.join(root, what.replace(/ /g, "-"));
    assert.equal(await openAndRun(dir, bytes, signatures), "written", `${what}: the first use writes the entry`);
    assert.equal(await openAndRun(dir, bytes, signatures), "cached", `${what}: the second use reads it`);
    damage(dir);
    assert.notEqual(entryDamage(dir, bytes), undefined, `${what}: the damage is seen`);
    const warned = warn.mock.callCount();
    assert.equal(await openAndRun(dir, bytes, signatures), "rebuilt", `${what}: the entry is rebuilt`);
    assert.equal(entryDamage(dir, bytes), undefined, `${what}: the entry holds the compiled graph again`);
    assert.equal(warn.mock.callCount(), warned + 1, `${what}: one warning`);
    const line = String(warn.mock.calls[warned].arguments[0]);
    assert.ok(
      line.includes(dir) && why.test(line) && /was damaged .*; it was written again/.test(line),
      `${what}: ${line}`,
    );
    assert.deepEqual(fs.readdirSync(dir), ["saved_model.pb"], `${what}: temporary files left behind`);
  }
  assert.deepEqual(
    fs.readdirSync(root).sort(),
    damages.map(([w]) => w.replace(/ /g, "-")).sort(),
    "temporary folders left behind",
  );
});

test("a sound entry that TensorFlow refuses is not rewritten: the error says the cache is not damaged", async (t) => {
  const { bytes, signatures } = smallGraph();
  const dir = path.join(tmpDir("graph-cache-refused"), "entry");
  await openAndRun(dir, bytes, signatures);
  const before = fs.statSync(path.join(dir, "saved_model.pb")).mtimeMs;
  const warn = warnings(t);
  // A signature the SavedModel does not have: tfjs-node refuses to load it.
  await assert.rejects(
    openCachedGraph(dir, bytes, { missing: signatures.run }),
    /TensorFlow could not load the compiled graph in .*entry: .*The file there is the graph as compiled \(not a damaged cache\)/,
  );
  assert.equal(warn.mock.callCount(), 0);
  assert.equal(fs.statSync(path.join(dir, "saved_model.pb")).mtimeMs, before, "the entry was rewritten");
});

test("an entry that cannot be written again is an error naming its folder and what to do", async () => {
  const { bytes, signatures } = smallGraph();
  const dir = path.join(tmpDir("graph-cache-stuck"), "entry");
  await openAndRun(dir, bytes, signatures);
  // Its saved_model.pb replaced by a folder with something in it: no rename can replace that.
  fs.rmSync(path.join(dir, "saved_model.pb"));
  fs.mkdirSync(path.join(dir, "saved_model.pb"));
  fs.writeFileSync(path.join(dir, "saved_model.pb", "x"), "");
  await assert.rejects(openCachedGraph(dir, bytes, signatures), (e: Error) => {
    assert.match(
      e.message,
      /^The compiled graph in .*entry is damaged \(its saved_model\.pb is not a file\) and could not be written again: /,
    );
    assert.ok(e.message.includes(`Delete the folder ${dir} (it is made again on the next run)`), e.message);
    return true;
  });
});

test("after every saved_model.pb of the cache is cut short, a new model fits and predicts, and the files are written again", async (t) => {
  const cache = tmpDir("graph-cache-model");
  const before = process.env.KT_GRAPH_CACHE;
  process.env.KT_GRAPH_CACHE = cache;
  const mnist = await loadMnist({ trainLimit: 64, testLimit: 16 });
  const use = async (key: string) => {
    const tm = await buildTransferModel({ base: "xception", weights: null, key });
    try {
      tm.freeze(36);
      const h = await tm.fit(mnist.train, { epochs: 1, batchSize: 32, progress: false, engine: "graph" });
      const p = await tm.predict(mnist.test, { engine: "graph", progress: false });
      return { loss: h.loss[0], classes: p.classes.length };
    } finally {
      tm.dispose();
    }
  };
  const sha = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
  try {
    await use("graph-cache-model-1");
    const entries = fs.readdirSync(cache).sort();
    // The frozen layers' features, the training step of the layers after them, and inference.
    assert.equal(entries.length, 3, `entries: ${entries.join(", ")}`);
    const files = entries.map((e) => path.join(cache, e, "saved_model.pb"));
    const good = files.map(sha);
    for (const f of files) fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2));
    const warn = warnings(t);
    const r = await use("graph-cache-model-2");
    assert.ok(Number.isFinite(r.loss), `loss ${r.loss}`);
    assert.equal(r.classes, 16);
    assert.deepEqual(fs.readdirSync(cache).sort(), entries, "the same entries, nothing else");
    assert.deepEqual(files.map(sha), good, "the files hold the compiled graphs again");
    const lines = warn.mock.calls.map((c) => String(c.arguments[0]));
    assert.equal(lines.length, 3, lines.join("\n"));
    for (const e of entries)
      assert.equal(lines.filter((l) => l.includes(e)).length, 1, `one warning for ${e}: ${lines.join("\n")}`);
  } finally {
    if (before === undefined) delete process.env.KT_GRAPH_CACHE;
    else process.env.KT_GRAPH_CACHE = before;
  }
});
