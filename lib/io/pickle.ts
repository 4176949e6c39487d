// Restricted unpickler (protocols 0-5, binary opcodes and the simple text ones) that executes
// nothing from its input. GLOBAL/STACK_GLOBAL resolve only against an allow-list of constructors
// implemented here (torch tensor rebuilding, storages, OrderedDict, argparse.Namespace, sets, ...);
// any other global is refused with an Error naming it. Values: None -> null, bool, int -> number
// (bigint beyond 2^53), float -> number, str -> string, bytes -> Uint8Array, list/tuple -> array,
// dict/OrderedDict -> Map (order kept), set -> Set, tensors -> PickledTensor, other allowed objects
// -> PyObject. Truncated input, stack underflow and unknown opcodes give Errors, never crashes.

import { DType, DTYPE_BYTES } from '../tensor/dtype';
import { TensorRecord } from './record';

export interface UnpickleOptions {
  /** Names the input in error messages (usually the file). */
  label?: string;
  /** Bytes of storage `key` (torch: archive entry `<archive>/data/<key>`); needed for tensors. */
  loadStorage?: (key: string) => Uint8Array;
}

/** A tensor rebuilt by torch._utils._rebuild_tensor_v2: contiguous row-major record. */
export class PickledTensor {
  constructor(readonly record: TensorRecord, readonly requiresGrad: boolean) {}
}

/** An instance of an allowed non-container class (e.g. argparse.Namespace): only its attributes. */
export class PyObject {
  readonly attrs = new Map<string, unknown>();
  constructor(readonly className: string) {}
}

/** A storage type marker (torch.FloatStorage ...); wider-than-stored dtypes for Byte/Bool. */
class StorageType {
  constructor(readonly name: string, readonly dtype: DType, readonly srcBytes: number) {}
}

/** A typed storage loaded from the archive, widened to `dtype` if needed. */
class Storage {
  constructor(readonly dtype: DType, readonly numel: number, readonly bytes: Uint8Array) {}
}

/** A global from the allow-list. */
class PyGlobal {
  constructor(
    readonly fullName: string,
    readonly call?: (args: unknown[], u: Unpickler) => unknown,
    readonly newObj?: (args: unknown[], u: Unpickler) => unknown,
  ) {}
}

const STORAGES: Record<string, [DType, number]> = {
  FloatStorage: ['float32', 4], HalfStorage: ['float16', 2], BFloat16Storage: ['bfloat16', 2],
  DoubleStorage: ['float64', 8], IntStorage: ['int32', 4], LongStorage: ['int64', 8],
  ByteStorage: ['int32', 1], BoolStorage: ['int32', 1],
};

function makeSet(args: unknown[]): Set<unknown> {
  const items = args.length ? args[0] : [];
  if (!Array.isArray(items)) throw new Error('set() argument is not a list');
  return new Set(items);
}

function codecsEncode(args: unknown[]): Uint8Array {
  const [s, enc] = args;
  if (typeof s !== 'string') throw new Error('_codecs.encode: first argument is not a string');
  const e = String(enc ?? 'utf-8').toLowerCase().replace('_', '-');
  if (e === 'latin1' || e === 'latin-1' || e === 'iso-8859-1') {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) throw new Error('_codecs.encode: character outside latin-1');
      out[i] = c;
    }
    return out;
  }
  if (e === 'utf-8' || e === 'utf8') return new Uint8Array(Buffer.from(s, 'utf8'));
  throw new Error(`_codecs.encode: unsupported encoding ${JSON.stringify(enc)}`);
}

function orderedDict(args: unknown[]): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  if (args.length === 0) return m;
  const src = args[0];
  if (src instanceof Map) return new Map(src);
  if (!Array.isArray(src)) throw new Error('OrderedDict() argument is not a list of pairs');
  for (const kv of src) {
    if (!Array.isArray(kv) || kv.length !== 2) throw new Error('OrderedDict() item is not a pair');
    m.set(kv[0], kv[1]);
  }
  return m;
}

