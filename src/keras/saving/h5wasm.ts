/**
 * h5wasm, the HDF5 library compiled to WebAssembly, loaded once (it is an ES module; this project
 * compiles to CommonJS), with HDF5's errors thrown as exceptions and shortened to one line.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type * as H5 from "h5wasm";

export type H5Module = typeof H5;
let h5Loading: Promise<H5Module> | undefined;

function h5wasmEntry(): string {
  // h5wasm's package.json exports "./node" for `import` only, so `require("h5wasm/node")`
  // fails; find the package folder along the usual node_modules paths instead.
  const dirs = [...(require.resolve.paths("h5wasm") ?? [])];
  for (let d = __dirname; ; d = path.dirname(d)) {
    dirs.push(path.join(d, "node_modules"));
    if (path.dirname(d) === d) break;
  }
  for (const d of dirs) {
    const entry = path.join(d, "h5wasm", "dist", "node", "hdf5_hl.js");
    if (fs.existsSync(entry)) return entry;
  }
  throw new Error('The npm package "h5wasm" is not installed (npm install h5wasm).');
}

/** Loads h5wasm once: `require()` of its ES module (Node >= 20.19), else a real dynamic `import()`. */
export function h5wasm(): Promise<H5Module> {
  if (!h5Loading) {
    h5Loading = (async () => {
      const entry = h5wasmEntry();
      let mod: H5Module;
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        mod = require(entry) as H5Module;
      } catch {
        // A `Function` keeps `import()` from being rewritten into `require()` by CommonJS compilers.
        // eslint-disable-next-line @typescript-eslint/no-implied-eval
        const dynamicImport = new Function("u", "return import(u)") as (u: string) => Promise<H5Module>;
        mod = await dynamicImport(pathToFileURL(entry).href);
      }
      await mod.ready;
      return mod;
    })();
    h5Loading.catch(() => {
      h5Loading = undefined;
    });
  }
  return h5Loading;
}

/** A one-line reason from an error, shortening HDF5's error stacks to their innermost message. */
export function describeError(e: unknown): string {
  const text =
    e instanceof Error ? e.message : typeof e === "string" ? e : String((e as { message?: unknown })?.message ?? e);
  const frames = [...text.matchAll(/#\d+: .*? in [\w.]+\(\): (.*)$/gm)];
  if (frames.length > 0) return `HDF5 error: ${frames[frames.length - 1][1].trim()}`;
  return text.split("\n")[0];
}

let throwingDepth = 0;

/** Runs `fn` with HDF5 errors thrown as exceptions (not printed to stderr and ignored). */
export function withH5Errors<T>(h5: H5Module, fn: () => T): T {
  if (throwingDepth++ === 0) h5.Module.activate_throwing_error_handler();
  try {
    return fn();
  } finally {
    if (--throwingDepth === 0) h5.Module.deactivate_throwing_error_handler();
  }
}
