/**
 * `TransferModel.fit` with the frozen-prefix cache at any size: features over `cacheBudgetBytes` go
 * to a scratch file in `cacheDir`, and the fit ends with the weights of the in-memory cache and of no
 * cache; the fit says where it kept them and its record keeps it; the file is gone (name and open
 * descriptor) after a fit that ends, is interrupted (while the features are written, or while
 * training) or fails (a full disk, a callback's error); an unwritable cache folder makes the fit
 * train the whole model and say so once; no tensors leak.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { tf } from "../src/tfjs/backend";
import { loadMnist, type DigitSet } from "../src/data";
import type { RunRecord, TransferFitOptions, TransferModel } from "../src/model";
import { buildTransferModel } from "../src/model_build";
import { BFLOAT16, FeatureStore, storeBytes } from "../src/engine/feature_store";
import { ScratchFile } from "../src/util/scratch_file";
import { captureConsole } from "./support/console";
import { tmpDir } from "./support/helpers";
import { weightDistance } from "./support/numeric";

/** What this process holds open in `dir` (file descriptors' targets; a scratch file shows as "… (deleted)"). */
function openIn(dir: string): string[] {
  const open: string[] = [];
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir + path.sep)) open.push(target);
    } catch {
      // Closed meanwhile (the listing's own descriptor).
    }
  }
  return open;
}

/** Checks that nothing of the fit's scratch file is left in `dir`: no name, no open descriptor. */
function assertNothingLeft(dir: string, what: string): void {
  assert.deepEqual(fs.existsSync(dir) ? fs.readdirSync(dir) : [], [], `${what}: a file is left in the cache folder`);
  assert.deepEqual(openIn(dir), [], `${what}: the scratch file is still open`);
}

function weightsOf(tm: TransferModel): Float32Array[] {
  return tm.model.weights.map((w) => w.read().dataSync().slice() as Float32Array);
}

function setWeights(tm: TransferModel, values: Float32Array[]): void {
  tf.tidy(() => tm.model.weights.forEach((w, i) => w.write(tf.tensor(values[i], w.shape as number[]))));
}

/**
 * How far two fits that feed the same features may end apart, as a fraction of the distance the
 * weights travelled. The three ways (no cache, in memory, on disk) give the trainable layers the same
 * numbers in the same batches, so they differ at most by rounding. Measured here (2-core Intel
 * Xeon, InceptionV3 at 64, 2 epochs of 3 batches): 0 — all three bit-identical, and so were repeated
 * fits. Where TensorFlow's threaded kernels round differently run to run, rounding's reach on this
 * model and these steps is 1.35–2.35e-3 (test/graph_engine.test.ts, one-ulp perturbations). A real
 * error is far beyond: reading one wrong row per batch from the file (the first row of each batch
 * replaced by the next one, injected by hand in FeatureStore.rows) ended 1.12 away. 2e-2 sits about
 * 9× above rounding's reach and 56× below that error.
 */
const SAME = 2e-2;

/**
 * The same under mixed_bfloat16, where the cache stores bfloat16. The frozen layers' outputs are
 * bfloat16 values already, so storing them is lossless and the three fits must match as closely as
 * in float32: measured here (2-core AMD EPYC, InceptionV3 at 64, 2 epochs of 3 batches), 0, all three
 * bit-identical (the float32 fits read 0 in CI too, beside other work). Training from random weights
 * in bfloat16 is very sensitive: reading every other stored value one bfloat16 step too large (an
 * error injected by hand in fromBfloat16Bits) ended 1.04 away. So any loss in the storage shows far
 * above this bound.
 */
const SAME_BF16 = 2e-2;

/** A fit's options: two epochs of the same unshuffled batches, no display. */
const FIT: TransferFitOptions = { epochs: 2, batchSize: 32, shuffle: false, progress: false };

interface Trained {
  weights: Float32Array[];
  loss: number[];
  record: RunRecord;
}

/** Trains from `start` with `options`; returns the weights, the history's losses and the run's record. */
async function trainFrom(
  tm: TransferModel,
  start: Float32Array[],
  train: DigitSet,
  options: TransferFitOptions,
): Promise<Trained> {
  setWeights(tm, start);
  tm.freeze(tm.freezeDepth);
  const history = await tm.fit(train, { ...FIT, ...options });
  return { weights: weightsOf(tm), loss: history.loss, record: tm.runs[tm.runs.length - 1] };
}

