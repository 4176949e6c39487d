// safetensors reader and writer on plain TensorRecords. Layout: u64 little-endian header length N,
// N bytes of UTF-8 JSON {"__metadata__": {str: str}, name: {dtype, shape, data_offsets}}, then
// the data block (offsets relative to its start). Reading validates everything against the file
// size before allocating and throws an Error naming the file and the problem; tensors come back in
// data order (ties in header order). Writing keeps the caller's order, pads the header with spaces
// to a multiple of 8 and is atomic (temporary file + rename; no partial file on error).

import * as fs from 'fs';
import { DType, DTYPE_BYTES } from '../tensor/dtype';
import { TensorRecord, openByteSource } from './record';

const ST_TO_DTYPE: Record<string, DType> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64', I32: 'int32', I64: 'int64',
};
const DTYPE_TO_ST: Record<DType, string> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int32: 'I32', int64: 'I64',
};
const MAX_HEADER = 100 * 1024 * 1024;

export interface SafetensorsContent {
  tensors: Map<string, TensorRecord>;
  metadata: Record<string, string>;
}

export function readSafetensors(pathOrBuffer: string | Uint8Array): SafetensorsContent {
  const src = openByteSource(pathOrBuffer);
  const label = src.label;
  const fail = (msg: string): never => { throw new Error(`safetensors ${label}: ${msg}`); };
  try {
    if (src.size < 8) fail(`file is ${src.size} bytes, shorter than the 8-byte header length`);
    const n64 = new DataView(src.read(0, 8).buffer).getBigUint64(0, true);
    if (n64 > BigInt(MAX_HEADER)) fail(`header length ${n64} is larger than the 100 MB limit`);
    const n = Number(n64);
    if (8 + n > src.size) fail(`header length ${n} runs past the end of the ${src.size}-byte file (truncated?)`);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(src.read(8, n));
    } catch {
      return fail('header is not valid UTF-8');
    }
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (e) {
      return fail(`header is not valid JSON (${(e as Error).message})`);
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
    const dataStart = 8 + n;
    const dataLen = src.size - dataStart;
    const metadata: Record<string, string> = {};
    const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number; order: number }[] = [];
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('__metadata__ is not an object');
        for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
          if (typeof v !== 'string') fail(`__metadata__ value for '${k}' is not a string`);
          Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
        }
        continue;
      }
      const where = `tensor '${name}'`;
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(`${where}: entry is not an object`);
      const e = raw as Record<string, unknown>;
      const dtype = typeof e.dtype === 'string' && Object.prototype.hasOwnProperty.call(ST_TO_DTYPE, e.dtype)
        ? ST_TO_DTYPE[e.dtype] : fail(`${where}: unknown or unsupported dtype ${JSON.stringify(e.dtype)}`);
      const shape = e.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        fail(`${where}: shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
      }
      const offs = e.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
        fail(`${where}: data_offsets ${JSON.stringify(offs)} is not two non-negative integers [begin, end] with begin <= end`);
      }
      const [begin, end] = offs as number[];
      if (end > dataLen) fail(`${where}: data_offsets [${begin}, ${end}] lie outside the ${dataLen}-byte data block (truncated?)`);
      let bytes = DTYPE_BYTES[dtype];
      for (const d of shape as number[]) bytes *= d;
      if (bytes !== end - begin) {
        fail(`${where}: ${end - begin} bytes stored but ${e.dtype} [${(shape as number[]).join(',')}] needs ${bytes}`);
      }
      entries.push({ name, dtype, shape: [...(shape as number[])], begin, end, order: entries.length });
    }
    entries.sort((a, b) => a.begin - b.begin || a.order - b.order);
    for (let i = 1; i < entries.length; i++) {
      const p = entries[i - 1], c = entries[i];
      if (c.begin < p.end) fail(`tensors '${p.name}' [${p.begin}, ${p.end}] and '${c.name}' [${c.begin}, ${c.end}] overlap`);
    }
    const tensors = new Map<string, TensorRecord>();
    for (const e of entries) {
      tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: src.read(dataStart + e.begin, e.end - e.begin) });
    }
    return { tensors, metadata };
  } finally {
    src.close();
  }
}

export function writeSafetensors(
  path: string,
  tensors: Map<string, TensorRecord> | Record<string, TensorRecord>,
  metadata?: Record<string, string>,
): void {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const fail = (msg: string): never => { throw new Error(`writeSafetensors ${path}: ${msg}`); };
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const m: string[] = [];
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(`metadata value for '${k}' is not a string`);
      m.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    parts.push(`"__metadata__":{${m.join(',')}}`);
  }
  let offset = 0;
  for (const [name, r] of list) {
    if (name === '__metadata__') fail(`'__metadata__' cannot be a tensor name`);
    const st = Object.prototype.hasOwnProperty.call(DTYPE_TO_ST, r.dtype) ? DTYPE_TO_ST[r.dtype] : fail(`tensor '${name}': unknown dtype ${String(r.dtype)}`);
    if (!Array.isArray(r.shape) || !r.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${name}': shape ${JSON.stringify(r.shape)} is not an array of non-negative integers`);
    }
    let bytes = DTYPE_BYTES[r.dtype];
    for (const d of r.shape) bytes *= d;
    if (!(r.data instanceof Uint8Array) || r.data.byteLength !== bytes) {
      fail(`tensor '${name}': ${r.dtype} [${r.shape.join(',')}] needs ${bytes} bytes, got ${r.data?.byteLength}`);
    }
    parts.push(`${JSON.stringify(name)}:{"dtype":"${st}","shape":[${r.shape.join(',')}],"data_offsets":[${offset},${offset + bytes}]}`);
    offset += bytes;
  }
  let json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const lenBytes = Buffer.alloc(8);
  lenBytes.writeBigUInt64LE(BigInt(json.length));

  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const fd = fs.openSync(tmp, 'wx');
  let ok = false;
  try {
    writeAll(fd, lenBytes);
    writeAll(fd, json);
    for (const [, r] of list) writeAll(fd, r.data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    ok = true;
    fs.renameSync(tmp, path);
  } catch (e) {
    if (!ok) { try { fs.closeSync(fd); } catch { /* already closed */ } }
    try { fs.unlinkSync(tmp); } catch { /* nothing to remove */ }
    throw e;
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.byteLength) {
    done += fs.writeSync(fd, data, done, Math.min(data.byteLength - done, 1 << 30));
  }
}
