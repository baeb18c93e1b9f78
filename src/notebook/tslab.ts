/**
 * The tslab kernel, seen from the library: whether code runs in it, and its display functions.
 *
 * How the kernel is detected: tslab's kernel loads its `tslab/dist/jupyter.js`
 * module, which holds `lastWriteDisplayData`, the sink that `tslab.display`
 * writes to; it is set as soon as the kernel executes a cell. We look for that
 * module among the modules already loaded (`require.cache`), so nothing is
 * loaded outside a kernel, and check that the sink is set.
 *
 * `tslab()` is the one place that requires tslab (only call it when `inKernel()`).
 *
 * `newLiveDisplay()` is a display updated in place whose every update carries HTML for the notebook
 * and a plain-text form of it (`text/plain`), which the headless runner (kernel-setup/run_notebook.py)
 * prints in the terminal while the cell runs; tslab's own displays send one MIME type each.
 */
import { randomBytes } from "node:crypto";

type DisplaySink = (content: DisplayContent, update: boolean) => void;

/** What a display_data / update_display_data message carries (Jupyter's messaging protocol). */
interface DisplayContent {
  data: Record<string, string>;
  metadata: Record<string, unknown>;
  transient: { display_id: string };
}
interface TslabJupyterModule {
  lastWriteDisplayData: DisplaySink | null;
}

/** What `require("tslab")` gives inside the kernel (the part used here). */
interface TslabDisplay {
  html(s: string): void;
  svg(s: string): void;
  markdown(s: string): void;
}
export interface TslabModule {
  display: TslabDisplay;
}

const JUPYTER_MODULE = /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/;
let jupyterModule: TslabJupyterModule | undefined;

function findJupyterModule(): TslabJupyterModule | undefined {
  if (jupyterModule) return jupyterModule;
  const cache = require.cache;
  if (!cache) return undefined;
  for (const key of Object.keys(cache)) {
    if (JUPYTER_MODULE.test(key)) {
      const loaded = cache[key]?.exports as Partial<TslabJupyterModule> | undefined;
      if (loaded && "lastWriteDisplayData" in loaded) {
        jupyterModule = loaded as TslabJupyterModule;
        return jupyterModule;
      }
    }
  }
  return undefined;
}

/** True when running in a tslab Jupyter kernel that can display rich output now. */
export function inKernel(): boolean {
  return typeof findJupyterModule()?.lastWriteDisplayData === "function";
}

/** tslab's module, for its display functions (inside the kernel). */
export function tslab(): TslabModule {
  // Inside the kernel, tslab hooks require("tslab") to its own, already loaded, instance.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("tslab") as TslabModule;
}

/**
 * The metadata key of live displays: `{ "keras-transfer-ts": { live: "running" | "done" } }`. The
 * headless runner prints the `text/plain` of such displays as they change: every line but the last
 * as soon as it appears, the last one (the current state) now and then, and all of it once "done".
 */
const LIVE_DISPLAY_KEY = "keras-transfer-ts";

/** A display updated in place (see `newLiveDisplay`). */
export interface LiveDisplay {
  /**
   * Shows `html` in the notebook, with `text` as its plain-text form: finished lines first, the
   * current state last. `done` marks the last update.
   */
  update(html: string, text: string, done?: boolean): void;
}

/** A new display, updated in place, whose updates carry HTML and plain text (only call it when `inKernel()`). */
export function newLiveDisplay(): LiveDisplay {
  const id = randomBytes(8).toString("hex");
  let shown = false;
  return {
    update(html, text, done = false) {
      // The sink of the cell running now (tslab replaces it at each execution), as tslab's own displays do.
      const sink = findJupyterModule()?.lastWriteDisplayData;
      if (typeof sink !== "function") return;
      sink(
        {
          data: { "text/html": html, "text/plain": text },
          metadata: { [LIVE_DISPLAY_KEY]: { live: done ? "done" : "running" } },
          transient: { display_id: id },
        },
        shown,
      );
      shown = true;
    },
  };
}
