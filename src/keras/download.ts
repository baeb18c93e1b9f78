/**
 * Downloading files into a cache, safely.
 *
 * - `downloadFile(url, dest, options)` streams the response into a temporary
 *   file in dest's folder, checks its length and hash, then renames it onto
 *   `dest` in one step. A failed, interrupted, truncated or wrong-hash transfer
 *   leaves nothing at `dest` and never touches a file already there.
 * - `cachedFile({...})` returns a cached copy whose hash is right, downloads
 *   the file otherwise (like Keras's `get_file`), and replaces a cached copy
 *   whose hash is wrong (keeping the bad one aside, under another name).
 * - `fileHash(path, "md5" | "sha256")`.
 * - `terminalProgress(label)`: a progress reporter for logs and terminals (one
 *   line per 10 %, or per second when the size is unknown).
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { MessageError } from "../util/errors";
import { makeFolders, tempPathBeside, writableFolder, type PathError } from "../util/files";
import { formatBytes } from "../util/format";
import type { DownloadProgress } from "../util/progress";

export type HashAlgorithm = "md5" | "sha256";

/** Called while bytes arrive; `total` is the announced size, when the server gave one. */

/** The subset of `fetch` this module uses (tests may pass their own). */
type FetchLike = (url: string, init?: { signal?: AbortSignal; redirect?: "follow" }) => Promise<Response>;

export interface DownloadOptions {
  /** Expected MD5 of the file (hex). */
  md5?: string;
  /** Expected SHA-256 of the file (hex). */
  sha256?: string;
  onProgress?: DownloadProgress;
  /** Replaces the global `fetch`. */
  fetchImpl?: FetchLike;
  /** Abort when no byte arrived for this long (default 60 s). */
  idleTimeoutMs?: number;
}

export type DownloadErrorKind = "http" | "network" | "truncated" | "hash" | "io";

/**
 * A download that failed, with a message meant for people: what failed, the
 * URL, and where the file can be put by hand. Its `stack` is the message alone
 * (a notebook then shows the message, not a trace of this module's internals).
 */
export class DownloadError extends MessageError {
  declare readonly kind: DownloadErrorKind;
  declare readonly url: string;
  declare readonly dest: string;
  declare readonly status?: number;
  constructor(kind: DownloadErrorKind, url: string, dest: string, message: string, status?: number) {
    super("DownloadError", message, { kind, url, dest, status });
  }
}

const HEX = /^[0-9a-f]+$/i;

/** Hex digest of a file. */
export async function fileHash(file: string, algorithm: HashAlgorithm): Promise<string> {
  const hash = crypto.createHash(algorithm);
  const stream = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The algorithm of a hex digest, by its length (64: sha256, 32: md5), like Keras's "auto". */
function hashAlgorithmOf(hash: string): HashAlgorithm {
  if (!HEX.test(hash)) throw new Error(`"${hash}" is not a hexadecimal hash`);
  if (hash.length === 64) return "sha256";
  if (hash.length === 32) return "md5";
  throw new Error(`a hash of ${hash.length} hex digits is neither md5 (32) nor sha256 (64): "${hash}"`);
}

/**
 * A progress reporter that prints plain lines (it works in a terminal, a log
 * file or a notebook): one line per 10 % when the size is known, at most one
 * line per second otherwise, and a last line at the end.
 */
export function terminalProgress(
  label: string,
  write: (line: string) => void = (l) => console.log(l),
): DownloadProgress {
  let lastDecile = -1;
  let lastTime = 0;
  let lastReceived = -1;
  return (received, total) => {
    if (received === lastReceived) return;
    lastReceived = received;
    if (total !== undefined && total > 0) {
      const decile = Math.min(10, Math.floor((received / total) * 10));
      if (decile > lastDecile) {
        lastDecile = decile;
        write(`${label}: ${decile * 10}% (${formatBytes(received)} of ${formatBytes(total)})`);
      }
    } else {
      const now = Date.now();
      if (now - lastTime >= 1000) {
        lastTime = now;
        write(`${label}: ${formatBytes(received)}`);
      }
    }
  };
}

const CODE_WORDS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed",
  ECONNRESET: "connection reset",
  ETIMEDOUT: "connection timed out",
  ENETUNREACH: "network unreachable",
  EHOSTUNREACH: "host unreachable",
};

