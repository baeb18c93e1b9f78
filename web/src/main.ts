/**
 * The draw-a-digit page: a pad to draw on (pointer events: mouse, touch, pen; undo, clear), the
 * drawing made MNIST-style by the library's own `mnistStyle` (./digit.ts) with its 28×28 preview,
 * the model's three most probable classes as bars, updated while drawing, and a choice among the
 * exported models (./catalog.ts), with loading progress, the backend in use and the inference time.
 *
 * The model is the tutorial's, exported by `learner.exportTfjs`; importing src/keras/layers.ts and
 * src/keras/preprocessing/layers.ts (the augmentation layers of a model built with `augment`)
 * registers the project's layer classes with the page's TF.js (./tf.ts) before any model loads.
 *
 * For tests and the curious, `window.digitDemo` tells the page's state (`snapshot()`), gives the
 * pad's pixels (`padPixels()`) and resolves `settled()` once the current drawing is predicted.
 */
import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import "../../src/keras/layers";
import "../../src/keras/preprocessing/layers";
import { formatBytes } from "../../src/util/format";
import { backendOrder, chooseBackend, type ChosenBackend } from "./backends";
import { entryTitle, trainingText, type Catalog, type CatalogEntry } from "./catalog";
import { canvasDigit, topClasses, type RankedClass } from "./digit";
import { drawStrokes, Pad, type Point } from "./drawing";
import { tf } from "./tf";

const CLASSES = Array.from({ length: 10 }, (_, i) => String(i));

function element<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`The page has no #${id}.`);
  return el as T;
}

const ui = {
  pad: element<HTMLCanvasElement>("pad"),
  undo: element<HTMLButtonElement>("undo"),
  clear: element<HTMLButtonElement>("clear"),
  hint: element<HTMLElement>("pad-hint"),
  preview: element<HTMLCanvasElement>("preview"),
  bars: element<HTMLOListElement>("bars"),
  model: element<HTMLSelectElement>("model"),
  note: element<HTMLElement>("model-note"),
  progress: element<HTMLProgressElement>("progress"),
  progressText: element<HTMLElement>("progress-text"),
  message: element<HTMLElement>("message"),
  backend: element<HTMLElement>("backend"),
  backendNote: element<HTMLElement>("backend-note"),
  timing: element<HTMLElement>("timing"),
  size: element<HTMLElement>("size"),
};

/** What the page has predicted last, of which drawing (the pad's version) with which model. */
interface Prediction {
  version: number;
  /** `modelGeneration` when it was made. */
  model: number;
  /** The 28×28 grey levels (0–255) the model was given; empty when the pad was blank. */
  pixels: number[];
  probabilities: number[];
  top: RankedClass[];
  milliseconds: number;
}

const state = {
  backend: undefined as ChosenBackend | undefined,
  catalog: undefined as Catalog | undefined,
  entry: undefined as CatalogEntry | undefined,
  model: undefined as LayersModel | undefined,
  loading: false,
  error: undefined as string | undefined,
  prediction: undefined as Prediction | undefined,
  busy: false,
  /** How long the current model took to load, and its first run (ms). */
  timings: undefined as { loadMs: number; firstRunMs: number } | undefined,
};
const pad = new Pad();
/** Counts the models loaded (or failed), so that a prediction can say which it was made with. */
let modelGeneration = 0;
let waiting: Array<() => void> = [];

/** Whether the last prediction is of the drawing as it is, with the model as it is. */
function upToDate(): boolean {
  return state.prediction?.version === pad.version && state.prediction.model === modelGeneration;
}

// ---------------------------------------------------------------------------
// Messages and status
// ---------------------------------------------------------------------------

function showMessage(text: string | undefined): void {
  state.error = text;
  ui.message.textContent = text ?? "";
  ui.message.hidden = text === undefined;
}

function showProgress(fraction: number | undefined, text: string): void {
  ui.progress.hidden = fraction === undefined;
  if (fraction !== undefined) ui.progress.value = fraction;
  ui.progressText.textContent = text;
}

// ---------------------------------------------------------------------------
// The pad
// ---------------------------------------------------------------------------

/**
 * Keeps the canvas's pixels at its shown size × the screen's pixel ratio (at most 640: sharp enough
 * for a pen stroke, and `mnistStyle` reads every pixel at each prediction), and draws.
 */
