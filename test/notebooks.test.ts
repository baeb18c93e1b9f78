/**
 * Both notebooks, executed headlessly through the project's kernel at a small scale (with what the
 * runner prints meanwhile), and a re-run of the freeze → train → evaluate cells with another depth
 * in the same kernel. The save cell and the web export write to a temporary folder (parameters SAVE_TO,
 * WEB_MODELS), removed at the end, never to out/.
 */
import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { JSDOM } from "jsdom";
import { ZipReader } from "../src/keras/saving/zip_archive";
import {
  PYTHON,
  ROOT,
  cellText,
  joined,
  outDir,
  runNotebook,
  tmpDir,
  type Notebook,
  type NotebookCell,
} from "./support/helpers";
import { tableRecords } from "./support/tables";

const EPOCHS = 2;
const SHOW_DIGITS = 8;
/** Test digits: more than evaluate's and predict's batch of 64, so that they show their progress. */
const TEST_IMAGES = 80;
/** The learning-rate finder's batches (section 5): 12 of 32 digits, over the 153 training digits. */
const LR_FINDER_STEPS = 12;
const SMALL = {
  EPOCHS,
  TRAIN_IMAGES: 192,
  TEST_IMAGES,
  SHOW_DIGITS,
  BATCH_SIZE: 32,
  FINE_TUNE_EPOCHS: 1,
  LR_FINDER_STEPS,
};
/** The sample photos of the "Your own digits" section, in name order, and the digits they show. */
const OWN_DIGITS = [
  ["five", 5],
  ["four", 4],
  ["nine", 9],
  ["seven", 7],
  ["two", 2],
] as const;
/** Where the save cells write their .keras archives (a few hundred MB each). */
const SAVES = tmpDir("notebook-saves");
after(() => fs.rmSync(SAVES, { recursive: true, force: true }));
const saveTo = (name: string) => path.join(SAVES, `${name}.keras`);
const webModels = (name: string) => path.join(SAVES, `${name}-web`);
/** The notebooks' FINE_TUNE_FREEZE: the depth the model has when section 11 saves it, after the fine-tuning stage. */
const FINE_TUNE_FREEZE = 0;

function cellTagged(nb: Notebook, tag: string): NotebookCell {
  const cell = nb.cells.find((c) => c.metadata.tags?.includes(tag));
  assert.ok(cell, `no cell tagged ${tag}`);
  return cell!;
}

function svgs(cell: NotebookCell): Document[] {
  return (cell.outputs ?? [])
    .filter((o) => o.output_type === "display_data" && o.data?.["image/svg+xml"])
    .map((o) => new JSDOM(joined(o.data!["image/svg+xml"]), { contentType: "image/svg+xml" }).window.document);
}

