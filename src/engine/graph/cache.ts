/**
 * The graph cache: each compiled graph as a SavedModel in `<graphCacheDir()>/<hash>/saved_model.pb`,
 * the hash taken over the serialised graph and the TensorFlow version (./compiled.ts), so the same
 * model and depth reuse a folder and a folder never goes stale.
 *
 *   graphCacheDir()                           `.cache/graphs/` in the project, or KT_GRAPH_CACHE
 *   openCachedGraph(dir, bytes, signatures)   the entry's session: the entry is written first when
 *                                             absent, and written again when damaged
 *   writeSavedModel(dir, bytes)               writes an entry atomically: a temporary folder renamed
 *                                             into place, or, over a damaged entry, a temporary file
 *                                             renamed onto its saved_model.pb
 *   entryDamage(dir, bytes)                   what is wrong with an entry ("absent" when there is
 *                                             none), or undefined when it holds `bytes`
 *
 * Verifying. An entry is sound when its saved_model.pb equals, byte for byte, the graph just
 * compiled: those bytes are in memory anyway (the folder's hash is computed from them), so there is
 * nothing to record beside the entry, and comparing costs one read of the file. Measured on a shared
 * 2-core Intel Xeon, the file in the page cache, mean of 200: InceptionV3's whole training step
 * (842 KB) 1.1–2.5 ms, Xception's (427 KB) 0.4–0.7 ms, against 0.7–3 s for building and serialising
 * the graph and 0.3–1.3 s for TensorFlow's loading it. A sha256 recorded beside the entry would cost
 * more (the same read, then the hash: 2.5–3.3 ms and 0.9–1.0 ms) and catch nothing more.
 *
 * Healing. A damaged entry (cut short, altered, its file missing: a full disk, an interrupted copy,
 * a sync tool) is written again, at most once per compilation, with one warning naming it; when that
 * fails, or the entry is still wrong after it, a `GraphEngineError` names the folder and what to do.
 * When TensorFlow refuses an entry that is sound, that is not damage: the error says so and nothing
 * is rewritten.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { makeFolders, PathError, tempPathBeside } from "../../util/files";
import { GraphEngineError, GraphSession, type SignatureTensors } from "./savedmodel";

const FILE = "saved_model.pb";

/** Where compiled graphs are written. */
export function graphCacheDir(): string {
  return process.env.KT_GRAPH_CACHE || path.resolve(__dirname, "..", "..", "..", ".cache", "graphs");
}

/** How an entry was found: sound ("cached"), absent and written ("written"), damaged and written again ("rebuilt"). */
export type EntryState = "cached" | "written" | "rebuilt";

/**
 * What is wrong with the entry in `dir`: "absent" when there is none, else the damage in words;
 * undefined when it holds `bytes`.
 */
export function entryDamage(dir: string, bytes: Uint8Array): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    return "absent";
  }
  if (!stat.isDirectory()) return "it is a file, not a folder";
  const file = path.join(dir, FILE);
  let stored: Buffer;
  try {
    if (!fs.statSync(file).isFile()) return `its ${FILE} is not a file`;
    stored = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? `it has no ${FILE}` : `its ${FILE} cannot be read (${code ?? (e as Error).message})`;
  }
  if (stored.length !== bytes.length) {
    return `its ${FILE} has ${stored.length} bytes where the compiled graph has ${bytes.length}`;
  }
  if (!stored.equals(bytes)) {
    let at = 0;
    while (stored[at] === bytes[at]) at++;
    return `its ${FILE} differs from the compiled graph from byte ${at} on`;
  }
  return undefined;
}

