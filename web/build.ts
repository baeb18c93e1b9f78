/**
 * Building the draw-a-digit page with esbuild: web/src/main.ts and everything it imports — the
 * library's own src/keras/layers.ts and src/images/mnist_style.ts among them — into one script,
 * next to index.html, style.css and TF.js's WASM binaries, in a folder any static server can serve.
 *
 *   out/web/index.html, style.css   copied from web/
 *   out/web/app.js (+ .map)         the bundle (ES2020, for browsers)
 *   out/web/wasm/*.wasm             @tensorflow/tfjs-backend-wasm's binaries (web/src/backends.ts)
 *
 * The one trick: the library's modules import `tf` from src/tfjs/backend.ts, the Node loader (it
 * picks tfjs-node). In the bundle that import resolves to web/src/tf.ts instead, which exports the
 * browser's `@tensorflow/tfjs` under the same name (`bundleAliases`). The library's code is bundled
 * as it is: the page's layer classes are the library's. The one Node global those modules read,
 * `process.env.KT_FUSED_KERNELS` (src/tfjs/native_ops.ts, whose fused kernels exist only on native
 * TensorFlow), is defined as absent.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { build, type Plugin } from "esbuild";

export const ROOT = path.resolve(__dirname, "..");
export const WEB = path.join(ROOT, "web");
/** Where `npm run demo` builds the page. */
export const DEFAULT_OUT = path.join(ROOT, "out", "web");

/** Module files the bundle takes from elsewhere: the Node TF.js loader → the page's (see above). */
export function bundleAliases(): Map<string, string> {
  return new Map([[path.join(ROOT, "src", "tfjs", "backend.ts"), path.join(WEB, "src", "tf.ts")]]);
}

function aliasPlugin(aliases: Map<string, string>): Plugin {
  return {
    name: "node-loader-to-browser",
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, (args) => {
        const resolved = path.resolve(args.resolveDir, args.path);
        for (const candidate of [resolved, `${resolved}.ts`]) {
          const to = aliases.get(candidate);
          if (to) return { path: to };
        }
        return undefined;
      });
    },
  };
}

export interface BuiltPage {
  dir: string;
  /** app.js's size in bytes. */
  scriptBytes: number;
  seconds: number;
}

/** Builds the page into `outDir` (replacing what an earlier build put there). */
export async function buildPage(outDir = DEFAULT_OUT, options: { minify?: boolean } = {}): Promise<BuiltPage> {
  const started = Date.now();
  fs.mkdirSync(path.join(outDir, "wasm"), { recursive: true });
  const result = await build({
    entryPoints: [path.join(WEB, "src", "main.ts")],
    bundle: true,
    outfile: path.join(outDir, "app.js"),
    platform: "browser",
    format: "iife",
    target: "es2020",
    minify: options.minify ?? true,
    sourcemap: true,
    logLevel: "silent",
    plugins: [aliasPlugin(bundleAliases())],
    define: { "process.env.KT_FUSED_KERNELS": "undefined" },
    // TF.js's packages name Node modules in code paths browsers never take.
    external: ["fs", "path", "crypto", "worker_threads", "perf_hooks", "os", "util"],
  });
  if (result.errors.length > 0) throw new Error(`esbuild: ${result.errors.map((e) => e.text).join("; ")}`);
  for (const file of ["index.html", "style.css"]) fs.copyFileSync(path.join(WEB, file), path.join(outDir, file));
  const wasmDir = path.join(ROOT, "node_modules", "@tensorflow", "tfjs-backend-wasm", "dist");
  for (const file of fs.readdirSync(wasmDir).filter((f) => f.endsWith(".wasm")))
    fs.copyFileSync(path.join(wasmDir, file), path.join(outDir, "wasm", file));
  return {
    dir: outDir,
    scriptBytes: fs.statSync(path.join(outDir, "app.js")).size,
    seconds: (Date.now() - started) / 1000,
  };
}

if (require.main === module) {
  buildPage(process.argv[2] ? path.resolve(process.argv[2]) : DEFAULT_OUT).then(
    (b) =>
      console.log(
        `Built the page into ${path.relative(process.cwd(), b.dir) || "."} ` +
          `(app.js ${(b.scriptBytes / 2 ** 20).toFixed(1)} MB) in ${b.seconds.toFixed(1)} s.`,
      ),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
