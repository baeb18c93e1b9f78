/**
 * Both notebooks in a real browser: JupyterLab from the project's virtualenv, driven by Debian's
 * Chromium through playwright-core. Each notebook runs (Run > Run All Cells) at a small scale on a
 * dot-named copy in notebooks/ (the committed notebooks are never opened, let alone saved), and the
 * page is then checked: every cell ran, no error output, the plots, digit grid, progress displays
 * (training, evaluate, predict), comparison table and the own-digits figures are rendered, and the
 * save cell wrote its .keras archive (to a temporary folder, removed at the end) and reloaded it.
 * The notebook as JupyterLab holds it (nbformat, with every output) is then checked section by
 * section (test/support/notebook_checks.ts): this is the one end-to-end run of each notebook in the
 * suite. InceptionV3's runs as Keras's guide fine-tunes (augmentation, the second stage's batch
 * normalisation in inference mode) and asks for ImageNet weights that cannot be had: it must warn
 * visibly and go on. Screenshots go to out/test/browser/.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { ROOT, joined, outDir, tmpDir, type Notebook } from "./support/helpers";
import { KERNEL_NAME, startLab, type Lab } from "./support/lab";
import { OWN_DIGITS, checkNotebook, type SmallScale } from "./support/notebook_checks";

const CHROMIUM = "/usr/bin/chromium";
const NOTEBOOKS_DIR = path.join(ROOT, "notebooks");
const KERNEL_DISPLAY_NAME = "TypeScript (keras-transfer-ts)";
const SHOW_DIGITS = 8;
/** More than evaluate's and predict's batch of 64, so that they show their progress. */
const TEST_IMAGES = 128;
const TRAIN_IMAGES = 160;
/** fastai's least: each finder batch costs a training step, and a curve of six points checks the same. */
const LR_FINDER_STEPS = 6;
/**
 * The small scale: values as TypeScript source, for the parameters cell of the copies. Batches of 32
 * (the notebooks' default is Keras's 64): each of the finder's steps then costs half the digits, and
 * an epoch of the 128 training digits still runs 4 batches, with its progress display live.
 */
const PARAMETERS: Record<string, string> = {
  EPOCHS: "1",
  BATCH_SIZE: "32",
  TRAIN_IMAGES: String(TRAIN_IMAGES),
  TEST_IMAGES: String(TEST_IMAGES),
  WEIGHTS: '"random"',
  SHOW_DIGITS: String(SHOW_DIGITS),
  FINE_TUNE_EPOCHS: "1",
  LR_FINDER_STEPS: String(LR_FINDER_STEPS),
};
const SCALE: SmallScale = {
  epochs: 1,
  testImages: TEST_IMAGES,
  lrFinderSteps: LR_FINDER_STEPS,
  showDigits: SHOW_DIGITS,
};
/**
 * Keras's transfer-learning guide's fine-tuning (augmentation; the second stage's batch normalisation
 * in inference mode), with ImageNet weights asked for where they cannot be had: Keras's cache folder
 * (KERAS_HOME) empty, and a download address where nothing listens (KT_WEIGHTS_BASE_URL).
 */
const GUIDE: Record<string, string> = { AUGMENT: "true", FINE_TUNE_BATCH_NORM: '"inference"', WEIGHTS: '"imagenet"' };
const KERAS_HOME = tmpDir("browser-keras-home");
/** Where the save cells write their .keras archives (parameter SAVE_TO), never out/. */
const SAVES = tmpDir("browser-saves");
const saveTo = (name: string) => path.join(SAVES, `${name}.keras`);
/** Where the web cells export the models (parameter WEB_MODELS). */
const webModels = (name: string) => path.join(SAVES, `${name}-web`);
/** The notebooks' FINE_TUNE_FREEZE: the depth the model has when section 11 saves it, after the fine-tuning stage. */
const FINE_TUNE_FREEZE = 0;
/** Kernel start, all cells (model building, one epoch, evaluation, prediction, saving) on a busy 2-core machine. */
const RUN_TIMEOUT = 8 * 60_000;
const VIEWPORT = { width: 1280, height: 900 };

