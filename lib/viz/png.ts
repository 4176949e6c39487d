// Minimal PNG encoder (no dependencies beyond node:zlib).
//
// Contract: `encodePng(pixels, width, height, channels)` takes 8-bit row-major interleaved pixels
// (1 = grey, 2 = grey+alpha, 3 = RGB, 4 = RGBA; length width·height·channels) and returns a
// complete PNG file (signature, IHDR, one zlib IDAT with filter type 0 on every row, IEND).
// `writePng` writes it to a path (creating parent folders).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let crcTable: Uint32Array | null = null;

function crc32(buf: Uint8Array, crc = 0xffffffff): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  for (let i = 0; i < buf.length; i++) crc = crcTable[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8);
  return crc >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 8);
  const crc = crc32(out.subarray(4, 8 + data.length), 0xffffffff) ^ 0xffffffff;
  out.writeUInt32BE(crc >>> 0, 8 + data.length);
  return out;
}

const COLOUR_TYPE: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };

export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4 = 3): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`encodePng: bad size ${width}x${height}`);
  }
  if (!(channels in COLOUR_TYPE)) throw new RangeError(`encodePng: channels must be 1..4, got ${channels}`);
  const stride = width * channels;
  if (pixels.length !== stride * height) {
    throw new RangeError(`encodePng: ${pixels.length} bytes for ${width}x${height}x${channels} (expected ${stride * height})`);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOUR_TYPE[channels];
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0;
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const idat = zlib.deflateSync(raw, { level: 6 });
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
}

export function writePng(file: string, pixels: Uint8Array, width: number, height: number,
                         channels: 1 | 2 | 3 | 4 = 3): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, encodePng(pixels, width, height, channels));
}
