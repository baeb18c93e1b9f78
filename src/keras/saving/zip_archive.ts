/**
 * The zip container of a `.keras` archive. Keras's saving_lib.py writes it with Python's `zipfile`,
 * every member stored uncompressed (`_save_model_to_fileobj`); this module does the same, and reads
 * what `zipfile` writes:
 *
 *   writeZip(file, members)    stored members, from bytes or streamed from a file, CRC-32 computed
 *                              on the way (sizes under 4 GiB: no zip64)
 *   ZipReader.open(file)       the member list from the central directory; `read(name)` a member's
 *                              bytes, `extract(name, dest)` a member copied to a file, both checked
 *                              against the CRC-32 the archive records; stored and deflated members
 *
 * Problems with the container itself (not a zip, truncated, a member that does not match its
 * checksum) are `ZipError`s with a short reason, which the callers turn into messages that name
 * the archive and say what to do.
 */
import * as fs from "node:fs";
import * as zlib from "node:zlib";

/** What is wrong with a zip file, in a few words (the caller adds the file and the advice). */
export class ZipError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "ZipError";
  }
}

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const STORED = 0;
const DEFLATED = 8;
const LIMIT = 0xffffffff;
/** Copy chunk for streamed members. */
const CHUNK = 8 << 20;

/** A member to write: its bytes, or a file whose content is copied in. */
export type ZipSource = { name: string; data: Uint8Array } | { name: string; file: string };

/** MS-DOS time and date, as zip headers keep them (local time, 2-second resolution). */
function dosDateTime(d: Date): { time: number; date: number } {
  const year = Math.max(1980, d.getFullYear());
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

function writeAll(fd: number, buf: Uint8Array, position?: number): void {
  let done = 0;
  while (done < buf.length) {
    done += fs.writeSync(fd, buf, done, buf.length - done, position === undefined ? null : position + done);
  }
}

/**
 * Writes a zip archive of stored (uncompressed) members to `file`, replacing it. Members from files
 * are streamed, so a large weights file is never held in memory twice.
 */
export function writeZip(file: string, members: ZipSource[]): void {
  const { time, date } = dosDateTime(new Date());
  const central: Buffer[] = [];
  const fd = fs.openSync(file, "w");
  try {
    let offset = 0;
    for (const m of members) {
      const name = Buffer.from(m.name, "utf8");
      const size = "data" in m ? m.data.length : fs.statSync(m.file).size;
      if (size >= LIMIT) throw new ZipError(`the member ${m.name} is over 4 GiB, which needs zip64 (not written here)`);
      const header = Buffer.alloc(30);
      header.writeUInt32LE(LOCAL_HEADER, 0);
      header.writeUInt16LE(20, 4); // version needed: 2.0
      header.writeUInt16LE(name.length > 0 && /\P{ASCII}/u.test(m.name) ? 0x800 : 0, 6); // UTF-8 names
      header.writeUInt16LE(STORED, 8);
      header.writeUInt16LE(time, 10);
      header.writeUInt16LE(date, 12);
      // CRC-32 at 14, written once the data has gone through.
      header.writeUInt32LE(size, 18);
      header.writeUInt32LE(size, 22);
      header.writeUInt16LE(name.length, 26);
      header.writeUInt16LE(0, 28);
      const headerOffset = offset;
      writeAll(fd, header);
      writeAll(fd, name);
      offset += 30 + name.length;
      let crc = 0;
      if ("data" in m) {
        crc = zlib.crc32(m.data);
        writeAll(fd, m.data);
      } else {
        const src = fs.openSync(m.file, "r");
        try {
          const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, size)));
          let copied = 0;
          while (copied < size) {
            const n = fs.readSync(src, buf, 0, Math.min(buf.length, size - copied), copied);
            if (n === 0) throw new ZipError(`${m.file} ended after ${copied} of ${size} bytes while it was copied in`);
            const chunk = buf.subarray(0, n);
            crc = zlib.crc32(chunk, crc);
            writeAll(fd, chunk);
            copied += n;
          }
        } finally {
          fs.closeSync(src);
        }
      }
      offset += size;
      const crcBytes = Buffer.alloc(4);
      crcBytes.writeUInt32LE(crc >>> 0, 0);
      writeAll(fd, crcBytes, headerOffset + 14);

      const entry = Buffer.alloc(46);
      entry.writeUInt32LE(CENTRAL_HEADER, 0);
      entry.writeUInt16LE(20, 4); // made by: 2.0 (MS-DOS attributes, as zipfile writes by default)
      entry.writeUInt16LE(20, 6);
      entry.writeUInt16LE(header.readUInt16LE(6), 8);
      entry.writeUInt16LE(STORED, 10);
      entry.writeUInt16LE(time, 12);
      entry.writeUInt16LE(date, 14);
      entry.writeUInt32LE(crc >>> 0, 16);
      entry.writeUInt32LE(size, 20);
      entry.writeUInt32LE(size, 24);
      entry.writeUInt16LE(name.length, 28);
      // extra, comment, disk number, internal attributes: 0
      entry.writeUInt32LE(0, 38); // external attributes
      entry.writeUInt32LE(headerOffset, 42);
      central.push(entry, name);
    }
    if (offset >= LIMIT) throw new ZipError("the archive is over 4 GiB, which needs zip64 (not written here)");
    const directory = Buffer.concat(central);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(END_OF_CENTRAL_DIRECTORY, 0);
    end.writeUInt16LE(members.length, 8);
    end.writeUInt16LE(members.length, 10);
    end.writeUInt32LE(directory.length, 12);
    end.writeUInt32LE(offset, 16);
    writeAll(fd, directory);
    writeAll(fd, end);
  } finally {
    fs.closeSync(fd);
  }
}

