/**
 * The weights a model was built with, kept for `resetWeights()` (comparing freeze depths is fair
 * only when every run starts from the same weights), in a scratch file rather than in memory: they
 * are read only when the model is reset, and training replaces every trainable weight, so held as
 * tensors they would be a second copy of those weights for as long as the model lives (InceptionV3
 * trained after depth 64: 88 MiB; 80–85 MiB of its bfloat16 fit's peak on 3,200 digits).
 *
 *   WeightSnapshot.take(variables, dir)   each variable's value, one after the other, in a scratch
 *                                         file in `dir` (../util/scratch_file.ts: nameless, gone when
 *                                         closed or when the process ends in any way); where `dir`
 *                                         cannot be written or its disk is full, clones of the
 *                                         values in memory instead (`where` says which)
 *   restore()                             writes the values back into the same variables
 *   dispose()                             closes the file, or frees the clones
 *
 * `snapshotDir()` is `.cache/weights/` in the project, or `KT_WEIGHT_SNAPSHOTS`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tfjs/backend";
import { PathError } from "../util/files";
import { ScratchFile, type FileIo } from "../util/scratch_file";

/** The folder of the weights' scratch files: KT_WEIGHT_SNAPSHOTS, else `.cache/weights/` in the project. */
function snapshotDir(): string {
  return process.env.KT_WEIGHT_SNAPSHOTS || path.resolve(__dirname, "..", "..", ".cache", "weights");
}

type Numbers = Float32Array | Int32Array | Uint8Array;

/** A typed array of `dtype` over `count` values (the kinds a TF.js variable can hold as numbers). */
function numbers(dtype: TF.DataType, count: number): Numbers {
  switch (dtype) {
    case "float32":
      return new Float32Array(count);
    case "int32":
      return new Int32Array(count);
    case "bool":
      return new Uint8Array(count);
    default:
      throw new Error(`A weight of dtype ${dtype} cannot be kept for resetWeights().`);
  }
}

const bytesOf = (values: Numbers) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);

/** Each variable's value in a scratch file, at its offset. */
interface OnDisk {
  file: ScratchFile;
  entries: Array<{ variable: TF.LayerVariable; shape: number[]; dtype: TF.DataType; position: number }>;
}

export class WeightSnapshot {
  private disposed = false;

  private constructor(
    private readonly disk: OnDisk | undefined,
    private readonly clones: Array<{ variable: TF.LayerVariable; value: TF.Tensor }> | undefined,
    /** Bytes kept (on disk or in memory). */
    readonly bytes: number,
  ) {}

  /** The current values of `variables`, on disk in `dir` when it can be written, else in memory. */
  static take(variables: TF.LayerVariable[], dir: string = snapshotDir(), io: FileIo = fs): WeightSnapshot {
    let file: ScratchFile | undefined;
    try {
      file = ScratchFile.create(dir, "weights", io);
      const entries: OnDisk["entries"] = [];
      let position = 0;
      for (const variable of variables) {
        const value = variable.read();
        numbers(value.dtype, 0); // refuses, before anything is written, a dtype restore() could not rebuild
        const values = value.dataSync() as Numbers;
        file.write(bytesOf(values), position);
        entries.push({ variable, shape: value.shape, dtype: value.dtype, position });
        position += values.byteLength;
      }
      return new WeightSnapshot({ file, entries }, undefined, position);
    } catch (e) {
      file?.close();
      if (!(e instanceof PathError)) throw e;
      // The folder cannot be written, or its disk is full: the values stay in memory.
      const clones = variables.map((variable) => ({ variable, value: variable.read().clone() }));
      const bytes = clones.reduce((sum, c) => sum + c.value.size * (c.value.dtype === "bool" ? 1 : 4), 0);
      return new WeightSnapshot(undefined, clones, bytes);
    }
  }

  /** "disk" (a scratch file) or "memory" (clones, where the folder could not be written). */
  get where(): "disk" | "memory" {
    return this.disk ? "disk" : "memory";
  }

  /** Puts the values taken back into their variables. */
  restore(): void {
    if (this.disposed) throw new Error("This weight snapshot was disposed.");
    if (this.clones) {
      for (const { variable, value } of this.clones) variable.write(value);
      return;
    }
    const { file, entries } = this.disk as OnDisk;
    // Everything is read before any variable changes: a failed read leaves the model as it was.
    const values = entries.map(({ shape, dtype, position }) => {
      const v = numbers(
        dtype,
        shape.reduce((a, b) => a * b, 1),
      );
      file.read(bytesOf(v), position);
      return v;
    });
    entries.forEach(({ variable, shape, dtype }, i) => {
      const t = tf.tensor(values[i], shape, dtype);
      variable.write(t);
      t.dispose();
    });
  }

  /** Closes the file or frees the clones (once; later calls do nothing). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.disk?.file.close();
    if (this.clones) tf.dispose(this.clones.map((c) => c.value));
  }
}
