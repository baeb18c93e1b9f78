/** PNG encoding of greyscale images (8 bit), for the digits drawn inside the SVG figures. */
import * as zlib from "node:zlib";

function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 8);
  out.writeUInt32BE(zlib.crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * A greyscale PNG of `grey` (bytes, row-major, width×height), each pixel
 * drawn as a `scale`×`scale` block.
 */
export function encodeGreyPng(grey: Uint8Array, width: number, height: number, scale = 1): Buffer {
  if (grey.length !== width * height) throw new Error(`${grey.length} bytes for a ${width}×${height} image.`);
  const w = width * scale;
  const h = height * scale;
  const raw = Buffer.alloc((w + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = (w + 1) * y; // raw[row] = 0: filter "none"
    const src = Math.floor(y / scale) * width;
    for (let x = 0; x < w; x++) raw[row + 1 + x] = grey[src + Math.floor(x / scale)];
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // colour type: greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", zlib.deflateSync(raw, { level: 9 })),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}
