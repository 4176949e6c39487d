// Parity against the official PyTorch model: reads a fixture file (fixtures/README.md format),
// builds the model its config describes, loads its weights, runs forward and backward on its
// inputs and compares every tensor at the places SPEC.md §11.2 names (visible positions for
// stage-1/2 maps, kept tokens for stage-3-grid maps, ids_keep rows for stage-3 tensors), by
// relative L2 error. Forward tensors must be within 1e-4, gradients 1e-3, masks exact.
import { backward, clearTape } from '../autograd/tape';
import { readSafetensors } from '../io/safetensors';
import { TensorRecord, recordToFloat32 } from '../io/record';
import { crossEntropy, softTargets } from '../ops/losses';
import { Device } from '../tensor/device';
import { tidy } from '../tensor/scope';
import { Tensor, tensor } from '../tensor/tensor';
import { fromFixtureConfig } from '../models/config';
import { ConvMAE } from '../models/convmae';
import { ConvViT } from '../models/convvit';
import { Masking, fullMasking } from '../models/masking';

export const FORWARD_TOL = 1e-4;
export const GRAD_TOL = 1e-3;

export interface ParityRow {
  name: string;
  kind: 'forward' | 'grad' | 'mask';
  error: number;
  tolerance: number;
  compared: string;
  ok: boolean;
}

export interface ParityReport {
  file: string;
  mode: 'pretrain' | 'finetune';
  device: Device;
  rows: ParityRow[];
  worstForward: ParityRow | null;
  worstGrad: ParityRow | null;
  ok: boolean;
}

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (!Number.isFinite(num)) return Infinity;
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Reference values of a [N, C, S, S] map at our rows [N*K*t*t, C] (visible positions). */
function mapAtRows(ref: TensorRecord, m: Masking, grid: number, t: number): Float32Array {
  const [n, c, s] = ref.shape;
  const v = recordToFloat32(ref);
  const out = new Float32Array(n * m.kept * t * t * c);
  let r = 0;
  for (let b = 0; b < n; b++) for (let slot = 0; slot < m.kept; slot++) {
    const cell = m.idsKeep[b * m.kept + slot];
    const gy = Math.floor(cell / grid), gx = cell % grid;
    for (let dy = 0; dy < t; dy++) for (let dx = 0; dx < t; dx++, r++) {
      const y = gy * t + dy, x = gx * t + dx;
      for (let ch = 0; ch < c; ch++) out[r * c + ch] = v[((b * c + ch) * s + y) * s + x];
    }
  }
  return out;
}

/** Reference rows of a [N, T, C] tensor at the kept tokens (ids_keep order). */
function tokensAtKept(ref: TensorRecord, m: Masking): Float32Array {
  const [n, tokens, c] = ref.shape;
  const v = recordToFloat32(ref);
  const out = new Float32Array(n * m.kept * c);
  for (let b = 0; b < n; b++) for (let slot = 0; slot < m.kept; slot++) {
    const cell = m.idsKeep[b * m.kept + slot];
    out.set(v.subarray((b * tokens + cell) * c, (b * tokens + cell + 1) * c), (b * m.kept + slot) * c);
  }
  return out;
}

const STAGE_T: [RegExp, number][] = [
  [/^(patch_embed1|blocks1\.\d+)$/, 4],
  [/^(patch_embed2|blocks2\.\d+)$/, 2],
  [/^(patch_embed3|stage1_output_decode|stage2_output_decode)$/, 1],
];

function referenceFor(name: string, ref: TensorRecord, m: Masking, grid: number): { values: Float32Array; where: string } {
  for (const [re, t] of STAGE_T) {
    if (re.test(name)) return { values: mapAtRows(ref, m, grid, t), where: t === 1 ? 'kept tokens' : 'visible positions' };
  }
  if (name === 'patch_embed4') return { values: tokensAtKept(ref, m), where: 'kept tokens' };
  return { values: recordToFloat32(ref), where: 'all rows' };
}

function need(tensors: Map<string, TensorRecord>, key: string, file: string): TensorRecord {
  const r = tensors.get(key);
  if (!r) throw new Error(`parity: ${file} has no tensor '${key}'`);
  return r;
}

