/**
 * The weights file of a `.keras` archive, `model.weights.h5`, in the layout of Keras 3's `H5IOStore`
 * (keras/src/saving/saving_lib.py): every saveable object (the model, each layer, a nested model's
 * layers, the optimizer) has a group at its path with a `vars` group inside, whose attribute `name`
 * is the object's name and whose datasets `0`, `1`, … are its variables in order:
 *
 *   vars                                       {name: "inception_v3_mnist"}   the model's own (none)
 *   layers/conv2d/vars/0                       a layer's first variable
 *   layers/functional/layers/batch_normalization_3/vars/2
 *   optimizer/vars/0 (int64), optimizer/vars/1 (float32), …
 *
 * (The paths are made by the caller, ./keras_archive.ts; this module only writes and reads them.)
 *
 *   writeH5Store(file, entries)   one group per entry, created even when it holds no variable (as
 *                                 Keras does for a named object); values are asked for one at a time,
 *                                 so that a model's weights are never all copied at once
 *   H5StoreReader.open(file)      `entry(path)`: the `name` attribute, how many variables, each one's
 *                                 shape and type (without reading it), and `read(i)`
 */
import type * as H5 from "h5wasm";
import { describeError, h5wasm, withH5Errors, type H5Module } from "./h5wasm";

/** The variable types a Keras store holds here: float32 weights, and the optimizer's int64 step count. */
type StoreDtype = "float32" | "int64";

/** One variable to write: its shape, type, and a function giving its values when it is written. */
interface StoreVariable {
  shape: number[];
  dtype: StoreDtype;
  values: () => Float32Array | BigInt64Array;
}

/** One saveable object: its path ("" for the model itself), its `name` attribute, its variables in order. */
export interface StoreEntry {
  path: string;
  name: string;
  variables: StoreVariable[];
}

/** The group at `path` under `root`; h5wasm does not create intermediate groups, so each level is opened or made. */
export function groupAt(root: H5.Group, h5: H5Module, path: string): H5.Group {
  let g = root;
  for (const part of path.split("/").filter((p) => p.length > 0)) {
    const existing = g.keys().includes(part) ? g.get(part) : null;
    if (existing instanceof h5.Group) g = existing;
    else if (existing) throw new Error(`${path}: "${part}" exists and is not a group`);
    else g = g.create_group(part);
  }
  return g;
}

/**
 * Writes the entries to a new HDF5 file at `file` (replacing it). HDF5's oldest file format, as h5py
 * writes by default, so that any h5py reads it.
 */
export async function writeH5Store(file: string, entries: StoreEntry[]): Promise<void> {
  const h5 = await h5wasm();
  withH5Errors(h5, () => {
    const f = new h5.File(file, "w", { libver: ["earliest", "v110"] });
    try {
      for (const entry of entries) {
        const vars = groupAt(f, h5, entry.path ? `${entry.path}/vars` : "vars");
        vars.create_attribute("name", entry.name);
        entry.variables.forEach((v, i) => {
          const values = v.values();
          const expected = v.shape.reduce((a, b) => a * b, 1);
          if (values.length !== expected)
            throw new Error(`${entry.path}/vars/${i}: ${values.length} values for shape [${v.shape.join(", ")}]`);
          vars.create_dataset({
            name: String(i),
            data: values,
            shape: v.shape,
            dtype: v.dtype === "int64" ? "<q" : "<f4",
          });
        });
      }
    } finally {
      f.close();
    }
  });
}

/** A variable in the file, before it is read. */
interface StoredVariableInfo {
  shape: number[];
  /** "float32", "int64", or what else the file holds (e.g. "float64", "bfloat16"). */
  dtype: string;
}

/** The `vars` group of one path. */
export interface StoredEntry {
  /** The `name` attribute (the object's name when it was saved), if any. */
  name?: string;
  /** Number of variables (datasets `0` … `count - 1`). */
  count: number;
  info(i: number): StoredVariableInfo;
  /** The values, as float32 (weights) or numbers (an int64 step count). */
  read(i: number): Float32Array | number[];
}

function dtypeName(ds: H5.Dataset): string {
  if ("dtype" in ds.attrs) return String(ds.attrs["dtype"].value as string); // Keras marks bfloat16 this way
  const m = ds.metadata;
  const kind = m.type === 1 ? "float" : m.type === 0 ? (m.signed ? "int" : "uint") : "other";
  return kind === "other" ? "unsupported" : `${kind}${m.size * 8}`;
}

/** A Keras `model.weights.h5` opened for reading. HDF5 errors become exceptions with a one-line message. */
export class H5StoreReader {
  private constructor(
    private readonly h5: H5Module,
    private readonly file: H5.File,
  ) {}

  static async open(path: string): Promise<H5StoreReader> {
    const h5 = await h5wasm();
    return withH5Errors(h5, () => {
      let f: H5.File;
      try {
        f = new h5.File(path, "r");
      } catch (e) {
        throw new Error(`not an HDF5 file (${describeError(e)})`, { cause: e });
      }
      if (!f.file_id || f.file_id < 0n) throw new Error("not an HDF5 file");
      return new H5StoreReader(h5, f);
    });
  }

  /** Whether a group exists at `path`. */
  has(path: string): boolean {
    return withH5Errors(this.h5, () => this.groupOrNull(path) !== null);
  }

  private groupOrNull(path: string): H5.Group | null {
    let g: H5.Group = this.file;
    for (const part of path.split("/").filter((p) => p.length > 0)) {
      const next = g.keys().includes(part) ? g.get(part) : null;
      if (!(next instanceof this.h5.Group)) return null;
      g = next;
    }
    return g;
  }

  /** The variables stored at `path` (Keras's `H5IOStore.get`), or undefined when there is no `vars` group there. */
  entry(path: string): StoredEntry | undefined {
    const h5 = this.h5;
    return withH5Errors(h5, () => {
      const vars = this.groupOrNull(path ? `${path}/vars` : "vars");
      if (!vars) return undefined;
      const keys = vars.keys();
      let count = 0;
      while (keys.includes(String(count))) count++;
      const dataset = (i: number): H5.Dataset => {
        const ds = i >= 0 && i < count ? vars.get(String(i)) : null;
        if (!(ds instanceof h5.Dataset)) throw new Error(`${path}/vars/${i} is not a dataset`);
        return ds;
      };
      const nameAttr = "name" in vars.attrs ? vars.attrs["name"].value : undefined;
      return {
        name: typeof nameAttr === "string" ? nameAttr : undefined,
        count,
        info: (i: number) =>
          withH5Errors(h5, () => {
            const ds = dataset(i);
            return { shape: (ds.shape ?? []).map(Number), dtype: dtypeName(ds) };
          }),
        read: (i: number) =>
          withH5Errors(h5, () => {
            const ds = dataset(i);
            const v = ds.value;
            if (v instanceof Float32Array) return v;
            if (v instanceof BigInt64Array || v instanceof BigUint64Array) return Array.from(v, Number);
            if (typeof v === "bigint") return [Number(v)];
            if (typeof v === "number") return dtypeName(ds).startsWith("float") ? Float32Array.of(v) : [v];
            if (v instanceof Float64Array) return Float32Array.from(v);
            if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
            throw new Error(`${path}/vars/${i} is not numeric`);
          }),
      };
    });
  }

  close(): void {
    try {
      this.file.close();
    } catch {
      /* already closed */
    }
  }
}