function fitPad(): void {
  const rect = ui.pad.getBoundingClientRect();
  const size = Math.min(640, Math.max(56, Math.round(rect.width * (window.devicePixelRatio || 1))));
  if (ui.pad.width !== size || ui.pad.height !== size) {
    ui.pad.width = size;
    ui.pad.height = size;
  }
  redraw();
}

function redraw(): void {
  const ctx = ui.pad.getContext("2d", { willReadFrequently: true });
  if (!ctx) return;
  drawStrokes(ctx, pad.strokes, ui.pad.width, ui.pad.height);
  ui.hint.hidden = pad.strokes.length > 0;
  ui.undo.disabled = pad.strokes.length === 0;
  ui.clear.disabled = pad.strokes.length === 0;
}

function padPoint(e: PointerEvent): Point {
  const rect = ui.pad.getBoundingClientRect();
  return { x: (e.clientX - rect.left) / rect.width, y: (e.clientY - rect.top) / rect.height };
}

let activePointer: number | undefined;
let frame = 0;
let predictTimer = 0;
/** When the last prediction ended, and how long it took (ms), to pace predictions while drawing. */
let lastPredictionEnd = 0;
let lastPredictionCost = 0;

/** Draws at the next frame (many pointer events can come between two frames), then predicts. */
function scheduleUpdate(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    redraw();
    schedulePrediction();
  });
}

/**
 * Predicts soon: at once when the pen is up; while drawing, no sooner than 150 ms, or as long as the
 * last prediction took, after the last one ended. A prediction holds the page's thread (WASM and
 * the CPU backend compute synchronously): paced so, drawing stays smooth on a slow device and the
 * bars still follow the pen.
 */
function schedulePrediction(): void {
  if (predictTimer) return;
  const wait = pad.drawing ? Math.max(0, lastPredictionEnd + Math.max(150, lastPredictionCost) - performance.now()) : 0;
  predictTimer = window.setTimeout(() => {
    predictTimer = 0;
    void predictNow();
  }, wait);
}

ui.pad.addEventListener("pointerdown", (e) => {
  if (activePointer !== undefined || (e.pointerType === "mouse" && e.button !== 0)) return;
  activePointer = e.pointerId;
  ui.pad.setPointerCapture(e.pointerId);
  pad.begin(padPoint(e), e.pointerType || "mouse");
  e.preventDefault();
  scheduleUpdate();
});
ui.pad.addEventListener("pointermove", (e) => {
  if (e.pointerId !== activePointer) return;
  const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
  pad.extend((events.length > 0 ? events : [e]).map(padPoint));
  e.preventDefault();
  scheduleUpdate();
});
for (const type of ["pointerup", "pointercancel"] as const) {
  ui.pad.addEventListener(type, (e) => {
    if (e.pointerId !== activePointer) return;
    activePointer = undefined;
    pad.end();
    scheduleUpdate();
  });
}
ui.undo.addEventListener("click", () => {
  if (pad.undo()) scheduleUpdate();
});
ui.clear.addEventListener("click", () => {
  pad.clear();
  scheduleUpdate();
});
window.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "z") {
    if (pad.undo()) scheduleUpdate();
    e.preventDefault();
  }
});
new ResizeObserver(() => fitPad()).observe(ui.pad);

// ---------------------------------------------------------------------------
// Preprocessing and prediction
// ---------------------------------------------------------------------------

function padPixels(): { width: number; height: number; data: Uint8ClampedArray } {
  const ctx = ui.pad.getContext("2d", { willReadFrequently: true })!;
  const image = ctx.getImageData(0, 0, ui.pad.width, ui.pad.height);
  return { width: image.width, height: image.height, data: image.data };
}

function showPreview(pixels: ArrayLike<number>): void {
  const ctx = ui.preview.getContext("2d")!;
  const image = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = pixels.length === 784 ? pixels[i] : 0;
    image.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
}

function showBars(top: RankedClass[]): void {
  const rows = Array.from(ui.bars.children) as HTMLElement[];
  rows.forEach((row, i) => {
    const c = top[i];
    row.querySelector(".label")!.textContent = c ? c.label : "–";
    const percent = c ? c.probability * 100 : 0;
    (row.querySelector(".fill") as HTMLElement).style.width = `${percent.toFixed(1)}%`;
    row.querySelector(".value")!.textContent = c ? `${percent < 10 ? percent.toFixed(1) : percent.toFixed(0)} %` : "";
    row.setAttribute("aria-label", c ? `${c.label}: ${percent.toFixed(1)} percent` : "no prediction");
  });
}

