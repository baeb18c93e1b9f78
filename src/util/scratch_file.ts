/**
 * Scratch files: a file that lives only while one piece of work uses it, written and read at
 * computed offsets (positioned writes and reads; the operating system's page cache keeps what is
 * read often in memory).
 *
 *   ScratchFile.create(dir, name)   makes `dir` (makeFolders), opens a new file in it (never an
 *                                   existing one) and removes its name at once: the data stays
 *                                   reachable through the open file until `close()`, and the disk
 *                                   space comes back when it is closed or when the process ends in
 *                                   any way (an error, an interrupt, a killed kernel); nothing is
 *                                   left in `dir` to clean up or to be reused by someone else
 *   write(bytes, position)          the whole of `bytes` at `position` (a short write is continued);
 *                                   a full disk is a `PathError` saying so
 *   read(into, position)            fills `into` from `position` (a short read is continued)
 *   close()                         closes the file (once; later calls do nothing)
 *
 * The file operations come from `FileIo` (Node's `fs` by default), so that tests can make a write
 * fail as a full disk does.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { makeFolders, PathError } from "./files";

/** The file operations a scratch file uses (Node's `fs` has them). */
export interface FileIo {
  openSync(file: string, flags: string): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  closeSync(fd: number): void;
  unlinkSync(file: string): void;
}

/** Why a write failed, in words, from its error code. */
function writeFailure(e: unknown, dir: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOSPC":
      return `no space left on the disk of ${dir}`;
    case "EDQUOT":
      return `the disk quota of ${dir} is used up`;
    case "EFBIG":
      return `the file grew larger than this system allows in ${dir}`;
    default:
      return `writing in ${dir} failed (${code ?? (e as Error).message})`;
  }
}

/** A file that exists only while it is open (see the header). */
export class ScratchFile {
  private closed = false;

  private constructor(
    private readonly fd: number,
    /** The file's path; removed already unless `named` is true. */
    readonly file: string,
    /** True when the system would not remove the name of an open file: it is removed at `close()`. */
    private named: boolean,
    private readonly io: FileIo,
  ) {}

  /**
   * A new scratch file in `dir` (made if missing), named `<prefix>-<pid>-<random>`; a `PathError`
   * says why when the folder cannot be made or written.
   */
  static create(dir: string, prefix: string, io: FileIo = fs): ScratchFile {
    const folder = path.resolve(dir);
    makeFolders(folder);
    const file = path.join(folder, `${prefix}-${process.pid}-${crypto.randomBytes(6).toString("hex")}`);
    let fd: number;
    try {
      fd = io.openSync(file, "wx+");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const reason =
        code === "EACCES" || code === "EPERM"
          ? `no permission to make files in ${folder}`
          : code === "EROFS"
            ? `${folder} is on a read-only file system`
            : `a file cannot be made in ${folder} (${code ?? (e as Error).message})`;
      throw new PathError(folder, reason);
    }
    let named = false;
    try {
      io.unlinkSync(file);
    } catch {
      // Some systems (Windows) keep the name of an open file: it is removed when the file is closed.
      named = true;
    }
    return new ScratchFile(fd, file, named, io);
  }

  /** Writes all of `bytes` at `position`; a full disk (or any failed write) is a `PathError`. */
  write(bytes: Uint8Array, position: number): void {
    this.assertOpen();
    let done = 0;
    while (done < bytes.length) {
      let n: number;
      try {
        n = this.io.writeSync(this.fd, bytes, done, bytes.length - done, position + done);
      } catch (e) {
        throw new PathError(this.file, writeFailure(e, path.dirname(this.file)));
      }
      if (n <= 0) throw new PathError(this.file, `writing in ${path.dirname(this.file)} made no progress`);
      done += n;
    }
  }

  /** Fills `into` with the bytes at `position`; an error if the file ends first. */
  read(into: Uint8Array, position: number): void {
    this.assertOpen();
    let done = 0;
    while (done < into.length) {
      const n = this.io.readSync(this.fd, into, done, into.length - done, position + done);
      if (n <= 0) {
        throw new Error(
          `The scratch file ${this.file} ends at ${position + done} bytes, before the ${into.length} bytes read at ${position}.`,
        );
      }
      done += n;
    }
  }

  /** Closes the file (and removes its name where the system kept it); later calls do nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.io.closeSync(this.fd);
    } finally {
      if (this.named) {
        this.named = false;
        try {
          this.io.unlinkSync(this.file);
        } catch {
          // Gone already.
        }
      }
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`The scratch file ${this.file} is closed.`);
  }
}