test("features over cacheBudgetBytes go to disk, and the fit ends with the weights of the in-memory cache and of no cache", async (t) => {
  const baseline = tf.memory().numTensors;
  // 96 digits: 76 train in batches of 32, 32 and 12 (a partial last batch), 20 validate.
  const mnist = await loadMnist({ trainLimit: 96 });
  const dir = path.join(tmpDir("fit-disk"), "features");
  const tm = await buildTransferModel({ base: "inception_v3", weights: null, key: "cache-disk", dropout: 0 });
  try {
    const start = weightsOf(tm);
    const bytes = tm.prefixSplit()?.bytesPerExample ?? 0;
    assert.equal(bytes, 73728, "InceptionV3 at 64: 8×8×288 float32 per digit");
    const none = await trainFrom(tm, start, mnist.train, { cachePrefix: false });
    const memory = await trainFrom(tm, start, mnist.train, { cacheBudgetBytes: 96 * bytes, cacheDir: dir });
    const result: { onDisk?: Trained } = {};
    const said = await captureConsole(async () => {
      result.onDisk = await trainFrom(tm, start, mnist.train, {
        cacheBudgetBytes: 96 * bytes - 1,
        cacheDir: dir,
        progress: true,
      });
    });
    const onDisk = result.onDisk;
    assert.ok(onDisk);
    assert.equal(none.record.prefixCached, false);
    assert.equal(none.record.prefixCache, undefined);
    assert.equal(memory.record.prefixCache, "in memory, 6.8 MB");
    assert.equal(onDisk.record.prefixCache, "on disk, 6.8 MB");
    assert.ok(onDisk.record.prefixCached);
    assert.ok(
      said.out.some((l) => /^Frozen layers' output computed once for 96 digits in .* \(on disk, 6\.8 MB\)/.test(l)),
      said.out.join("\n"),
    );
    assertNothingLeft(dir, "after a fit");
    const moved = weightDistance(memory.weights, start);
    assert.ok(moved > 1, `training hardly moved the weights (${moved})`);
    for (const [name, other] of [
      ["in memory", memory],
      ["no cache", none],
    ] as const) {
      const d = weightDistance(onDisk.weights, other.weights) / moved;
      t.diagnostic(`on disk vs ${name}: ${d.toExponential(3)} of the distance trained (bound ${SAME})`);
      assert.ok(d <= SAME, `on disk vs ${name}: ${d.toExponential(3)} of the distance trained (bound ${SAME})`);
      onDisk.loss.forEach((l, i) => assert.ok(Math.abs(l - other.loss[i]) <= SAME * l, `epoch ${i + 1}'s loss`));
    }
  } finally {
    tm.dispose();
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
  assert.equal(tf.memory().numTensors, baseline);
});

test("under mixed_bfloat16 the features are kept in bfloat16, half the bytes, and the fit ends with the weights of no cache", async (t) => {
  const baseline = tf.memory().numTensors;
  const mnist = await loadMnist({ trainLimit: 96 });
  const dir = path.join(tmpDir("fit-bf16"), "features");
  const tm = await buildTransferModel({
    base: "inception_v3",
    weights: null,
    key: "cache-bf16",
    dropout: 0,
    precision: "mixed_bfloat16",
  });
  try {
    const start = weightsOf(tm);
    const split = tm.prefixSplit();
    assert.ok(split);
    const bytes = storeBytes(split.featureShapes, 1, BFLOAT16);
    assert.equal(bytes, 36864, "InceptionV3 at 64: 8×8×288 bfloat16 per digit");
    const none = await trainFrom(tm, start, mnist.train, { cachePrefix: false });
    const memory = await trainFrom(tm, start, mnist.train, { cacheDir: dir });
    const onDisk = await trainFrom(tm, start, mnist.train, { cacheBudgetBytes: 96 * bytes - 1, cacheDir: dir });
    assert.equal(memory.record.prefixCache, "in memory, 3.4 MB of bfloat16", "8×8×288 bfloat16 per digit");
    assert.equal(onDisk.record.prefixCache, "on disk, 3.4 MB of bfloat16");
    assert.equal(none.record.prefixCache, undefined);
    assertNothingLeft(dir, "after a fit");
    const moved = weightDistance(memory.weights, start);
    assert.ok(moved > 1, `training hardly moved the weights (${moved})`);
    for (const [name, a, b] of [
      ["in memory vs on disk", memory, onDisk],
      ["in memory vs no cache", memory, none],
    ] as const) {
      const d = weightDistance(a.weights, b.weights) / moved;
      t.diagnostic(`${name}: ${d.toExponential(3)} of the distance trained (bound ${SAME_BF16})`);
      assert.ok(d <= SAME_BF16, `${name}: ${d.toExponential(3)} of the distance trained (bound ${SAME_BF16})`);
    }
  } finally {
    tm.dispose();
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
  assert.equal(tf.memory().numTensors, baseline);
});

/** Runs `f` with `Class.prototype[method]` (or a static method) replaced by `replacement`; puts it back after. */
async function withReplaced<T extends object, K extends keyof T>(
  target: T,
  method: K,
  replacement: (original: T[K]) => T[K],
  f: () => Promise<void>,
): Promise<void> {
  const original = target[method];
  target[method] = replacement(original);
  try {
    await f();
  } finally {
    target[method] = original;
  }
}

test("the scratch file is gone after an interrupt (while the features are written, or while training) and after an error (a full disk, a callback's); the model stays usable", async () => {
  const baseline = tf.memory().numTensors;
  const mnist = await loadMnist({ trainLimit: 160, testLimit: 16 });
  const dir = path.join(tmpDir("fit-disk-ends"), "features");
  const options: TransferFitOptions = { epochs: 2, batchSize: 32, progress: false, cacheBudgetBytes: 0, cacheDir: dir };
  const tm = await buildTransferModel({ base: "inception_v3", weights: null, key: "cache-disk-ends" });
  try {
    // An interrupt while the second batch of features is written.
    let writes = 0;
    await withReplaced(
      FeatureStore.prototype,
      "write",
      (write) =>
        function (this: FeatureStore, ...args: Parameters<FeatureStore["write"]>) {
          if (++writes === 2) process.emit("SIGINT");
          write.apply(this, args);
        },
      async () => {
        const h = await tm.fit(mnist.train, options);
        assert.equal(h.interrupted, true);
        assert.deepEqual(h.epoch, []);
      },
    );
    assert.equal(writes, 2, "the features stopped after the batch that was interrupted");
    assertNothingLeft(dir, "interrupted while writing the features");

    // An interrupt while training.
    const h = await tm.fit(mnist.train, {
      ...options,
      callbacks: { onBatchEnd: (batch: number) => void (batch === 1 && process.emit("SIGINT")) },
    });
    assert.equal(h.interrupted, true);
    assert.equal(tm.runs[tm.runs.length - 1].prefixCache, "on disk, 11.3 MB");
    assertNothingLeft(dir, "interrupted while training");

    // A full disk after 3 MB of the 11.3 MB.
    await withReplaced(
      ScratchFile,
      "create",
      (create) => (folder, prefix) =>
        create(folder, prefix, {
          ...fs,
          writeSync: (fd: number, b: Uint8Array, o: number, l: number, p: number) => {
            if (p + l > 3 * 2 ** 20)
              throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
            return fs.writeSync(fd, b, o, l, p);
          },
        }),
      async () => {
        await assert.rejects(tm.fit(mnist.train, options), (e: Error) => {
          assert.equal(e.name, "PrefixCacheError");
          assert.match(
            e.message,
            /^fit: the frozen layers' output \(11\.3 MB for 160 digits\) could not be written to disk: no space left on the disk of /,
          );
          return true;
        });
      },
    );
    assertNothingLeft(dir, "a full disk");

    // A callback's error while training.
    await assert.rejects(
      tm.fit(mnist.train, {
        ...options,
        callbacks: { onBatchEnd: () => Promise.reject(new Error("a callback failed")) },
      }),
      /a callback failed/,
    );
    assertNothingLeft(dir, "a callback's error");
    const ev = await tm.evaluate(mnist.test, { progress: false });
    assert.ok(ev.accuracy >= 0 && ev.accuracy <= 1);
  } finally {
    tm.dispose();
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
  assert.equal(tf.memory().numTensors, baseline);
});

test("an unwritable cache folder: the fit trains the whole model and says so once", async () => {
  const baseline = tf.memory().numTensors;
  const mnist = await loadMnist({ trainLimit: 64 });
  const root = tmpDir("fit-unwritable");
  // A file where the folder should be: no one, root included, can make the cache folder there.
  fs.writeFileSync(path.join(root, "file"), "");
  const dir = path.join(root, "file", "features");
  const tm = await buildTransferModel({ base: "inception_v3", weights: null, key: "cache-unwritable" });
  try {
    const said = await captureConsole(async () => {
      const h = await tm.fit(mnist.train, { epochs: 2, batchSize: 32, cacheBudgetBytes: 0, cacheDir: dir });
      assert.deepEqual(h.epoch, [1, 2]);
    });
    const warnings = said.err.filter((l) => l.startsWith("⚠ warning:"));
    assert.equal(warnings.length, 1, said.err.join("\n"));
    assert.match(
      warnings[0],
      /The frozen layers' output for 64 digits \(4\.5 MB\) is more than the memory it may take, and it cannot go to disk: .*features cannot be written: .*file is a file, not a folder\. This fit trains the whole model at every step/,
    );
    assert.ok(!said.out.some((l) => l.startsWith("Frozen layers' output computed")), said.out.join("\n"));
    const record = tm.runs[tm.runs.length - 1];
    assert.equal(record.prefixCached, false);
    assert.equal(record.prefixCache, undefined);
    assert.deepEqual(fs.readdirSync(root), ["file"]);
  } finally {
    tm.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
  assert.equal(tf.memory().numTensors, baseline);
});