export function runParity(file: string, opts: { device?: Device } = {}): ParityReport {
  const device = opts.device ?? 'cpu';
  const { tensors, metadata } = readSafetensors(file);
  if (typeof metadata.config !== 'string') throw new Error(`parity: ${file} has no 'config' in its metadata`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(metadata.config);
  } catch {
    throw new Error(`parity: the 'config' metadata of ${file} is not valid JSON`);
  }
  const imgsRec = need(tensors, 'input.imgs', file);
  if (imgsRec.shape.length !== 4 || imgsRec.shape[1] !== 3 || imgsRec.shape[2] !== imgsRec.shape[3]) {
    throw new Error(`parity: input.imgs of ${file} must be [N, 3, S, S], not [${imgsRec.shape.join(', ')}]`);
  }
  const mode = tensors.has('input.noise') ? 'pretrain' : tensors.has('input.labels') ? 'finetune' : null;
  if (!mode) throw new Error(`parity: ${file} has neither input.noise (pretraining) nor input.labels (finetuning)`);
  const config = fromFixtureConfig(json, {
    multiScaleFusion: tensors.has('param.stage1_output_decode.weight'),
    imgSize: imgsRec.shape[2],
  });
  const params = new Map<string, TensorRecord>();
  for (const [k, v] of tensors) if (k.startsWith('param.')) params.set(k.slice(6), v);
  const rows: ParityRow[] = [];
  const add = (name: string, kind: ParityRow['kind'], ours: ArrayLike<number>, ref: ArrayLike<number>, compared: string) => {
    const tolerance = kind === 'grad' ? GRAD_TOL : kind === 'forward' ? FORWARD_TOL : 0;
    let error = relL2(ours, ref);
    if (kind === 'mask') error = ours.length === ref.length && Array.from(ref).every((x, i) => x === ours[i]) ? 0 : 1;
    rows.push({ name, kind, error, tolerance, compared, ok: error <= tolerance });
  };

  const model = mode === 'pretrain' ? new ConvMAE({ ...config, dropPath: 0 }) : new ConvViT({ ...config, dropPath: 0 });
  try {
    model.loadStateDict(params, { strict: true });
    model.precision = 'float32'; // the fixtures are checked in pure float32 on every device
    model.to(device);
    const captured = new Map<string, Float32Array>();
    const capture = (name: string, t: Tensor) => captured.set(name, t.toFloat32Array());
    const n = imgsRec.shape[0];
    const grid = model.grid;
    let masking: Masking = fullMasking(n, grid * grid);
    tidy(() => {
      const imgs = tensor(recordToFloat32(imgsRec), imgsRec.shape, { device });
      if (model instanceof ConvMAE) {
        const noise = recordToFloat32(need(tensors, 'input.noise', file));
        const out = model.forward({ imgs, noise, maskRatio: config.maskRatio, capture });
        masking = out.masking;
        add('out.loss', 'forward', [out.loss.item()], recordToFloat32(need(tensors, 'out.loss', file)), 'scalar');
        add('out.pred', 'forward', out.pred.toFloat32Array(), recordToFloat32(need(tensors, 'out.pred', file)), 'all rows');
        add('out.mask', 'mask', masking.mask, recordToFloat32(need(tensors, 'out.mask', file)), 'exact');
        backward(out.loss);
      } else {
        const labels = recordToFloat32(need(tensors, 'input.labels', file));
        const logits = model.eval().forward(imgs, capture);
        const targets = tensor(softTargets(labels, config.numClasses, 0), [n, config.numClasses], { device });
        const loss = crossEntropy(logits, targets);
        add('out.loss', 'forward', [loss.item()], recordToFloat32(need(tensors, 'out.loss', file)), 'scalar');
        add('out.logits', 'forward', logits.toFloat32Array(), recordToFloat32(need(tensors, 'out.logits', file)), 'all rows');
        backward(loss);
      }
    });
    for (const [k, ref] of tensors) {
      if (!k.startsWith('act.')) continue;
      const name = k.slice(4);
      const ours = captured.get(name);
      if (!ours) {
        rows.push({ name: k, kind: 'forward', error: Infinity, tolerance: FORWARD_TOL, compared: 'not produced', ok: false });
        continue;
      }
      const { values, where } = referenceFor(name, ref, masking, grid);
      add(k, 'forward', ours, values, where);
    }
    const named = new Map(model.namedParameters());
    for (const [k, ref] of tensors) {
      if (!k.startsWith('grad.')) continue;
      const p = named.get(k.slice(5));
      const g = p?.grad;
      if (!g) {
        rows.push({ name: k, kind: 'grad', error: Infinity, tolerance: GRAD_TOL, compared: p ? 'no gradient' : 'no such parameter', ok: false });
        continue;
      }
      add(k, 'grad', g.toFloat32Array(), recordToFloat32(ref), 'all');
    }
  } finally {
    clearTape();
    model.dispose();
  }
  const worst = (kind: ParityRow['kind']) => rows.filter((r) => r.kind === kind).reduce<ParityRow | null>((w, r) => (!w || r.error > w.error ? r : w), null);
  return { file, mode, device, rows, worstForward: worst('forward'), worstGrad: worst('grad'), ok: rows.length > 0 && rows.every((r) => r.ok) };
}

export function formatParity(r: ParityReport): string {
  const lines = [`parity ${r.file} (${r.mode}, ${r.device})`, `${'tensor'.padEnd(44)} ${'compared at'.padEnd(18)} ${'rel. L2 error'.padStart(13)}  tol`];
  for (const row of r.rows) {
    lines.push(`${row.name.padEnd(44)} ${row.compared.padEnd(18)} ${row.error.toExponential(3).padStart(13)}  ${row.tolerance.toExponential(0)}${row.ok ? '' : '  FAIL'}`);
  }
  if (r.worstForward) lines.push(`worst forward: ${r.worstForward.name} ${r.worstForward.error.toExponential(3)}`);
  if (r.worstGrad) lines.push(`worst gradient: ${r.worstGrad.name} ${r.worstGrad.error.toExponential(3)}`);
  lines.push(r.ok ? 'PASS' : `FAIL: ${r.rows.filter((x) => !x.ok).length} tensor(s) outside tolerance`);
  return lines.join('\n');
}
