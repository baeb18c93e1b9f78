/**
 * What a tutorial notebook run end to end must show, checked on the executed notebook (nbformat, as
 * the runner writes it or as JupyterLab holds it): the browser test runs each notebook once and checks
 * it here as well as on the rendered page; the notebook tests check what the headless runner printed.
 *
 *   cellTagged, svgs, htmls   a tagged cell, and its figures and HTML outputs
 *   checkNotebook            every section's outputs, and the files the save and web cells wrote
 *   finderLine               the learning-rate finder's closing line
 *   checkRunnerProgress      the runner's progress on stderr: a line per cell, each epoch, evaluate, predict
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { JSDOM } from "jsdom";
import { ZipReader } from "../../src/keras/saving/zip_archive";
import { cellText, joined, type Notebook, type NotebookCell } from "./helpers";

/** The small scale a test runs a notebook at: its parameters that the checks depend on. */
export interface SmallScale {
  epochs: number;
  testImages: number;
  lrFinderSteps: number;
  showDigits: number;
}

/** The sample photos of the "Your own digits" section, in name order, and the digits they show. */
export const OWN_DIGITS = [
  ["five", 5],
  ["four", 4],
  ["nine", 9],
  ["seven", 7],
  ["two", 2],
] as const;

/** The learning-rate finder's closing line: all `steps` batches run, or stopped at divergence. */
export function finderLine(steps: number): RegExp {
  return new RegExp(
    `Learning-rate finder: (${steps} batches, rates 1\\.0e-7 to [\\d.]+e-?\\d+ in [\\d.]+ s \\(all steps run\\)|\\d+ batches?.* \\(stopped when the loss diverged\\)).*Weights and optimizer restored\\.`,
  );
}

export function cellTagged(nb: Notebook, tag: string): NotebookCell {
  const cell = nb.cells.find((c) => c.metadata.tags?.includes(tag));
  assert.ok(cell, `no cell tagged ${tag}`);
  return cell!;
}

export function svgs(cell: NotebookCell): Document[] {
  return (cell.outputs ?? [])
    .filter((o) => o.output_type === "display_data" && o.data?.["image/svg+xml"])
    .map((o) => new JSDOM(joined(o.data!["image/svg+xml"]), { contentType: "image/svg+xml" }).window.document);
}

export function htmls(cell: NotebookCell): string[] {
  return (cell.outputs ?? [])
    .filter((o) => o.output_type === "display_data" && o.data?.["text/html"])
    .map((o) => joined(o.data!["text/html"]));
}

function stderr(cell: NotebookCell): string {
  return (cell.outputs ?? [])
    .filter((o) => o.output_type === "stream" && o.name === "stderr")
    .map((o) => joined(o.text))
    .join("");
}

/**
 * The checks of a tutorial notebook run end to end at a small scale, on the executed notebook: every
 * section's output (figures parsed as SVG, tables, progress displays' closing lines), no stderr, and
 * the files the save and web cells wrote (removed afterwards). `scale` is the run's parameters;
 * `guide`: run with AUGMENT true and FINE_TUNE_BATCH_NORM "inference".
 */
