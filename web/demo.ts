/**
 * `npm run demo`: the draw-a-digit page on this machine, with the models the notebooks exported.
 *
 *   1. builds the page (./build.ts) into out/web/;
 *   2. finds the exported models in out/web-models/ (each notebook's section 12 writes its model
 *      there as float32, float16 and uint8); when there are none, or with --quick, makes quick
 *      stand-ins on both bases (./quick_model.ts: a few minutes each, once; the page says what they are)
 *      and exports them there;
 *   3. serves the page and the models on 127.0.0.1 (./serve.ts) and says where.
 *
 *   npm run demo -- --port 8123 --host 0.0.0.0 --models out/web-models --quick
 *
 * --host 0.0.0.0 lets a phone on the same network open the page (at this machine's address).
 * Nothing is fetched from elsewhere: TF.js and its WASM binaries are in the bundle and beside it.
 */
import * as os from "node:os";
import * as path from "node:path";
import type { BaseName } from "../src/model";
import type { TfjsQuantization } from "../src/keras/saving/tfjs_export";
import { buildPage, DEFAULT_OUT, ROOT } from "./build";
import { quickModel } from "./quick_model";
import { findModels, servePage, type PageServer } from "./serve";
import { formatBytes } from "../src/util/format";

export const DEFAULT_MODELS = path.join(ROOT, "out", "web-models");
export const DEFAULT_PORT = 8123;
/** The variants a model is exported in, by the notebooks and here. */
export const VARIANTS: readonly TfjsQuantization[] = [false, "float16", "uint8"];

interface DemoArgs {
  port: number;
  host: string;
  models: string;
  quick: boolean;
}

function parseArgs(argv: string[]): DemoArgs {
  const args: DemoArgs = { port: DEFAULT_PORT, host: "127.0.0.1", models: DEFAULT_MODELS, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value.`);
      return v;
    };
    if (a === "--port") {
      args.port = Number(value());
      if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535)
        throw new Error(`--port: a port number from 0 to 65535, got ${argv[i]}.`);
    } else if (a === "--host") args.host = value();
    else if (a === "--models") args.models = path.resolve(value());
    else if (a === "--quick") args.quick = true;
    else if (a === "--help" || a === "-h") {
      console.log("npm run demo -- [--port 8123] [--host 127.0.0.1 | 0.0.0.0] [--models out/web-models] [--quick]");
      process.exit(0);
    } else throw new Error(`Unknown option ${a}; see npm run demo -- --help.`);
  }
  return args;
}

/** The export folder of `base` in `variant`: out/web-models/inception_v3-float16. */
export function variantFolder(modelsDir: string, base: BaseName, variant: TfjsQuantization): string {
  return path.join(modelsDir, `${base}-${variant === false ? "float32" : variant}`);
}

/** Makes the quick models of both bases and exports each in every variant. */
async function makeQuickModels(modelsDir: string): Promise<void> {
  for (const base of ["inception_v3", "xception"] as const) {
    console.log(`\nMaking a quick ${base} model (random convolutions, batch statistics from digits, a short fit):`);
    const quick = await quickModel(base);
    try {
      for (const variant of VARIANTS) {
        const r = await quick.model.exportTfjs(variantFolder(modelsDir, base, variant), {
          quantize: variant,
          note: quick.note,
        });
        console.log(`  exported ${path.relative(process.cwd(), r.dir)}: ${r.size} (${r.files.length - 1} shards)`);
      }
      console.log(`  test accuracy ${(quick.testAccuracy * 100).toFixed(1)} %, made in ${quick.seconds.toFixed(0)} s`);
    } finally {
      quick.model.dispose();
    }
  }
}

/** Listens on `port`, or on any free port when that one is taken. */
async function listen(pageDir: string, args: DemoArgs): Promise<PageServer> {
  try {
    return await servePage({ pageDir, modelsDir: args.models, host: args.host, port: args.port });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE") throw e;
    console.log(`Port ${args.port} is taken; using a free one.`);
    return servePage({ pageDir, modelsDir: args.models, host: args.host, port: 0 });
  }
}

/** This machine's IPv4 addresses on its networks (for a phone), when serving on all of them. */
function lanAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((i): i is os.NetworkInterfaceInfo => !!i && i.family === "IPv4" && !i.internal)
    .map((i) => i.address);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const built = await buildPage(DEFAULT_OUT);
  console.log(`Built the page into ${path.relative(process.cwd(), built.dir)} in ${built.seconds.toFixed(1)} s.`);
  if (args.quick || findModels(args.models).length === 0) {
    if (!args.quick)
      console.log(
        `No exported models in ${path.relative(process.cwd(), args.models)} ` +
          `(the notebooks' section 12 puts them there).`,
      );
    await makeQuickModels(args.models);
  }
  const models = findModels(args.models);
  const server = await listen(built.dir, args);
  console.log(`\nModels (${path.relative(process.cwd(), args.models)}):`);
  for (const m of models) console.log(`  ${m.title.padEnd(24)} ${formatBytes(m.bytes).padStart(9)}   ${m.id}`);
  console.log(`\nDraw a digit: open ${server.url}`);
  if (args.host === "0.0.0.0")
    for (const a of lanAddresses()) console.log(`  from a phone on the same network: http://${a}:${server.port}/`);
  console.log("Press Ctrl+C to stop.");
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
