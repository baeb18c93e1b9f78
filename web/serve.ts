/**
 * Serving the draw-a-digit page on this machine: a small static server (node:http) for the built
 * page (web/build.ts) and the exported models, with nothing fetched from anywhere else.
 *
 *   /                      the page (index.html, app.js, style.css, wasm/)
 *   /models/index.json     the models found (web/src/catalog.ts), listed afresh at every request
 *   /models/<id>/<file>    a model's model.json and shards
 *
 * - `findModels`   the folders under the models folder that hold a model.json, with their
 *                  metadata (src/model_tfjs.ts) and size
 * - `servePage`    the server: 127.0.0.1 by default (another host, e.g. 0.0.0.0, to open the page
 *                  on a phone on the same network); only GET and HEAD, only files inside the two
 *                  folders. It sends the headers that make the page cross-origin isolated, so
 *                  TF.js's WASM backend may use threads.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import type { WebModelMetadata } from "../src/model_tfjs";
import { entryTitle, type Catalog, type CatalogEntry } from "./src/catalog";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".bin": "application/octet-stream",
  ".png": "image/png",
};

/** The exported models in `dir`: each sub-folder with a model.json, in name order. */
export function findModels(dir: string): CatalogEntry[] {
  if (!fs.existsSync(dir)) return [];
  const entries: CatalogEntry[] = [];
  for (const id of fs.readdirSync(dir).sort()) {
    const folder = path.join(dir, id);
    const json = path.join(folder, "model.json");
    if (id.startsWith(".") || !fs.existsSync(json)) continue;
    let metadata: WebModelMetadata | undefined;
    try {
      metadata = (JSON.parse(fs.readFileSync(json, "utf8")) as { userDefinedMetadata?: { digits?: WebModelMetadata } })
        .userDefinedMetadata?.digits;
    } catch {
      // A broken model.json is still listed: the page says what is wrong when it is chosen.
    }
    const bytes = fs.readdirSync(folder).reduce((s, f) => s + fs.statSync(path.join(folder, f)).size, 0);
    entries.push({
      id,
      url: `models/${encodeURIComponent(id)}/model.json`,
      title: entryTitle(id, metadata),
      bytes,
      ...(metadata ? { metadata } : {}),
    });
  }
  // By base, then float32, float16, uint8, uint16.
  const order = (e: CatalogEntry) => [false, "float16", "uint8", "uint16"].indexOf(e.metadata?.quantize ?? "unknown");
  return entries.sort(
    (a, b) =>
      (a.metadata?.title ?? a.id).localeCompare(b.metadata?.title ?? b.id) ||
      order(a) - order(b) ||
      a.id.localeCompare(b.id),
  );
}

export interface PageServer {
  /** http://127.0.0.1:<port>/ (or the host asked for). */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** The built page (web/build.ts). */
  pageDir: string;
  /** The folder of exported models. */
  modelsDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
}

/** The file `rel` inside `root`, or undefined when it would lead outside it or is not a file. */
function inside(root: string, rel: string): string | undefined {
  const file = path.resolve(root, "." + path.posix.normalize("/" + rel));
  if (file !== root && !file.startsWith(root + path.sep)) return undefined;
  return fs.existsSync(file) && fs.statSync(file).isFile() ? file : undefined;
}

/** Starts the server; resolves once it listens. */
export function servePage(options: ServeOptions): Promise<PageServer> {
  const pageDir = path.resolve(options.pageDir);
  const modelsDir = path.resolve(options.modelsDir);
  const server = http.createServer((req, res) => {
    const headers: http.OutgoingHttpHeaders = {
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
      "X-Content-Type-Options": "nosniff",
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...headers, Allow: "GET, HEAD" }).end();
      return;
    }
    let route: string;
    try {
      route = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
    } catch {
      res.writeHead(400, headers).end();
      return;
    }
    if (route === "/models/index.json") {
      const catalog: Catalog = { models: findModels(modelsDir), source: modelsDir };
      res.writeHead(200, { ...headers, "Content-Type": TYPES[".json"], "Cache-Control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : JSON.stringify(catalog));
      return;
    }
    const file = route.startsWith("/models/")
      ? inside(modelsDir, route.slice("/models/".length))
      : inside(pageDir, route === "/" ? "index.html" : route.slice(1));
    if (!file) {
      res.writeHead(404, { ...headers, "Content-Type": "text/plain; charset=utf-8" }).end(`Not found: ${route}\n`);
      return;
    }
    res.writeHead(200, {
      ...headers,
      "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "Content-Length": fs.statSync(file).size,
      "Cache-Control": "no-cache",
    });
    if (req.method === "HEAD") res.end();
    else fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      const { port } = server.address() as AddressInfo;
      const host = options.host ?? "127.0.0.1";
      const shown = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
      resolve({
        url: `http://${shown}:${port}/`,
        port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