/** Makes the current drawing MNIST-style, shows it, and classifies it with the loaded model. */
async function predictNow(): Promise<void> {
  if (state.busy) return;
  state.busy = true;
  const started = performance.now();
  try {
    for (;;) {
      const version = pad.version;
      const generation = modelGeneration;
      const { width, height, data } = padPixels();
      const digit = canvasDigit(data, width, height);
      showPreview(digit ? digit.pixels : []);
      if (!digit) {
        state.prediction = { version, model: generation, pixels: [], probabilities: [], top: [], milliseconds: 0 };
        showBars([]);
      } else if (state.model) {
        const model = state.model;
        const x = tf.tensor4d(
          Float32Array.from(digit.pixels, (v) => v / 255),
          [1, 28, 28, 1],
        );
        const inferenceStarted = performance.now();
        const y = model.predict(x) as Tensor;
        const probabilities = Array.from(await y.data());
        const milliseconds = performance.now() - inferenceStarted;
        tf.dispose([x, y]);
        const top = topClasses(probabilities, CLASSES, 3);
        state.prediction = {
          version,
          model: generation,
          pixels: Array.from(digit.pixels),
          probabilities,
          top,
          milliseconds,
        };
        showBars(top);
        ui.timing.textContent = `${milliseconds.toFixed(milliseconds < 10 ? 1 : 0)} ms`;
      } else {
        state.prediction = {
          version,
          model: generation,
          pixels: Array.from(digit.pixels),
          probabilities: [],
          top: [],
          milliseconds: 0,
        };
        showBars([]);
      }
      // Strokes drawn or a model loaded meanwhile: once more (while drawing, at the pace above).
      if (upToDate() || pad.drawing) break;
    }
  } catch (e) {
    showMessage(`The prediction failed: ${e instanceof Error ? e.message : String(e)}`);
    // Not tried again until the drawing or the model changes.
    state.prediction = {
      version: pad.version,
      model: modelGeneration,
      pixels: [],
      probabilities: [],
      top: [],
      milliseconds: 0,
    };
  } finally {
    state.busy = false;
    lastPredictionEnd = performance.now();
    lastPredictionCost = lastPredictionEnd - started;
    if (!upToDate()) schedulePrediction();
    const done = waiting;
    waiting = [];
    for (const resolve of done) resolve();
  }
}

// ---------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------

/** What the page says about a model: the note it was exported with, else how it was trained. */
function describe(entry: CatalogEntry): string {
  return entry.metadata?.note ?? trainingText(entry.metadata);
}

async function loadCatalog(): Promise<Catalog> {
  const response = await fetch("models/index.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`the list of models (models/index.json) could not be had: HTTP ${response.status}`);
  return (await response.json()) as Catalog;
}

function fillChoice(catalog: Catalog): void {
  ui.model.replaceChildren();
  const groups = new Map<string, HTMLOptGroupElement>();
  for (const entry of catalog.models) {
    const group = entry.metadata?.title ?? "Other models";
    if (!groups.has(group)) {
      const g = document.createElement("optgroup");
      g.label = group;
      groups.set(group, g);
      ui.model.append(g);
    }
    const option = document.createElement("option");
    option.value = entry.id;
    option.textContent = `${entryTitle(entry.id, entry.metadata)} · ${formatBytes(entry.bytes)}`;
    groups.get(group)!.append(option);
  }
  ui.model.disabled = catalog.models.length === 0;
}

/** The model asked for in the address (`?model=`), else the first float16 one, else the first. */
function defaultEntry(catalog: Catalog): CatalogEntry | undefined {
  const asked = new URLSearchParams(location.search).get("model");
  return (
    catalog.models.find((m) => m.id === asked) ??
    catalog.models.find((m) => m.metadata?.quantize === "float16") ??
    catalog.models[0]
  );
}

/**
 * `fetch` for TF.js's loader, noting the files the server does not have: TF.js would read an error
 * page as weights and fail later with a message about tensor sizes (and throwing here instead leaves
 * TF.js's progress bookkeeping with an unhandled rejection). The notes name the missing file.
 */
function checkedFetch(missing: string[]): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (!response.ok) {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      const file = decodeURIComponent(new URL(url, location.href).pathname.split("/").pop() ?? url);
      missing.push(
        `its file ${file} could not be had ` +
          `(HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}).`,
      );
    }
    return response;
  };
}

let loadCount = 0;

