/**
 * Display outside and inside a notebook: outside, figures go to files and
 * progress prints one line per epoch; inside the project kernel, figures are
 * inline SVG/HTML outputs and the progress is one output updated in place.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  figureOutput,
  html,
  markdown,
  setFigureOutput,
  show,
  table,
  tableHtml,
  tableText,
  warning,
  warningHtml,
} from "../src/notebook/display";
import { createProgress, formatLogs } from "../src/notebook/progress";
import type { ProgressState } from "../src/util/progress";
import { inKernel } from "../src/notebook/tslab";
import { formatClock } from "../src/util/format";
import { historyPlot } from "../src/notebook/figures/history";
import { captureConsoleSync } from "./support/console";
import { ROOT, joined, outDir, runNotebook, tmpDir, type NotebookOutput } from "./support/helpers";

test("outside a kernel: inKernel() is false and show() writes figures to files with a note", () => {
  assert.equal(inKernel(), false);
  const dir = tmpDir("figures");
  setFigureOutput(dir);
  try {
    const fig = historyPlot({ loss: [1, 0.5], val_loss: [1.1, 0.7] }, { metric: "loss", title: "Model loss" });
    let file: string | undefined;
    const { out } = captureConsoleSync(() => {
      file = show(fig);
    });
    assert.ok(file && file.startsWith(dir), `written to ${file}`);
    assert.match(path.basename(file!), /^\d{3}-model-loss\.svg$/);
    assert.equal(fs.readFileSync(file!, "utf8"), fig.svg);
    assert.equal(out.length, 1);
    assert.match(out[0], /^\[figure\] Model loss → .*model-loss\.svg$/);

    // Strings: SVG or HTML, by content.
    let svgFile: string | undefined;
    let htmlFile: string | undefined;
    captureConsoleSync(() => {
      svgFile = show('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>', { name: "tiny" });
      htmlFile = show("<table><tr><td>1</td></tr></table>", { name: "A table" });
    });
    assert.match(svgFile!, /-tiny\.svg$/);
    assert.match(htmlFile!, /-a-table\.html$/);
    assert.match(fs.readFileSync(htmlFile!, "utf8"), /<table><tr><td>1<\/td><\/tr><\/table>/);
    // Each figure gets its own numbered file.
    assert.equal(new Set([file, svgFile, htmlFile]).size, 3);

    // null: nothing written, only the note.
    setFigureOutput(null);
    let none: string | undefined = "x";
    const quiet = captureConsoleSync(() => {
      none = show(fig);
    });
    assert.equal(none, undefined);
    assert.match(quiet.out[0], /not saved/);
    assert.equal(fs.readdirSync(dir).length, 3);
  } finally {
    setFigureOutput(undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the figure folder defaults to $KT_FIGURES_DIR, else out/figures", () => {
  const saved = process.env.KT_FIGURES_DIR;
  try {
    process.env.KT_FIGURES_DIR = "/tmp/kt-some-figures";
    assert.equal(figureOutput(), "/tmp/kt-some-figures");
    delete process.env.KT_FIGURES_DIR;
    assert.equal(figureOutput(), path.join(process.cwd(), "out", "figures"));
  } finally {
    if (saved === undefined) delete process.env.KT_FIGURES_DIR;
    else process.env.KT_FIGURES_DIR = saved;
  }
});

test("outside a kernel: tables print aligned text, warnings go to stderr, HTML and markdown print text", () => {
  const rows = [
    { layer: "conv2d", params: 864, trainable: false },
    { layer: "dense_1", params: 2_099_200, trainable: true },
  ];
  const text = tableText(rows);
  assert.equal(
    text,
    [
      "layer       params  trainable",
      "-------  ---------  ---------",
      "conv2d         864  false",
      "dense_1  2,099,200  true",
    ].join("\n"),
  );
  assert.equal(
    tableText(
      [
        [1, "a"],
        [22, "bb"],
      ],
      ["n", "s"],
    ),
    [" n  s", "--  --", " 1  a", "22  bb"].join("\n"),
  );
  const h = tableHtml(rows, ["layer", "params"]);
  assert.match(h, /<th style="text-align:left[^"]*">layer<\/th><th style="text-align:right[^"]*">params<\/th>/);
  assert.match(h, /<td[^>]*>2,099,200<\/td>/);
  assert.doesNotMatch(h, /trainable/);

  const { out, err } = captureConsoleSync(() => {
    table(rows);
    warning("the weights could not be downloaded");
    html("<p>Some <b>bold</b> &amp; text</p>");
    markdown("**as is**");
  });
  assert.equal(out[0], text);
  assert.deepEqual(err, ["⚠ warning: the weights could not be downloaded"]);
  assert.equal(out[1], "Some bold & text");
  assert.equal(out[2], "**as is**");
  assert.match(warningHtml("a <b>\nb"), /a &lt;b&gt;<br>b/);
});

test("progress outside a kernel: one line per epoch, then the summary", () => {
  const lines: string[] = [];
  let clock = 0;
  const progress = createProgress({ write: (l) => lines.push(l), now: () => clock });
  const epochs = 3;
  const batches = 5;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    for (let batch = 1; batch <= batches; batch++) {
      clock += 100;
      progress.update({
        epoch,
        epochs,
        batch,
        batches,
        seconds: clock / 1000,
        logs: { loss: 1 / batch, accuracy: 0.5 },
      });
    }
    progress.epochEnd({
      epoch,
      epochs,
      batch: batches,
      batches,
      seconds: clock / 1000,
      logs: { loss: 0.25, accuracy: 0.9, val_loss: 0.3, val_accuracy: 0.875 },
    });
  }
  progress.done("Trained 3 of 3 epochs");
  assert.deepEqual(lines, [
    "epoch 1/3 · 0.5 s · loss 0.2500 · accuracy 0.9000 · val_loss 0.3000 · val_accuracy 0.8750",
    "epoch 2/3 · 0.5 s · loss 0.2500 · accuracy 0.9000 · val_loss 0.3000 · val_accuracy 0.8750",
    "epoch 3/3 · 0.5 s · loss 0.2500 · accuracy 0.9000 · val_loss 0.3000 · val_accuracy 0.8750",
    "Trained 3 of 3 epochs",
  ]);
  // Calls after done are ignored.
  progress.update({ epoch: 1, epochs: 1 });
  progress.done("again");
  assert.equal(lines.length, 4);
});

test("progress outside a kernel without epochEnd: epochs close when the next starts; an interrupted one says so", () => {
  const lines: string[] = [];
  const progress = createProgress({ write: (l) => lines.push(l) });
  const state = (epoch: number, batch: number): ProgressState => ({
    epoch,
    epochs: 3,
    batch,
    batches: 4,
    seconds: epoch * 10 + batch,
    logs: { loss: 0.5 },
  });
  for (let b = 1; b <= 4; b++) progress.update(state(1, b));
  for (let b = 1; b <= 2; b++) progress.update(state(2, b));
  progress.done();
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^epoch 1\/3 · 14\.0 s · loss 0\.5000$/);
  assert.match(lines[1], /^epoch 2\/3 · stopped after batch 2\/4 · 8\.0 s · loss 0\.5000$/);
  assert.match(lines[2], /^1 of 3 epochs in 0:22$/);
});

test("formatting helpers", () => {
  assert.equal(formatClock(75), "1:15");
  assert.equal(formatClock(3725), "1:02:05");
  assert.equal(formatClock(Number.NaN), "–");
  assert.equal(
    formatLogs({ val_accuracy: 0.9, accuracy: 0.8, val_loss: 0.3, loss: 0.4, lr: 0.001 }),
    "loss 0.4000 · accuracy 0.8000 · lr 0.0010 · val_loss 0.3000 · val_accuracy 0.9000",
  );
  // The learning rate last, small ones as Keras's progress bar writes them (1.0000e-05).
  assert.equal(
    formatLogs({ learning_rate: 1e-5, val_loss: 0.3, loss: 0.4 }),
    "loss 0.4000 · val_loss 0.3000 · learning_rate 1.0000e-5",
  );
  assert.equal(formatLogs({ learning_rate: 0.01, loss: 0.4 }), "loss 0.4000 · learning_rate 0.0100");
});

function outputText(o: NotebookOutput, mime: string): string {
  return joined(o.data?.[mime]);
}

test("in the project kernel: show() gives inline SVG/HTML, progress is one output updated in place", () => {
  // Jupyter starts kernels in the notebook's folder: put the fixture notebook there.
  const nbPath = path.join(ROOT, "notebooks", ".display-test.ipynb");
  fs.copyFileSync(path.join(ROOT, "test", "fixtures", "display.ipynb"), nbPath);
  const figures = tmpDir("kernel-figures");
  try {
    const out = outDir("display-kernel");
    const run = runNotebook(nbPath, {}, out, { KT_FIGURES_DIR: figures });
    assert.equal(run.status, 0, run.stderr);
    const cells = run.notebook!.cells.filter((c) => c.cell_type === "code");
    const streams = (i: number) =>
      (cells[i].outputs ?? [])
        .filter((o) => o.output_type === "stream")
        .map((o) => joined(o.text))
        .join("");
    const displays = (i: number) => (cells[i].outputs ?? []).filter((o) => o.output_type === "display_data");

    assert.match(streams(0), /in kernel: true/);

    // The figure is an inline SVG, nothing is written to files.
    const [figure, comparison] = displays(1);
    assert.match(
      outputText(figure, "image/svg+xml"),
      /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" class="kt-figure kt-history-accuracy"/,
    );
    assert.match(outputText(comparison, "text/html"), /<table class="kt-comparison-table"/);
    assert.match(streams(1), /saved to a file: no/);
    assert.deepEqual(fs.readdirSync(figures), []);

    // Progress: a single output (updated in place), holding the final state.
    const progress = displays(2);
    assert.equal(progress.length, 1, "the progress display was not updated in place");
    const final = outputText(progress[0], "text/html");
    assert.match(final, /Fixture training/);
    assert.match(final, /fixture training finished/);
    for (let e = 1; e <= 3; e++)
      assert.match(
        final,
        new RegExp(
          `epoch ${e}/3 · [\\d.]+ s · loss [\\d.]+ · accuracy [\\d.]+ · val_loss [\\d.]+ · val_accuracy [\\d.]+`,
        ),
      );
    assert.match(final, /width:100\.0%/);
    assert.equal(streams(2), "", "progress printed text in the notebook");
    // Its plain-text form, for terminals and the headless runner: the title, a line per epoch, the summary; marked done.
    const plain = outputText(progress[0], "text/plain").split("\n");
    assert.equal(plain[0], "Fixture training");
    for (let e = 1; e <= 3; e++) assert.match(plain[e], new RegExp(`^epoch ${e}/3 · [\\d.]+ s · loss`));
    assert.equal(plain[4], "fixture training finished");
    assert.deepEqual(progress[0].metadata, { "keras-transfer-ts": { live: "done" } });

    // Warning box, table and markdown.
    const [warn, tbl, md] = displays(3);
    assert.match(outputText(warn, "text/html"), /class="kt-warning"[\s\S]*fixture warning: &lt;not a tag&gt;/);
    assert.match(outputText(tbl, "text/html"), /<table class="kt-table"[\s\S]*<td[^>]*>2\.5<\/td>/);
    assert.equal(outputText(md, "text/markdown"), "**fixture markdown**");
  } finally {
    fs.rmSync(nbPath, { force: true });
    fs.rmSync(figures, { recursive: true, force: true });
  }
});
