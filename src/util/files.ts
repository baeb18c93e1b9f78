/**
 * Files and folders: whether a folder can be written to, the temporary name beside a file that an
 * atomic write goes through, and the atomic write itself (write the temporary file, then rename it
 * onto the file); the same for a whole folder (`writeFolderAtomically`).
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

/**
 * Writes the folder `dir` as a whole: `write` fills a fresh temporary folder beside it
 * (`tempPathBeside(dir, ending)`), which then takes `dir`'s place. A folder already at `dir` is
 * first renamed aside and removed once the new one is in place (POSIX cannot swap two folders in one
 * step: should the process die between the two renames, the old folder is left under its hidden
 * name). If `write` or a rename fails, the temporary folder is removed, `dir` is as it was, and the
 * error is thrown on. The caller checks that `dir` may be replaced, and that its parent is writable
 * (`writableFolder`).
 */
export async function writeFolderAtomically(dir: string, ending: string, write: (tmp: string) => void | Promise<void>): Promise<void> {
  const target = path.resolve(dir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tempPathBeside(target, ending);
  fs.mkdirSync(tmp);
  let aside: string | undefined;
  try {
    await write(tmp);
    if (fs.existsSync(target)) {
      aside = tempPathBeside(target, "old");
      fs.renameSync(target, aside);
    }
    fs.renameSync(tmp, target);
  } catch (e) {
    if (aside !== undefined && !fs.existsSync(target)) fs.renameSync(aside, target);
    aside = undefined;
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  if (aside !== undefined) fs.rmSync(aside, { recursive: true, force: true });
}

/** A fresh hidden name in `file`'s folder, `.<name>.<pid>.<random>.<ending>`, to write to before renaming onto `file`. */
export function tempPathBeside(file: string, ending: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.${ending}`);
}
