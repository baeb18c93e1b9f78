/**
 * The draw-a-digit page (web/) in Debian's Chromium, driven by playwright-core, one browser for the
 * whole file. A quick InceptionV3 model (web/quick_model.ts, small: the format does not care) is
 * exported as float32, float16 and uint8 next to a broken copy; the page is built (web/build.ts)
 * and served (web/serve.ts) on 127.0.0.1. Then:
 *
 * - the page loads an exported model, says which backend it picked, and asks nothing of any other host;
 * - a 3 replayed as pen strokes (Chrome DevTools Protocol pointer events of type "pen"): the page's
 *   28×28 is exactly `mnistStyle` run in Node on the pad's own pixels, and the pad's ink lies where
 *   the strokes went (inside the pen's width, none outside it);
 * - the page's probabilities of the three classes it shows, for the float16 and uint8 exports (the
 *   float32 one predicts exactly what the model does: test/tfjs_export.test.ts), against TF.js in
 *   Node loading the same files and against `learner.predict`, within tolerances derived to first
 *   order (test/support/sensitivity.ts and the comment in the test); the files in Node against the
 *   learner's model with the weights the export decodes to, within float32 arithmetic's; TF.js's
 *   plain CPU backend in the page as well;
 * - undo and clear; a 7 drawn by touch on a phone-sized screen, with nothing wider than the screen;
 * - a model whose shard is missing: a clear message on the page, and the page still works.
 *
 * Screenshots go to out/test/web-demo/.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../src/tfjs/backend";
import { scaleImages } from "../src/data";
import { luminance, mnistStyle } from "../src/images/mnist_style";
import type { TfjsQuantization } from "../src/keras/saving/tfjs_export";
import { quantizationErrorBound } from "../src/keras/saving/tfjs_quantization";
import { buildPage } from "../web/build";
import { quickModel, type QuickModel } from "../web/quick_model";
import { servePage, type PageServer } from "../web/serve";
import { STROKE_WIDTH, type Point } from "../web/src/drawing";
import { predictDecoded } from "./support/decoded";
import { outDir, tmpDir } from "./support/helpers";
import { arithmeticDeltas, probabilitySensitivities } from "./support/sensitivity";
import { DIGIT_STROKES, strokeDistance } from "./support/strokes";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const LAPTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
const VARIANTS: readonly TfjsQuantization[] = [false, "float16", "uint8"];
const variantId = (q: TfjsQuantization) => `inception_v3-${q === false ? "float32" : q}`;
const BROKEN = "zz-broken";

const shots = outDir("web-demo");
const work = tmpDir("web-demo");
const modelsDir = path.join(work, "models");
let quick: QuickModel;
let server: PageServer;
let browser: Browser;
let laptop: BrowserContext;
let page: Page;
const requests: string[] = [];
const pageErrors: string[] = [];

/** What window.digitDemo.snapshot() returns (web/src/main.ts). */
interface Snapshot {
  backend?: { name: string; label: string; skipped: string[] };
  model?: string;
  loaded: boolean;
  loading: boolean;
  error?: string;
  version: number;
  strokes: Array<{ pointerType: string; points: number }>;
  timings?: { loadMs: number; firstRunMs: number };
  prediction?: {
    version: number;
    pixels: number[];
    probabilities: number[];
    top: Array<{ label: string; probability: number }>;
    milliseconds: number;
  };
}

const snapshot = (p: Page) =>
  p.evaluate(() => (window as unknown as { digitDemo: { snapshot(): Snapshot } }).digitDemo.snapshot());
const settled = (p: Page) =>
  p.evaluate(() => (window as unknown as { digitDemo: { settled(): Promise<void> } }).digitDemo.settled());
/** The pad's RGBA pixels, read back from the page. */
async function padPixels(p: Page): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { width, height, base64 } = await p.evaluate(() =>
    (
      window as unknown as { digitDemo: { padPixels(): { width: number; height: number; base64: string } } }
    ).digitDemo.padPixels(),
  );
  const data = new Uint8Array(Buffer.from(base64, "base64"));
  assert.equal(data.length, width * height * 4);
  return { width, height, data };
}

async function openPage(context: BrowserContext, query = ""): Promise<Page> {
  const p = await context.newPage();
  p.on("request", (r) => requests.push(r.url()));
  p.on("pageerror", (e) => pageErrors.push(e.message));
  const started = Date.now();
  await p.goto(server.url + query);
  await p.evaluate(() => (window as unknown as { digitDemo: { started: Promise<void> } }).digitDemo.started);
  const s = await snapshot(p);
  console.log(
    `opened ${query || "the page"} in ${Date.now() - started} ms: ${s.model} loaded in ${s.timings?.loadMs.toFixed(0)} ms, first run ${s.timings?.firstRunMs.toFixed(0)} ms`,
  );
  return p;
}

