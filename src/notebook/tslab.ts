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
 */

type DisplaySink = (data: unknown, update: boolean) => void;
interface TslabJupyterModule {
  lastWriteDisplayData: DisplaySink | null;
}

/** What `require("tslab")` gives inside the kernel (the part used here). */
export interface TslabDisplay {
  html(s: string): void;
  svg(s: string): void;
  markdown(s: string): void;
  text(s: string): void;
}
export interface TslabModule {
  display: TslabDisplay;
  newDisplay(): TslabDisplay;
}

const JUPYTER_MODULE = /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/;
let jupyterModule: TslabJupyterModule | undefined;
let mode: "auto" | "terminal" = "auto";

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

/**
 * True when running in a tslab Jupyter kernel that can display rich output
 * now (and `setDisplayMode("terminal")` was not called).
 */
export function inKernel(): boolean {
  if (mode === "terminal") return false;
  return typeof findJupyterModule()?.lastWriteDisplayData === "function";
}

/** "terminal": behave as outside a notebook even in the kernel (figures to files, plain text); "auto" (default): detect. */
export function setDisplayMode(m: "auto" | "terminal"): void {
  if (m !== "auto" && m !== "terminal") throw new Error(`display mode must be "auto" or "terminal", got ${JSON.stringify(m)}.`);
  mode = m;
}

/** tslab's module, for its display functions (inside the kernel). */
export function tslab(): TslabModule {
  // Inside the kernel, tslab hooks require("tslab") to its own, already loaded, instance.
  return require("tslab") as TslabModule;
}