const NOTEBOOKS = [
  { name: "inception", model: "InceptionV3", base: "inception_v3", freeze: 64, trainable: "23,172,090", guide: true },
  { name: "xception", model: "Xception", base: "xception", freeze: 36, trainable: "21,808,618", guide: false },
];

let lab: Lab | undefined;
let browser: Browser | undefined;
let shots = "";
const copies: string[] = [];
const committed = new Map<string, string>();

const sha = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

/** notebooks/.browser-<name>.ipynb: the notebook with small parameters and no outputs. */
function makeCopy(name: string, guide: boolean): { file: string; nb: Notebook } {
  const nb = JSON.parse(fs.readFileSync(path.join(NOTEBOOKS_DIR, `${name}.ipynb`), "utf8")) as Notebook & {
    cells: { execution_count?: number | null }[];
  };
  const params = nb.cells.find((c) => c.cell_type === "code" && c.metadata.tags?.includes("parameters"));
  assert.ok(params, `${name}.ipynb has no cell tagged "parameters"`);
  let source = joined(params!.source);
  for (const [key, value] of Object.entries({
    ...PARAMETERS,
    ...(guide ? GUIDE : {}),
    SAVE_TO: JSON.stringify(saveTo(name)),
    WEB_MODELS: JSON.stringify(webModels(name)),
  })) {
    const re = new RegExp(`^(const ${key}\\b[^=]*=\\s*)[^;]*;`, "m");
    assert.match(source, re, `${name}.ipynb: the parameters cell does not declare ${key}`);
    source = source.replace(re, `$1${value};`);
  }
  params!.source = source.split(/(?<=\n)/);
  for (const c of nb.cells) {
    if (c.cell_type !== "code") continue;
    c.outputs = [];
    (c as { execution_count?: number | null }).execution_count = null;
  }
  const file = path.join(NOTEBOOKS_DIR, `.browser-${name}.ipynb`);
  copies.push(file);
  fs.writeFileSync(file, JSON.stringify(nb, null, 1) + "\n");
  return { file, nb };
}

function removeCopies(): void {
  for (const f of copies) fs.rmSync(f, { force: true });
}

interface ImageInfo {
  src: string;
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
  width: number;
  height: number;
}

interface OutputInfo {
  mime: string;
  text: string;
  html: string;
  images: ImageInfo[];
}

interface CellInfo {
  kind: "code" | "markdown" | "raw";
  prompt: string;
  source: string;
  outputs: OutputInfo[];
}

interface PageState {
  cells: CellInfo[];
  kernelName: string;
  kernelStatus: string;
}

/** What the page shows: every cell with its prompt, source and rendered outputs, and the kernel. */
async function pageState(page: Page): Promise<PageState> {
  return page.evaluate(() => {
    const panel = document.querySelector(".jp-NotebookPanel:not(.lm-mod-hidden)");
    if (!panel) return { cells: [], kernelName: "", kernelStatus: "" };
    const cells = Array.from(panel.querySelectorAll(".jp-Notebook .jp-Cell")).map((cell) => {
      const kind = cell.classList.contains("jp-CodeCell")
        ? "code"
        : cell.classList.contains("jp-MarkdownCell")
          ? "markdown"
          : "raw";
      const prompt = cell.querySelector(".jp-InputArea-prompt")?.textContent?.trim() ?? "";
      const source = Array.from(cell.querySelectorAll(".jp-InputArea-editor .cm-line"))
        .map((l) => l.textContent ?? "")
        .join("\n");
      const outputs = Array.from(cell.querySelectorAll(".jp-OutputArea-output")).map((o) => ({
        mime: o.getAttribute("data-mime-type") ?? "",
        text: (o as HTMLElement).innerText ?? "",
        html: o.innerHTML.length > 20000 ? o.innerHTML.slice(0, 20000) : o.innerHTML,
        images: Array.from(o.querySelectorAll("img")).map((img) => {
          const r = img.getBoundingClientRect();
          return {
            src: img.src,
            complete: img.complete,
            naturalWidth: img.naturalWidth,
            naturalHeight: img.naturalHeight,
            width: r.width,
            height: r.height,
          };
        }),
      }));
      return { kind, prompt, source, outputs } as const;
    });
    const kernelName = panel.querySelector(".jp-Toolbar-kernelName")?.textContent?.trim() ?? "";
    const kernelStatus = panel.querySelector(".jp-Notebook-ExecutionIndicator")?.getAttribute("data-status") ?? "";
    return { cells, kernelName, kernelStatus };
  }) as Promise<PageState>;
}

