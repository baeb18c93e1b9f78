/**
 * The weights a model was built with, for `resetWeights()`: kept in a nameless scratch file that
 * holds no tensor, given back bit for bit into the same variables after they changed (float32 and
 * int32), nothing left in the folder; an unwritable folder or a full disk keeps clones in memory
 * instead, which give back the same; a failed read changes no variable; no tensor leaks.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { WeightSnapshot } from "../src/engine/weight_snapshot";
import type { FileIo } from "../src/util/scratch_file";
import { limitedIo, tmpDir } from "./support/helpers";

/** Three layer variables: a float32 kernel and bias and an int32 counter, with known values. */
function variables(): TF.LayerVariable[] {
  const layer = tf.layers.dense({ units: 3, inputShape: [4], name: "snapshot_dense" });
  tf.sequential({ layers: [layer] });
  const counter = new tf.LayerVariable(tf.tensor1d([7, -2], "int32"), "int32", "counter", false);
  return [...layer.weights, counter];
}

/** Sets every variable to ones (or zeros), leaving no tensor behind. */
function overwrite(vs: TF.LayerVariable[], fill: "ones" | "zeros" = "ones"): void {
  for (const v of vs) {
    const t = fill === "ones" ? tf.onesLike(v.read()) : tf.zerosLike(v.read());
    v.write(t);
    t.dispose();
  }
}

const valuesOf = (vs: TF.LayerVariable[]) => vs.map((v) => Array.from(v.read().dataSync()));

/** Node's fs whose writes fail as a full disk does, from the first byte. */
const fullDisk = limitedIo(Infinity, 0);

test("a snapshot on disk holds no tensor, leaves no file and gives the variables back bit for bit after they changed", () => {
  const dir = tmpDir("weights");
  const vs = variables();
  const before = valuesOf(vs);
  const tensors = tf.memory().numTensors;
  const snapshot = WeightSnapshot.take(vs, dir);
  try {
    assert.equal(snapshot.where, "disk");
    assert.equal(snapshot.bytes, (4 * 3 + 3 + 2) * 4);
    assert.equal(tf.memory().numTensors, tensors, "no clone is held");
    assert.deepEqual(fs.readdirSync(dir), [], "the scratch file has no name");
    overwrite(vs);
    assert.notDeepEqual(valuesOf(vs), before);
    snapshot.restore();
    assert.deepEqual(valuesOf(vs), before);
    assert.equal(vs[2].read().dtype, "int32");
    overwrite(vs, "zeros");
    snapshot.restore();
    assert.deepEqual(valuesOf(vs), before, "restored again, from the same file");
  } finally {
    snapshot.dispose();
  }
  snapshot.dispose();
  assert.equal(tf.memory().numTensors, tensors, "restoring leaves no tensor behind");
  assert.throws(() => snapshot.restore(), /disposed/);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test("where the folder cannot be written or its disk is full, the snapshot keeps clones in memory and gives back the same", () => {
  const dir = tmpDir("weights-blocked");
  fs.writeFileSync(path.join(dir, "file"), "");
  const blocked = path.join(dir, "file", "weights");
  const vs = variables();
  const before = valuesOf(vs);
  const tensors = tf.memory().numTensors;
  for (const [what, take] of [
    ["a file where the folder should be", () => WeightSnapshot.take(vs, blocked)],
    ["a full disk", () => WeightSnapshot.take(vs, path.join(dir, "full"), fullDisk)],
  ] as const) {
    const snapshot = take();
    assert.equal(snapshot.where, "memory", what);
    assert.equal(snapshot.bytes, (4 * 3 + 3 + 2) * 4, what);
    overwrite(vs);
    snapshot.restore();
    assert.deepEqual(valuesOf(vs), before, what);
    snapshot.dispose();
    assert.equal(tf.memory().numTensors, tensors, `${what}: the clones are freed`);
  }
  assert.deepEqual(fs.readdirSync(path.join(dir, "full")), [], "the file of the failed write is gone");
});

test("a snapshot whose file cannot be read back changes no variable", () => {
  const dir = tmpDir("weights-short");
  const vs = variables();
  // Reads that find the file ended: the file of a disk that lost it.
  const shortReads: FileIo = { ...fs, readSync: () => 0 } as unknown as FileIo;
  const snapshot = WeightSnapshot.take(vs, dir, shortReads);
  try {
    overwrite(vs);
    const changed = valuesOf(vs);
    assert.throws(() => snapshot.restore(), /scratch file .* ends at 0 bytes/);
    assert.deepEqual(valuesOf(vs), changed);
  } finally {
    snapshot.dispose();
  }
});
