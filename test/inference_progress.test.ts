/**
 * Progress of evaluate and predict on large sets: outside a notebook, a line now and then and a
 * closing line (stepProgress, with a clock of its own here); shown when the digits take more than
 * one batch, always with `progress: true`, never with `progress: false`. In the kernel the same
 * progress is a display updated in place (test/notebooks.test.ts, test/runner.test.ts).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { loadMnist, take } from "../src/data";
import { buildTransferModel } from "../src/model_build";
import { stepProgress } from "../src/notebook/progress";
import { captureConsole } from "./support/console";

test("stepProgress outside a notebook: a line at most every interval, none for a short step, always the closing line", () => {
  const lines: string[] = [];
  let clock = 0;
  const progress = stepProgress("Evaluating", "digits", {
    write: (l) => lines.push(l),
    now: () => clock,
    intervalMs: 10_000,
  });
  for (let done = 64; done <= 2000; done += 64) {
    clock += 1_000;
    progress.update(Math.min(done, 2000), 2000);
  }
  progress.finish("Evaluated 2,000 digits in 32.0 s");
  progress.update(2000, 2000);
  progress.finish("again");
  assert.deepEqual(lines, [
    "Evaluating · 640 of 2000 digits (32 %)",
    "Evaluating · 1280 of 2000 digits (64 %)",
    "Evaluating · 1920 of 2000 digits (96 %)",
    "Evaluated 2,000 digits in 32.0 s",
  ]);
  const quick: string[] = [];
  const short = stepProgress("Predicting", "digits", { write: (l) => quick.push(l), now: () => 5, intervalMs: 10_000 });
  short.update(64, 128);
  short.update(128, 128);
  short.finish("Predicted 128 digits in 0.1 s");
  assert.deepEqual(quick, ["Predicted 128 digits in 0.1 s"]);
});

test("evaluate and predict show progress when the digits take more than one batch; progress: false turns it off, true turns it on", async () => {
  const { test: digits } = await loadMnist({ testLimit: 130 });
  const learner = await buildTransferModel({ base: "inception_v3", weights: null, key: "inference-progress" });
  try {
    // 130 digits at 64 a batch: three batches, so progress shows; a closing line outside a notebook.
    let score: Awaited<ReturnType<typeof learner.evaluate>> | undefined;
    const evaluated = await captureConsole(async () => {
      score = await learner.evaluate(digits);
    });
    assert.equal(evaluated.out.length, 1, evaluated.out.join("\n"));
    assert.match(
      evaluated.out[0],
      new RegExp(
        `^Evaluated 130 digits in [\\d.]+ s: loss ${score!.loss.toFixed(4)} · accuracy ${score!.accuracy.toFixed(4)}$`,
      ),
    );
    const predicted = await captureConsole(() => learner.predict(digits));
    assert.match(predicted.out.join("\n"), /^Predicted 130 digits in [\d.]+ s$/);

    // Off on request; and a set that takes a single batch shows nothing unless asked.
    const quiet = await captureConsole(async () => {
      await learner.evaluate(digits, { progress: false });
      await learner.predict(digits, { progress: false });
      await learner.predict(take(digits, 64));
    });
    assert.deepEqual(quiet.out, []);
    const asked = await captureConsole(() => learner.predict(take(digits, 10), { progress: true }));
    assert.deepEqual(
      asked.out.map((l) => l.replace(/[\d.]+ s$/, "_ s")),
      ["Predicted 10 digits in _ s"],
    );
    await assert.rejects(
      learner.evaluate(digits, { progress: "yes" as unknown as boolean }),
      /evaluate: progress must be true or false/,
    );
  } finally {
    learner.dispose();
  }
});