function isIntList(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function rebuildTensor(args: unknown[], u: Unpickler): PickledTensor {
  if (args.length < 4) u.fail(`_rebuild_tensor_v2 expects at least 4 arguments, got ${args.length}`);
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof Storage)) return u.fail('_rebuild_tensor_v2: first argument is not a storage');
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) u.fail('_rebuild_tensor_v2: bad storage offset');
  if (!isIntList(size) || !isIntList(stride) || size.length !== stride.length) {
    return u.fail(`_rebuild_tensor_v2: bad size ${JSON.stringify(size)} / stride ${JSON.stringify(stride)}`);
  }
  const el = DTYPE_BYTES[storage.dtype];
  let numel = 1;
  let last = offset as number;
  for (let i = 0; i < size.length; i++) {
    numel *= size[i];
    last += (size[i] - 1) * stride[i];
  }
  const shape = [...size];
  if (numel === 0) return new PickledTensor({ dtype: storage.dtype, shape, data: new Uint8Array(0) }, requiresGrad === true);
  if (!Number.isSafeInteger(numel) || last >= storage.numel) {
    u.fail(`tensor [${size.join(',')}] with stride [${stride.join(',')}] at offset ${offset} exceeds its storage of ${storage.numel} elements`);
  }
  const off = offset as number;
  let contiguous = true;
  for (let i = size.length - 1, expect = 1; i >= 0; i--) {
    if (size[i] !== 1 && stride[i] !== expect) contiguous = false;
    expect *= size[i];
  }
  let data: Uint8Array;
  if (contiguous) {
    data = storage.bytes.slice(off * el, (off + numel) * el);
  } else {
    if (numel > storage.numel) u.fail(`tensor [${size.join(',')}] with stride [${stride.join(',')}] reuses storage elements (expanded views are not supported)`);
    data = new Uint8Array(numel * el);
    // Gather in whole words: storage bytes are 8-byte aligned (see persistentLoad).
    const w = el % 4 === 0 ? 4 : el % 2 === 0 ? 2 : 1;
    const words = (b: Uint8Array): Uint32Array | Uint16Array | Uint8Array => {
      const n = Math.floor(b.byteLength / w);
      return w === 4 ? new Uint32Array(b.buffer, b.byteOffset, n) : w === 2 ? new Uint16Array(b.buffer, b.byteOffset, n) : b;
    };
    const srcW = words(storage.bytes);
    const dstW = words(data);
    const per = el / w;
    const nd = size.length;
    const idx = new Array<number>(nd).fill(0);
    let src = off;
    for (let k = 0; k < numel; k++) {
      for (let j = 0; j < per; j++) dstW[k * per + j] = srcW[src * per + j];
      for (let d = nd - 1; d >= 0; d--) {
        idx[d]++;
        src += stride[d];
        if (idx[d] < size[d]) break;
        src -= stride[d] * size[d];
        idx[d] = 0;
      }
    }
  }
  return new PickledTensor({ dtype: storage.dtype, shape, data }, requiresGrad === true);
}

function rebuildParameter(args: unknown[], u: Unpickler): PickledTensor {
  const [t, requiresGrad] = args;
  if (!(t instanceof PickledTensor)) return u.fail('_rebuild_parameter: first argument is not a tensor');
  return new PickledTensor(t.record, requiresGrad === true);
}

const ALLOWED = new Map<string, PyGlobal | StorageType>();
{
  const add = (g: PyGlobal) => ALLOWED.set(g.fullName, g);
  add(new PyGlobal('collections.OrderedDict', orderedDict, orderedDict));
  add(new PyGlobal('torch._utils._rebuild_tensor_v2', rebuildTensor));
  add(new PyGlobal('torch._utils._rebuild_parameter', rebuildParameter));
  add(new PyGlobal('torch._utils._rebuild_parameter_with_state', rebuildParameter));
  add(new PyGlobal('torch.Size', (a) => (Array.isArray(a[0]) ? [...a[0]] : [])));
  add(new PyGlobal('_codecs.encode', codecsEncode));
  add(new PyGlobal('argparse.Namespace', () => new PyObject('argparse.Namespace'), () => new PyObject('argparse.Namespace')));
  for (const mod of ['builtins', '__builtin__']) {
    add(new PyGlobal(`${mod}.set`, makeSet));
    add(new PyGlobal(`${mod}.frozenset`, makeSet));
  }
  for (const [name, [dtype, srcBytes]] of Object.entries(STORAGES)) {
    ALLOWED.set(`torch.${name}`, new StorageType(`torch.${name}`, dtype, srcBytes));
  }
}

const MAX_DEPTH_MARKS = 1_000_000;

class Unpickler {
  private pos = 0;
  private stack: unknown[] = [];
  private readonly marks: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly storages = new Map<string, Storage>();
  private readonly dv: DataView;
  private op = 0;
  private opPos = 0;