/** The SVG text behind an <img src="data:image/svg+xml…">. */
function svgOf(img: ImageInfo): string {
  const m = /^data:image\/svg\+xml(;base64)?,(.*)$/s.exec(img.src);
  if (!m) return "";
  return m[1] ? Buffer.from(m[2], "base64").toString("utf8") : decodeURIComponent(m[2]);
}

/** Waits for the notebook's kernel to be ours and idle; answers a kernel-selection dialog if one appears. */
async function ensureKernel(page: Page): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const dialog = page.locator(".jp-Dialog");
    if (await dialog.count()) {
      const select = dialog.locator("select");
      if (await select.count()) await select.first().selectOption(KERNEL_NAME);
      await dialog.locator("button.jp-mod-accept").first().click();
    }
    const s = await page.evaluate(() => {
      const app = (window as unknown as { jupyterapp?: any }).jupyterapp;
      const ctx = app?.shell?.currentWidget?.sessionContext;
      return { name: ctx?.session?.kernel?.name ?? "", status: ctx?.session?.kernel?.status ?? "" };
    });
    if (s.name && s.name !== KERNEL_NAME) {
      // Another kernel was picked (e.g. a default): switch to the project's.
      await page.evaluate((name) => {
        const app = (window as unknown as { jupyterapp: any }).jupyterapp;
        return app.shell.currentWidget.sessionContext.changeKernel({ name });
      }, KERNEL_NAME);
    } else if (s.name === KERNEL_NAME && s.status === "idle") {
      return;
    }
    if (Date.now() > deadline) throw new Error(`the kernel did not become ready: ${JSON.stringify(s)}`);
    await page.waitForTimeout(500);
  }
}

/** Run > Run All Cells, through the menu bar as a user would (it acts on the notebook in front). */
async function runAllCells(page: Page): Promise<void> {
  await page.locator(".lm-MenuBar-itemLabel", { hasText: /^Run$/ }).click();
  await page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel", { hasText: /^Run All Cells$/ }).click();
}

/**
 * Waits until the run is over: no "[*]" prompt left, the kernel idle, and at least one cell run.
 * (Run All Cells stops at a failing cell; the checks afterwards say which one.)
 */
async function waitForRun(page: Page, onProgress: (s: PageState) => Promise<void>): Promise<PageState> {
  const deadline = Date.now() + RUN_TIMEOUT;
  let settled = 0;
  for (;;) {
    const s = await pageState(page);
    await onProgress(s);
    const prompts = s.cells.filter((c) => c.kind === "code").map((c) => c.prompt);
    const running = prompts.some((p) => p.includes("*"));
    const ran = prompts.some((p) => /\[\d+\]/.test(p));
    settled = !running && ran && s.kernelStatus === "idle" ? settled + 1 : 0;
    if (settled >= 3) return s;
    if (Date.now() > deadline) {
      throw new Error(
        `the notebook did not finish in ${RUN_TIMEOUT / 1000} s; prompts: ${prompts.join(" ")}, kernel ${s.kernelStatus}`,
      );
    }
    await page.waitForTimeout(1000);
  }
}

/**
 * Seconds each code cell took (approximately), from the timing JupyterLab records in the cells' metadata. The kernel
 * reports "busy" for a request when it receives it, so with Run All Cells a cell's time is counted
 * from the end of the cell before it.
 */
