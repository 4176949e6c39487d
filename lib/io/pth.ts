// Loads torch.save (.pth, zip format) checkpoints without PyTorch and without running anything
// from the file: the archive's data.pkl goes through the restricted unpickler, storages come from
// `<archive>/data/<key>`. The state dict is the root's `model` (or `state_dict`) entry when that
// holds tensors (the official {model, optimizer, epoch, scaler, args} layout), else the root
// itself when it is a dict of tensors. `extra` is every other top-level entry as plain JSON-able
// data (Namespace -> object, tensors -> {__tensor__, dtype, shape} summaries).

import { ZipArchive } from './zip';
import { PickledTensor, PyObject, unpickle } from './pickle';
import { TensorRecord } from './record';

export interface PthCheckpoint {
  stateDict: Map<string, TensorRecord>;
  extra: Record<string, unknown>;
  /** The unpickled root: Maps, arrays, PickledTensor, PyObject, ... */
  raw: unknown;
}

/** Unpickles a torch.save archive, returning its root object (see pickle.ts for the mapping). */
export function loadPthRaw(pathOrBuffer: string | Uint8Array): unknown {
  const zip = ZipArchive.open(pathOrBuffer);
  try {
    const label = zip.label;
    const pkl = zip.listEntries().find((e) => /^[^/]+\/data\.pkl$/.test(e.name) || e.name === 'data.pkl');
    if (!pkl) throw new Error(`${label}: no data.pkl in the archive (not a torch.save file)`);
    const prefix = pkl.name.slice(0, -'data.pkl'.length);
    if (zip.has(`${prefix}byteorder`)) {
      const order = Buffer.from(zip.readEntry(`${prefix}byteorder`)).toString('latin1').trim();
      if (order !== 'little') throw new Error(`${label}: byte order '${order}' is not supported (only little-endian)`);
    }
    return unpickle(zip.readEntry(pkl.name), {
      label,
      loadStorage: (key) => {
        const name = `${prefix}data/${key}`;
        if (!zip.has(name)) throw new Error(`${label}: storage entry '${name}' is missing`);
        return zip.readEntry(name);
      },
    });
  } catch (e) {
    const err = e as Error;
    if (typeof pathOrBuffer === 'string' && !err.message.includes(pathOrBuffer)) err.message = `${pathOrBuffer}: ${err.message}`;
    throw err;
  } finally {
    zip.close();
  }
}

export function loadPth(pathOrBuffer: string | Uint8Array): PthCheckpoint {
  const raw = loadPthRaw(pathOrBuffer);
  const label = typeof pathOrBuffer === 'string' ? pathOrBuffer : '<buffer>';
  if (!(raw instanceof Map)) throw new Error(`${label}: the checkpoint root is not a dict`);
  let sdKey: unknown;
  for (const k of ['model', 'state_dict']) {
    const v = raw.get(k);
    if (v instanceof Map && v.size > 0 && [...v.values()].some((x) => x instanceof PickledTensor)) { sdKey = k; break; }
  }
  const source = sdKey === undefined ? raw : (raw.get(sdKey) as Map<unknown, unknown>);
  if (sdKey === undefined && !(raw.size > 0 && [...raw.values()].every((x) => x instanceof PickledTensor))) {
    throw new Error(`${label}: no state dict found (expected a 'model' entry of tensors, or a dict of tensors)`);
  }
  const stateDict = new Map<string, TensorRecord>();
  for (const [k, v] of source) {
    if (v instanceof PickledTensor) stateDict.set(String(k), v.record);
  }
  const extra: Record<string, unknown> = {};
  if (sdKey !== undefined) {
    for (const [k, v] of raw) {
      if (k !== sdKey) setProp(extra, String(k), toPlain(v, 0, new Set()));
    }
  }
  return { stateDict, extra, raw };
}

function setProp(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Pickled values -> JSON-able data (cycles and very deep nesting are cut, never a stack overflow). */
function toPlain(v: unknown, depth: number, seen: Set<unknown>): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof PickledTensor) return { __tensor__: true, dtype: v.record.dtype, shape: [...v.record.shape] };
  if (v instanceof Uint8Array) return { __bytes__: Buffer.from(v).toString('base64') };
  if (typeof v !== 'object') return String(v);
  if (seen.has(v)) return '[recursive]';
  if (depth > 200) return '[too deep]';
  seen.add(v);
  try {
    if (Array.isArray(v) || v instanceof Set) return [...v].map((x) => toPlain(x, depth + 1, seen));
    const out: Record<string, unknown> = {};
    const entries = v instanceof Map ? v : v instanceof PyObject ? v.attrs : null;
    if (!entries) return `[${(v as object).constructor?.name ?? 'object'}]`;
    for (const [k, x] of entries) setProp(out, String(k), toPlain(x, depth + 1, seen));
    return out;
  } finally {
    seen.delete(v);
  }
}