export function checkNotebook(
  nb: Notebook,
  scale: SmallScale,
  save: { file: string; base: string; depth: number; web: string },
  guide = false,
): void {
  const { epochs, testImages, lrFinderSteps, showDigits } = scale;
  for (const c of nb.cells.filter((c) => c.cell_type === "code")) {
    assert.equal(stderr(c), "", `a cell wrote to stderr:\n${joined(c.source)}\n${stderr(c)}`);
  }
  const backend = cellText(nb.cells.find((c) => joined(c.source).includes("describeBackend"))!);
  assert.match(backend, /native TensorFlow/);

  const [digit] = svgs(cellTagged(nb, "load-data"));
  assert.ok(digit.querySelector("image"), "the digit image is missing");
  const [upsampled] = svgs(cellTagged(nb, "upsample"));
  assert.equal(upsampled.querySelectorAll("image").length, 4, "original + 3 channels");

  assert.match(htmls(cellTagged(nb, "layers"))[0], /mixed1|add_2/);

  // Section 5: the learning-rate finder's curve, its suggestion and its closing line, before training.
  const finder = cellTagged(nb, "lr-finder");
  const [curve] = svgs(finder);
  assert.equal(curve.documentElement.getAttribute("aria-label"), "Learning-rate finder");
  const drawn = (curve.querySelector('g[aria-label="line"] path')?.getAttribute("d")?.match(/[ML]/g) ?? []).length;
  assert.ok(drawn >= 2 && drawn <= lrFinderSteps, `the finder's curve has ${drawn} points`);
  assert.match(
    cellText(finder),
    /^suggested learning rate \(fastai's valley\): (\d\.\de-\d+|none \(too few points\)); the tutorial trains at 0\.001$/m,
  );
  assert.match(
    htmls(finder).find((h) => h.includes("kt-steps") && h.includes("Learning-rate finder")) ?? "",
    finderLine(lrFinderSteps),
  );

  const history = svgs(cellTagged(nb, "history-plots"));
  assert.equal(history.length, 2, "two history plots (accuracy and loss)");
  for (const svg of history) {
    const lines = svg.querySelectorAll('g[aria-label="line"] path');
    assert.equal(lines.length, 2, "train and validation lines");
    const dots = svg.querySelectorAll('g[aria-label="dot"] circle');
    assert.equal(dots.length, 2 * epochs, "one dot per epoch on each line");
  }
  assert.match(history[0].documentElement.getAttribute("aria-label") ?? "", /accuracy/i);
  assert.match(history[1].documentElement.getAttribute("aria-label") ?? "", /loss/i);

  const evaluation = cellTagged(nb, "evaluate");
  const m = /test loss ([\d.]+), test accuracy ([\d.]+) on (\d+) digits/.exec(cellText(evaluation));
  assert.ok(m, `no test accuracy printed: ${cellText(evaluation)}`);
  const accuracy = Number(m![2]);
  assert.ok(accuracy >= 0 && accuracy <= 1, `accuracy ${accuracy} not in [0, 1]`);
  assert.equal(Number(m![3]), testImages);
  assert.ok(
    htmls(evaluation).some((h) => /<table/.test(h)),
    "the comparison table is missing",
  );
  // evaluate and predict on more than a batch: a progress display each, ending with a closing line.
  const closing = (cell: NotebookCell) => htmls(cell).find((h) => h.includes("kt-steps")) ?? "";
  assert.match(
    closing(evaluation),
    new RegExp(`Evaluated ${testImages} digits in [\\d.]+ s: loss ${m![1]} · accuracy ${m![2]}`),
  );
  assert.match(closing(cellTagged(nb, "predict")), new RegExp(`Predicted ${testImages} digits in [\\d.]+ s`));

  const [grid] = svgs(cellTagged(nb, "predict"));
  assert.equal(grid.querySelectorAll("image").length, showDigits, "the prediction grid shows SHOW_DIGITS digits");
  const mistakes = svgs(cellTagged(nb, "mistakes"));
  assert.ok(mistakes.length >= 1, "confusion matrix missing");
  // Error analysis: the TOP_LOSSES (9) digits with the largest losses, largest first; the most confused pairs.
  const [worst] = svgs(cellTagged(nb, "top-losses"));
  assert.equal(worst.querySelectorAll("image").length, 9, "the top-losses figure shows TOP_LOSSES digits");
  const losses = [...worst.querySelectorAll(".kt-loss")].map((t) => Number((t.textContent ?? "").split(" · ")[0]));
  assert.deepEqual(
    losses,
    [...losses].sort((a, b) => b - a),
    "largest loss first",
  );
  const confused = cellTagged(nb, "most-confused");
  const table = htmls(confused).find((h) => h.includes("<table"));
  if (table) {
    const counts = [...new JSDOM(table).window.document.querySelectorAll("tbody tr")].map((r) =>
      Number(r.querySelectorAll("td")[2].textContent),
    );
    assert.ok(counts.length > 0 && counts.every((c) => c >= 2), `pairs seen at least twice: ${counts}`);
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => b - a),
      "most often first",
    );
  } else {
    assert.match(cellText(confused), /No pair of digits was mistaken for one another twice/);
  }

  // The second stage: the whole base trains on from the first run's weights at a smaller rate.
  const stage2 = cellTagged(nb, "fine-tune");
  assert.match(htmls(stage2).join(""), /Frozen: nothing|Trainable params/);
  const [fineTuned] = svgs(stage2);
  assert.equal(fineTuned.querySelectorAll('g[aria-label="dot"] circle').length, 2, "one epoch: a dot on each line");
  assert.match(cellText(stage2), /after fine-tuning: test loss [\d.]+, test accuracy [\d.]+ \(before: [\d.]+\)/);
  const runs = new JSDOM(
    htmls(stage2).find((h) => h.includes("kt-comparison-table"))!,
  ).window.document.querySelectorAll("tbody tr");
  assert.equal(runs.length, 2, "the comparison table lists both stages");
  // Run 2 followed one cycle peaking at FINE_TUNE_LEARNING_RATE.
  assert.match(
    runs[1].textContent ?? "",
    guide ? /one cycle, peak 0\.00001.*run 1.*inference/ : /one cycle, peak 0\.00001.*run 1/,
  );
  if (guide) assert.match(htmls(stage2).join(""), /Batch normalisation: inference mode in training/);

  const train = htmls(cellTagged(nb, "train"));
  if (guide) {
    // Augmentation comes before the frozen layers: no frozen-prefix cache, and the fit says why.
    assert.match(
      train.join(""),
      /Data augmentation \(random_rotation, random_translation, random_zoom\) comes before the frozen layers/,
    );
    assert.doesNotMatch(train.join(""), /output computed once/);
  } else {
    assert.match(train.find((h) => h.includes("kt-steps")) ?? "", /output computed once for \d+ digits/);
  }
  const progress = train.find((h) => h.includes("kt-progress")) ?? "";
  assert.match(progress, new RegExp(`${epochs} of ${epochs} epochs?\\b`));

  // 10. Your own digits: each sample photo read, predicted, and shown with its three most probable digits.
  const own = cellTagged(nb, "own-digits");
  const lines = cellText(own).trim().split("\n");
  assert.deepEqual(
    lines.map((l) => l.replace(/:.*/, "")),
    OWN_DIGITS.map(([name]) => `notebooks/digits/${name}.png`),
  );
  for (const line of lines) assert.match(line, /: \d \([\d.]+%\), \d \([\d.]+%\), \d \([\d.]+%\)$/);
  const figures = svgs(own);
  assert.equal(figures.length, OWN_DIGITS.length, "a figure per image");
  for (const [i, figure] of figures.entries()) {
    assert.equal(figure.documentElement.getAttribute("aria-label"), `notebooks/digits/${OWN_DIGITS[i][0]}.png`);
    assert.equal(figure.querySelectorAll("image").length, 2, "the photo as read and the 28×28 digit");
    assert.equal(figure.querySelectorAll('g[aria-label="bar"] rect').length, 3, "three bars");
  }

  // Section 11: the model saved as a .keras archive, reloaded, predicting the same classes.
  const saved = cellText(cellTagged(nb, "save"));
  const m2 = /saved (.*): ([\d.]+) MB in [\d.]+ s/.exec(saved);
  assert.ok(m2, `the save cell printed no file and size:\n${saved}`);
  assert.equal(m2![1], save.file);
  assert.equal(Number(m2![2]), Number((fs.statSync(save.file).size / 2 ** 20).toFixed(1)));
  const zip = ZipReader.open(save.file);
  assert.deepEqual(
    zip.members.map((m) => m.name),
    ["metadata.json", "config.json", "model.weights.h5"],
  );
  zip.close();
  assert.match(
    saved,
    new RegExp(`reloaded: ${save.base}, the first ${save.depth} base layers frozen, [\\d,]+ trainable parameters`),
  );
  assert.match(
    saved,
    new RegExp(
      `classes of the first ${showDigits} test digits: (\\d ){${showDigits - 1}}\\d \\(the same as the model in memory\\)`,
    ),
  );
  fs.rmSync(save.file);

  // Section 12: the model exported for the web page, as float32, float16 and uint8.
  const web = cellText(cellTagged(nb, "web"));
  for (const variant of ["float32", "float16", "uint8"]) {
    const folder = path.join(save.web, `${save.base}-${variant}`);
    assert.ok(web.includes(`exported ${folder}: `), `the web cell printed no ${variant} export:\n${web}`);
    const json = JSON.parse(fs.readFileSync(path.join(folder, "model.json"), "utf8"));
    assert.equal(json.userDefinedMetadata.digits.base, save.base);
    assert.equal(json.userDefinedMetadata.digits.quantize, variant === "float32" ? false : variant);
  }
  assert.match(web, /Now run "npm run demo" in a terminal/);
  fs.rmSync(save.web, { recursive: true });
}

/** What the headless runner printed on stderr while the notebook ran: a line per cell and the progress of the finder, training, evaluate and predict. */
export function checkRunnerProgress(runnerOutput: string, scale: SmallScale): void {
  const { epochs, testImages } = scale;
  assert.match(runnerOutput, /^\[ ?\d+\/\d+ \d+:\d\d\] train$/m);
  assert.match(runnerOutput, /^\[ ?\d+\/\d+ \d+:\d\d\] own-digits$/m);
  assert.match(runnerOutput, new RegExp(`^    ${finderLine(scale.lrFinderSteps).source}`, "m"));
  for (let e = 1; e <= epochs; e++)
    assert.match(
      runnerOutput,
      new RegExp(`^    epoch ${e}/${epochs} · [\\d.]+ s · loss [\\d.]+ · accuracy [\\d.]+ · val_loss`, "m"),
    );
  assert.match(runnerOutput, new RegExp(`^    Trained ${epochs} of ${epochs} epochs? in [\\d.]+ s`, "m"));
  assert.match(runnerOutput, new RegExp(`^    Evaluated ${testImages} digits in`, "m"));
  assert.match(runnerOutput, new RegExp(`^    Predicted ${testImages} digits in`, "m"));
}