async function cellTimings(page: Page): Promise<{ cell: string; seconds: number | null }[]> {
  return page.evaluate(() => {
    const app = (window as unknown as { jupyterapp: any }).jupyterapp;
    const cells = app.shell.currentWidget.content.model.cells;
    const out: { cell: string; seconds: number | null }[] = [];
    let previousEnd = -Infinity;
    for (let i = 0; i < cells.length; i++) {
      const c = cells.get(i);
      if (c.type !== "code") continue;
      const t = c.getMetadata("execution") ?? {};
      const start = Math.max(Date.parse(t["iopub.status.busy"] ?? ""), previousEnd);
      const end = Date.parse(t["iopub.status.idle"] ?? "");
      const tags: string[] = c.getMetadata("tags") ?? [];
      out.push({
        cell: tags[0] ?? c.sharedModel.getSource().split("\n")[0],
        seconds: Number.isFinite(end - start) ? (end - start) / 1000 : null,
      });
      if (Number.isFinite(end)) previousEnd = end;
    }
    return out;
  });
}

/** A screenshot of the whole notebook: the window made as tall as the notebook's content, scrolled to the top. */
async function fullScreenshot(page: Page, file: string): Promise<void> {
  const measure = () =>
    page.evaluate(() => {
      const outer = document.querySelector(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer",
      ) as HTMLElement | null;
      if (!outer) return 0;
      outer.scrollTop = 0;
      const below = window.innerHeight - outer.getBoundingClientRect().bottom;
      return Math.ceil(outer.getBoundingClientRect().top + outer.scrollHeight + below);
    });
  const height = Math.min(Math.max(await measure(), VIEWPORT.height), 16000);
  await page.setViewportSize({ width: VIEWPORT.width, height });
  await page.waitForTimeout(500);
  await measure();
  await page.waitForTimeout(200);
  await page.screenshot({ path: file });
  await page.setViewportSize(VIEWPORT);
  await page.waitForTimeout(300);
}