  constructor(private readonly data: Uint8Array, private readonly opts: UnpickleOptions) {
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  fail(msg: string): never {
    const at = ` (opcode 0x${this.op.toString(16).padStart(2, '0')} at byte ${this.opPos})`;
    throw new Error(`pickle ${this.opts.label ?? '<buffer>'}: ${msg}${at}`);
  }

  private need(n: number): number {
    if (n < 0 || this.pos + n > this.data.byteLength) this.fail(`truncated: needs ${n} more bytes at byte ${this.pos}`);
    const p = this.pos;
    this.pos += n;
    return p;
  }
  private u8(): number { return this.data[this.need(1)]; }
  private u16(): number { return this.dv.getUint16(this.need(2), true); }
  private u32(): number { return this.dv.getUint32(this.need(4), true); }
  private i32(): number { return this.dv.getInt32(this.need(4), true); }
  private u64(): number {
    const x = this.dv.getBigUint64(this.need(8), true);
    if (x > BigInt(this.data.byteLength)) this.fail(`length ${x} exceeds the input (truncated?)`);
    return Number(x);
  }
  private bytes(n: number): Uint8Array { const p = this.need(n); return this.data.slice(p, p + n); }
  private str(n: number): string {
    const p = this.need(n);
    return Buffer.from(this.data.buffer, this.data.byteOffset + p, n).toString('utf8');
  }
  private line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) this.fail('truncated: missing end of line');
    const s = Buffer.from(this.data.buffer, this.data.byteOffset + this.pos, end - this.pos).toString('latin1');
    this.pos = end + 1;
    return s;
  }

  private pop(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack.pop();
  }
  private top(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }
  private popMark(): unknown[] {
    if (this.marks.length === 0) this.fail('no MARK on the stack');
    const items = this.stack;
    this.stack = this.marks.pop() as unknown[];
    return items;
  }
  private getMemo(i: number): unknown {
    if (!this.memo.has(i)) this.fail(`memo key ${i} is not defined`);
    return this.memo.get(i);
  }
  private push(v: unknown): void { this.stack.push(v); }

  private long(b: Uint8Array): number | bigint {
    if (b.length === 0) return 0;
    if (b.length <= 6) {
      let v = 0;
      for (let i = b.length - 1; i >= 0; i--) v = v * 256 + b[i];
      if (b[b.length - 1] & 0x80) v -= 2 ** (8 * b.length);
      return v;
    }
    let hex = '';
    for (let i = b.length - 1; i >= 0; i--) hex += b[i].toString(16).padStart(2, '0');
    let v = BigInt('0x' + hex);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private resolveGlobal(module: string, name: string): PyGlobal | StorageType {
    const full = `${module}.${name}`;
    const g = ALLOWED.get(full);
    if (!g) throw new Error(`refusing to load global '${full}' from ${this.opts.label ?? '<buffer>'} (only tensors, storages and plain containers are allowed)`);
    return g;
  }

  private call(fn: unknown, args: unknown, kind: 'REDUCE' | 'NEWOBJ'): unknown {
    if (!Array.isArray(args)) this.fail(`${kind} arguments are not a tuple`);
    if (fn instanceof StorageType) this.fail(`${kind} on storage type ${fn.name} is not supported`);
    if (!(fn instanceof PyGlobal)) this.fail(`${kind} on a value that is not an allowed callable`);
    const f = kind === 'NEWOBJ' ? fn.newObj : fn.call;
    if (!f) this.fail(`${kind} is not supported for ${fn.fullName}`);
    try {
      return f(args, this);
    } catch (e) {
      const m = (e as Error).message;
      if (m.startsWith('pickle ')) throw e;
      return this.fail(`${fn.fullName}: ${m}`);
    }
  }

  private persistentLoad(pid: unknown): unknown {
    if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
      this.fail('unsupported persistent id (expected a torch storage tuple)');
    }
    const [, type, key, , numel] = pid;
    if (!(type instanceof StorageType)) return this.fail('persistent id does not name an allowed storage type');
    if (typeof key !== 'string') this.fail('persistent id storage key is not a string');
    if (!Number.isSafeInteger(numel) || numel < 0) this.fail('persistent id storage size is not a non-negative integer');
    const cached = this.storages.get(key);
    if (cached) {
      if (cached.dtype !== type.dtype) this.fail(`storage '${key}' is used with two dtypes`);
      return cached;
    }
    if (!this.opts.loadStorage) this.fail('tensor storages are not available (no archive)');
    const raw = this.opts.loadStorage(key);
    if (raw.byteLength < numel * type.srcBytes) {
      this.fail(`storage '${key}' has ${raw.byteLength} bytes, ${type.name} of ${numel} elements needs ${numel * type.srcBytes}`);
    }
    let bytes = raw.byteOffset % 8 === 0 ? raw : raw.slice();
    if (type.srcBytes !== DTYPE_BYTES[type.dtype]) {
      // Byte/Bool storages have no record dtype of their own: widen to int32.
      const wide = new Int32Array(numel);
      for (let i = 0; i < numel; i++) wide[i] = raw[i];
      bytes = new Uint8Array(wide.buffer);
    }
    const s = new Storage(type.dtype, numel, bytes);
    this.storages.set(key, s);
    return s;
  }

  private build(obj: unknown, state: unknown): void {
    let dict = state;
    let slots: unknown = null;
    if (Array.isArray(state) && state.length === 2) [dict, slots] = state;
    if (obj instanceof PyObject) {
      for (const s of [dict, slots]) {
        if (s === null) continue;
        if (!(s instanceof Map)) this.fail(`BUILD state for ${obj.className} is not a dict`);
        for (const [k, v] of s) obj.attrs.set(String(k), v);
      }
      return;
    }
    if (obj instanceof Map) return; // OrderedDict attributes (state_dict._metadata): not data
    if (obj instanceof PickledTensor && (dict === null || (dict instanceof Map && dict.size === 0))) return;
    this.fail('BUILD on an object that does not accept state');
  }

  run(): unknown {
    const d = this.data;
    for (;;) {
      this.opPos = this.pos;
      if (this.pos >= d.byteLength) this.fail('truncated: no STOP opcode');
      const op = (this.op = d[this.pos++]);
      switch (op) {
        case 0x80: { const v = this.u8(); if (v > 5) this.fail(`unsupported protocol ${v}`); break; } // PROTO
        case 0x95: this.u64(); break; // FRAME: frames are just inline opcodes
        case 0x2e: return this.pop(); // STOP
        case 0x28: // MARK
          if (this.marks.length >= MAX_DEPTH_MARKS) this.fail('too many nested MARKs');
          this.marks.push(this.stack); this.stack = []; break;
        case 0x30: this.pop(); break; // POP
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x32: this.push(this.top()); break; // DUP
        case 0x4e: this.push(null); break; // NONE
        case 0x88: this.push(true); break; // NEWTRUE
        case 0x89: this.push(false); break; // NEWFALSE
        case 0x4a: this.push(this.i32()); break; // BININT
        case 0x4b: this.push(this.u8()); break; // BININT1
        case 0x4d: this.push(this.u16()); break; // BININT2
        case 0x8a: { const n = this.u8(); this.push(this.long(this.bytes(n))); break; } // LONG1
        case 0x8b: { const n = this.i32(); this.push(this.long(this.bytes(n))); break; } // LONG4
        case 0x49: { // INT (text; 00/01 are False/True)
          const s = this.line();
          if (s === '00' || s === '01') { this.push(s === '01'); break; }
          this.push(this.textInt(s)); break;
        }
        case 0x4c: this.push(this.textInt(this.line().replace(/L$/, ''))); break; // LONG (text)
        case 0x46: { // FLOAT (text)
          const s = this.line().trim();
          const v = Number(s);
          if (s === '' || (Number.isNaN(v) && !/^[+-]?nan$/i.test(s))) this.fail(`bad FLOAT ${JSON.stringify(s)}`);
          this.push(v); break;
        }
        case 0x47: this.push(this.dv.getFloat64(this.need(8), false)); break; // BINFLOAT (big-endian)
        case 0x8c: this.push(this.str(this.u8())); break; // SHORT_BINUNICODE
        case 0x58: this.push(this.str(this.u32())); break; // BINUNICODE
        case 0x8d: this.push(this.str(this.u64())); break; // BINUNICODE8
        case 0x43: this.push(this.bytes(this.u8())); break; // SHORT_BINBYTES
        case 0x42: this.push(this.bytes(this.u32())); break; // BINBYTES
        case 0x8e: case 0x96: this.push(this.bytes(this.u64())); break; // BINBYTES8, BYTEARRAY8
        case 0x55: this.push(this.latin1(this.u8())); break; // SHORT_BINSTRING (py2 str)
        case 0x54: { const n = this.i32(); if (n < 0) this.fail('negative BINSTRING length'); this.push(this.latin1(n)); break; }
        case 0x98: break; // READONLY_BUFFER
        case 0x29: this.push([]); break; // EMPTY_TUPLE
        case 0x85: this.push([this.pop()]); break; // TUPLE1
        case 0x86: { const b = this.pop(); const a = this.pop(); this.push([a, b]); break; } // TUPLE2
        case 0x87: { const c = this.pop(); const b = this.pop(); const a = this.pop(); this.push([a, b, c]); break; } // TUPLE3
        case 0x74: this.push(this.popMark()); break; // TUPLE
        case 0x5d: this.push([]); break; // EMPTY_LIST
        case 0x6c: this.push(this.popMark()); break; // LIST
        case 0x7d: this.push(new Map()); break; // EMPTY_DICT
        case 0x64: { const items = this.popMark(); this.push(this.setItems(new Map(), items)); break; } // DICT
        case 0x8f: this.push(new Set()); break; // EMPTY_SET
        case 0x91: this.push(new Set(this.popMark())); break; // FROZENSET
        case 0x61: { const v = this.pop(); this.listOf(this.top()).push(v); break; } // APPEND
        case 0x65: { const items = this.popMark(); const l = this.listOf(this.top()); for (const x of items) l.push(x); break; } // APPENDS
        case 0x73: { const v = this.pop(); const k = this.pop(); this.setItems(this.top(), [k, v]); break; } // SETITEM
        case 0x75: { const items = this.popMark(); this.setItems(this.top(), items); break; } // SETITEMS
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof Set)) this.fail('ADDITEMS on a non-set');
          for (const it of items) s.add(it);
          break;
        }
        case 0x94: this.memo.set(this.memo.size, this.top()); break; // MEMOIZE
        case 0x71: this.memo.set(this.u8(), this.top()); break; // BINPUT
        case 0x72: this.memo.set(this.u32(), this.top()); break; // LONG_BINPUT
        case 0x70: this.memo.set(this.textIndex(), this.top()); break; // PUT
        case 0x68: this.push(this.getMemo(this.u8())); break; // BINGET
        case 0x6a: this.push(this.getMemo(this.u32())); break; // LONG_BINGET
        case 0x67: this.push(this.getMemo(this.textIndex())); break; // GET
        case 0x63: { const m = this.line(); const n = this.line(); this.push(this.resolveGlobal(m, n)); break; } // GLOBAL
        case 0x93: { // STACK_GLOBAL
          const n = this.pop(); const m = this.pop();
          if (typeof m !== 'string' || typeof n !== 'string') this.fail('STACK_GLOBAL needs two strings');
          this.push(this.resolveGlobal(m, n)); break;
        }
        case 0x52: { const args = this.pop(); const fn = this.pop(); this.push(this.call(fn, args, 'REDUCE')); break; } // REDUCE
        case 0x81: { const args = this.pop(); const cls = this.pop(); this.push(this.call(cls, args, 'NEWOBJ')); break; } // NEWOBJ
        case 0x92: { // NEWOBJ_EX
          const kw = this.pop(); const args = this.pop(); const cls = this.pop();
          if (!(kw instanceof Map) || kw.size !== 0) this.fail('NEWOBJ_EX with keyword arguments is not supported');
          this.push(this.call(cls, args, 'NEWOBJ')); break;
        }
        case 0x62: { const state = this.pop(); this.build(this.top(), state); break; } // BUILD
        case 0x51: this.push(this.persistentLoad(this.pop())); break; // BINPERSID
        default: {
          const name = UNSUPPORTED[op];
          this.fail(name ? `opcode ${name} is not supported` : `unknown opcode`);
        }
      }
    }
  }

  private latin1(n: number): string {
    const p = this.need(n);
    return Buffer.from(this.data.buffer, this.data.byteOffset + p, n).toString('latin1');
  }
  private textInt(s: string): number | bigint {
    if (!/^[+-]?\d+$/.test(s.trim())) this.fail(`bad integer ${JSON.stringify(s)}`);
    const v = BigInt(s.trim());
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  private textIndex(): number {
    const v = this.textInt(this.line());
    if (typeof v !== 'number' || v < 0) this.fail('bad memo index');
    return v;
  }
  private listOf(x: unknown): unknown[] {
    if (!Array.isArray(x)) this.fail('APPEND on a non-list');
    return x;
  }
  private setItems(target: unknown, items: unknown[]): Map<unknown, unknown> {
    if (!(target instanceof Map)) this.fail('SETITEM on a non-dict');
    if (items.length % 2) this.fail('odd number of items for SETITEMS');
    for (let i = 0; i < items.length; i += 2) {
      target.set(items[i], items[i + 1]); // tuple keys become arrays, compared by identity
    }
    return target;
  }
}

const UNSUPPORTED: Record<number, string> = {
  0x53: 'STRING', 0x56: 'UNICODE', 0x50: 'PERSID', 0x69: 'INST', 0x6f: 'OBJ',
  0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x97: 'NEXT_BUFFER',
};

/** Unpickles `data` without executing anything from it (see the file comment for the mapping). */
export function unpickle(data: Uint8Array, options: UnpickleOptions = {}): unknown {
  return new Unpickler(data, options).run();
}
