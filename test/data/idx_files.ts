// Writes small idx files for tests.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

export function idxBytes(magic: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

/** n 28×28 images whose pixel (y, x) of image i is (i*7 + y*28 + x) mod 256; labels i mod 10. */
export function writeFashionSplit(dir: string, stem: 'train' | 't10k', n: number, gzip: boolean): void {
  fs.mkdirSync(dir, { recursive: true });
  const px = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) for (let k = 0; k < 784; k++) px[i * 784 + k] = (i * 7 + k) % 256;
  const lb = Uint8Array.from({ length: n }, (_, i) => i % 10);
  const img = idxBytes(2051, [n, 28, 28], px);
  const lab = idxBytes(2049, [n], lb);
  const ext = gzip ? '.gz' : '';
  fs.writeFileSync(path.join(dir, `${stem}-images-idx3-ubyte${ext}`), gzip ? zlib.gzipSync(img) : img);
  fs.writeFileSync(path.join(dir, `${stem}-labels-idx1-ubyte${ext}`), gzip ? zlib.gzipSync(lab) : lab);
}
