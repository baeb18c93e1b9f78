/**
 * The frozen layers' output for every example of a fit, stored once and read back batch by batch:
 * the storage of the frozen-prefix cache (./prefix_cache.ts decides where, ./frozen_prefix.ts
 * computes what).
 *
 *   FeatureStore.inMemory(shapes, count)      one block of memory
 *   FeatureStore.onDisk(dir, shapes, count)   a scratch file in `dir` that exists only while the
 *                                             store is open (../util/scratch_file.ts)
 *   write(start, batch)                       the features of examples start, start + 1, …
 *   rows(indices)                             a `RowSource` (./row_source.ts): any rows, in any
 *                                             order, as float32 tensors
 *   close()                                   frees the memory, or closes (and so removes) the file
 *
 * Layout: one region per feature tensor, one after the other; in region i, example r at
 * `r × rowBytes[i]`. A batch is written with one positioned write per feature; a run of consecutive
 * rows (validation reads its rows in order) is read with one positioned read per feature, other rows
 * one by one. On disk, the operating system's page cache keeps the file's pages in memory while
 * there is room, outside this process's own memory.
 *
 * The element type stored is a parameter (`ElementType`), the precision the frozen layers compute
 * in: `FLOAT32`, read straight into the tensors' memory, or `BFLOAT16` (Keras's mixed_bfloat16, where
 * every layer's output is a bfloat16), half the bytes, widened back to float32 exactly when read.
 * `featureType(precision)` picks it.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tfjs/backend";
import type { Precision } from "../keras/dtype_policy";
import { fromBfloat16Bits, toBfloat16Bits } from "../util/bfloat16";
import { ScratchFile, type FileIo } from "../util/scratch_file";
import type { RowSource } from "./row_source";

/** How feature values are stored. */
export interface ElementType {
  readonly name: string;
  /** Bytes per stored value. */
  readonly bytes: number;
  /** The bytes stored for `values`. */
  encode(values: Float32Array): Uint8Array;
  /** Float32 values of stored bytes, into `out`; absent when the stored bytes are float32 values themselves. */
  decode?: (stored: Uint8Array, out: Float32Array) => void;
}

/** Float32, as computed: stored as the values' own bytes. */
export const FLOAT32: ElementType = {
  name: "float32",
  bytes: 4,
  encode: (values) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
};

/**
 * bfloat16: two bytes a value, rounded to nearest as TensorFlow's Cast rounds. Under mixed_bfloat16
 * the frozen layers' outputs are bfloat16 values already (the graph casts them to float32 on the
 * way out), so storing them loses nothing: read back, they are the values computed.
 */
export const BFLOAT16: ElementType = {
  name: "bfloat16",
  bytes: 2,
  encode: (values) => new Uint8Array(toBfloat16Bits(values).buffer),
  decode: (stored, out) => fromBfloat16Bits(new Uint16Array(stored.buffer, stored.byteOffset, stored.length / 2), out),
};

/** The element type of the features of a model computing in `precision`: what its layers output. */
export function featureType(precision: Precision): ElementType {
  return precision === "mixed_bfloat16" ? BFLOAT16 : FLOAT32;
}

/** Where a store's bytes live. */
interface Storage {
  write(bytes: Uint8Array, position: number): void;
  read(into: Uint8Array, position: number): void;
  close(): void;
}

/** One block of memory; viewed piece by piece (a single view of more than 4 GiB is refused by Node 20). */
function memoryStorage(size: number): Storage {
  let block: ArrayBuffer | undefined = new ArrayBuffer(size);
  const view = (position: number, length: number) => {
    if (!block) throw new Error("The feature store is closed.");
    return new Uint8Array(block, position, length);
  };
  return {
    write: (bytes, position) => view(position, bytes.length).set(bytes),
    read: (into, position) => into.set(view(position, into.length)),
    close: () => {
      block = undefined;
    },
  };
}

