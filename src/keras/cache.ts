/**
 * Keras's cache folder, found by Keras's rules (`keras/src/backend/config.py`, and `get_file` in
 * `keras/src/utils/file_utils.py`): `$KERAS_HOME`, else `~/.keras`, else `/tmp/.keras`, so that files
 * a Python Keras already downloaded (weights in `models/`, data sets in `datasets/`) are reused.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { canWrite, writableFolder } from "../util/files";

function expandUser(p: string): string {
  if (p === "~") return os.homedir();
  if (p.startsWith("~/")) return path.join(os.homedir(), p.slice(2));
  return p;
}

function tmpKerasDir(): string {
  let isDir: boolean;
  try {
    isDir = fs.statSync("/tmp").isDirectory();
  } catch {
    isDir = false;
  }
  return path.join(isDir ? "/tmp" : os.tmpdir(), ".keras");
}

/** Keras's home before the writability fallback of `get_file`: `$KERAS_HOME`, else `~/.keras` (or `/tmp/.keras` when `~` is not writable). */
export function kerasHome(): string {
  const env = process.env.KERAS_HOME;
  if (env !== undefined) return expandUser(env);
  const home = os.homedir();
  return canWrite(home) ? path.join(home, ".keras") : path.join("/tmp", ".keras");
}

/**
 * Keras's cache folder, by Keras's rule: `$KERAS_HOME` if set, else `~/.keras`
 * (`/tmp/.keras` when the home folder is not writable); and, like Keras's
 * `get_file`, `/tmp/.keras` when that folder is not writable. (Keras creates
 * its folder when it is imported; here a folder that does not exist yet
 * counts as writable when its nearest existing parent is.)
 */
export function kerasCacheDir(): string {
  const base = kerasHome();
  return base !== "" && writableFolder(base) ? base : tmpKerasDir();
}
