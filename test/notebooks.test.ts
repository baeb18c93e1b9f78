/**
 * The notebooks headless, through the project's kernel at a small scale: the committed files are
 * clean; InceptionV3's notebook run end to end with what the runner prints meanwhile, then its
 * freeze → train → evaluate cells re-run with another depth in the same kernel; and an interrupt
 * while training. The save cell and the web export write to a temporary folder (parameters SAVE_TO,
 * WEB_MODELS), removed at the end, never to out/.
 *
 * Each notebook's own outputs, section by section, are checked once, where it runs in JupyterLab
 * (test/browser.test.ts, with test/support/notebook_checks.ts): a second headless run of each would
 * check the same cells again at several minutes of CI.
 */
import { after, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PYTHON, ROOT, cellText, joined, outDir, tmpDir, type Notebook } from "./support/helpers";
import { cellTagged, checkRunnerProgress, htmls } from "./support/notebook_checks";
import { tableRecords } from "./support/tables";

const EPOCHS = 2;
const SHOW_DIGITS = 8;
/** Test digits: more than evaluate's and predict's batch of 64, so that they show their progress. */
const TEST_IMAGES = 80;
/** The learning-rate finder's batches (section 5): fastai's least, 6 batches of 32, over the 102 training digits. */
const LR_FINDER_STEPS = 6;
const SMALL = {
  EPOCHS,
  TRAIN_IMAGES: 128,
  TEST_IMAGES,
  SHOW_DIGITS,
  BATCH_SIZE: 32,
  FINE_TUNE_EPOCHS: 1,
  LR_FINDER_STEPS,
};
/** Where the save cells write their .keras archives (a few hundred MB each). */
const SAVES = tmpDir("notebook-saves");
after(() => fs.rmSync(SAVES, { recursive: true, force: true }));
const saveTo = (name: string) => path.join(SAVES, `${name}.keras`);
const webModels = (name: string) => path.join(SAVES, `${name}-web`);

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

test("re-running the freeze and training cells with another depth updates the model and the comparison; the runner prints each cell and the progress of the finder, training, evaluate and predict", () => {
  const out = outDir("notebook-rerun");
  const file = path.join(out, "inception-rerun.ipynb");
  const params = Object.entries({
    ...SMALL,
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
  checkRunnerProgress(r.stderr, {
    epochs: EPOCHS,
    testImages: TEST_IMAGES,
    lrFinderSteps: LR_FINDER_STEPS,
    showDigits: SHOW_DIGITS,
  });
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
