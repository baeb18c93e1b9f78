/**
 * The set-up: native TensorFlow backend, and the project's Jupyter kernel run
 * headlessly from notebooks/ through the runner.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { backendInfo, tf } from "../src/tfjs/backend";
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
  const y = tf.matMul(
    tf.tensor2d([
      [1, 2],
      [3, 4],
    ]),
    tf.tensor2d([
      [5, 6],
      [7, 8],
    ]),
  );
  assert.deepEqual(y.arraySync(), [
    [19, 22],
    [43, 50],
  ]);
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
    // The kernel runs on the Node the set-up recorded in the kernelspec, which is the Node the
    // set-up (and, under npm test, this test) ran on.
    const spec = JSON.parse(
      fs.readFileSync(
        path.join(ROOT, ".venv", "share", "jupyter", "kernels", "keras-transfer-ts", "kernel.json"),
        "utf8",
      ),
    );
    assert.ok(spec.env.KT_NODE, "the kernelspec records no KT_NODE");
    const node = /node: (\S+) (v[\d.]+)\n/.exec(text);
    assert.ok(node, "the smoke notebook printed no node line");
    assert.equal(node![1], spec.env.KT_NODE);
    assert.equal(node![2], spawnSync(spec.env.KT_NODE, ["--version"], { encoding: "utf8" }).stdout.trim());
    const svg = cells
      .flatMap((c) => c.outputs ?? [])
      .find((o) => o.output_type === "display_data" && o.data?.["image/svg+xml"]);
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

test("the set-up names the Node in use, refuses one too old with the versions that work, and warns on untested lines", () => {
  const check = (version?: string) =>
    spawnSync(process.execPath, [path.join(ROOT, "kernel-setup", "check-node.js"), ...(version ? [version] : [])], {
      encoding: "utf8",
    });
  const here = check();
  assert.equal(here.status, 0, here.stderr);
  assert.ok(here.stderr.includes(`Node ${process.versions.node} (${process.execPath})`), here.stderr);
  const cases: Array<[string, number, RegExp]> = [
    ["18.20.0", 1, /error: Node 18\.20\.0: too old: .*Use Node 22 \(from 22\.12\), 24 or 26/],
    ["20.18.0", 1, /error: .*too old/],
    ["22.11.0", 1, /error: .*too old/],
    ["20.19.0", 0, /warning: .*end of life in April 2026/],
    ["22.23.5", 0, /^\[setup\] Node 22\.23\.5: a tested line/],
    ["24.22.3", 0, /^\[setup\] Node 24\.22\.3: a tested line/],
    ["26.12.1", 0, /^\[setup\] Node 26\.12\.1: a tested line/],
    ["25.1.0", 0, /warning: .*not tested here/],
    ["28.0.0", 0, /warning: .*newer than the lines tested here/],
  ];
  for (const [version, status, message] of cases) {
    const run = check(version);
    assert.equal(run.status, status, `${version}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
});

test("the kernel says so, and uses the node on PATH, when the Node the set-up recorded is gone", async () => {
  // The kernel prints its message before tslab starts, then waits for a connection file that is not
  // there: the test stops it as soon as the message is out (or after 60 s, when it would fail).
  const expected =
    /the Node the set-up used \(\/nonexistent\/bin\/node\) is not there; using \S+node \(v[\d.]+\)\. Run npm run setup again/;
  const kernel = spawn(
    path.join(ROOT, "kernel-setup", "kernel"),
    ["--config-path", path.join(ROOT, "out", "no-such-connection-file.json")],
    { env: { ...process.env, KT_NODE: "/nonexistent/bin/node" }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 60_000);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    kernel.stderr.setEncoding("utf8");
    kernel.stderr.on("data", (chunk: string) => {
      stderr += chunk;
      if (expected.test(stderr)) done();
    });
    kernel.on("exit", done);
  });
  kernel.kill("SIGKILL");
  assert.match(stderr, expected);
});