function htmls(cell: NotebookCell): string[] {
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
 * Checks shared by both notebooks: the executed notebook, what the runner printed meanwhile, and the
 * saved archive; `guide`: run with AUGMENT true and FINE_TUNE_BATCH_NORM "inference".
 */
function checkNotebook(
  nb: Notebook,
  trainImages: number,
  runnerOutput: string,
  save: { file: string; base: string; depth: number; web: string },
  guide = false,
): void {
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
  assert.ok(drawn >= 2 && drawn <= LR_FINDER_STEPS, `the finder's curve has ${drawn} points`);
  assert.match(
    cellText(finder),
    /^suggested learning rate \(fastai's valley\): (\d\.\de-\d+|none \(too few points\)); the tutorial trains at 0\.001$/m,
  );
  const finderLine = new RegExp(
    `Learning-rate finder: (${LR_FINDER_STEPS} batches, rates 1\\.0e-7 to [\\d.]+e-?\\d+ in [\\d.]+ s \\(all steps run\\)|\\d+ batches?.* \\(stopped when the loss diverged\\)).*Weights and optimizer restored\\.`,
  );
  assert.match(
    htmls(finder).find((h) => h.includes("kt-steps") && h.includes("Learning-rate finder")) ?? "",
    finderLine,
  );
  assert.match(runnerOutput, new RegExp(`^    ${finderLine.source}`, "m"));

  const history = svgs(cellTagged(nb, "history-plots"));
  assert.equal(history.length, 2, "two history plots (accuracy and loss)");
  for (const svg of history) {
    const lines = svg.querySelectorAll('g[aria-label="line"] path');
    assert.equal(lines.length, 2, "train and validation lines");
    const dots = svg.querySelectorAll('g[aria-label="dot"] circle');
    assert.equal(dots.length, 2 * EPOCHS, "one dot per epoch on each line");
  }
  assert.match(history[0].documentElement.getAttribute("aria-label") ?? "", /accuracy/i);
  assert.match(history[1].documentElement.getAttribute("aria-label") ?? "", /loss/i);

  const evaluation = cellTagged(nb, "evaluate");
  const m = /test loss ([\d.]+), test accuracy ([\d.]+) on (\d+) digits/.exec(cellText(evaluation));
  assert.ok(m, `no test accuracy printed: ${cellText(evaluation)}`);
  const accuracy = Number(m![2]);
  assert.ok(accuracy >= 0 && accuracy <= 1, `accuracy ${accuracy} not in [0, 1]`);
  assert.equal(Number(m![3]), TEST_IMAGES);
  assert.ok(
    htmls(evaluation).some((h) => /<table/.test(h)),
    "the comparison table is missing",
  );
  // evaluate and predict on more than a batch: a progress display each, ending with a closing line.
  const closing = (cell: NotebookCell) => htmls(cell).find((h) => h.includes("kt-steps")) ?? "";
  assert.match(
    closing(evaluation),
    new RegExp(`Evaluated ${TEST_IMAGES} digits in [\\d.]+ s: loss ${m![1]} · accuracy ${m![2]}`),
  );
  assert.match(closing(cellTagged(nb, "predict")), new RegExp(`Predicted ${TEST_IMAGES} digits in [\\d.]+ s`));

  const [grid] = svgs(cellTagged(nb, "predict"));
  assert.equal(grid.querySelectorAll("image").length, SHOW_DIGITS, "the prediction grid shows SHOW_DIGITS digits");
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
  assert.match(progress, new RegExp(`${EPOCHS} of ${EPOCHS} epochs`));
  assert.ok(trainImages > 0);

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

  // The runner printed a line per cell and the progress of training, evaluate and predict as they ran.
  assert.match(runnerOutput, /^\[ ?\d+\/\d+ \d+:\d\d\] train$/m);
  assert.match(runnerOutput, /^\[ ?\d+\/\d+ \d+:\d\d\] own-digits$/m);
  for (let e = 1; e <= EPOCHS; e++)
    assert.match(
      runnerOutput,
      new RegExp(`^    epoch ${e}/${EPOCHS} · [\\d.]+ s · loss [\\d.]+ · accuracy [\\d.]+ · val_loss`, "m"),
    );
  assert.match(runnerOutput, new RegExp(`^    Trained ${EPOCHS} of ${EPOCHS} epochs in [\\d.]+ s`, "m"));
  assert.match(runnerOutput, new RegExp(`^    Evaluated ${TEST_IMAGES} digits in`, "m"));
  assert.match(runnerOutput, new RegExp(`^    Predicted ${TEST_IMAGES} digits in`, "m"));

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
      `classes of the first ${SHOW_DIGITS} test digits: (\\d ){${SHOW_DIGITS - 1}}\\d \\(the same as the model in memory\\)`,
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

test("the committed notebooks are clean nbformat 4.5: nbformat reads them without a warning, every cell has its own id, no cell has outputs", () => {
  const files = ["inception", "xception"].map((n) => path.join(ROOT, "notebooks", `${n}.ipynb`));
  // nbformat warns (MissingIDFieldWarning, on every read by Jupyter or the runner) when a cell has no id.
  const check = spawnSync(
    PYTHON,
    [
      "-c",
      "import sys, warnings, nbformat\n" +
        "warnings.simplefilter('error')\n" +
        "for f in sys.argv[1:]:\n" +
        "    nbformat.validate(nbformat.read(f, as_version=4))\n",
      ...files,
    ],
    { encoding: "utf8" },
  );
  assert.equal(check.status, 0, check.stderr);
  for (const file of files) {
    const nb = JSON.parse(fs.readFileSync(file, "utf8")) as Notebook & { nbformat: number; nbformat_minor: number };
    assert.deepEqual([nb.nbformat, nb.nbformat_minor], [4, 5], file);
    const ids = nb.cells.map((c) => (c as { id?: string }).id);
    assert.ok(
      ids.every((id) => typeof id === "string" && id !== ""),
      `${file}: cells without an id: ${ids.flatMap((id, i) => (id ? [] : [i])).join(", ")}`,
    );
    assert.equal(new Set(ids).size, ids.length, `${file}: repeated cell ids`);
    for (const c of nb.cells.filter((c) => c.cell_type === "code")) {
      assert.deepEqual(c.outputs, [], `${file}: a cell was committed with outputs:\n${joined(c.source)}`);
      assert.equal((c as { execution_count?: number | null }).execution_count, null, file);
    }
  }
});

test("inception.ipynb runs end to end at a small scale, with every plot", () => {
  const out = outDir("notebook-inception");
  const run = runNotebook(
    path.join(ROOT, "notebooks", "inception.ipynb"),
    { ...SMALL, WEIGHTS: "random", SAVE_TO: saveTo("inception"), WEB_MODELS: webModels("inception") },
    out,
  );
  assert.equal(run.status, 0, run.stderr);
  checkNotebook(run.notebook!, SMALL.TRAIN_IMAGES, run.stderr, {
    file: saveTo("inception"),
    base: "inception_v3",
    depth: FINE_TUNE_FREEZE,
    web: webModels("inception"),
  });
  assert.match(htmls(cellTagged(run.notebook!, "freeze")).join(""), /Trainable params: 23,172,090/);
});

test("xception.ipynb runs end to end, with augmentation and the second stage's batch normalisation in inference mode; without ImageNet weights it warns visibly and goes on", () => {
  const out = outDir("notebook-xception");
  const keras = tmpDir("keras-home");
  // No cached weights, and a download address where nothing listens: the weights cannot be had.
  const guide = { AUGMENT: true, FINE_TUNE_BATCH_NORM: "inference" };
  const run = runNotebook(
    path.join(ROOT, "notebooks", "xception.ipynb"),
    { ...SMALL, ...guide, WEIGHTS: "imagenet", SAVE_TO: saveTo("xception"), WEB_MODELS: webModels("xception") },
    out,
    {
      KERAS_HOME: keras,
      KT_WEIGHTS_BASE_URL: "http://127.0.0.1:9/",
    },
  );
  assert.equal(run.status, 0, run.stderr);
  const nb = run.notebook!;
  const build = cellTagged(nb, "build");
  const warning = htmls(build).find((h) => h.includes("kt-warning"));
  assert.ok(warning, "no warning about the missing ImageNet weights");
  assert.match(warning!, /ImageNet weights could not be loaded/);
  assert.match(warning!, /xception_weights_tf_dim_ordering_tf_kernels_notop\.h5/);
  assert.match(cellText(build), /weights: random \(ImageNet weights unavailable\)/);
  checkNotebook(
    nb,
    SMALL.TRAIN_IMAGES,
    run.stderr,
    { file: saveTo("xception"), base: "xception", depth: FINE_TUNE_FREEZE, web: webModels("xception") },
    true,
  );
  assert.match(htmls(cellTagged(nb, "freeze")).join(""), /Trainable params: 21,808,618/);
  assert.deepEqual(
    fs.readdirSync(keras).filter((f) => !fs.statSync(path.join(keras, f)).isDirectory()),
    [],
    "nothing half-written in the cache",
  );
});

test("re-running the freeze and training cells with another depth updates the model and the comparison", () => {
  const out = outDir("notebook-rerun");
  const file = path.join(out, "inception-rerun.ipynb");
  const params = Object.entries({
    ...SMALL,
    EPOCHS: 1,
    WEIGHTS: "random",
    SAVE_TO: saveTo("rerun"),
    WEB_MODELS: webModels("rerun"),
  }).map(([k, v]) => `${k}=${typeof v === "string" ? JSON.stringify(v) : v}`);
  const r = spawnSync(
    PYTHON,
    [
      path.join(ROOT, "test", "support", "rerun_cells.py"),
      path.join(ROOT, "notebooks", "inception.ipynb"),
      file,
      "100",
      ...params,
    ],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, r.stderr);
  fs.rmSync(saveTo("rerun"), { force: true });
  fs.rmSync(webModels("rerun"), { recursive: true, force: true });
  const nb = JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;
  const freeze = htmls(cellTagged(nb, "freeze")).join("");
  const m = /Trainable params: ([\d,]+)/.exec(freeze);
  assert.ok(m, freeze);
  assert.match(freeze, /Frozen: the first 100 base layers/);
  // Expected, from Keras's own layer table: the parameters of layers[100:] (a batch norm without
  // scale trains only beta, a third of its parameters) plus the head's 2,108,426.
  const keras = fs.readFileSync(path.join(ROOT, "test", "fixtures", "keras-inception_v3-notop-84x84.txt"), "utf8");
  let expected = 2108426;
  for (const line of keras.split("\n").filter((l) => /^\d/.test(l))) {
    const f = line.split(" ");
    const params = Number(f[f.length - 1]);
    if (Number(f[0]) >= 100) expected += f[2] === "BatchNormalization" ? params / 3 : params;
  }
  assert.equal(Number(m![1].replace(/,/g, "")), expected);
  const table = htmls(cellTagged(nb, "evaluate")).find((h) => h.includes("<table")) ?? "";
  const rows = tableRecords(table);
  // The first run (depth 64), the fine-tuning stage that continued from it (depth 0), and the re-run at 100.
  assert.equal(rows.length, 3, "the comparison table has one row per run");
  assert.deepEqual(
    rows.map((r) => [r.Run, r["Freeze depth"], r["Started from"]]),
    [
      ["1", "64", "the initial weights"],
      ["2", "0", "run 1"],
      ["3", "100", "the initial weights"],
    ],
  );
  assert.equal(rows[2]["Trainable parameters"], m![1]);
});

test("interrupting the kernel during training stops it and leaves the model usable", () => {
  const out = outDir("notebook-interrupt");
  const file = path.join(out, "inception-interrupted.ipynb");
  const params = Object.entries({ ...SMALL, EPOCHS: 50, TRAIN_IMAGES: 256, WEIGHTS: "random" }).map(
    ([k, v]) => `${k}=${typeof v === "string" ? JSON.stringify(v) : v}`,
  );
  const r = spawnSync(
    PYTHON,
    [
      path.join(ROOT, "test", "support", "interrupt_training.py"),
      path.join(ROOT, "notebooks", "inception.ipynb"),
      file,
      "20",
      ...params,
    ],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const nb = JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;
  const state = JSON.parse(cellText(cellTagged(nb, "interrupt-report")).trim()) as {
    interrupted: boolean;
    epochs: number;
  };
  assert.equal(state.interrupted, true);
  assert.ok(state.epochs < 50, `training went on for ${state.epochs} epochs`);
  assert.match(cellText(cellTagged(nb, "evaluate")), new RegExp(`test accuracy [\\d.]+ on ${TEST_IMAGES} digits`));
});
