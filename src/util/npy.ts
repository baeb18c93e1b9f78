/**
 * Reading NumPy `.npy` arrays and `.npz` archives (zip files of `.npy`), as
 * `numpy.save` / `numpy.savez` write them. Only what the project needs:
 * little-endian numeric dtypes in C order.
 */
import { unzipSync } from "fflate";

type NpyDtype = "uint8" | "int8" | "int16" | "int32" | "int64" | "uint16" | "uint32" | "float32" | "float64";

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** The values; int64 arrays are returned as Float64Array (exact below 2^53). */
  data: Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;
}

const DTYPES: Record<string, { dtype: NpyDtype; size: number }> = {
  "|u1": { dtype: "uint8", size: 1 },
  "<u1": { dtype: "uint8", size: 1 },
  "|i1": { dtype: "int8", size: 1 },
  "<i2": { dtype: "int16", size: 2 },
  "<u2": { dtype: "uint16", size: 2 },
  "<i4": { dtype: "int32", size: 4 },
  "<u4": { dtype: "uint32", size: 4 },
  "<i8": { dtype: "int64", size: 8 },
  "<f4": { dtype: "float32", size: 4 },
  "<f8": { dtype: "float64", size: 8 },
};

/** Parses one `.npy` file's bytes. `name` is only used in error messages. */
export function parseNpy(bytes: Uint8Array, name = "array"): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) {
    throw new Error(`${name} is not a NumPy .npy array (bad magic bytes).`);
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder("latin1").decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined)
    throw new Error(`${name}: unreadable .npy header: ${header.trim()}`);
  if (fortran === "True") throw new Error(`${name}: Fortran-ordered arrays are not supported.`);
  const dt = DTYPES[descr];
  if (!dt) throw new Error(`${name}: dtype ${descr} is not supported (little-endian integers and floats only).`);
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = headerStart + headerLen;
  const byteLength = count * dt.size;
  if (bytes.length - offset < byteLength) {
    throw new Error(
      `${name}: truncated: shape (${shape.join(", ")}) needs ${byteLength} bytes of data, the file has ${bytes.length - offset}.`,
    );
  }
  // Copy into a buffer of its own, aligned for typed-array views (Buffer.slice would share Node's pool).
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(offset, offset + byteLength));
  const raw = copy.buffer;
  let data: NpyArray["data"];
  switch (dt.dtype) {
    case "uint8":
      data = new Uint8Array(raw);
      break;
    case "int8":
      data = new Int8Array(raw);
      break;
    case "int16":
      data = new Int16Array(raw);
      break;
    case "uint16":
      data = new Uint16Array(raw);
      break;
    case "int32":
      data = new Int32Array(raw);
      break;
    case "uint32":
      data = new Uint32Array(raw);
      break;
    case "float32":
      data = new Float32Array(raw);
      break;
    case "float64":
      data = new Float64Array(raw);
      break;
    case "int64": {
      const big = new BigInt64Array(raw);
      data = Float64Array.from(big, (v) => Number(v));
      break;
    }
  }
  return { dtype: dt.dtype, shape, data };
}

/** Parses an `.npz` archive's bytes into its arrays, keyed by name without `.npy`. */
export function parseNpz(bytes: Uint8Array, name = "archive"): Record<string, NpyArray> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new Error(`${name} is not a NumPy .npz archive (not a readable zip file: ${(e as Error).message}).`, {
      cause: e,
    });
  }
  const out: Record<string, NpyArray> = {};
  for (const [file, content] of Object.entries(files)) {
    if (!file.endsWith(".npy")) continue;
    const key = file.slice(0, -4);
    out[key] = parseNpy(content, `${name}:${file}`);
  }
  return out;
}
