// safetensors reader/writer: round trips for every dtype, metadata and order, atomic writes, every
// malformed-file case (built byte by byte) giving a clear Error, and the parity fixtures reading.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readSafetensors, writeSafetensors, recordToFloat32, float32Record, recordNumel } from '../../lib/io';
import type { TensorRecord } from '../../lib/io';
import { floatToBf16Bits, floatToF16Bits } from '../../lib/tensor/dtype';

const FIX = path.join(__dirname, '..', 'fixtures', 'parity');
let dir = '';
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-st-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

function sampleRecords(): Map<string, TensorRecord> {
  const vals = [0, 1, -2.5, 3.25, 1e-3, -65504, 0.1];
  const m = new Map<string, TensorRecord>();
  m.set('f32', { dtype: 'float32', shape: [7], data: bytesOf(new Float32Array(vals)) });
  m.set('f64', { dtype: 'float64', shape: [7, 1], data: bytesOf(new Float64Array(vals)) });
  m.set('f16', { dtype: 'float16', shape: [1, 7], data: bytesOf(new Uint16Array(vals.map(floatToF16Bits))) });
  m.set('bf16', { dtype: 'bfloat16', shape: [7], data: bytesOf(new Uint16Array(vals.map(floatToBf16Bits))) });
  m.set('i32', { dtype: 'int32', shape: [2, 2], data: bytesOf(new Int32Array([1, -2, 2 ** 31 - 1, -(2 ** 31)])) });
  m.set('i64', { dtype: 'int64', shape: [3], data: bytesOf(new BigInt64Array([1n, -5n, 1234567890123n])) });
  m.set('scalar', { dtype: 'float32', shape: [], data: bytesOf(new Float32Array([42])) });
  m.set('empty', { dtype: 'float32', shape: [0, 3], data: new Uint8Array(0) });
  return m;
}