/** Chooses a model in the page and waits until it has loaded (or failed) and predicted the drawing. */
async function choose(p: Page, id: string): Promise<Snapshot> {
  await p.selectOption("#model", id);
  await p.waitForFunction(
    (want) => {
      const s = (window as unknown as { digitDemo: { snapshot(): Snapshot } }).digitDemo.snapshot();
      return s.model === want && !s.loading && (s.loaded || s.error !== undefined);
    },
    id,
    { timeout: 180_000 },
  );
  await settled(p);
  return snapshot(p);
}

/** Replays strokes (pad units) on the page's pad as pointer events of `pointerType`, through the DevTools protocol. */
async function replay(p: Page, strokes: Point[][], pointerType: "pen" | "mouse" | "touch"): Promise<void> {
  const started = Date.now();
  const box = (await p.locator("#pad").boundingBox())!;
  const at = (q: Point) => ({ x: box.x + q.x * box.width, y: box.y + q.y * box.height });
  const cdp = await p.context().newCDPSession(p);
  for (const stroke of strokes) {
    if (pointerType === "touch") {
      const points = stroke.map(at);
      await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [{ ...points[0], id: 1 }] });
      for (const q of points.slice(1))
        await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: [{ ...q, id: 1 }] });
      await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
      continue;
    }
    const [first, ...rest] = stroke.map(at);
    await cdp.send("Input.dispatchMouseEvent", {
      type: "mousePressed",
      ...first,
      button: "left",
      buttons: 1,
      clickCount: 1,
      pointerType,
      force: 0.5,
    });
    for (const q of rest)
      await cdp.send("Input.dispatchMouseEvent", {
        type: "mouseMoved",
        ...q,
        button: "left",
        buttons: 1,
        pointerType,
        force: 0.5,
      });
    await cdp.send("Input.dispatchMouseEvent", {
      type: "mouseReleased",
      ...rest[rest.length - 1],
      button: "left",
      buttons: 0,
      clickCount: 1,
      pointerType,
    });
  }
  await cdp.detach();
  const replayed = Date.now();
  await settled(p);
  console.log(
    `replayed ${strokes.length} ${pointerType} stroke(s) in ${replayed - started} ms, settled in ${Date.now() - replayed} ms`,
  );
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium is missing (${CHROMIUM}): apt-get install chromium`);
  const built = await buildPage(path.join(work, "page"));
  quick = await quickModel("inception_v3", { trainImages: 640, testImages: 100, epochs: 2, progress: false });
  console.log(`quick model: test accuracy ${quick.testAccuracy.toFixed(2)}, made in ${quick.seconds.toFixed(0)} s`);
  for (const quantize of VARIANTS)
    await quick.model.exportTfjs(path.join(modelsDir, variantId(quantize)), { quantize, note: quick.note });
  // A copy without one of its shards and without the project's metadata: listed under its folder name.
  fs.cpSync(path.join(modelsDir, variantId("uint8")), path.join(modelsDir, BROKEN), { recursive: true });
  const json = JSON.parse(fs.readFileSync(path.join(modelsDir, BROKEN, "model.json"), "utf8"));
  delete json.userDefinedMetadata;
  fs.writeFileSync(path.join(modelsDir, BROKEN, "model.json"), JSON.stringify(json));
  fs.rmSync(path.join(modelsDir, BROKEN, json.weightsManifest[0].paths[1]));
  server = await servePage({ pageDir: built.dir, modelsDir });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  laptop = await browser.newContext({ viewport: LAPTOP, deviceScaleFactor: 1 });
});

after(async () => {
  await browser?.close();
  await server?.close();
  quick?.model.dispose();
  fs.rmSync(work, { recursive: true, force: true });
});

test("the page loads an exported model, says which backend runs it, offers every export, and asks nothing of any other host", async () => {
  page = await openPage(laptop);
  const s = await snapshot(page);
  assert.equal(s.error, undefined, `the page says: ${s.error}`);
  assert.equal(s.loaded, true);
  assert.equal(s.model, variantId("float16"), "float16 is the default");
  assert.ok(s.backend && ["webgl", "wasm", "cpu"].includes(s.backend.name), `backend ${JSON.stringify(s.backend)}`);
  const shown = await page.locator("#backend").textContent();
  assert.equal(shown, s.backend!.label);
  console.log(
    `backend: ${s.backend!.label}${s.backend!.skipped.length ? ` (not ${s.backend!.skipped.join("; ")})` : ""}`,
  );
  const options = await page
    .locator("#model option")
    .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
  assert.deepEqual(options.sort(), [...VARIANTS.map(variantId), BROKEN].sort());
  assert.match((await page.locator("#model-note").textContent()) ?? "", /A quick model made by npm run demo/);
  assert.match(
    (await page.locator("#progress-text").textContent()) ?? "",
    /^InceptionV3 · float16 is ready \(loaded in [\d.]+ s\)\.$/,
  );
  // (WASM's worker threads start from blob: URLs of the page's own origin.)
  const own = (u: string) =>
    u.startsWith(server.url) || u.startsWith(`blob:${server.url.replace(/\/$/, "")}/`) || u.startsWith("data:");
  assert.deepEqual(
    requests.filter((u) => !own(u)),
    [],
    "every request goes to the page's own server",
  );
});

let drawn: { pixels: number[]; canvas: { width: number; height: number; data: Uint8Array } };

test("a 3 replayed as pen strokes: the page's 28×28 is mnistStyle of the pad's own pixels, and the ink lies where the strokes went", async () => {
  await replay(page, DIGIT_STROKES["3"], "pen");
  const s = await snapshot(page);
  assert.deepEqual(
    s.strokes.map((k) => k.pointerType),
    ["pen"],
    "the page saw one pen stroke",
  );
  assert.equal(s.prediction?.version, s.version, "the prediction is of the drawing as it is");
  const canvas = await padPixels(page);
  // The same code in Node on the same pixels: exactly the same digit.
  const inNode = mnistStyle(luminance(canvas.data, canvas.width, canvas.height, 4));
  assert.deepEqual(s.prediction!.pixels, Array.from(inNode.pixels));
  assert.ok(inNode.inverted, "dark ink on white: inverted to MNIST's white on black");
  // The pad itself: ink within the pen's width of the strokes (a pixel's margin for anti-aliasing and
  // for where the browser rounds the pointer's position), paper beyond it.
  const half = (STROKE_WIDTH * canvas.width) / 2;
  const strokes = DIGIT_STROKES["3"].map((k) => k.map((q) => ({ x: q.x * canvas.width, y: q.y * canvas.height })));
  let inside = 0;
  let outside = 0;
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width; x++) {
      const d = strokeDistance({ x: x + 0.5, y: y + 0.5 }, strokes);
      const grey = canvas.data[4 * (y * canvas.width + x)];
      if (d <= half - 1.5) {
        inside++;
        assert.ok(grey < 64, `pixel (${x}, ${y}), ${d.toFixed(1)} px from the stroke, is ${grey}: it should be ink`);
      } else if (d >= half + 1.5) {
        outside++;
        assert.equal(grey, 255, `pixel (${x}, ${y}), ${d.toFixed(1)} px from the stroke, should be paper`);
      }
    }
  }
  assert.ok(inside > 1000 && outside > 1000, `${inside} pixels inside the pen, ${outside} outside`);
  drawn = { pixels: s.prediction!.pixels, canvas };
  await page.screenshot({ path: path.join(shots, "laptop-3.png") });
});

test("the page's probabilities match TF.js in Node on the same files and learner.predict, within tolerances derived for float32 arithmetic and each quantization", async () => {
  // Tolerances, to first order in the weights: a change e_i of each weight moves the probability of
  // class k by Σ_i g_i e_i, g = ∂p_k/∂w (TF.js's gradient at this digit). The e_i are independent
  // and of mean zero, each within ±δ_i, so of standard deviation at most δ_i; over 24 million
  // weights the sum is normal (central limit theorem) with σ ≤ √(Σ g_i² δ_i²) (`rss`). A tolerance
  // is 6σ (a false alarm about once in 10^9).
  // - float32 arithmetic: any backend's float32 network equals the exact one with each weight moved
  //   by at most δ_i = γ(fan-in + 1)·|w_i| (backward error analysis; test/support/sensitivity.ts);
  //   two implementations: √2 of that.
  // - quantization: δ_i = quantizationErrorBound (float16: 2^-11 of the weight; uint8: half a step).
  // (The worst case, Σ|g_i|δ_i, exceeds 1 here: useless.) Measured on these digits: differences of
  // 0.001–0.66 σ. For uint8 that σ is wide (half a step of each weight's range moves a probability
  // far), so the export's decoding is also checked on its own: the files in Node against the
  // learner's model with the weights the export decodes to (predictDecoded), where only float32
  // arithmetic separates the two.
  const images = Uint8Array.from(drawn.pixels);
  const x = scaleImages(images);
  const model = quick.model.model;
  const learner = Array.from((await quick.model.predict({ images, count: 1 })).probabilities);
  // The three classes the page shows (the learner's top 3).
  const shown = learner
    .map((p, k) => ({ p, k }))
    .sort((a, b) => b.p - a.p)
    .slice(0, 3)
    .map((c) => c.k);
  const arithmetic = arithmeticDeltas(model);
  const quantized = (["float16", "uint8"] as const).map((q) =>
    model.getWeights().map((w) => tf.tensor(quantizationErrorBound(w.dataSync() as Float32Array, q), w.shape)),
  );
  const [arith, f16, u8] = probabilitySensitivities(model, x, [arithmetic, ...quantized], shown);
  tf.dispose([arithmetic, ...quantized].flat());
  const rows: string[] = [];
  let onWasmOrGl: number[] = [];
  for (const quantize of ["float16", "uint8"] as const) {
    const s = await choose(page, variantId(quantize));
    assert.equal(s.error, undefined, `${variantId(quantize)}: ${s.error}`);
    assert.deepEqual(s.prediction!.pixels, drawn.pixels, "the same drawing");
    const inPage = s.prediction!.probabilities;
    onWasmOrGl = inPage;
    const loaded = await tf.loadLayersModel(`file://${path.join(modelsDir, variantId(quantize), "model.json")}`);
    const inNode = Array.from(tf.tidy(() => (loaded.predict(x) as TF.Tensor).dataSync()));
    loaded.dispose();
    const q = quantize === "float16" ? f16 : u8;
    const decoded = Array.from(predictDecoded(model, x, quantize));
    shown.forEach((k, j) => {
      const sameFiles = 6 * Math.SQRT2 * arith[j].rss;
      assert.ok(
        Math.abs(inNode[k] - decoded[k]) <= sameFiles,
        `${variantId(quantize)}, class ${k}: TF.js in Node ${inNode[k]} vs the learner's model with the decoded weights ${decoded[k]}: more than ${sameFiles}`,
      );
      const toLearner = 6 * q[j].rss + sameFiles;
      const tag = `${variantId(quantize)}, class ${k}`;
      assert.ok(
        Math.abs(inPage[k] - inNode[k]) <= sameFiles,
        `${tag}: page ${inPage[k]} vs TF.js in Node ${inNode[k]}: more than ${sameFiles}`,
      );
      assert.ok(
        Math.abs(inNode[k] - learner[k]) <= toLearner,
        `${tag}: TF.js in Node ${inNode[k]} vs learner.predict ${learner[k]}: more than ${toLearner}`,
      );
      assert.ok(
        Math.abs(inPage[k] - learner[k]) <= toLearner + sameFiles,
        `${tag}: page ${inPage[k]} vs learner.predict ${learner[k]}`,
      );
      rows.push(
        `${tag}: learner ${learner[k].toFixed(4)}, page−Node ${(inPage[k] - inNode[k]).toExponential(1)} (tolerance ${sameFiles.toExponential(1)}), ` +
          `Node−decoded ${(inNode[k] - decoded[k]).toExponential(1)} (same tolerance), ` +
          `page−learner ${(inPage[k] - learner[k]).toExponential(1)} (tolerance ${(toLearner + sameFiles).toExponential(1)})`,
      );
    });
    // The top class, where no tolerance can swap the first two.
    const [first, second] = shown;
    const margin = learner[first] - learner[second];
    const room = 6 * q[0].rss + 6 * q[1].rss + 4 * 6 * Math.SQRT2 * Math.max(arith[0].rss, arith[1].rss);
    if (margin > room) assert.equal(s.prediction!.top[0].label, String(first), `${variantId(quantize)}: the top class`);
    rows.push(
      `${variantId(quantize)}: top class ${s.prediction!.top[0].label} (learner ${first}; ${margin > room ? "compared" : `not comparable: margin ${margin.toFixed(3)} < ${room.toFixed(3)}`})`,
    );
  }
  // TF.js's plain JavaScript backend in the page, on the uint8 export: the same drawing, the same probabilities.
  const cpu = await openPage(laptop, `?backend=cpu&model=${variantId("uint8")}`);
  await replay(cpu, DIGIT_STROKES["3"], "pen");
  const c = await snapshot(cpu);
  assert.equal(c.backend?.name, "cpu");
  assert.deepEqual(c.prediction!.pixels, drawn.pixels, "the same strokes make the same digit");
  shown.forEach((k, j) => {
    const tolerance = 6 * Math.SQRT2 * arith[j].rss;
    const v = c.prediction!.probabilities[k];
    assert.ok(
      Math.abs(v - onWasmOrGl[k]) <= tolerance,
      `class ${k}: ${v} on the CPU backend, ${onWasmOrGl[k]} on the first page's backend: more than ${tolerance}`,
    );
  });
  await cpu.close();
  x.dispose();
  console.log(rows.join("\n"));
});