function describeCause(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 4; depth++) {
    const err = cur as { code?: string; message?: string; errors?: unknown[]; cause?: unknown };
    const code =
      err.code ?? (Array.isArray(err.errors) ? (err.errors[0] as { code?: string } | undefined)?.code : undefined);
    const msg = err.message && err.message !== "fetch failed" ? err.message : "";
    const piece = [
      code && CODE_WORDS[code] ? `${CODE_WORDS[code]} (${code})` : code,
      msg && !(code && msg.includes(code)) ? msg : "",
    ]
      .filter(Boolean)
      .join(": ");
    if (piece && !parts.includes(piece)) parts.push(piece);
    cur = err.cause;
  }
  return parts.join("; ") || String(e);
}

function byHand(url: string, dest: string): string {
  return `To install it by hand, download ${url} on a machine with network access and put it at ${dest}`;
}

function expectedHashes(options: DownloadOptions): Array<[HashAlgorithm, string]> {
  const out: Array<[HashAlgorithm, string]> = [];
  if (options.md5 !== undefined) out.push(["md5", options.md5.toLowerCase()]);
  if (options.sha256 !== undefined) out.push(["sha256", options.sha256.toLowerCase()]);
  for (const [algo, h] of out) {
    if (!HEX.test(h) || h.length !== (algo === "md5" ? 32 : 64)) throw new Error(`invalid ${algo} hash "${h}"`);
  }
  return out;
}

/** Aborts a download when no byte has arrived for `ms`: `arm()` after each chunk, `clear()` at the end. */
class IdleTimeout {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  timedOut = false;

