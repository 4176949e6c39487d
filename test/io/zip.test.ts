// Zip reader: the torch.save fixtures, hand-built stored/deflated/ZIP64 archives, and malformed
// archives (truncated, garbage, bad CRC, bad offsets, corrupted bytes) giving clear Errors.

import { describe, it, expect } from 'vitest';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { ZipArchive } from '../../lib/io';

const PTH = path.join(__dirname, '..', 'fixtures', 'pth');

interface Item { name: string; data: Uint8Array; method?: 0 | 8; flags?: number }

/** A zip archive built byte by byte; zip64 puts every size/offset in ZIP64 records. */
function buildZip(items: Item[], opts: { zip64?: boolean; comment?: string } = {}): Uint8Array {
  const chunks: Buffer[] = [];
  const central: Buffer[] = [];
  let off = 0;
  for (const it of items) {
    const name = Buffer.from(it.name, 'utf8');
    const method = it.method ?? 0;
    const body = method === 8 ? zlib.deflateRawSync(it.data) : Buffer.from(it.data);
    const crc = zlib.crc32(it.data) >>> 0;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(opts.zip64 ? 45 : 20, 4);
    lh.writeUInt16LE(it.flags ?? 0x800, 6);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(body.length, 18);
    lh.writeUInt32LE(it.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    const extra = Buffer.from('padding!'); // torch pads local headers for alignment
    lh.writeUInt16LE(extra.length, 28);
    chunks.push(lh, name, extra, body);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(opts.zip64 ? 45 : 20, 4);
    ch.writeUInt16LE(opts.zip64 ? 45 : 20, 6);
    ch.writeUInt16LE(it.flags ?? 0x800, 8);
    ch.writeUInt16LE(method, 10);
    ch.writeUInt32LE(crc, 16);
    let cdExtra = Buffer.alloc(0);
    if (opts.zip64) {
      ch.writeUInt32LE(0xffffffff, 20);
      ch.writeUInt32LE(0xffffffff, 24);
      ch.writeUInt32LE(0xffffffff, 42);
      cdExtra = Buffer.alloc(28);
      cdExtra.writeUInt16LE(1, 0);
      cdExtra.writeUInt16LE(24, 2);
      cdExtra.writeBigUInt64LE(BigInt(it.data.length), 4);
      cdExtra.writeBigUInt64LE(BigInt(body.length), 12);
      cdExtra.writeBigUInt64LE(BigInt(off), 20);
    } else {
      ch.writeUInt32LE(body.length, 20);
      ch.writeUInt32LE(it.data.length, 24);
      ch.writeUInt32LE(off, 42);
    }
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt16LE(cdExtra.length, 30);
    central.push(ch, name, cdExtra);
    off += 30 + name.length + extra.length + body.length;
  }
  const cd = Buffer.concat(central);
  const tail: Buffer[] = [];
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  if (opts.zip64) {
    const z = Buffer.alloc(56);
    z.writeUInt32LE(0x06064b50, 0);
    z.writeBigUInt64LE(44n, 4);
    z.writeUInt16LE(45, 12);
    z.writeUInt16LE(45, 14);
    z.writeBigUInt64LE(BigInt(items.length), 24);
    z.writeBigUInt64LE(BigInt(items.length), 32);
    z.writeBigUInt64LE(BigInt(cd.length), 40);
    z.writeBigUInt64LE(BigInt(off), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(off + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(z, loc);
    eocd.writeUInt16LE(0xffff, 8);
    eocd.writeUInt16LE(0xffff, 10);
    eocd.writeUInt32LE(0xffffffff, 12);
    eocd.writeUInt32LE(0xffffffff, 16);
  } else {
    eocd.writeUInt16LE(items.length, 8);
    eocd.writeUInt16LE(items.length, 10);
    eocd.writeUInt32LE(cd.length, 12);
    eocd.writeUInt32LE(off, 16);
  }
  const comment = Buffer.from(opts.comment ?? '');
  eocd.writeUInt16LE(comment.length, 20);
  return new Uint8Array(Buffer.concat([...chunks, cd, ...tail, eocd, comment]));
}

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const ITEMS: Item[] = [
  { name: 'arch/data.pkl', data: Buffer.from('hello pickle') },
  { name: 'arch/data/0', data: new Uint8Array(1000).map((_, i) => i * 7) },
  { name: 'arch/deflated.txt', data: Buffer.from('abc'.repeat(500)), method: 8 },
  { name: 'arch/empty', data: new Uint8Array(0) },
  { name: 'arch/empty-deflated', data: new Uint8Array(0), method: 8 },
  { name: 'arch/ünïcödé', data: Buffer.from('u') },
];

function expectZipError(buf: Uint8Array, re: RegExp, entry?: string): void {
  let err: unknown;
  try {
    const z = ZipArchive.open(buf);
    if (entry) z.readEntry(entry); else for (const e of z.listEntries()) z.readEntry(e.name);
  } catch (e) { err = e; }
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).constructor).toBe(Error);
  expect((err as Error).message).toContain('<buffer>');
  expect((err as Error).message).toMatch(re);
}

describe('zip reader', () => {
  it('reads the torch.save fixtures (stored entries with padded local headers)', () => {
    const p = path.join(PTH, 'pretrain-tiny-normpix.checkpoint.pth');
    const z = ZipArchive.open(p);
    try {
      const entries = z.listEntries();
      expect(entries.length).toBe(372);
      expect(entries[0].name).toBe('pretrain-tiny-normpix.checkpoint/data.pkl');
      expect(entries.every((e) => e.method === 0)).toBe(true);
      expect(text(z.readEntry('pretrain-tiny-normpix.checkpoint/byteorder'))).toBe('little');
      expect(z.readEntry('pretrain-tiny-normpix.checkpoint/data/0').byteLength).toBe(25088);
      const pkl = z.readEntry('pretrain-tiny-normpix.checkpoint/data.pkl');
      expect(pkl[0]).toBe(0x80);
      expect(pkl[pkl.length - 1]).toBe(0x2e);
      expect(() => z.readEntry('nope')).toThrow(/no entry named 'nope'/);
    } finally {
      z.close();
    }
    // in-memory buffer gives the same listing
    const mem = ZipArchive.open(new Uint8Array(fs.readFileSync(p)));
    expect(mem.listEntries().map((e) => e.name)).toEqual(ZipArchive.open(p).listEntries().map((e) => e.name));
  });

  for (const zip64 of [false, true]) {
    it(`reads hand-built ${zip64 ? 'ZIP64' : 'plain'} archives, stored and deflated`, () => {
      const z = ZipArchive.open(buildZip(ITEMS, { zip64, comment: zip64 ? '' : 'a comment' }));
      expect(z.listEntries().map((e) => e.name)).toEqual(ITEMS.map((i) => i.name));
      for (const it of ITEMS) {
        expect(z.has(it.name)).toBe(true);
        expect(Buffer.from(z.readEntry(it.name)).equals(Buffer.from(it.data))).toBe(true);
      }
      const e = z.listEntries().find((x) => x.name === 'arch/deflated.txt')!;
      expect(e.method).toBe(8);
      expect(e.compressedSize).toBeLessThan(e.size);
    });
  }

  it('refuses garbage, empty and truncated inputs', () => {
    expectZipError(new Uint8Array(0), /too short/);
    expectZipError(new Uint8Array(100).fill(0x41), /no end-of-central-directory/);
    expectZipError(new Uint8Array(fs.readFileSync(path.join(PTH, 'finetune-tiny.checkpoint.pth'))).slice(0, 50_000), /end-of-central-directory/);
    const good = buildZip(ITEMS);
    for (let cut = 0; cut < good.length; cut++) {
      let err: unknown;
      try {
        const z = ZipArchive.open(good.slice(0, cut));
        for (const e of z.listEntries()) z.readEntry(e.name);
      } catch (e) { err = e; }
      expect(err, `cut ${cut}`).toBeInstanceOf(Error);
      expect((err as Error).constructor).toBe(Error);
    }
    // data cut out of the middle: the central directory now points past the file
    const z64 = buildZip(ITEMS, { zip64: true });
    const spliced = new Uint8Array([...z64.slice(0, 40), ...z64.slice(200)]);
    expectZipError(spliced, /out of range|outside|signature|malformed/);
  });

  it('detects corrupt data, bad methods, encryption and bad offsets', () => {
    const good = buildZip([{ name: 'a', data: Buffer.from('0123456789') }]);
    const flip = good.slice();
    flip[30 + 1 + 8 + 3] ^= 0xff; // a data byte
    expectZipError(flip, /CRC-32 mismatch/, 'a');

    const cdAt = good.length - 22 - (46 + 1);
    const method = good.slice();
    method[cdAt + 10] = 12; // bzip2
    expectZipError(method, /unsupported compression method 12/);
    const enc = good.slice();
    enc[cdAt + 8] |= 1;
    expectZipError(enc, /encrypted/);
    const lho = good.slice();
    new DataView(lho.buffer).setUint32(cdAt + 42, 1_000_000, true);
    expectZipError(lho, /outside the file/);
    const cdOff = good.slice();
    new DataView(cdOff.buffer).setUint32(good.length - 22 + 16, 1_000_000, true);
    expectZipError(cdOff, /central directory .* outside the file/);
    const count = good.slice();
    new DataView(count.buffer).setUint16(good.length - 22 + 10, 500, true);
    expectZipError(count, /cannot fit/);
    const sig = good.slice();
    sig[0] = 0; // local header signature
    expectZipError(sig, /bad local header signature/, 'a');

    const deflated = buildZip([{ name: 'd', data: Buffer.from('x'.repeat(100)), method: 8 }]);
    const bad = deflated.slice();
    bad[30 + 1 + 8] = 0xff; // first byte of the deflate stream
    expectZipError(bad, /deflate data is corrupt|CRC|expected/, 'd');
    const dup = buildZip([{ name: 'a', data: Buffer.from('1') }, { name: 'a', data: Buffer.from('2') }]);
    expectZipError(dup, /duplicate entry 'a'/);
  });

  it('never crashes on randomly corrupted archives', () => {
    const good = buildZip(ITEMS, { zip64: true });
    let seed = 7;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    for (let t = 0; t < 3000; t++) {
      const b = good.slice();
      const from = t % 2 ? b.length - 200 : 0; // bias half the flips towards the directories
      for (let f = 0; f < 1 + Math.floor(rnd() * 3); f++) b[from + Math.floor(rnd() * (b.length - from))] = Math.floor(rnd() * 256);
      try {
        const z = ZipArchive.open(b);
        for (const e of z.listEntries()) z.readEntry(e.name);
      } catch (e) {
        expect((e as Error).constructor).toBe(Error);
        expect((e as Error).message).toContain('<buffer>');
      }
    }
  });
});
