/**
 * The set-up: native TensorFlow backend, and the project's Jupyter kernel run
 * headlessly from notebooks/ through the runner.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { backendInfo, tf } from "../src/engine/backend";
import { describeBackend } from "../src/engine/select";
import { ROOT, cellText, joined, outDir, runNotebook } from "./support/helpers";

test("the backend in use is native TensorFlow, and the report names it", () => {
  const info = backendInfo();
  assert.equal(info.backend, "tensorflow", `expected the native backend, got ${JSON.stringify(info)}`);
  assert.ok(info.kind === "tensorflow" || info.kind === "tensorflow-gpu");
  assert.match(info.tensorflowVersion ?? "", /^\d+\.\d+\.\d+/);
  assert.match(describeBackend(), /native TensorFlow \d+\.\d+\.\d+/);
  assert.equal(tf.getBackend(), "tensorflow");
  // The native kernels compute: a 2x2 matmul checked by hand.
  const y = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]]));
  assert.deepEqual(y.arraySync(), [[19, 22], [43, 50]]);
  y.dispose();
});

test("a notebook in notebooks/ runs in the project kernel: ./src import, top-level await, inline SVG", () => {
  // Jupyter starts kernels in the notebook's folder: put the smoke notebook there.
  const nbPath = path.join(ROOT, "notebooks", ".smoke-test.ipynb");
  fs.copyFileSync(path.join(ROOT, "test", "fixtures", "smoke.ipynb"), nbPath);
  try {
    const out = outDir("setup-smoke");
    const run = runNotebook(nbPath, {}, out);
    assert.equal(run.status, 0, run.stderr);
    const cells = run.notebook!.cells.filter((c) => c.cell_type === "code");
    const text = cells.map(cellText).join("");
    assert.match(text, /backend: TF\.js [\d.]+ on CPU \(native TensorFlow [\d.]+, oneDNN\)/);
    assert.match(text, new RegExp(`cwd: ${ROOT.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n`));
    assert.match(text, /await: 42/);
    const svg = cells.flatMap((c) => c.outputs ?? []).find((o) => o.output_type === "display_data" && o.data?.["image/svg+xml"]);
    assert.ok(svg, "no inline SVG output");
    assert.match(joined(svg!.data!["image/svg+xml"]), /<circle id="smoke-dot"/);
    assert.ok(fs.existsSync(path.join(out, ".smoke-test.html")), "no HTML copy written");
  } finally {
    fs.rmSync(nbPath, { force: true });
  }
});

test("an error in a cell fails the run with the cell's message, and later cells do not run", () => {
  const nbPath = path.join(ROOT, "notebooks", ".smoke-test-error.ipynb");
  fs.copyFileSync(path.join(ROOT, "test", "fixtures", "smoke.ipynb"), nbPath);
  try {
    const out = outDir("setup-smoke-error");
    const run = runNotebook(nbPath, { FAIL_WITH: "smoke failure requested" }, out);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /Error: smoke failure requested/);
    const cells = run.notebook!.cells;
    const injected = cells.find((c) => c.metadata.tags?.includes("injected-parameters"));
    assert.ok(injected, "parameters were not injected");
    assert.match(joined(injected!.source), /const FAIL_WITH: string = "smoke failure requested";/);
    const last = cells[cells.length - 1];
    assert.equal(cellText(last), "", "a cell after the failing one ran");
  } finally {
    fs.rmSync(nbPath, { force: true });
  }
});
