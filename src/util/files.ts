/**
 * Files and folders:
 *
 *   makeFolders(dir)          makes a folder and its missing parents one level at a time, from the
 *                             nearest folder that exists (never Node's recursive mkdir, which can
 *                             spin for good under /proc); returns the folders it made
 *   checkWritable(file)       whether `file` can be written, found by trying: the missing folders
 *                             made, a probe file written beside `file` and removed, the folders the
 *                             check made removed again; a `PathError` says why not
 *   canWrite / writableFolder permission checks without writing anything
 *   writeAtomically(file, …)  a temporary file beside `file` (`tempPathBeside`), renamed onto it
 *   writeFolderAtomically(dir, …)  the same for a whole folder: a temporary folder beside `dir`,
 *                             which then takes its place
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { MessageError } from "./errors";

/** A path that cannot be written; `reason` is the why alone, for callers that word their own message. */
export class PathError extends MessageError {
  declare readonly file: string;
  declare readonly reason: string;
  constructor(file: string, reason: string, message = `Cannot write ${file}: ${reason}.`) {
    super("PathError", message, { file, reason });
  }
}

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

/** The kernel's virtual file systems, where no files or folders can be made. */
const VIRTUAL = ["/proc", "/sys"];

/** Why making `what` in the existing folder `parent` failed, in words. */
function whyNot(e: unknown, parent: string, what: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  const under = VIRTUAL.find((v) => parent === v || parent.startsWith(v + "/"));
  if (under) {
    const where = parent === under ? under : `${parent} is in ${under}, which`;
    return `${where} is a virtual file system of the kernel, where no files can be made`;
  }
  switch (code) {
    case "EACCES":
    case "EPERM":
      return `no permission to make ${what} in ${parent}`;
    case "EROFS":
      return `${parent} is on a read-only file system`;
    case "ENOSPC":
    case "EDQUOT":
      return `no space left on the disk of ${parent}`;
    case "ENOENT":
      return `the file system of ${parent} does not allow ${what} to be made there`;
    case "ENAMETOOLONG":
      return "the name is too long";
    default:
      return `${what} cannot be made in ${parent} (${code ?? (e as Error).message})`;
  }
}

function isFolder(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Makes the folder `dir` and its missing parents, one level at a time from the nearest folder that
 * exists, and returns the folders made, outermost first (none when `dir` exists). On failure the
 * folders made so far are removed again and a `PathError` says why (a file in the way, no
 * permission, a read-only or virtual file system such as /proc). Not `fs.mkdirSync(dir,
 * { recursive: true })`: under /proc, where mkdir fails with ENOENT below an existing folder, Node's
 * recursive mkdir retries for good at 100 % CPU.
 */
export function makeFolders(dir: string): string[] {
  const target = path.resolve(dir);
  const missing: string[] = [];
  for (let cur = target; ;) {
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") {
        throw new PathError(target, `${cur} cannot be looked at (${code ?? (e as Error).message})`);
      }
    }
    if (stat) {
      if (!stat.isDirectory()) throw new PathError(target, `${cur} is a file, not a folder`);
      break;
    }
    missing.push(cur);
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  const made: string[] = [];
  for (const folder of missing.reverse()) {
    try {
      fs.mkdirSync(folder);
      made.push(folder);
    } catch (e) {
      // Another process made it meanwhile: as good as ours.
      if ((e as NodeJS.ErrnoException).code === "EEXIST" && isFolder(folder)) continue;
      removeFolders(made);
      throw new PathError(target, whyNot(e, path.dirname(folder), "folders"));
    }
  }
  return made;
}

/** Removes folders `makeFolders` made (innermost first), those that are still empty. */
function removeFolders(made: string[]): void {
  for (const folder of made.slice().reverse()) {
    try {
      fs.rmdirSync(folder);
    } catch {
      // Not empty (something else was put there meanwhile) or gone: leave it.
    }
  }
}

/**
 * Checks that `file` can be written, by trying: makes its missing folders, writes a small probe file
 * beside it and removes it, then removes the folders it made. Nothing is left behind either way. A
 * `PathError` says why not (`file` is a folder, a file is in the way of a folder, no permission, a
 * full disk, a read-only or virtual file system).
 */
export function checkWritable(file: string): void {
  const target = path.resolve(file);
  if (isFolder(target)) throw new PathError(file, `${target} is a folder`);
  let made: string[];
  try {
    made = makeFolders(path.dirname(target));
  } catch (e) {
    throw e instanceof PathError ? new PathError(file, e.reason) : e;
  }
  const probe = tempPathBeside(target, "probe");
  try {
    fs.writeFileSync(probe, "a probe of whether this folder can be written; safe to delete\n", { flag: "wx" });
  } catch (e) {
    throw new PathError(file, whyNot(e, path.dirname(target), "files"));
  } finally {
    fs.rmSync(probe, { force: true });
    removeFolders(made);
  }
}

/**
 * Writes `file` atomically: `write` makes a temporary file beside it (`tempPathBeside(file, ending)`,
 * its folder made first), which is then renamed onto `file`. If `write` or the rename fails, the
 * temporary file and the folders made for it are removed, `file` is as it was, and the error is
 * thrown on.
 */
export async function writeAtomically(
  file: string,
  ending: string,
  write: (tmp: string) => void | Promise<void>,
): Promise<void> {
  const target = path.resolve(file);
  const made = makeFolders(path.dirname(target));
  const tmp = tempPathBeside(target, ending);
  try {
    await write(tmp);
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    removeFolders(made);
    throw e;
  }
}

/**
 * Writes the folder `dir` as a whole: `write` fills a fresh temporary folder beside it
 * (`tempPathBeside(dir, ending)`), which then takes `dir`'s place. A folder already at `dir` is
 * first renamed aside and removed once the new one is in place (POSIX cannot swap two folders in one
 * step: should the process die between the two renames, the old folder is left under its hidden
 * name). Missing parent folders are made as `makeFolders` makes them. If `write` or a rename fails,
 * the temporary folder and the folders made for it are removed, `dir` is as it was, and the error
 * is thrown on. The caller checks that `dir` may be replaced, and that its parent is writable
 * (`writableFolder`).
 */
export async function writeFolderAtomically(
  dir: string,
  ending: string,
  write: (tmp: string) => void | Promise<void>,
): Promise<void> {
  const target = path.resolve(dir);
  const made = makeFolders(path.dirname(target));
  const tmp = tempPathBeside(target, ending);
  let aside: string | undefined;
  try {
    fs.mkdirSync(tmp);
    await write(tmp);
    if (fs.existsSync(target)) {
      aside = tempPathBeside(target, "old");
      fs.renameSync(target, aside);
    }
    fs.renameSync(tmp, target);
  } catch (e) {
    if (aside !== undefined && !fs.existsSync(target)) fs.renameSync(aside, target);
    fs.rmSync(tmp, { recursive: true, force: true });
    removeFolders(made);
    throw e;
  }
  if (aside !== undefined) fs.rmSync(aside, { recursive: true, force: true });
}

/** A fresh hidden name in `file`'s folder, `.<name>.<pid>.<random>.<ending>`, to write to before renaming onto `file`. */
export function tempPathBeside(file: string, ending: string): string {
  return path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.${ending}`,
  );
}