/** One member, as the central directory describes it. */
export interface ZipMember {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Where its local header starts. */
  headerOffset: number;
}

/** A zip archive opened for reading (the file stays open until `close()`). */
export class ZipReader {
  private constructor(
    private readonly fd: number,
    readonly fileSize: number,
    readonly members: ZipMember[],
  ) {}

  /** Opens `file` and reads its central directory; a `ZipError` when it is not a (complete) zip archive. */
  static open(file: string): ZipReader {
    const fd = fs.openSync(file, "r");
    try {
      const size = fs.fstatSync(fd).size;
      return new ZipReader(fd, size, readDirectory(fd, size));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  has(name: string): boolean {
    return this.members.some((m) => m.name === name);
  }

  private member(name: string): ZipMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new ZipError(`it has no member ${name}`);
    return m;
  }

  /** Where the member's data starts (after its local header, whose extra field may differ from the central one). */
  private dataOffset(m: ZipMember): number {
    const h = readAt(this.fd, m.headerOffset, 30, this.fileSize);
    if (h.length < 30 || h.readUInt32LE(0) !== LOCAL_HEADER)
      throw new ZipError(`the local header of ${m.name} is missing or damaged`);
    const start = m.headerOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
    if (start + m.compressedSize > this.fileSize)
      throw new ZipError(`${m.name} runs past the end of the file (truncated?)`);
    return start;
  }

  /** A member's bytes, checked against its CRC-32. */
  read(name: string): Buffer {
    const m = this.member(name);
    const raw = readAt(this.fd, this.dataOffset(m), m.compressedSize, this.fileSize);
    const data = this.decode(m, raw);
    if (zlib.crc32(data) >>> 0 !== m.crc32) throw new ZipError(`${m.name} does not match its CRC-32 (a damaged file)`);
    return data;
  }

  private decode(m: ZipMember, raw: Buffer): Buffer {
    if (m.method === STORED) return raw;
    if (m.method === DEFLATED) {
      try {
        return zlib.inflateRawSync(raw);
      } catch (e) {
        throw new ZipError(`${m.name} could not be decompressed (${(e as Error).message})`);
      }
    }
    throw new ZipError(`${m.name} is compressed with method ${m.method}; only stored and deflated members are read`);
  }

  /** Copies a member to `dest` (streamed when stored), checked against its CRC-32. */
  extract(name: string, dest: string): void {
    const m = this.member(name);
    const start = this.dataOffset(m);
    if (m.method !== STORED) {
      fs.writeFileSync(dest, this.read(name));
      return;
    }
    const out = fs.openSync(dest, "w");
    try {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, m.size)));
      let crc = 0;
      for (let done = 0; done < m.size;) {
        const n = fs.readSync(this.fd, buf, 0, Math.min(buf.length, m.size - done), start + done);
        if (n === 0) throw new ZipError(`${m.name} ends early (truncated?)`);
        crc = zlib.crc32(buf.subarray(0, n), crc);
        writeAll(out, buf.subarray(0, n));
        done += n;
      }
      if (crc >>> 0 !== m.crc32) throw new ZipError(`${m.name} does not match its CRC-32 (a damaged file)`);
    } finally {
      fs.closeSync(out);
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

function readAt(fd: number, position: number, length: number, fileSize: number): Buffer {
  const n = Math.max(0, Math.min(length, fileSize - position));
  const buf = Buffer.alloc(n);
  let done = 0;
  while (done < n) {
    const got = fs.readSync(fd, buf, done, n - done, position + done);
    if (got === 0) break;
    done += got;
  }
  return buf.subarray(0, done);
}

/** The central directory, found from the end-of-central-directory record (which may follow a comment). */
function readDirectory(fd: number, size: number): ZipMember[] {
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = readAt(fd, size - tailLength, tailLength, size);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === END_OF_CENTRAL_DIRECTORY) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    const head = readAt(fd, 0, 4, size);
    const startsLikeZip = head.length === 4 && head.readUInt32LE(0) === LOCAL_HEADER;
    throw new ZipError(
      startsLikeZip ? "it starts like a zip archive but has no end record: it is truncated" : "it is not a zip archive",
    );
  }
  const count = tail.readUInt16LE(eocd + 10);
  const dirSize = tail.readUInt32LE(eocd + 12);
  const dirOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || dirSize === LIMIT || dirOffset === LIMIT)
    throw new ZipError("it is a zip64 archive (over 4 GiB or 65,535 members), which is not read here");
  if (dirOffset + dirSize > size) throw new ZipError("its directory points past the end of the file: it is truncated");
  const dir = readAt(fd, dirOffset, dirSize, size);
  const members: ZipMember[] = [];
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL_HEADER)
      throw new ZipError("its central directory is damaged");
    const flags = dir.readUInt16LE(p + 8);
    const nameLength = dir.readUInt16LE(p + 28);
    const extraLength = dir.readUInt16LE(p + 30);
    const commentLength = dir.readUInt16LE(p + 32);
    const name = dir.subarray(p + 46, p + 46 + nameLength).toString(flags & 0x800 ? "utf8" : "latin1");
    const member: ZipMember = {
      name,
      method: dir.readUInt16LE(p + 10),
      crc32: dir.readUInt32LE(p + 16),
      compressedSize: dir.readUInt32LE(p + 20),
      size: dir.readUInt32LE(p + 24),
      headerOffset: dir.readUInt32LE(p + 42),
    };
    if (flags & 1) throw new ZipError(`${name} is encrypted`);
    if (member.size === LIMIT || member.compressedSize === LIMIT || member.headerOffset === LIMIT)
      throw new ZipError(`${name} needs zip64, which is not read here`);
    members.push(member);
    p += 46 + nameLength + extraLength + commentLength;
  }
  return members;
}
