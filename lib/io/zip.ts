// Minimal ZIP reader for torch.save archives: finds the end-of-central-directory record (and the
// ZIP64 locator/record torch writes for large files), reads the central directory, and returns
// entries stored (method 0, what torch uses) or deflated (method 8). Every offset and size is
// checked against the input size, CRCs are verified, and a malformed archive gives an Error
// naming the input and the problem. Works on a path (random access, nothing loaded up front) or
// on an in-memory buffer.

import * as buffer from 'buffer';
import * as zlib from 'zlib';
import { ByteSource, openByteSource } from './record';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_Z64_LOCATOR = 0x07064b50;
const SIG_Z64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

export class ZipArchive {
  private readonly entries = new Map<string, ZipEntry>();
  private readonly src: ByteSource;

  /** Opens `pathOrBuffer`; the archive keeps a file open until close(). */
  static open(pathOrBuffer: string | Uint8Array): ZipArchive {
    const src = openByteSource(pathOrBuffer);
    try {
      return new ZipArchive(src);
    } catch (e) {
      src.close();
      throw e;
    }
  }

  private constructor(src: ByteSource) {
    this.src = src;
    this.readCentralDirectory();
  }

  get label(): string { return this.src.label; }

  listEntries(): ZipEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The uncompressed bytes of entry `name` (a fresh copy). */
  readEntry(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) this.fail(`no entry named '${name}'`);
    const { src } = this;
    const at = `entry '${name}'`;
    if (e.localHeaderOffset + 30 > src.size) this.fail(`${at}: local header at ${e.localHeaderOffset} is outside the file`);
    const lh = view(src.read(e.localHeaderOffset, 30));
    if (lh.getUint32(0, true) !== SIG_LOCAL) this.fail(`${at}: bad local header signature at ${e.localHeaderOffset}`);
    const start = e.localHeaderOffset + 30 + lh.getUint16(26, true) + lh.getUint16(28, true);
    if (start + e.compressedSize > src.size) {
      this.fail(`${at}: ${e.compressedSize} bytes of data at ${start} run past the end of the ${src.size}-byte file (truncated?)`);
    }
    const raw = src.read(start, e.compressedSize);
    let out: Uint8Array;
    if (e.size > buffer.constants.MAX_LENGTH) this.fail(`${at}: ${e.size} bytes is too large to hold in memory`);
    if (e.method === 0) {
      out = raw;
    } else {
      try {
        const b = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
        out = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (err) {
        return this.fail(`${at}: deflate data is corrupt (${(err as Error).message})`);
      }
    }
    if (out.byteLength !== e.size) this.fail(`${at}: expected ${e.size} bytes, got ${out.byteLength}`);
    if (zlib.crc32(out) >>> 0 !== e.crc32) this.fail(`${at}: CRC-32 mismatch (corrupt archive)`);
    return out;
  }

  close(): void {
    this.src.close();
  }

  private fail(msg: string): never {
    throw new Error(`zip ${this.src.label}: ${msg}`);
  }