/** Bytes a store of `count` examples with features of these shapes takes. */
export function storeBytes(shapes: number[][], count: number, type: ElementType = FLOAT32): number {
  return count * shapes.reduce((s, shape) => s + type.bytes * size(shape), 0);
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Calls `f(at, first, length)` for each run of consecutive rows in `indices` (`first`, `first + 1`, …, at `at`). */
export function forEachRun(indices: Int32Array, f: (at: number, first: number, length: number) => void): void {
  for (let at = 0; at < indices.length;) {
    let length = 1;
    while (at + length < indices.length && indices[at + length] === indices[at] + length) length++;
    f(at, indices[at], length);
    at += length;
  }
}

/** The features of `count` examples, in memory or on disk (see the header). */
export class FeatureStore implements RowSource {
  /** Values per example of each feature. */
  private readonly values: number[];
  /** Bytes per example of each feature. */
  private readonly rowBytes: number[];
  /** Where each feature's region starts. */
  private readonly regions: number[];
  /** Bytes the store takes. */
  readonly bytes: number;
  private closed = false;

  private constructor(
    /** Each feature's shape, without the batch dimension. */
    readonly shapes: number[][],
    readonly count: number,
    readonly place: "memory" | "disk",
    private readonly storage: Storage,
    readonly type: ElementType,
    /** The scratch file (on disk; its name is removed already where the system allows). */
    readonly file?: string,
  ) {
    this.values = shapes.map(size);
    this.rowBytes = this.values.map((v) => v * type.bytes);
    let at = 0;
    this.regions = this.rowBytes.map((b) => {
      const start = at;
      at += b * count;
      return start;
    });
    this.bytes = at;
  }

  /** A store in memory; a RangeError when the memory cannot be had. */
  static inMemory(shapes: number[][], count: number, type: ElementType = FLOAT32): FeatureStore {
    return new FeatureStore(shapes, count, "memory", memoryStorage(storeBytes(shapes, count, type)), type);
  }

  /** A store in a new scratch file in `dir`; a `PathError` says why when it cannot be made there. */
  static onDisk(
    dir: string,
    shapes: number[][],
    count: number,
    options: { type?: ElementType; io?: FileIo } = {},
  ): FeatureStore {
    const file = ScratchFile.create(dir, "features", options.io);
    const storage: Storage = {
      write: (bytes, position) => file.write(bytes, position),
      read: (into, position) => file.read(into, position),
      close: () => file.close(),
    };
    return new FeatureStore(shapes, count, "disk", storage, options.type ?? FLOAT32, file.file);
  }

  /** Stores the features of examples `start`, `start + 1`, …: one tensor per feature, [batch, ...shape]. */
  write(start: number, batch: TF.Tensor[]): void {
    this.assertOpen();
    if (batch.length !== this.shapes.length)
      throw new Error(`Expected ${this.shapes.length} feature tensors, got ${batch.length}.`);
    const n = batch[0].shape[0];
    if (!(Number.isInteger(start) && start >= 0 && start + n <= this.count))
      throw new Error(`Examples ${start}–${start + n - 1} are outside the store's ${this.count}.`);
    batch.forEach((t, i) => {
      const values = t.dataSync() as Float32Array;
      if (t.dtype !== "float32" || values.length !== n * this.values[i])
        throw new Error(
          `Feature ${i} should be float32 [${n}, ${this.shapes[i].join(", ")}], got ${t.dtype} [${t.shape.join(", ")}].`,
        );
      this.storage.write(this.type.encode(values), this.regions[i] + start * this.rowBytes[i]);
    });
  }

  rows(indices: Int32Array): TF.Tensor[] {
    this.assertOpen();
    for (const r of indices)
      if (!(r >= 0 && r < this.count)) throw new Error(`Row ${r} is outside the store's ${this.count}.`);
    const out: TF.Tensor[] = [];
    try {
      this.shapes.forEach((shape, i) =>
        out.push(tf.tensor(this.read(i, indices), [indices.length, ...shape], "float32")),
      );
      return out;
    } catch (e) {
      tf.dispose(out);
      throw e;
    }
  }

  /** Feature i of the rows at `indices`, as float32 values. */
  private read(i: number, indices: Int32Array): Float32Array {
    const per = this.values[i];
    const rowBytes = this.rowBytes[i];
    const out = new Float32Array(indices.length * per);
    const decode = this.type.decode;
    forEachRun(indices, (at, first, length) => {
      const position = this.regions[i] + first * rowBytes;
      const dest = out.subarray(at * per, (at + length) * per);
      if (decode) {
        const stored = new Uint8Array(length * rowBytes);
        this.storage.read(stored, position);
        decode(stored, dest);
      } else {
        this.storage.read(new Uint8Array(dest.buffer, dest.byteOffset, dest.byteLength), position);
      }
    });
    return out;
  }

  /** Frees the memory, or closes the file (which removes it); later calls do nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.storage.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("The feature store is closed.");
  }
}
