/**
 * Downloads into a cache: hash checks, atomic writes, error wording. Everything
 * talks to a local HTTP server on 127.0.0.1.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { DownloadError, cachedFile, downloadFile, fileHash, terminalProgress } from "../src/keras/download";
import { outDir } from "./support/helpers";

const GOOD = crypto.randomBytes(300_000);
const OTHER = crypto.randomBytes(300_000);
const md5 = (b: Buffer) => crypto.createHash("md5").update(b).digest("hex");
const sha256 = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

let server: http.Server;
let base = "";
const hits = new Map<string, number>();

function countHit(p: string): void {
  hits.set(p, (hits.get(p) ?? 0) + 1);
}

before(async () => {
  server = http.createServer((req, res) => {
    const p = (req.url ?? "/").split("?")[0];
    countHit(p);
    switch (p) {
      case "/good.bin":
        res.writeHead(200, { "Content-Length": GOOD.length, "Content-Type": "application/octet-stream" });
        res.end(GOOD);
        return;
      case "/chunked.bin":
        // No Content-Length: the size is unknown until the end.
        res.writeHead(200, { "Content-Type": "application/octet-stream" });
        res.write(GOOD.subarray(0, 100_000));
        res.end(GOOD.subarray(100_000));
        return;
      case "/other.bin":
        res.writeHead(200, { "Content-Length": OTHER.length });
        res.end(OTHER);
        return;
      case "/truncated.bin":
        // Announces the whole file, sends a third, then drops the connection.
        res.writeHead(200, { "Content-Length": GOOD.length });
        res.write(GOOD.subarray(0, 100_000), () => {
          setTimeout(() => res.socket?.destroy(), 20);
        });
        return;
      case "/error500.bin":
        res.writeHead(500, { "Content-Type": "text/plain" });
        res.end("internal error");
        return;
      default:
        res.writeHead(404, { "Content-Type": "text/plain" });
        res.end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Names in a folder, hidden temporary files included. */
function listing(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

async function rejectsWith(p: Promise<unknown>, kind: string, pattern: RegExp): Promise<DownloadError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof DownloadError, `expected a DownloadError, got ${String(caught)}`);
  assert.equal(caught.kind, kind, caught.message);
  assert.match(caught.message, pattern);
  return caught;
}

test("fileHash gives md5 and sha256 hex digests", async () => {
  const dir = outDir("download-hash");
  const f = path.join(dir, "x.bin");
  fs.writeFileSync(f, GOOD);
  assert.equal(await fileHash(f, "md5"), md5(GOOD));
  assert.equal(await fileHash(f, "sha256"), sha256(GOOD));
});

test("a good file is downloaded, verified (md5 and sha256) and reported with progress", async () => {
  const dir = outDir("download-good");
  const dest = path.join(dir, "sub", "good.bin");
  const seen: Array<[number, number | undefined]> = [];
  await downloadFile(`${base}/good.bin`, dest, {
    md5: md5(GOOD),
    sha256: sha256(GOOD),
    onProgress: (r, t) => seen.push([r, t]),
  });
  assert.deepEqual(fs.readFileSync(dest), GOOD);
  assert.deepEqual(listing(path.dirname(dest)), ["good.bin"]);
  assert.ok(seen.length >= 2);
  assert.deepEqual(seen[seen.length - 1], [GOOD.length, GOOD.length]);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i][0] >= seen[i - 1][0]);
});

test("a download without Content-Length works and reports no total", async () => {
  const dir = outDir("download-chunked");
  const dest = path.join(dir, "c.bin");
  const totals = new Set<number | undefined>();
  let last = 0;
  await downloadFile(`${base}/chunked.bin`, dest, {
    sha256: sha256(GOOD),
    onProgress: (r, t) => ((last = r), totals.add(t)),
  });
  assert.deepEqual(fs.readFileSync(dest), GOOD);
  assert.deepEqual([...totals], [undefined]);
  assert.equal(last, GOOD.length);
});

