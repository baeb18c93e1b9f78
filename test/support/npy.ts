/** Writing arrays as NumPy's .npy files (version 1.0, little-endian), for the Python scripts the tests run. */
import * as fs from "node:fs";

/** Writes `data` with `shape` as a float32 ("<f4") or int32 ("<i4") .npy file. */
export function writeNpy(file: string, data: Float32Array | Int32Array, shape: readonly number[]): void {
  const descr = data instanceof Float32Array ? "<f4" : "<i4";
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, " ") + "\n";
  const head = Buffer.alloc(10);
  head.write("\x93NUMPY", 0, "latin1");
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  fs.writeFileSync(
    file,
    Buffer.concat([head, Buffer.from(header, "latin1"), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
  );
}
