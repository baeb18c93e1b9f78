/**
 * Files and folders: whether a folder can be written to, the temporary name beside a file that an
 * atomic write goes through, and the atomic write itself (write the temporary file, then rename it
 * onto the file).
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** Whether this process may write to `file` (a file or folder that exists). */
export function canWrite(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether files can be made in `dir`: a folder that does not exist yet counts when its nearest existing ancestor is a writable folder. */
export function writableFolder(dir: string): boolean {
  let cur = path.resolve(dir);
  for (;;) {
    if (fs.existsSync(cur)) {
      try {
        return fs.statSync(cur).isDirectory() && canWrite(cur);
      } catch {
        return false;
      }
    }
    const up = path.dirname(cur);
    if (up === cur) return false;
    cur = up;
  }
}

/**
 * Writes `file` atomically: `write` makes a temporary file beside it (`tempPathBeside(file, ending)`,
 * its folder made first), which is then renamed onto `file`. If `write` or the rename fails, the
 * temporary file is removed, `file` is as it was, and the error is thrown on.
 */
export async function writeAtomically(file: string, ending: string, write: (tmp: string) => void | Promise<void>): Promise<void> {
  const target = path.resolve(file);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tempPathBeside(target, ending);
  try {
    await write(tmp);
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** A fresh hidden name in `file`'s folder, `.<name>.<pid>.<random>.<ending>`, to write to before renaming onto `file`. */
export function tempPathBeside(file: string, ending: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.${ending}`);
}