test("undo takes the last stroke away and gives back the same pad and prediction; clear empties the pad", async () => {
  const before = await snapshot(page);
  const pixels = await padPixels(page);
  await replay(page, DIGIT_STROKES.stray, "mouse");
  const stray = await snapshot(page);
  assert.deepEqual(
    stray.strokes.map((k) => k.pointerType),
    ["pen", "mouse"],
  );
  assert.notDeepEqual(stray.prediction!.pixels, before.prediction!.pixels, "the stray line changes the digit");
  await page.click("#undo");
  await settled(page);
  const undone = await snapshot(page);
  assert.deepEqual((await padPixels(page)).data, pixels.data, "the pad is as before the stray line");
  assert.deepEqual(undone.prediction!.pixels, before.prediction!.pixels);
  assert.deepEqual(undone.prediction!.probabilities, before.prediction!.probabilities);
  await page.click("#clear");
  await settled(page);
  const cleared = await snapshot(page);
  assert.equal(cleared.strokes.length, 0);
  assert.deepEqual(cleared.prediction!.pixels, [], "a blank pad is no digit");
  assert.ok(
    (await padPixels(page)).data.every((v) => v === 255),
    "the pad is white again",
  );
  assert.equal(await page.locator("#bars .label").first().textContent(), "–");
  assert.equal(await page.locator("#undo").isDisabled(), true);
});