  private readCentralDirectory(): void {
    const { src } = this;
    const size = src.size;
    if (size < 22) this.fail(`${size} bytes is too short for a zip archive`);
    // The EOCD record (22 bytes + comment) sits in the last 65557 bytes.
    const tailLen = Math.min(size, 22 + U16_MAX);
    const tailStart = size - tailLen;
    const tail = src.read(tailStart, tailLen);
    const tv = view(tail);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) <= tailLen) { eocd = i; break; }
    }
    if (eocd < 0) this.fail('no end-of-central-directory record (not a zip archive, or truncated)');
    const eocdPos = tailStart + eocd;
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    if (tv.getUint16(eocd + 4, true) !== 0 && tv.getUint16(eocd + 4, true) !== U16_MAX) this.fail('multi-disk archives are not supported');
    let cdEnd = eocdPos;
    // ZIP64: a locator immediately before the EOCD points at the ZIP64 EOCD record.
    if (eocdPos >= 20 && view(src.read(eocdPos - 20, 20)).getUint32(0, true) === SIG_Z64_LOCATOR) {
      const loc = view(src.read(eocdPos - 20, 20));
      const z64Pos = u64(loc, 8, () => this.fail('ZIP64 EOCD offset is too large'));
      if (z64Pos + 56 > eocdPos - 20) this.fail(`ZIP64 end-of-central-directory offset ${z64Pos} is out of range`);
      const z = view(src.read(z64Pos, 56));
      if (z.getUint32(0, true) !== SIG_Z64_EOCD) this.fail(`bad ZIP64 end-of-central-directory signature at ${z64Pos}`);
      const big = () => this.fail('ZIP64 field is too large');
      count = u64(z, 32, big);
      cdSize = u64(z, 40, big);
      cdOffset = u64(z, 48, big);
      cdEnd = z64Pos;
    } else if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
      this.fail('EOCD fields say ZIP64 but no ZIP64 locator was found');
    }
    if (cdOffset + cdSize > cdEnd) {
      this.fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) lies outside the file (truncated?)`);
    }
    if (count * 46 > cdSize) this.fail(`${count} entries cannot fit in a ${cdSize}-byte central directory`);
    const cd = src.read(cdOffset, cdSize);
    const cv = view(cd);
    const utf8 = new TextDecoder('utf-8');
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || cv.getUint32(p, true) !== SIG_CENTRAL) this.fail(`central directory entry ${i} is malformed`);
      const flags = cv.getUint16(p + 8, true);
      const method = cv.getUint16(p + 10, true);
      const crc = cv.getUint32(p + 16, true);
      let csize = cv.getUint32(p + 20, true);
      let usize = cv.getUint32(p + 24, true);
      const nameLen = cv.getUint16(p + 28, true);
      const extraLen = cv.getUint16(p + 30, true);
      const commentLen = cv.getUint16(p + 32, true);
      let lho = cv.getUint32(p + 42, true);
      const next = p + 46 + nameLen + extraLen + commentLen;
      if (next > cdSize) this.fail(`central directory entry ${i} runs past the directory`);
      const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extended information (id 1) holds the fields whose 32-bit value is 0xffffffff.
      let q = p + 46 + nameLen;
      const extraEnd = q + extraLen;
      while (q + 4 <= extraEnd) {
        const id = cv.getUint16(q, true);
        const len = cv.getUint16(q + 2, true);
        if (q + 4 + len > extraEnd) this.fail(`entry '${name}': extra field runs past its end`);
        if (id === 1) {
          let r = q + 4;
          const take = (): number => {
            if (r + 8 > q + 4 + len) this.fail(`entry '${name}': ZIP64 extra field is too short`);
            const v = u64(cv, r, () => this.fail(`entry '${name}': ZIP64 size too large`));
            r += 8;
            return v;
          };
          if (usize === U32_MAX) usize = take();
          if (csize === U32_MAX) csize = take();
          if (lho === U32_MAX) lho = take();
        }
        q += 4 + len;
      }
      if (flags & 1) this.fail(`entry '${name}' is encrypted`);
      if (method !== 0 && method !== 8) this.fail(`entry '${name}' uses unsupported compression method ${method}`);
      if (method === 0 && csize !== usize) this.fail(`stored entry '${name}' has compressed size ${csize} != size ${usize}`);
      if (lho + 30 + csize > cdOffset) this.fail(`entry '${name}' [${lho}, +${csize}] overlaps the central directory or lies outside the file`);
      if (this.entries.has(name)) this.fail(`duplicate entry '${name}'`);
      this.entries.set(name, { name, method, compressedSize: csize, size: usize, crc32: crc, localHeaderOffset: lho });
      p = next;
    }
  }
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(v: DataView, at: number, tooBig: () => never): number {
  const x = v.getBigUint64(at, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) tooBig();
  return Number(x);
}
