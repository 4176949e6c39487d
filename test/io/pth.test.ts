// torch.save loading: the four .pth fixtures against the parity safetensors (bit for bit), layouts
// and plain `extra` data, the restricted unpickler (plain data in protocols 2-5, refused globals,
// truncated/garbage input, stack underflow, unknown opcodes) and strided tensor materialisation.

import { describe, it, expect } from 'vitest';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { loadPth, loadPthRaw, readSafetensors, recordToFloat32, unpickle, PickledTensor, ZipArchive } from '../../lib/io';
import type { TensorRecord } from '../../lib/io';

const PTH = path.join(__dirname, '..', 'fixtures', 'pth');
const PARITY = path.join(__dirname, '..', 'fixtures', 'parity');

function params(file: string): Map<string, TensorRecord> {
  const out = new Map<string, TensorRecord>();
  for (const [k, v] of readSafetensors(path.join(PARITY, file)).tensors) if (k.startsWith('param.')) out.set(k.slice(6), v);
  return out;
}
const same = (a: TensorRecord, b: TensorRecord) =>
  a.dtype === b.dtype && JSON.stringify(a.shape) === JSON.stringify(b.shape) && Buffer.from(a.data).equals(Buffer.from(b.data));

function expectSameState(got: Map<string, TensorRecord>, want: Map<string, TensorRecord>): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [k, r] of want) expect(same(got.get(k)!, r), k).toBe(true);
}