function reasonOf(e: unknown): string {
  if (e instanceof PathError) return e.reason;
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

/**
 * Writes `bytes` as the entry `dir`, atomically: a reader sees the old file or the new one, never
 * half of one. An absent entry is written into a temporary folder renamed into place; a damaged one
 * gets a temporary file renamed onto its saved_model.pb. Throws a `GraphEngineError` naming the folder.
 */
export function writeSavedModel(dir: string, bytes: Uint8Array): void {
  const parent = path.dirname(dir);
  const cannot = (e: unknown) =>
    new GraphEngineError(
      `Cannot write the compiled graph into ${parent} (${reasonOf(e)}): ` +
        'set KT_GRAPH_CACHE to a writable folder, or train with engine: "eager".',
    );
  try {
    if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) fs.rmSync(dir, { force: true });
  } catch (e) {
    throw cannot(e);
  }
  if (fs.existsSync(dir)) {
    // A damaged entry: its file replaced in one rename.
    const tmp = tempPathBeside(path.join(dir, FILE), "tmp");
    try {
      fs.writeFileSync(tmp, bytes);
      fs.renameSync(tmp, path.join(dir, FILE));
    } catch (e) {
      throw cannot(e);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    return;
  }
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    makeFolders(parent);
    fs.mkdirSync(tmp);
  } catch (e) {
    throw cannot(e);
  }
  try {
    fs.writeFileSync(path.join(tmp, FILE), bytes);
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      // Another process put the same graph there first: theirs is as good as ours (checked by the caller).
      if (!fs.existsSync(path.join(dir, FILE))) throw e;
    }
  } catch (e) {
    throw cannot(e);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Entries already reported as damaged in this process (one warning each). */
const reported = new Set<string>();

/** Writes a damaged entry again and checks it; one warning per entry; a clear error when it cannot be healed. */
function rebuild(dir: string, bytes: Uint8Array, damage: string): void {
  const whatToDo =
    `Delete the folder ${dir} (it is made again on the next run), set KT_GRAPH_CACHE to another folder, ` +
    'or train with engine: "eager".';
  try {
    writeSavedModel(dir, bytes);
  } catch (e) {
    const why = (e as Error).message;
    throw new GraphEngineError(
      `The compiled graph in ${dir} is damaged (${damage}) and could not be written again: ${why} ${whatToDo}`,
    );
  }
  const still = entryDamage(dir, bytes);
  if (still !== undefined) {
    throw new GraphEngineError(
      `The compiled graph in ${dir} is damaged (${damage}) and still is after being written again (${still}). ${whatToDo}`,
    );
  }
  if (!reported.has(dir)) {
    reported.add(dir);
    console.warn(`Graph cache: the compiled graph in ${dir} was damaged (${damage}); it was written again.`);
  }
}

/** Makes the entry `dir` hold `bytes`: writes it when absent, again when damaged. */
function storeEntry(dir: string, bytes: Uint8Array): EntryState {
  const damage = entryDamage(dir, bytes);
  if (damage === undefined) return "cached";
  if (damage === "absent") {
    writeSavedModel(dir, bytes);
    // A folder made by another process at the same moment is checked like any other.
    const after = entryDamage(dir, bytes);
    if (after === undefined) return "written";
    rebuild(dir, bytes, after);
    return "rebuilt";
  }
  rebuild(dir, bytes, damage);
  return "rebuilt";
}

/**
 * The session of the graph cache's entry `dir` for the serialised graph `bytes`: the entry is
 * verified against `bytes` first, written when absent and written again when damaged. When TensorFlow
 * cannot load it, the entry is checked once more: damage that appeared meanwhile is healed once and
 * the load tried again; a sound entry that TensorFlow refuses is an error saying so.
 */
export async function openCachedGraph(
  dir: string,
  bytes: Uint8Array,
  signatures: Record<string, SignatureTensors>,
): Promise<{ session: GraphSession; state: EntryState; writeMs: number; loadMs: number }> {
  const t0 = Date.now();
  let state = storeEntry(dir, bytes);
  const t1 = Date.now();
  for (;;) {
    try {
      const session = await GraphSession.load(dir, signatures);
      return { session, state, writeMs: t1 - t0, loadMs: Date.now() - t1 };
    } catch (e) {
      const reason = ((e as Error).message ?? String(e)).split("\n")[0];
      const damage = entryDamage(dir, bytes);
      if (damage !== undefined && state === "cached") {
        rebuild(dir, bytes, damage);
        state = "rebuilt";
        continue;
      }
      throw new GraphEngineError(
        damage !== undefined
          ? `TensorFlow could not load the compiled graph in ${dir} (${reason}), which was damaged again right after ` +
              `being written (${damage}). Check the disk and whatever else writes into that folder (a sync tool?), ` +
              'set KT_GRAPH_CACHE to another folder, or train with engine: "eager".'
          : `TensorFlow could not load the compiled graph in ${dir}: ${reason}. The file there is the graph as compiled ` +
              '(not a damaged cache), so TensorFlow refuses the graph itself: train with engine: "eager".',
      );
    }
  }
}