test("on a phone-sized screen a 7 drawn by touch is read, and nothing is wider than the screen", async () => {
  const phone = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  try {
    const p = await openPage(phone, `?model=${variantId("uint8")}`);
    await replay(p, DIGIT_STROKES["7"], "touch");
    const s = await snapshot(p);
    assert.equal(s.error, undefined);
    assert.deepEqual(
      s.strokes.map((k) => k.pointerType),
      ["touch", "touch"],
    );
    assert.equal(s.prediction?.probabilities.length, 10);
    const canvas = await padPixels(p);
    assert.deepEqual(
      s.prediction!.pixels,
      Array.from(mnistStyle(luminance(canvas.data, canvas.width, canvas.height, 4)).pixels),
    );
    const widths = await p.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      screen: window.innerWidth,
      pad: document.getElementById("pad")!.getBoundingClientRect().width,
    }));
    assert.ok(widths.page <= widths.screen, `the page is ${widths.page} px wide on a ${widths.screen} px screen`);
    assert.ok(widths.pad >= 0.6 * widths.screen * 0.8, `the pad is ${widths.pad} px wide`);
    await p.screenshot({ path: path.join(shots, "phone-7.png"), fullPage: true });
  } finally {
    await phone.close();
  }
});

test("a model that fails to load shows a clear message on the page, which keeps working", async () => {
  await replay(page, DIGIT_STROKES["3"], "pen");
  const s = await choose(page, BROKEN);
  assert.equal(s.loaded, false);
  const message = page.locator("#message");
  assert.equal(await message.isVisible(), true);
  const text = (await message.textContent()) ?? "";
  assert.match(
    text,
    /^The model “zz-broken” could not be loaded: its file group1-shard2of\d+\.bin could not be had \(HTTP 404 Not Found\)\. Choose another one, or export it again/,
  );
  assert.equal(text, s.error);
  assert.equal(await page.locator("#pad").isVisible(), true, "the page is not blank");
  await page.screenshot({ path: path.join(shots, "load-error.png") });
  const again = await choose(page, variantId("uint8"));
  assert.equal(again.error, undefined);
  assert.equal(await message.isVisible(), false);
  assert.equal(again.prediction?.probabilities.length, 10, "a working model reads the drawing again");
  assert.deepEqual(pageErrors, [], "no uncaught error in the page");
});