describe("the notebooks in JupyterLab, in Chromium", { timeout: 25 * 60_000 }, () => {
  before(async () => {
    shots = outDir("browser");
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is missing (${CHROMIUM}): install Debian's package (apt-get install chromium), as .ci/run does.`,
      );
    }
    for (const n of NOTEBOOKS) committed.set(n.name, sha(path.join(NOTEBOOKS_DIR, `${n.name}.ipynb`)));
    lab = await startLab({
      rootDir: NOTEBOOKS_DIR,
      logFile: path.join(shots, "jupyter.log"),
      env: { KERAS_HOME, KT_WEIGHTS_BASE_URL: "http://127.0.0.1:9/" },
    });
    // launch() gives the browser a fresh, temporary profile of its own.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--no-proxy-server",
        // Nothing but the local server resolves.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      ],
    });
  });

  after(async () => {
    try {
      await browser?.close();
    } finally {
      try {
        await lab?.stop();
      } finally {
        removeCopies();
        fs.rmSync(SAVES, { recursive: true, force: true });
        fs.rmSync(KERAS_HOME, { recursive: true, force: true });
      }
    }
    // The committed notebooks are exactly as before.
    for (const [name, hash] of committed)
      assert.equal(sha(path.join(NOTEBOOKS_DIR, `${name}.ipynb`)), hash, `${name}.ipynb was changed`);
  });

  for (const spec of NOTEBOOKS) {
    test(`${spec.name}.ipynb: Run All Cells renders every output without errors`, async () => {
      assert.ok(lab && browser, "JupyterLab or Chromium did not start");
      const { file, nb } = makeCopy(spec.name, spec.guide);
      const fileName = path.basename(file);
      const tagIndex = (tag: string) => {
        const i = nb.cells.findIndex((c) => c.metadata.tags?.includes(tag));
        assert.ok(i >= 0, `no cell tagged ${tag}`);
        return i;
      };
      const context = await browser!.newContext({ viewport: VIEWPORT, deviceScaleFactor: 1 });
      const page = await context.newPage();
      const consoleLines: string[] = [];
      page.on("console", (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
      page.on("pageerror", (e) => consoleLines.push(`[pageerror] ${e.message}`));
      try {
        // A workspace of its own, so nothing from another notebook's page is restored.
        await page.goto(`${lab!.base}/lab/workspaces/kt-${spec.name}/tree/${fileName}?token=${lab!.token}`, {
          timeout: 120_000,
        });
        await page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first().waitFor({ timeout: 120_000 });
        await page.waitForFunction(
          (n) => document.querySelectorAll(".jp-NotebookPanel .jp-Notebook .jp-Cell").length === n,
          nb.cells.length,
          {
            timeout: 60_000,
          },
        );
        // The file browser folded away: the notebook gets the page's width.
        await page.evaluate(() => {
          const app = (window as unknown as { jupyterapp: any }).jupyterapp;
          if (!app.shell.leftCollapsed) return app.commands.execute("application:toggle-left-area");
        });
        await ensureKernel(page);

        await runAllCells(page);
        let progressShot = false;
        const state = await waitForRun(page, async (s) => {
          // One look at the live progress display while training runs.
          const train = s.cells[tagIndex("train")];
          if (
            !progressShot &&
            train?.prompt.includes("*") &&
            train.outputs.some((o) => o.html.includes("kt-progress"))
          ) {
            progressShot = true;
            await page
              .locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
              .nth(tagIndex("train"))
              .screenshot({ path: path.join(shots, `${spec.name}-progress-live.png`) })
              .catch(() => undefined);
          }
        });
        fs.writeFileSync(path.join(shots, `${spec.name}-page.json`), JSON.stringify(state, null, 1));
        const timings = await cellTimings(page);
        fs.writeFileSync(path.join(shots, `${spec.name}-timings.json`), JSON.stringify(timings, null, 1));
        console.log(`${spec.name}: ${timings.map((t) => `${t.cell} ${t.seconds?.toFixed(1) ?? "?"} s`).join(", ")}`);
        await fullScreenshot(page, path.join(shots, `${spec.name}-full.png`));

        // The project's kernel ran it.
        assert.equal(state.kernelName, KERNEL_DISPLAY_NAME, "the toolbar names another kernel");
        const code = state.cells.filter((c) => c.kind === "code");
        const unrun = code.filter((c) => !/\[\d+\]/.test(c.prompt));
        const failing = code.find((c) => c.outputs.some((o) => o.mime.includes("stderr") || o.mime.includes("error")));
        assert.ok(
          !failing,
          `a cell shows an error:\n${failing?.source}\n---\n${failing?.outputs.map((o) => o.text).join("\n")}`,
        );
        assert.deepEqual(
          unrun.map((c) => c.source.split("\n")[0]),
          [],
          "cells that did not run (Run All Cells stops at a failing cell)",
        );
        const counts = code.map((c) => Number(/\[(\d+)\]/.exec(c.prompt)![1]));
        assert.deepEqual(
          counts,
          [...counts].sort((a, b) => a - b),
          "cells ran in order",
        );
        const cell = (tag: string) => {
          const c = state.cells[tagIndex(tag)];
          assert.equal(c.kind, "code");
          return c;
        };
        // Warnings: only the guide's run warns, under the build cell, that the ImageNet weights could not be had.
        const warned = spec.guide ? [cell("build")] : [];
        for (const c of state.cells) {
          for (const o of c.outputs)
            assert.doesNotMatch(o.text, /\bError\b|Traceback/, `an output mentions an error:\n${c.source}\n${o.text}`);
          if (!warned.includes(c))
            assert.ok(!c.outputs.some((o) => o.html.includes("kt-warning")), `a warning is shown:\n${c.source}`);
        }
        if (spec.guide) {
          const warning = page
            .locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            .nth(tagIndex("build"))
            .locator(".kt-warning");
          assert.ok(await warning.isVisible(), "the missing ImageNet weights' warning is not visible");
          assert.match(await warning.innerText(), /ImageNet weights could not be loaded/);
        }
        const images = (tag: string) => cell(tag).outputs.flatMap((o) => o.images);
        const assertShown = (img: ImageInfo, what: string) => {
          assert.ok(img.complete && img.naturalWidth > 0 && img.naturalHeight > 0, `${what}: the image did not load`);
          assert.ok(img.width > 50 && img.height > 50, `${what}: rendered at ${img.width}×${img.height}`);
        };

        // The import cell names the native backend.
        const backend = state.cells.find((c) => c.source.includes("describeBackend"));
        assert.match(backend?.outputs.map((o) => o.text).join("") ?? "", /native TensorFlow/);

        // Data: a digit, and the upsampling comparison.
        assert.match(
          cell("load-data")
            .outputs.map((o) => o.text)
            .join(""),
          new RegExp(`${TRAIN_IMAGES} training and ${TEST_IMAGES} test digits`),
        );
        assertShown(images("load-data")[0], "the training digit");
        assertShown(images("upsample")[0], "the upsampling figure");

        // The model, its layers and the freeze summary.
        assert.match(
          cell("build")
            .outputs.map((o) => o.text)
            .join(""),
          new RegExp(
            `${spec.model}: \\d+ layers, weights: random${spec.guide ? " \\(ImageNet weights unavailable\\)" : ""}`,
          ),
        );
        assert.ok(
          cell("layers").outputs.some((o) => o.html.includes("<table")),
          "the layer table is missing",
        );
        assert.match(
          cell("freeze")
            .outputs.map((o) => o.text)
            .join(""),
          new RegExp(`Trainable params: ${spec.trainable}`),
        );

        // Section 5: the learning-rate finder's plot, drawn, and its closing line.
        assertShown(images("lr-finder")[0], "the learning-rate finder's plot");
        assert.match(svgOf(images("lr-finder")[0]), /aria-label="Learning-rate finder"/);
        assert.match(
          cell("lr-finder")
            .outputs.map((o) => o.text)
            .join(""),
          /Learning-rate finder: \d+ batch.*Weights and optimizer restored\./,
        );
        assert.match(
          cell("lr-finder")
            .outputs.map((o) => o.text)
            .join(""),
          /suggested learning rate \(fastai's valley\)/,
        );

        // The progress display ended as "Done".
        const progress = cell("train").outputs.find((o) => o.html.includes("kt-progress"));
        assert.ok(progress, "no progress display under the training cell");
        assert.match(progress!.text, /Done/);
        assert.match(progress!.text, /1 of 1 epoch/);
        if (spec.guide)
          assert.match(
            progress!.text +
              cell("train")
                .outputs.map((o) => o.text)
                .join(""),
            /Data augmentation/,
          );

        // Two history plots, drawn.
        const history = images("history-plots");
        assert.equal(history.length, 2, "two history plots (accuracy, loss)");
        history.forEach((img, i) => assertShown(img, `history plot ${i + 1}`));
        for (const [i, metric] of ["accuracy", "loss"].entries()) {
          const svg = svgOf(history[i]);
          assert.match(svg, new RegExp(metric, "i"));
          // A dot per epoch for train and validation (EPOCHS is 1).
          const dots = /<g aria-label="dot"[^>]*>(.*?)<\/g>/s.exec(svg)?.[1] ?? "";
          assert.equal(
            (dots.match(/<circle\b/g) ?? []).length,
            2,
            `the ${metric} plot: one point each for train and validation`,
          );
        }

        // Evaluation: the printed score and the comparison table with this run.
        const evaluate = cell("evaluate");
        assert.match(
          evaluate.outputs.map((o) => o.text).join(""),
          new RegExp(`test accuracy [\\d.]+ on ${TEST_IMAGES} digits`),
        );
        const table = page
          .locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
          .nth(tagIndex("evaluate"))
          .locator("table.kt-comparison-table");
        assert.equal(await table.count(), 1, "the comparison table is missing");
        assert.ok(await table.isVisible(), "the comparison table is not visible");
        const rows = await table.locator("tbody tr").allInnerTexts();
        assert.equal(rows.length, 1, "one run in the comparison table");
        assert.match(rows[0], new RegExp(`\\b${spec.freeze}\\b`));
        assertShown(images("evaluate")[0], "the comparison plot");
        // evaluate and predict on more than a batch: their progress displays end with a closing line.
        const steps = (tag: string) => cell(tag).outputs.find((o) => o.html.includes("kt-steps"));
        assert.match(
          steps("evaluate")?.text ?? "",
          new RegExp(`Evaluated ${TEST_IMAGES} digits in [\\d.]+ s: loss [\\d.]+ · accuracy [\\d.]+`),
        );
        assert.match(steps("predict")?.text ?? "", new RegExp(`Predicted ${TEST_IMAGES} digits in [\\d.]+ s`));

        // The digit grid: SHOW_DIGITS digits with their labels.
        const grid = images("predict");
        assert.equal(grid.length, 1, "the digit grid is missing");
        assertShown(grid[0], "the digit grid");
        assert.equal((svgOf(grid[0]).match(/<image\b/g) ?? []).length, SHOW_DIGITS, "digits in the grid");
        const mistakes = images("mistakes");
        assert.ok(mistakes.length >= 1, "the confusion matrix is missing");
        mistakes.forEach((img, i) => assertShown(img, `mistakes figure ${i + 1}`));
        // Error analysis: the top losses drawn, the most confused pairs as a table (or the sentence saying there are none).
        const worst = images("top-losses");
        assert.equal(worst.length, 1, "the top-losses figure is missing");
        assertShown(worst[0], "the top-losses figure");
        assert.match(svgOf(worst[0]), /prediction \/ actual · loss · probability of the actual class/);
        const confused = cell("most-confused").outputs;
        assert.ok(
          confused.some((o) => /<table/.test(o.html) || /No pair of digits/.test(o.text)),
          "the most confused pairs are missing",
        );

        // The second fine-tuning stage: its history plot, and the comparison table with both runs.
        const stage2 = cell("fine-tune");
        assert.match(
          stage2.outputs.map((o) => o.text).join(""),
          /after fine-tuning: test loss [\d.]+, test accuracy [\d.]+/,
        );
        images("fine-tune").forEach((img, i) => assertShown(img, `fine-tuning figure ${i + 1}`));
        const stages = page
          .locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
          .nth(tagIndex("fine-tune"))
          .locator("table.kt-comparison-table");
        assert.ok(await stages.isVisible(), "the comparison table after fine-tuning is not visible");
        const stageRows = await stages.locator("tbody tr").allInnerTexts();
        assert.equal(stageRows.length, 2, "both stages in the comparison table");
        assert.match(
          stageRows[1],
          spec.guide ? /one cycle, peak 0\.00001.*run 1.*inference/s : /one cycle, peak 0\.00001.*run 1/s,
        );

        // 10. Your own digits: each sample photo with its top-3, drawn.
        const own = images("own-digits");
        assert.equal(own.length, OWN_DIGITS.length, "a figure per sample photo");
        own.forEach((img, i) => {
          assertShown(img, `own digit ${OWN_DIGITS[i][0]}`);
          const svg = svgOf(img);
          assert.match(svg, new RegExp(`aria-label="notebooks/digits/${OWN_DIGITS[i][0]}\\.png"`));
          assert.equal((svg.match(/<image\b/g) ?? []).length, 2, "the photo as read and the 28×28 digit");
        });
        const ownText = cell("own-digits")
          .outputs.map((o) => o.text)
          .join("\n");
        for (const [name] of OWN_DIGITS)
          assert.match(ownText, new RegExp(`notebooks/digits/${name}\\.png: \\d \\([\\d.]+%\\), \\d`));

        // Section 11: saved (after the fine-tuning stage, so at its depth) as a .keras archive, reloaded, the same classes.
        const saved = cell("save")
          .outputs.map((o) => o.text)
          .join("");
        assert.ok(saved.includes(`saved ${saveTo(spec.name)}: `), `the save cell printed no file:\n${saved}`);
        assert.match(saved, /: [\d.]+ MB in [\d.]+ s/);
        assert.ok(fs.statSync(saveTo(spec.name)).size > 80 * 2 ** 20, "the archive is too small");
        assert.match(saved, new RegExp(`reloaded: \\w+, the first ${FINE_TUNE_FREEZE} base layers frozen`));
        assert.match(
          saved,
          new RegExp(`classes of the first ${SHOW_DIGITS} test digits: .*\\(the same as the model in memory\\)`),
        );

        // Section 12: exported for the web page in three variants.
        const web = cell("web")
          .outputs.map((o) => o.text)
          .join("");
        for (const variant of ["float32", "float16", "uint8"])
          assert.ok(web.includes(`-${variant}: `), `the web cell printed no ${variant} export:\n${web}`);

        // Close-ups.
        const cellLocator = (tag: string) => page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(tagIndex(tag));
        const outputs = (tag: string) => cellLocator(tag).locator(".jp-OutputArea-output");
        await outputs("train")
          .first()
          .screenshot({ path: path.join(shots, `${spec.name}-progress.png`) });
        await outputs("history-plots")
          .nth(0)
          .screenshot({ path: path.join(shots, `${spec.name}-history-accuracy.png`) });
        await outputs("history-plots")
          .nth(1)
          .screenshot({ path: path.join(shots, `${spec.name}-history-loss.png`) });
        await cellLocator("evaluate")
          .locator(".jp-Cell-outputArea")
          .screenshot({ path: path.join(shots, `${spec.name}-evaluate.png`) });
        await cellLocator("predict")
          .locator(".jp-Cell-outputArea")
          .screenshot({ path: path.join(shots, `${spec.name}-digits.png`) });
        await cellLocator("fine-tune")
          .locator(".jp-Cell-outputArea")
          .screenshot({ path: path.join(shots, `${spec.name}-fine-tune.png`) });

        await outputs("own-digits")
          .filter({ has: page.locator("img") })
          .first()
          .screenshot({ path: path.join(shots, `${spec.name}-own-digit.png`) });
        await cellLocator("save").screenshot({ path: path.join(shots, `${spec.name}-save.png`) });

        // The notebook as JupyterLab holds it, section by section; the save and web cells' files checked, then removed.
        const executed = (await page.evaluate(() => {
          const app = (window as unknown as { jupyterapp: any }).jupyterapp;
          return app.shell.currentWidget.content.model.toJSON();
        })) as Notebook;
        fs.writeFileSync(path.join(shots, `${spec.name}-executed.ipynb`), JSON.stringify(executed, null, 1));
        checkNotebook(
          executed,
          SCALE,
          { file: saveTo(spec.name), base: spec.base, depth: FINE_TUNE_FREEZE, web: webModels(spec.name) },
          spec.guide,
        );
        if (spec.guide) {
          assert.deepEqual(
            fs
              .readdirSync(KERAS_HOME, { recursive: true })
              .filter((f) => !fs.statSync(path.join(KERAS_HOME, String(f))).isDirectory()),
            [],
            "nothing half-written in Keras's cache folder",
          );
        }
      } finally {
        fs.writeFileSync(path.join(shots, `${spec.name}-console.log`), consoleLines.join("\n") + "\n");
        await page.screenshot({ path: path.join(shots, `${spec.name}-last.png`) }).catch(() => undefined);
        // Shut the kernel down before the next notebook starts one.
        try {
          const sessions = (await (await lab!.api("GET", "/api/sessions")).json()) as { id: string; path: string }[];
          for (const s of sessions.filter((s) => s.path.endsWith(fileName)))
            await lab!.api("DELETE", `/api/sessions/${s.id}`);
        } catch {
          // the server's shutdown stops it anyway
        }
        await context.close();
        fs.rmSync(file, { force: true });
      }
    });
  }
});