test("a wrong hash leaves nothing behind and keeps an existing file; the error gives both hashes", async () => {
  const dir = outDir("download-wrong-hash");
  const dest = path.join(dir, "f.bin");
  await rejectsWith(
    downloadFile(`${base}/other.bin`, dest, { md5: md5(GOOD) }),
    "hash",
    new RegExp(`md5 hash is ${md5(OTHER)}, expected ${md5(GOOD)}`),
  );
  assert.deepEqual(listing(dir), []);
  fs.writeFileSync(dest, GOOD);
  await rejectsWith(
    downloadFile(`${base}/other.bin`, dest, { sha256: sha256(GOOD) }),
    "hash",
    /sha256 hash is [0-9a-f]{64}, expected/,
  );
  assert.deepEqual(listing(dir), ["f.bin"]);
  assert.deepEqual(fs.readFileSync(dest), GOOD);
});

test("a truncated transfer (connection closed before Content-Length bytes) leaves nothing behind", async () => {
  const dir = outDir("download-truncated");
  const dest = path.join(dir, "t.bin");
  const err = await rejectsWith(downloadFile(`${base}/truncated.bin`, dest, {}), "truncated", /interrupted|incomplete/);
  assert.match(err.message, new RegExp(`${base}/truncated.bin`));
  assert.deepEqual(listing(dir), []);
  // An existing file survives a truncated transfer.
  fs.writeFileSync(dest, OTHER);
  await rejectsWith(
    downloadFile(`${base}/truncated.bin`, dest, { md5: md5(GOOD) }),
    "truncated",
    /interrupted|incomplete/,
  );
  assert.deepEqual(listing(dir), ["t.bin"]);
  assert.deepEqual(fs.readFileSync(dest), OTHER);
});

test("HTTP errors name the status and the URL", async () => {
  const dir = outDir("download-http");
  const e404 = await rejectsWith(
    downloadFile(`${base}/missing.bin`, path.join(dir, "m.bin")),
    "http",
    /HTTP 404 Not Found/,
  );
  assert.equal(e404.status, 404);
  assert.match(e404.message, new RegExp(`${base}/missing.bin`));
  const e500 = await rejectsWith(downloadFile(`${base}/error500.bin`, path.join(dir, "e.bin")), "http", /HTTP 500/);
  assert.equal(e500.status, 500);
  assert.deepEqual(listing(dir), []);
});

test("no network: the error names the URL and says where to put the file by hand", async () => {
  // A port that was just closed refuses connections.
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  const dir = outDir("download-offline");
  const dest = path.join(dir, "w.h5");
  const url = `http://127.0.0.1:${port}/w.h5`;
  const err = await rejectsWith(downloadFile(url, dest), "network", /ECONNREFUSED/);
  assert.ok(err.message.includes(url), err.message);
  assert.ok(err.message.includes(`put it at ${dest}`), err.message);
  assert.equal(err.stack, `DownloadError: ${err.message}`, "the stack should be the message alone");
  assert.deepEqual(listing(dir), []);
});

test("cachedFile downloads once, then reuses the cached file without a request", async () => {
  const dir = outDir("download-cache");
  const cache = path.join(dir, "cache", "models");
  const logs: string[] = [];
  const opts = {
    fileName: "good.bin",
    url: `${base}/good.bin`,
    hash: md5(GOOD),
    cacheDirs: [cache],
    log: (m: string) => logs.push(m),
  };
  const before = hits.get("/good.bin") ?? 0;
  const progress: string[] = [];
  const p1 = await cachedFile({ ...opts, onProgress: terminalProgress("good.bin", (l) => progress.push(l)) });
  assert.equal(p1, path.join(cache, "good.bin"));
  assert.equal(hits.get("/good.bin"), before + 1);
  assert.match(logs.join("\n"), /Downloading data from http:\/\/127\.0\.0\.1:\d+\/good\.bin/);
  assert.match(progress[progress.length - 1], /good\.bin: 100% \(293\.0 KB of 293\.0 KB\)/);
  assert.ok(progress.length <= 11, progress.join("\n"));
  const p2 = await cachedFile({ ...opts, onProgress: false });
  assert.equal(p2, p1);
  assert.equal(hits.get("/good.bin"), before + 1, "a second request was made");
  // sha256 works the same way (chosen from the hash's length).
  const p3 = await cachedFile({ ...opts, hash: sha256(GOOD), onProgress: false });
  assert.equal(p3, p1);
  assert.equal(hits.get("/good.bin"), before + 1);
  assert.deepEqual(listing(cache), ["good.bin"]);
});