  constructor(readonly ms: number) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  arm(): void {
    this.clear();
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, this.ms);
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

/** One download: what it fetches, where to, and the errors it makes. */
interface Transfer {
  url: string;
  dest: string;
  idle: IdleTimeout;
  fail(kind: DownloadErrorKind, message: string, status?: number): DownloadError;
}

/**
 * Downloads `url` into a verified temporary file next to `dest` and returns
 * its path (the caller renames it). Nothing is left behind on failure.
 */
async function downloadToTemp(url: string, dest: string, options: DownloadOptions): Promise<string> {
  try {
    makeFolders(path.dirname(dest));
  } catch (e) {
    const why = (e as PathError).reason ?? describeCause(e);
    throw new DownloadError("io", url, dest, `Cannot download ${url} to ${dest}: ${why}. ${byHand(url, dest)}.`);
  }
  const t: Transfer = {
    url,
    dest,
    idle: new IdleTimeout(options.idleTimeoutMs ?? 60_000),
    fail: (kind, message, status) => new DownloadError(kind, url, dest, message, status),
  };
  const tmp = tempPathBeside(dest, "part");
  let fh: fs.promises.FileHandle | undefined;
  try {
    t.idle.arm();
    const res = await respond(t, options.fetchImpl ?? ((u, init) => fetch(u, init)));
    fh = await fs.promises.open(tmp, "wx");
    const hashes = expectedHashes(options);
    const digests = await writeBody(
      t,
      res,
      fh,
      hashes.map(([algo]) => algo),
      options.onProgress,
    );
    hashes.forEach(([algo, want], i) => {
      if (digests[i] !== want) {
        throw t.fail(
          "hash",
          `Downloaded ${url}, but its ${algo} hash is ${digests[i]}, expected ${want}: the file is corrupted or not ` +
            "the expected one. Nothing was saved.",
        );
      }
    });
    await fh.sync();
    await fh.close();
    fh = undefined;
    return tmp;
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    fs.rmSync(tmp, { force: true });
    if (e instanceof DownloadError) throw e;
    throw t.fail("io", `Download of ${url} to ${dest} failed: ${describeCause(e)}.`);
  } finally {
    t.idle.clear();
  }
}

/** The server's answer to the request, when it is a success; clear errors for no answer and HTTP errors. */
async function respond(t: Transfer, fetchImpl: FetchLike): Promise<Response> {
  let res: Response;
  try {
    res = await fetchImpl(t.url, { signal: t.idle.signal, redirect: "follow" });
  } catch (e) {
    const why = t.idle.timedOut ? `no answer within ${Math.round(t.idle.ms / 1000)} s` : describeCause(e);
    throw t.fail(
      "network",
      `Could not download ${t.url} (${why}). Is there a network connection? ${byHand(t.url, t.dest)}.`,
    );
  }
  if (!res.ok) {
    // Let the connection go.
    try {
      await res.body?.cancel();
    } catch {
      /* ignore */
    }
    const status = `HTTP ${res.status}${res.statusText ? " " + res.statusText : ""}`;
    throw t.fail("http", `Download of ${t.url} failed: ${status}. ${byHand(t.url, t.dest)}.`, res.status);
  }
  return res;
}

/**
 * Streams the body into `fh`, hashing it on the way and reporting progress; returns the hex digests
 * (one per algorithm). A body cut short (a broken connection, fewer bytes than Content-Length) is
 * an error.
 */
async function writeBody(
  t: Transfer,
  res: Response,
  fh: fs.promises.FileHandle,
  algorithms: string[],
  onProgress: DownloadProgress | undefined,
): Promise<string[]> {
  const encoding = (res.headers.get("content-encoding") ?? "identity").toLowerCase();
  const lengthHeader = res.headers.get("content-length");
  const announced = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  // With a content coding, Content-Length counts the encoded bytes, not the ones we get.
  const total = encoding === "identity" ? announced : undefined;
  const hashers = algorithms.map((algo) => crypto.createHash(algo));
  let received = 0;
  onProgress?.(0, total);
  const reader = res.body?.getReader();
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      if (!reader) break;
      chunk = await reader.read();
    } catch (e) {
      const why = t.idle.timedOut ? `no data for ${Math.round(t.idle.ms / 1000)} s` : describeCause(e);
      const of = total !== undefined ? ` of ${formatBytes(total)}` : "";
      throw t.fail(
        "truncated",
        `Download of ${t.url} was interrupted after ${formatBytes(received)}${of} (${why}). Nothing was saved; ` +
          `try again. ${byHand(t.url, t.dest)}.`,
      );
    }
    if (chunk.done) break;
    t.idle.arm();
    const bytes = chunk.value;
    for (const h of hashers) h.update(bytes);
    for (let off = 0; off < bytes.length;) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten;
    received += bytes.length;
    onProgress?.(received, total);
  }
  if (total !== undefined && received !== total) {
    throw t.fail(
      "truncated",
      `Download of ${t.url} is incomplete: received ${received} bytes, the server announced ${total}. ` +
        `Nothing was saved; try again. ${byHand(t.url, t.dest)}.`,
    );
  }
  return hashers.map((h) => h.digest("hex"));
}

/**
 * Downloads `url` to `dest`: streams into a temporary file in the same folder,
 * verifies the announced length and the given hashes, then renames it onto
 * `dest` atomically. On any failure nothing is written at `dest` (an existing
 * file there is left as it was) and a `DownloadError` says what happened.
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<void> {
  moveIntoPlace(await downloadToTemp(url, dest, options), url, dest);
}

/**
 * Renames a verified temporary file onto `dest` in one step, after `before` (if given); on failure
 * removes the temporary file and says so with a `DownloadError`.
 */
function moveIntoPlace(tmp: string, url: string, dest: string, before?: () => void): void {
  try {
    before?.();
    fs.renameSync(tmp, dest);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new DownloadError(
      "io",
      url,
      dest,
      `Could not move the downloaded file into place at ${dest}: ${describeCause(e)}.`,
    );
  }
}