async function loadModel(entry: CatalogEntry): Promise<void> {
  const mine = ++loadCount;
  state.loading = true;
  state.entry = entry;
  showMessage(undefined);
  ui.note.textContent = describe(entry);
  ui.size.textContent = formatBytes(entry.bytes);
  ui.timing.textContent = "—";
  showProgress(0, `Loading ${entryTitle(entry.id, entry.metadata)}…`);
  const missing: string[] = [];
  const previous = state.model;
  state.model = undefined;
  modelGeneration++;
  previous?.dispose();
  try {
    const loadStarted = performance.now();
    const model = await tf.loadLayersModel(entry.url, {
      fetchFunc: checkedFetch(missing),
      onProgress: (f) => {
        if (mine === loadCount)
          showProgress(f, `Loading ${entryTitle(entry.id, entry.metadata)}… ${Math.round(f * 100)} %`);
      },
    });
    if (mine !== loadCount) {
      model.dispose();
      return;
    }
    if (missing.length > 0) {
      model.dispose();
      throw new Error(missing[0]);
    }
    const loaded = performance.now();
    // A first run compiles the backend's kernels (WebGL shaders), so that the time shown is the model's.
    tf.tidy(() => (model.predict(tf.zeros([1, 28, 28, 1])) as Tensor).dataSync());
    state.timings = { loadMs: loaded - loadStarted, firstRunMs: performance.now() - loaded };
    state.model = model;
    modelGeneration++;
    showProgress(
      undefined,
      `${entryTitle(entry.id, entry.metadata)} is ready (loaded in ${(state.timings.loadMs / 1000).toFixed(1)} s).`,
    );
  } catch (e) {
    if (mine !== loadCount) return;
    const message = (missing[0] ?? (e instanceof Error ? e.message : String(e))).trim();
    const reason = /[.!?)]$/.test(message) ? message : `${message}.`;
    showProgress(undefined, "");
    showMessage(
      `The model “${entryTitle(entry.id, entry.metadata)}” could not be loaded: ${reason} ` +
        `Choose another one, or export it again (learner.exportTfjs in the notebooks' section 12, or npm run demo).`,
    );
  } finally {
    if (mine === loadCount) state.loading = false;
  }
  if (mine === loadCount) await predictNow();
}

ui.model.addEventListener("change", () => {
  const entry = state.catalog?.models.find((m) => m.id === ui.model.value);
  if (entry) void loadModel(entry);
});

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

async function start(): Promise<void> {
  fitPad();
  showBars([]);
  showPreview([]);
  try {
    showProgress(undefined, "Starting TensorFlow.js…");
    state.backend = await chooseBackend(backendOrder(location.search));
    ui.backend.textContent = state.backend.label;
    ui.backendNote.textContent = state.backend.skipped.map((s) => `Not ${s}.`).join(" ");
    state.catalog = await loadCatalog();
  } catch (e) {
    showProgress(undefined, "");
    showMessage(`The page could not start: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  fillChoice(state.catalog);
  const entry = defaultEntry(state.catalog);
  if (!entry) {
    showProgress(undefined, "");
    showMessage(
      `No exported models were found (${state.catalog.source}). ` +
        `Export one with learner.exportTfjs (the notebooks' section 12), or run npm run demo.`,
    );
    return;
  }
  ui.model.value = entry.id;
  await loadModel(entry);
}

const started = start();

declare global {
  interface Window {
    digitDemo: unknown;
  }
}

window.digitDemo = {
  /** Resolves once the page has started (a model loaded, or a message shown). */
  started,
  snapshot: () => ({
    backend: state.backend,
    model: state.entry?.id,
    loaded: state.model !== undefined,
    loading: state.loading,
    error: state.error,
    version: pad.version,
    strokes: pad.strokes.map((s) => ({ pointerType: s.pointerType, points: s.points.length })),
    prediction: state.prediction,
    timings: state.timings,
  }),
  /** The pad's RGBA pixels, base64 (a string crosses to a test driver far faster than a long array). */
  padPixels: () => {
    const p = padPixels();
    let binary = "";
    for (let i = 0; i < p.data.length; i += 0x8000) binary += String.fromCharCode(...p.data.subarray(i, i + 0x8000));
    return { width: p.width, height: p.height, base64: btoa(binary) };
  },
  /** Resolves once the drawing as it is now has been predicted. */
  settled: async () => {
    for (;;) {
      if (!state.busy && !frame && !predictTimer && upToDate()) return;
      if (!state.busy && !frame && !predictTimer) await predictNow();
      else await new Promise<void>((resolve) => (state.busy ? waiting.push(resolve) : setTimeout(resolve, 20)));
    }
  },
};