test("cachedFile finds a good copy in a later cache folder, and downloads into the first writable one", async () => {
  const dir = outDir("download-cache-dirs");
  const a = path.join(dir, "a");
  const b = path.join(dir, "b");
  fs.mkdirSync(b, { recursive: true });
  fs.writeFileSync(path.join(b, "good.bin"), GOOD);
  const before = hits.get("/good.bin") ?? 0;
  const opts = {
    fileName: "good.bin",
    url: `${base}/good.bin`,
    hash: md5(GOOD),
    log: () => undefined,
    onProgress: false as const,
  };
  assert.equal(await cachedFile({ ...opts, cacheDirs: [a, b] }), path.join(b, "good.bin"));
  assert.equal(hits.get("/good.bin") ?? 0, before);
  fs.rmSync(b, { recursive: true });
  assert.equal(await cachedFile({ ...opts, cacheDirs: [a, b] }), path.join(a, "good.bin"));
  assert.equal(hits.get("/good.bin"), before + 1);
});

test("a cached file with a wrong hash is downloaded again; the bad copy is kept aside", async () => {
  const dir = outDir("download-cache-bad");
  const file = path.join(dir, "good.bin");
  fs.writeFileSync(file, GOOD.subarray(0, 1000));
  const logs: string[] = [];
  const before = hits.get("/good.bin") ?? 0;
  const p = await cachedFile({
    fileName: "good.bin",
    url: `${base}/good.bin`,
    hash: md5(GOOD),
    cacheDirs: [dir],
    log: (m) => logs.push(m),
    onProgress: false,
  });
  assert.equal(p, file);
  assert.equal(hits.get("/good.bin"), before + 1);
  assert.deepEqual(fs.readFileSync(file), GOOD);
  const names = listing(dir);
  assert.equal(names.length, 2, names.join(", "));
  const aside = names.find((n) => n.startsWith("good.bin.bad-"));
  assert.ok(aside, names.join(", "));
  assert.equal(fs.statSync(path.join(dir, aside!)).size, 1000);
  assert.match(logs.join("\n"), /seems incomplete or outdated: its md5 hash is [0-9a-f]{32}, expected/);
});

test("a cached file with a wrong hash is left untouched when the new download fails", async () => {
  const dir = outDir("download-cache-bad-fail");
  const file = path.join(dir, "good.bin");
  fs.writeFileSync(file, OTHER);
  const err = await rejectsWith(
    cachedFile({
      fileName: "good.bin",
      url: `${base}/truncated.bin`,
      hash: md5(GOOD),
      cacheDirs: [dir],
      log: () => undefined,
      onProgress: false,
    }),
    "truncated",
    /has a wrong md5 hash/,
  );
  assert.match(err.message, /left as it is/);
  assert.deepEqual(listing(dir), ["good.bin"]);
  assert.deepEqual(fs.readFileSync(file), OTHER);
});

test("terminalProgress prints one line per 10 % with a size, at most one per second without", () => {
  const lines: string[] = [];
  const report = terminalProgress("f.h5", (l) => lines.push(l));
  for (let i = 0; i <= 1000; i++) report(i * 1000, 1_000_000);
  assert.equal(lines.length, 11);
  assert.equal(lines[0], "f.h5: 0% (0 B of 976.6 KB)");
  assert.equal(lines[10], "f.h5: 100% (976.6 KB of 976.6 KB)");
  const unknown: string[] = [];
  const r2 = terminalProgress("g", (l) => unknown.push(l));
  for (let i = 1; i <= 100; i++) r2(i * 10);
  assert.ok(unknown.length >= 1 && unknown.length <= 3, unknown.join("\n"));
});

test("a body shorter than its Content-Length is rejected even when the connection ends cleanly (custom fetch)", async () => {
  const dir = outDir("download-short-body");
  const dest = path.join(dir, "s.bin");
  const fetchImpl = async () =>
    new Response(GOOD.subarray(0, 1000), { status: 200, headers: { "content-length": String(GOOD.length) } });
  await rejectsWith(
    downloadFile("http://127.0.0.1/unused", dest, { fetchImpl }),
    "truncated",
    new RegExp(`received 1000 bytes, the server announced ${GOOD.length}`),
  );
  assert.deepEqual(listing(dir), []);
});