export interface CachedFileOptions {
  /** The file's name in the cache folders. */
  fileName: string;
  url: string;
  /** Expected hash, hex: md5 (32 digits) or sha256 (64 digits). */
  hash: string;
  /** Forces the algorithm instead of guessing it from the hash's length. */
  hashAlgorithm?: HashAlgorithm;
  /**
   * Folders to look in, in order. A download goes to the folder of a cached
   * copy with a wrong hash, else to the first folder that is writable.
   */
  cacheDirs: string[];
  /** Progress of a download; default: `terminalProgress`. `false`: silent. */
  onProgress?: DownloadProgress | false;
  /** Messages such as "Downloading data from …"; default console.log. */
  log?: (message: string) => void;
  fetchImpl?: FetchLike;
  idleTimeoutMs?: number;
}

function asideName(file: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
  return `${file}.bad-${stamp}-${crypto.randomBytes(2).toString("hex")}`;
}

/**
 * Returns the path of a verified copy of a file, from the first cache folder
 * that has one with the right hash, else by downloading it (atomically, with
 * progress). A cached copy with a wrong hash is replaced by a fresh download;
 * the bad copy is kept beside it (`<name>.bad-<time>`) once the good one is in
 * place, and left untouched when the download fails.
 */
export async function cachedFile(options: CachedFileOptions): Promise<string> {
  const { fileName, url, cacheDirs } = options;
  if (cacheDirs.length === 0) throw new Error("cachedFile: no cache folder given");
  if (fileName.includes("/") || fileName.includes(path.sep))
    throw new Error(`cachedFile: "${fileName}" must be a file name, not a path`);
  const algorithm = options.hashAlgorithm ?? hashAlgorithmOf(options.hash);
  const want = options.hash.toLowerCase();
  const log = options.log ?? ((m: string) => console.log(m));

  let bad: { file: string; got: string } | undefined;
  for (const dir of cacheDirs) {
    const file = path.join(dir, fileName);
    let isFile: boolean;
    try {
      isFile = fs.statSync(file).isFile();
    } catch {
      isFile = false;
    }
    if (!isFile) continue;
    const got = await fileHash(file, algorithm);
    if (got === want) return file;
    if (!bad) bad = { file, got };
  }

  let dest: string;
  if (bad && writableFolder(path.dirname(bad.file))) {
    dest = bad.file;
    log(
      `The cached file ${bad.file} seems incomplete or outdated: its ${algorithm} hash is ${bad.got}, expected ${want}. Downloading it again.`,
    );
  } else {
    const dir = cacheDirs.find(writableFolder);
    if (!dir) {
      throw new DownloadError(
        "io",
        url,
        path.join(cacheDirs[0], fileName),
        `None of the cache folders is writable (${cacheDirs.join(", ")}); ${byHand(url, path.join(cacheDirs[0], fileName))}.`,
      );
    }
    dest = path.join(dir, fileName);
  }

  log(`Downloading data from ${url}`);
  const onProgress = options.onProgress === false ? undefined : (options.onProgress ?? terminalProgress(fileName));
  const dl: DownloadOptions = {
    onProgress,
    fetchImpl: options.fetchImpl,
    idleTimeoutMs: options.idleTimeoutMs,
  };
  if (algorithm === "md5") dl.md5 = want;
  else dl.sha256 = want;
  let tmp: string;
  try {
    tmp = await downloadToTemp(url, dest, dl);
  } catch (e) {
    if (bad && e instanceof DownloadError) {
      throw new DownloadError(
        e.kind,
        e.url,
        e.dest,
        `${e.message} (The cached ${bad.file} has a wrong ${algorithm} hash, ${bad.got} instead of ${want}; it was left as it is.)`,
        e.status,
      );
    }
    throw e;
  }
  let aside: string | undefined;
  moveIntoPlace(tmp, url, dest, () => {
    if (bad && bad.file === dest && fs.existsSync(dest)) {
      // Keep the bad copy under another name, and swap the good one in with
      // one rename: `dest` is never missing.
      aside = asideName(dest);
      try {
        fs.linkSync(dest, aside);
      } catch {
        fs.copyFileSync(dest, aside);
      }
    }
  });
  if (aside) log(`The previous copy was kept as ${aside}.`);
  return dest;
}