describe('loadPth fixtures', () => {
  const pre = params('pretrain-tiny-normpix.safetensors');

  it('official checkpoint layout: model weights bit for bit, args/epoch/scaler/optimizer as plain data', () => {
    const ck = loadPth(path.join(PTH, 'pretrain-tiny-normpix.checkpoint.pth'));
    expect(ck.stateDict.size).toBe(93);
    expectSameState(ck.stateDict, pre);
    expect([...ck.stateDict.keys()].slice(0, 4)).toEqual(['pos_embed', 'mask_token', 'decoder_pos_embed', 'patch_embed1.proj.weight']);
    const args = ck.extra.args as Record<string, unknown>;
    expect(typeof args.model).toBe('string');
    expect(args.model).toBe('convmae_convvit_base_patch16');
    expect(args).toMatchObject({ batch_size: 2, mask_ratio: 0.75, norm_pix_loss: true, weight_decay: 0.05 });
    expect(ck.extra.epoch).toBe(0);
    expect(ck.extra.scaler).toMatchObject({ scale: 65536, growth_interval: 2000 });
    const opt = ck.extra.optimizer as { state: Record<string, Record<string, unknown>>; param_groups: Record<string, unknown>[] };
    expect(opt.param_groups).toHaveLength(1);
    expect(opt.param_groups[0]).toMatchObject({ lr: 0.00015, betas: [0.9, 0.95], eps: 1e-8, amsgrad: false, foreach: null });
    expect(opt.state['3'].exp_avg).toEqual({ __tensor__: true, dtype: 'float32', shape: [16, 3, 4, 4] });
    expect(JSON.parse(JSON.stringify(ck.extra))).toEqual(ck.extra); // JSON-able
    expect('model' in ck.extra).toBe(false);
    expect(ck.raw).toBeInstanceOf(Map);
    expect((ck.raw as Map<string, unknown>).get('model')).toBeInstanceOf(Map);
  });

  it('bare state_dict gives the same keys and weights', () => {
    const sd = loadPth(path.join(PTH, 'pretrain-tiny-normpix.state_dict.pth'));
    expectSameState(sd.stateDict, pre);
    expect(sd.extra).toEqual({});
  });

  it('fp16 file keeps float16 records within float16 rounding of the float32 weights', () => {
    const h = loadPth(path.join(PTH, 'pretrain-tiny-normpix.fp16.pth'));
    expect([...h.stateDict.keys()].sort()).toEqual([...pre.keys()].sort());
    for (const [k, r] of h.stateDict) {
      expect(r.dtype, k).toBe('float16');
      expect(r.shape).toEqual(pre.get(k)!.shape);
      const a = recordToFloat32(r), b = recordToFloat32(pre.get(k)!);
      for (let i = 0; i < b.length; i++) {
        const tol = Math.max(Math.abs(b[i]) * 2 ** -11, 2 ** -25);
        if (!(Math.abs(a[i] - b[i]) <= tol)) expect.fail(`${k}[${i}]: ${a[i]} vs ${b[i]}`);
      }
    }
  });

  it('finetune checkpoint equals the finetune-tiny params', () => {
    const ft = loadPth(path.join(PTH, 'finetune-tiny.checkpoint.pth'));
    expectSameState(ft.stateDict, params('finetune-tiny.safetensors'));
    expect(ft.extra).toEqual({ epoch: 99, args: { model: 'convvit_base_patch16', nb_classes: 10, global_pool: true } });
  });

  it('loads from an in-memory buffer too', () => {
    const ck = loadPth(new Uint8Array(fs.readFileSync(path.join(PTH, 'finetune-tiny.checkpoint.pth'))));
    expect(ck.stateDict.get('head.weight')!.shape).toEqual([10, 32]);
  });

  it('refuses a truncated or garbage .pth with an Error naming the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-pth-'));
    try {
      const full = fs.readFileSync(path.join(PTH, 'finetune-tiny.checkpoint.pth'));
      const p = path.join(dir, 'cut.pth');
      fs.writeFileSync(p, full.subarray(0, 100_000));
      expect(() => loadPth(p)).toThrow(new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*end-of-central-directory`));
      fs.writeFileSync(p, Buffer.from('definitely not a zip archive, just some words'));
      expect(() => loadPth(p)).toThrow(/cut\.pth/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- hand-built pickles and archives ----

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return [...b]; };
const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return [...b]; };
const uni = (s: string) => { const b = Buffer.from(s, 'utf8'); return [0x58, ...u32(b.length), ...b]; };
const glob = (m: string, n: string) => [0x63, ...Buffer.from(`${m}\n${n}\n`, 'latin1')];
const int = (n: number) => [0x4a, ...i32(n)];
const MARK = 0x28, TUPLE = 0x74, REDUCE = 0x52, STOP = 0x2e, EMPTY_TUPLE = 0x29, EMPTY_DICT = 0x7d, SETITEMS = 0x75;
const tuple = (xs: number[]) => [MARK, ...xs.flatMap(int), TUPLE];

function tensorOps(key: string, storage: string, numel: number, offset: number, size: number[], stride: number[]): number[] {
  return [
    ...glob('torch._utils', '_rebuild_tensor_v2'), MARK,
    MARK, ...uni('storage'), ...glob('torch', storage), ...uni(key), ...uni('cpu'), ...int(numel), TUPLE, 0x51,
    ...int(offset), ...tuple(size), ...tuple(stride), 0x89, ...glob('collections', 'OrderedDict'), EMPTY_TUPLE, REDUCE,
    TUPLE, REDUCE,
  ];
}
const dictOf = (entries: [string, number[]][]) =>
  new Uint8Array([0x80, 2, EMPTY_DICT, MARK, ...entries.flatMap(([k, v]) => [...uni(k), ...v]), SETITEMS, STOP]);

/** A stored-only zip in torch.save's layout: <arch>/data.pkl, <arch>/data/<key>. */
function torchZip(pkl: Uint8Array, storages: Record<string, Uint8Array>, arch = 'archive'): Uint8Array {
  const files: [string, Uint8Array][] = [[`${arch}/data.pkl`, pkl], [`${arch}/byteorder`, Buffer.from('little')],
    ...Object.entries(storages).map(([k, v]): [string, Uint8Array] => [`${arch}/data/${k}`, v])];
  const parts: Buffer[] = [], cd: Buffer[] = [];
  let off = 0;
  for (const [name, data] of files) {
    const n = Buffer.from(name), crc = zlib.crc32(data) >>> 0;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(data.length, 22); lh.writeUInt16LE(n.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(data.length, 20);
    ch.writeUInt32LE(data.length, 24); ch.writeUInt16LE(n.length, 28); ch.writeUInt32LE(off, 42);
    parts.push(lh, n, Buffer.from(data)); cd.push(ch, n);
    off += 30 + n.length + data.length;
  }
  const c = Buffer.concat(cd), e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0); e.writeUInt16LE(files.length, 8); e.writeUInt16LE(files.length, 10);
  e.writeUInt32LE(c.length, 12); e.writeUInt32LE(off, 16);
  return new Uint8Array(Buffer.concat([...parts, c, e]));
}
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
const pickleErr = (b: number[] | Uint8Array, re: RegExp) => {
  let err: unknown;
  try { unpickle(new Uint8Array(b), { label: 'test.pkl' }); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).constructor).toBe(Error);
  expect((err as Error).message).toContain('test.pkl');
  expect((err as Error).message).toMatch(re);
};

describe('strided tensors', () => {
  it('materialises contiguous, offset and transposed tensors of every element size', () => {
    const f32 = bytes(new Float32Array([0, 1, 2, 3, 4, 5]));
    const f16 = bytes(new Uint16Array([10, 11, 12, 13, 14, 15]));
    const i64 = bytes(new BigInt64Array([0n, 1n, 2n, 3n, 4n, -5n]));
    const pkl = dictOf([
      ['plain', tensorOps('0', 'FloatStorage', 6, 0, [2, 3], [3, 1])],
      ['t', tensorOps('0', 'FloatStorage', 6, 0, [3, 2], [1, 3])],
      ['slice', tensorOps('0', 'FloatStorage', 6, 2, [2], [1])],
      ['col', tensorOps('0', 'FloatStorage', 6, 1, [2], [3])],
      ['h_t', tensorOps('1', 'HalfStorage', 6, 0, [3, 2], [1, 3])],
      ['l_t', tensorOps('2', 'LongStorage', 6, 0, [3, 2], [1, 3])],
      ['perm', tensorOps('0', 'FloatStorage', 6, 0, [1, 3, 2], [6, 1, 3])],
      ['scalar', tensorOps('0', 'FloatStorage', 6, 4, [], [])],
    ]);
    const { stateDict } = loadPth(torchZip(pkl, { 0: f32, 1: f16, 2: i64 }));
    const v = (k: string) => Array.from(recordToFloat32(stateDict.get(k)!));
    expect(v('plain')).toEqual([0, 1, 2, 3, 4, 5]);
    expect(v('t')).toEqual([0, 3, 1, 4, 2, 5]);
    expect(v('slice')).toEqual([2, 3]);
    expect(v('col')).toEqual([1, 4]);
    expect(stateDict.get('h_t')!.dtype).toBe('float16');
    expect(Array.from(new Uint16Array(stateDict.get('h_t')!.data.slice().buffer))).toEqual([10, 13, 11, 14, 12, 15]);
    expect(Array.from(new BigInt64Array(stateDict.get('l_t')!.data.slice().buffer))).toEqual([0n, 3n, 1n, 4n, 2n, -5n]);
    expect(v('perm')).toEqual([0, 3, 1, 4, 2, 5]);
    expect(stateDict.get('perm')!.shape).toEqual([1, 3, 2]);
    expect(stateDict.get('scalar')!.shape).toEqual([]);
    expect(v('scalar')).toEqual([4]);
  });

  it('refuses views outside their storage, expanded views and short storages', () => {
    const f32 = bytes(new Float32Array(6));
    expect(() => loadPth(torchZip(dictOf([['x', tensorOps('0', 'FloatStorage', 6, 1, [2, 3], [3, 1])]]), { 0: f32 }))).toThrow(/exceeds its storage/);
    expect(() => loadPth(torchZip(dictOf([['x', tensorOps('0', 'FloatStorage', 6, 0, [4, 6], [0, 1])]]), { 0: f32 }))).toThrow(/expanded views/);
    expect(() => loadPth(torchZip(dictOf([['x', tensorOps('0', 'FloatStorage', 8, 0, [8], [1])]]), { 0: f32 }))).toThrow(/needs 32/);
    expect(() => loadPth(torchZip(dictOf([['x', tensorOps('9', 'FloatStorage', 6, 0, [6], [1])]]), { 0: f32 }))).toThrow(/storage entry 'archive\/data\/9' is missing/);
  });

  it('widens Byte/Bool storages to int32 and unwraps _rebuild_parameter', () => {
    const param = [...glob('torch._utils', '_rebuild_parameter'), MARK, ...tensorOps('1', 'FloatStorage', 2, 0, [2], [1]), 0x88,
      ...glob('collections', 'OrderedDict'), EMPTY_TUPLE, REDUCE, TUPLE, REDUCE];
    const raw = loadPthRaw(torchZip(dictOf([['b', tensorOps('0', 'BoolStorage', 3, 0, [3], [1])], ['p', param]]),
      { 0: new Uint8Array([1, 0, 1]), 1: bytes(new Float32Array([7, 8])) })) as Map<string, PickledTensor>;
    expect(raw.get('b')!.record.dtype).toBe('int32');
    expect(Array.from(recordToFloat32(raw.get('b')!.record))).toEqual([1, 0, 1]);
    expect(raw.get('p')!.requiresGrad).toBe(true);
    expect(Array.from(recordToFloat32(raw.get('p')!.record))).toEqual([7, 8]);
  });
});

describe('restricted unpickler', () => {
  const X300 = '78'.repeat(300);
  // pickle.dumps of the same dict with protocols 2, 3 and 4 (5 is byte-identical to 4 here)
  const HEX: Record<number, string> = {
    2: '80027d71002858010000006171015d7102284b014afeffffff4d2c014a701101008a060000000000ff8a09000000000000000040473ff80000000000004e88896558010000006271034b014b024b038771045801000000637105635f636f646563730a656e636f64650a7106580500000000c3bf6162710758060000006c6174696e31710886710952710a580100000064710b7d710c580100000078710d580a00000068c3a96c6c6f20e29c93710e73580100000065710f635f5f6275696c74696e5f5f0a7365740a71105d7111284b014b02658571125271135801000000667114582c010000<X300>711558010000006771165d7117284b074b0865580100000068711868174b035807000000696e74206b65797119752e',
    3: '80037d71002858010000006171015d7102284b014afeffffff4d2c014a701101008a060000000000ff8a09000000000000000040473ff80000000000004e88896558010000006271034b014b024b038771045801000000637105430400ff6162710658010000006471077d71085801000000787109580a00000068c3a96c6c6f20e29c93710a73580100000065710b636275696c74696e730a7365740a710c5d710d284b014b026585710e52710f5801000000667110582c010000<X300>711158010000006771125d7113284b074b0865580100000068711468134b035807000000696e74206b65797115752e',
    4: '800495ca010000000000007d94288c0161945d94284b014afeffffff4d2c014a701101008a060000000000ff8a09000000000000000040473ff80000000000004e8889658c0162944b014b024b0387948c016394430400ff6162948c0164947d948c0178948c0a68c3a96c6c6f20e29c9394738c0165948f94284b014b02908c016694582c010000<X300>948c0167945d94284b074b08658c01689468104b038c07696e74206b657994752e',
  };
  const pk = (p: number) => new Uint8Array(Buffer.from(HEX[p].replace('<X300>', X300), 'hex'));

  for (const p of [2, 3, 4]) {
    it(`decodes plain data written with protocol ${p}`, () => {
      const d = unpickle(pk(p)) as Map<unknown, unknown>;
      expect(d).toBeInstanceOf(Map);
      expect([...d.keys()]).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 3]);
      expect(d.get('a')).toEqual([1, -2, 300, 70000, -(2 ** 40), 2n ** 70n, 1.5, null, true, false]);
      expect(d.get('b')).toEqual([1, 2, 3]);
      expect(d.get('c')).toEqual(new Uint8Array([0, 255, 0x61, 0x62]));
      expect(d.get('d')).toEqual(new Map([['x', 'héllo ✓']]));
      expect(d.get('e')).toEqual(new Set([1, 2]));
      expect(d.get('f')).toBe('x'.repeat(300));
      expect(d.get('g')).toBe(d.get('h')); // memo keeps shared references
      expect(d.get(3)).toBe('int key');
    });
  }

  it('decodes BYTEARRAY8 (protocol 5)', () => {
    expect(unpickle(new Uint8Array(Buffer.from('8005950d000000000000009602000000000000007879942e', 'hex')))).toEqual(new Uint8Array([0x78, 0x79]));
  });

  it('refuses os.system + REDUCE without executing anything', () => {
    const marker = path.join(os.tmpdir(), `convmae-pwned-${process.pid}`);
    const evil = [0x80, 2, ...glob('os', 'system'), MARK, ...uni(`touch ${marker}`), TUPLE, REDUCE, STOP];
    expect(() => unpickle(new Uint8Array(evil), { label: 'evil.pkl' })).toThrow("refusing to load global 'os.system' from evil.pkl");
    expect(fs.existsSync(marker)).toBe(false);
    // STACK_GLOBAL (protocol 4) and other dangerous names, and inside a .pth archive
    const sg = [0x80, 4, 0x8c, 8, ...Buffer.from('builtins'), 0x8c, 4, ...Buffer.from('eval'), 0x93, MARK, ...uni('1'), TUPLE, REDUCE, STOP];
    expect(() => unpickle(new Uint8Array(sg))).toThrow("refusing to load global 'builtins.eval'");
    for (const [m, n] of [['posix', 'system'], ['subprocess', 'Popen'], ['torch', 'load'], ['numpy', 'load'], ['builtins', 'getattr']]) {
      expect(() => unpickle(new Uint8Array([0x80, 2, ...glob(m, n), STOP]))).toThrow(`refusing to load global '${m}.${n}'`);
    }
    const zip = torchZip(new Uint8Array(evil), {});
    expect(() => loadPth(zip)).toThrow(/refusing to load global 'os.system'/);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('gives clear errors for truncated input, stack underflow, missing marks and bad opcodes', () => {
    pickleErr([], /truncated: no STOP/);
    pickleErr([0x80, 2], /truncated: no STOP/);
    pickleErr([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x61], /truncated/); // BINUNICODE length past the end
    pickleErr([0x80, 4, 0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], /exceeds the input/); // huge FRAME
    pickleErr([0x8d, 0, 0, 0, 0, 0, 0, 0, 0x80], /exceeds the input/); // huge BINUNICODE8
    pickleErr([0x80, 2, 0x85, STOP], /stack underflow/); // TUPLE1 on empty stack
    pickleErr([0x80, 2, STOP], /stack underflow/);
    pickleErr([0x80, 2, REDUCE, STOP], /stack underflow/);
    pickleErr([0x80, 2, EMPTY_DICT, 0x4b, 1, SETITEMS, STOP], /no MARK/);
    pickleErr([0x80, 2, EMPTY_DICT, 0x4b, 1, 0x61, STOP], /APPEND on a non-list/);
    pickleErr([0x80, 2, 0x5d, 0x4b, 1, 0x4b, 2, 0x73, STOP], /SETITEM on a non-dict/);
    pickleErr([0x80, 2, 0x68, 5, STOP], /memo key 5 is not defined/);
    pickleErr([0x80, 2, 0xff, STOP], /unknown opcode.*0xff/);
    pickleErr([0x80, 2, 0x82, 1, STOP], /EXT1 is not supported/);
    pickleErr([0x80, 9, STOP], /unsupported protocol 9/);
    pickleErr([0x80, 2, 0x51, STOP], /stack underflow/);
    pickleErr([0x80, 2, 0x4b, 1, 0x51, STOP], /persistent id/);
    pickleErr([0x80, 2, ...glob('torch', 'FloatStorage'), EMPTY_TUPLE, REDUCE, STOP], /REDUCE on storage type torch.FloatStorage/);
    pickleErr([0x80, 2, 0x4b, 1, EMPTY_TUPLE, REDUCE, STOP], /not an allowed callable/);
    pickleErr([0x80, 2, ...glob('torch._utils', '_rebuild_tensor_v2'), MARK, 0x4b, 1, TUPLE, REDUCE, STOP], /expects at least 4 arguments/);
    pickleErr([0x80, 2, 0x5d, EMPTY_DICT, 0x62, STOP], /BUILD on an object/);
  });

  it('handles long APPENDS batches, and cycles/deep nesting in extra', () => {
    const many = [0x80, 2, 0x5d, MARK, ...new Array<number>(200_000).fill(0).flatMap(() => [0x4b, 1]), 0x65, STOP];
    expect((unpickle(new Uint8Array(many)) as number[]).length).toBe(200_000);
    const cyclic = [0x5d, 0x71, 0, 0x68, 0, 0x61]; // l = []; l.append(l)
    const deep = [...new Array<number>(5000).fill(0x5d), ...new Array<number>(4999).fill(0x61)];
    const model = [EMPTY_DICT, ...uni('w'), ...tensorOps('0', 'FloatStorage', 1, 0, [1], [1]), 0x73];
    const pkl = dictOf([['model', model], ['loop', cyclic], ['deep', deep]]);
    const ck = loadPth(torchZip(pkl, { 0: bytes(new Float32Array([3])) }));
    expect([...ck.stateDict.keys()]).toEqual(['w']);
    expect(ck.extra.loop).toEqual(['[recursive]']);
    expect(JSON.stringify(ck.extra.deep)).toContain('[too deep]');
  });

  it('never crashes on truncated or corrupted pickles', () => {
    const good = pk(2);
    for (let cut = 0; cut < good.length; cut++) pickleErr(good.slice(0, cut), /./);
    const fixture = ZipArchive.open(path.join(PTH, 'pretrain-tiny-normpix.state_dict.pth'));
    const pkl = fixture.readEntry('pretrain-tiny-normpix.state_dict/data.pkl');
    const cache = new Map<string, Uint8Array>();
    const load = (key: string) => {
      if (!cache.has(key)) cache.set(key, fixture.readEntry(`pretrain-tiny-normpix.state_dict/data/${key}`));
      return cache.get(key)!;
    };
    for (let cut = 0; cut < pkl.length; cut += 97) {
      expect(() => unpickle(pkl.slice(0, cut), { label: 'cut.pkl', loadStorage: load })).toThrow(/cut\.pkl/);
    }
    let seed = 99;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    for (let t = 0; t < 1500; t++) {
      const b = (t % 3 ? pkl : good).slice();
      for (let f = 0; f < 1 + Math.floor(rnd() * 3); f++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      try {
        unpickle(b, { label: 'fuzz.pkl', loadStorage: load });
      } catch (e) {
        expect((e as Error).constructor).toBe(Error);
        expect((e as Error).message).toMatch(/fuzz\.pkl|zip /);
      }
    }
    const garbage = new Uint8Array(4096).map(() => Math.floor(rnd() * 256));
    expect(() => unpickle(garbage, { label: 'garbage.pkl' })).toThrow(/garbage\.pkl/);
    fixture.close();
  });
});