/** A file from a header (object or raw JSON text) and a data block, with an optional length override. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), n?: bigint): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(n ?? BigInt(json.length));
  return new Uint8Array(Buffer.concat([len, json, data]));
}

function expectFailure(file: Uint8Array, re: RegExp): void {
  const p = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.safetensors`);
  fs.writeFileSync(p, file);
  let err: unknown;
  try { readSafetensors(p); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).constructor).toBe(Error); // not a RangeError/TypeError from a crash
  expect((err as Error).message).toContain(p);
  expect((err as Error).message).toMatch(re);
  expect(() => readSafetensors(file)).toThrow(re);
}

const F32x2 = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

describe('safetensors round trips', () => {
  it('round-trips every dtype, scalars and empty tensors', () => {
    const p = path.join(dir, 'all.safetensors');
    const recs = sampleRecords();
    writeSafetensors(p, recs);
    const { tensors, metadata } = readSafetensors(p);
    expect(metadata).toEqual({});
    expect([...tensors.keys()]).toEqual([...recs.keys()]);
    for (const [k, r] of recs) {
      const got = tensors.get(k)!;
      expect(got.dtype).toBe(r.dtype);
      expect(got.shape).toEqual(r.shape);
      expect(Buffer.from(got.data).equals(Buffer.from(r.data))).toBe(true);
    }
    expect(Array.from(recordToFloat32(tensors.get('f16')!))).toEqual([0, 1, -2.5, 3.25, expect.closeTo(1e-3, 6), -65504, expect.closeTo(0.1, 3)]);
    expect(Array.from(recordToFloat32(tensors.get('bf16')!)).slice(0, 4)).toEqual([0, 1, -2.5, 3.25]);
    expect(Array.from(recordToFloat32(tensors.get('i64')!))).toEqual([1, -5, 1234567890123].map(Math.fround));
    expect(Array.from(recordToFloat32(tensors.get('i32')!))).toEqual([1, -2, 2 ** 31 - 1, -(2 ** 31)].map(Math.fround));
    expect(Array.from(recordToFloat32(tensors.get('f64')!))).toEqual([0, 1, -2.5, 3.25, 1e-3, -65504, 0.1].map(Math.fround));
    expect(recordNumel(tensors.get('scalar')!)).toBe(1);
    expect(recordNumel(tensors.get('empty')!)).toBe(0);
  });

  it('writes the documented layout: aligned, space-padded header, offsets in insertion order', () => {
    const p = path.join(dir, 'layout.safetensors');
    writeSafetensors(p, { b: float32Record([1], new Float32Array([1])), a: float32Record([2], new Float32Array([2, 3])) }, { k: 'v' });
    const buf = fs.readFileSync(p);
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = buf.subarray(8, 8 + n).toString('utf8');
    expect(text).toMatch(/^\{.*\} *$/);
    const h = JSON.parse(text);
    expect(h.__metadata__).toEqual({ k: 'v' });
    expect(h.b).toEqual({ dtype: 'F32', shape: [1], data_offsets: [0, 4] });
    expect(h.a).toEqual({ dtype: 'F32', shape: [2], data_offsets: [4, 12] });
    expect(buf.length).toBe(8 + n + 12);
  });

  it('keeps metadata and the insertion order of names (integer-like names included)', () => {
    const p = path.join(dir, 'order.safetensors');
    const names = ['zeta', '10', 'alpha', '2', '__proto__', 'ünï.cödé'];
    const m = new Map(names.map((k, i) => [k, float32Record([1], new Float32Array([i]))]));
    const meta = { config: JSON.stringify({ a: [1, 2] }), note: 'x"y\\z\n' };
    writeSafetensors(p, m, meta);
    const { tensors, metadata } = readSafetensors(p);
    expect([...tensors.keys()]).toEqual(names);
    names.forEach((k, i) => expect(recordToFloat32(tensors.get(k)!)[0]).toBe(i));
    expect(metadata).toEqual(meta);
    // also from an in-memory buffer
    expect([...readSafetensors(new Uint8Array(fs.readFileSync(p))).tensors.keys()]).toEqual(names);
  });

  it('writes atomically: replaces the target, leaves no temporary files, creates nothing on error', () => {
    const p = path.join(dir, 'atomic.safetensors');
    fs.writeFileSync(p, 'old');
    writeSafetensors(p, { x: float32Record([1], new Float32Array([5])) });
    expect(readSafetensors(p).tensors.size).toBe(1);
    const bad: TensorRecord = { dtype: 'float32', shape: [3], data: new Uint8Array(8) };
    expect(() => writeSafetensors(p, { x: bad })).toThrow(/needs 12 bytes/);
    expect(readSafetensors(p).tensors.get('x')!.shape).toEqual([1]); // untouched
    const q = path.join(dir, 'never.safetensors');
    expect(() => writeSafetensors(q, { x: bad })).toThrow();
    expect(() => writeSafetensors(q, { x: float32Record([1], new Float32Array(1)) }, { k: 3 as unknown as string })).toThrow(/not a string/);
    expect(() => writeSafetensors(q, { __metadata__: float32Record([1], new Float32Array(1)) })).toThrow(/__metadata__/);
    expect(() => writeSafetensors(path.join(dir, 'no-such-dir', 'f.safetensors'), { x: float32Record([1], new Float32Array(1)) })).toThrow();
    expect(fs.existsSync(q)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('safetensors malformed files', () => {
  const d8 = new Uint8Array(8);
  it('refuses files shorter than 8 bytes', () => {
    expectFailure(new Uint8Array(0), /shorter than the 8-byte/);
    expectFailure(new Uint8Array([1, 0, 0]), /shorter than the 8-byte/);
  });
  it('refuses header lengths past the file or absurdly large', () => {
    expectFailure(rawFile('{}', new Uint8Array(0), 100n), /runs past the end/);
    expectFailure(rawFile('{}', new Uint8Array(0), 2n ** 63n + 5n), /100 MB/);
    expectFailure(rawFile('{}', new Uint8Array(0), 200_000_000n), /100 MB/);
  });
  it('refuses headers that are not JSON objects', () => {
    expectFailure(rawFile('{"a": '), /not valid JSON/);
    expectFailure(rawFile(''), /not valid JSON/);
    expectFailure(rawFile('[1, 2]'), /not a JSON object/);
    expectFailure(rawFile('null'), /not a JSON object/);
    expectFailure(rawFile('42'), /not a JSON object/);
    expectFailure(new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe]), /UTF-8/);
    expectFailure(rawFile({ a: 5 }), /entry is not an object/);
  });
  it('refuses unknown dtypes', () => {
    expectFailure(rawFile({ a: { ...F32x2, dtype: 'F8_E4M3' } }, d8), /dtype "F8_E4M3"/);
    expectFailure(rawFile({ a: { ...F32x2, dtype: 'f32' } }, d8), /dtype/);
    expectFailure(rawFile({ a: { shape: [2], data_offsets: [0, 8] } }, d8), /dtype/);
    expectFailure(rawFile({ a: { ...F32x2, dtype: 'toString' } }, d8), /dtype/);
  });
  it('refuses bad shapes', () => {
    for (const shape of [null, 'x', 2, [-1], [1.5], ['2'], [[2]], [2 ** 60]]) {
      expectFailure(rawFile({ a: { ...F32x2, shape } }, d8), /shape .* not an array of non-negative integers/);
    }
  });
  it('refuses bad data_offsets', () => {
    for (const data_offsets of [[0], [0, 8, 9], [8, 0], [0, 7.5], [-1, 8], ['0', '8'], null, {}]) {
      expectFailure(rawFile({ a: { ...F32x2, data_offsets } }, d8), /data_offsets .* not two/);
    }
  });
  it('refuses offsets outside the data block and truncated files', () => {
    expectFailure(rawFile({ a: { ...F32x2, data_offsets: [8, 16] } }, d8), /outside the 8-byte data block/);
    const p = path.join(dir, 'trunc-src.safetensors');
    writeSafetensors(p, sampleRecords(), { m: 'x' });
    const full = new Uint8Array(fs.readFileSync(p));
    for (let cut = 0; cut < full.length; cut++) {
      const part = full.slice(0, cut);
      let err: unknown;
      try { readSafetensors(part); } catch (e) { err = e; }
      expect(err, `cut at ${cut}`).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/^safetensors <buffer>: /);
    }
  });
  it('refuses byte lengths that do not match the shape', () => {
    expectFailure(rawFile({ a: { ...F32x2, shape: [3] } }, new Uint8Array(12)), /8 bytes stored but F32 \[3\] needs 12/);
    expectFailure(rawFile({ a: { dtype: 'F16', shape: [2], data_offsets: [0, 8] } }, d8), /needs 4/);
  });
  it('refuses overlapping tensors', () => {
    expectFailure(rawFile({ a: F32x2, b: { ...F32x2, data_offsets: [4, 12] } }, new Uint8Array(12)), /overlap/);
    expectFailure(rawFile({ a: F32x2, b: F32x2 }, d8), /overlap/);
  });
  it('refuses non-string metadata', () => {
    expectFailure(rawFile({ __metadata__: { a: 1 }, x: F32x2 }, d8), /__metadata__ value for 'a' is not a string/);
    expectFailure(rawFile({ __metadata__: { a: null } }), /not a string/);
    expectFailure(rawFile({ __metadata__: ['a'] }), /__metadata__ is not an object/);
    expectFailure(rawFile({ __metadata__: 'a' }), /__metadata__ is not an object/);
  });
  it('never crashes on corrupted bytes (random flips)', () => {
    const p = path.join(dir, 'fuzz-src.safetensors');
    writeSafetensors(p, sampleRecords(), { m: 'x' });
    const full = new Uint8Array(fs.readFileSync(p));
    let seed = 12345;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    for (let t = 0; t < 2000; t++) {
      const b = full.slice();
      const flips = 1 + Math.floor(rnd() * 4);
      for (let f = 0; f < flips; f++) b[Math.floor(rnd() * (t % 2 ? 8 + 64 : b.length))] = Math.floor(rnd() * 256);
      try {
        readSafetensors(b);
      } catch (e) {
        expect((e as Error).constructor).toBe(Error);
        expect((e as Error).message).toMatch(/^safetensors <buffer>: /);
      }
    }
  });
});

describe('safetensors parity fixtures', () => {
  it('reads pretrain-tiny-normpix', () => {
    const { tensors, metadata } = readSafetensors(path.join(FIX, 'pretrain-tiny-normpix.safetensors'));
    const cfg = JSON.parse(metadata.config);
    expect(cfg.embed_dim).toEqual([16, 24, 32]);
    expect(cfg.norm_pix_loss).toBe(true);
    expect(Number(metadata.loss)).toBeGreaterThan(0);
    const w = tensors.get('param.patch_embed1.proj.weight')!;
    expect(w.dtype).toBe('float32');
    expect(w.shape).toEqual([16, 3, 4, 4]);
    expect(tensors.get('param.pos_embed')!.shape).toEqual([1, 196, 32]);
    expect(tensors.get('input.noise')!.shape).toEqual([2, 196]);
    expect(tensors.get('out.pred')!.shape).toEqual([2, 196, 768]);
    expect(recordToFloat32(w).every(Number.isFinite)).toBe(true);
  });

  it('reads finetune-tiny and survives a write/read round trip', () => {
    const src = path.join(FIX, 'finetune-tiny.safetensors');
    const a = readSafetensors(src);
    expect(JSON.parse(a.metadata.config).num_classes).toBe(10);
    expect(a.tensors.get('param.patch_embed1.proj.weight')!.shape).toEqual([16, 3, 4, 4]);
    expect(a.tensors.get('out.logits')!.shape).toEqual([2, 10]);
    const p = path.join(dir, 'ft-copy.safetensors');
    writeSafetensors(p, a.tensors, a.metadata);
    const b = readSafetensors(p);
    expect(b.metadata).toEqual(a.metadata);
    expect([...b.tensors.keys()]).toEqual([...a.tensors.keys()]);
    for (const [k, r] of a.tensors) expect(Buffer.from(b.tensors.get(k)!.data).equals(Buffer.from(r.data))).toBe(true);
  });
});
