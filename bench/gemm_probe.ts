// Where a wrong GEMM reads its values from. Each probe multiplies an identity by a matrix whose
// entries are their own row index (or column index), on the side under test, so that every
// element of the product names the input element it came from: C[i][j] should read i (row probe)
// and j (column probe). Run over both sides and all four transpose forms, a shared-memory layout
// or descriptor mistake shows as a map "(i, j) <- (r, c)" instead of a bare error norm; values
// that are not whole numbers mean products mixed several elements. Indices stay below 256, so
// every value is exact in bfloat16.
//   node dist/bench/gemm_probe.js [--family wgmma|tma|mma|wmma] [--device cuda|cpu]
import { backends, setKernel } from '../lib/backends';
import { matmul } from '../lib/ops/matmul';
import { Device } from '../lib/tensor/device';
import { tidy } from '../lib/tensor/scope';
import { Tensor, tensor } from '../lib/tensor/tensor';

export interface ProbeResult {
  label: string;
  wrong: number;
  total: number;
  /** Where the first wrong elements read from, the commonest offset, and whether values mixed. */
  detail: string;
}

/** An s x s matrix, stored transposed when `transposed`, with entries f(row, col) of the logical matrix. */
function matrix(s: number, f: (r: number, c: number) => number, transposed: boolean, device: Device): Tensor {
  const host = new Float32Array(s * s);
  for (let r = 0; r < s; r++) for (let c = 0; c < s; c++) host[transposed ? c * s + r : r * s + c] = f(r, c);
  const t = tensor(host, [s, s], { device });
  return device === 'cuda' ? t.cast('bfloat16') : t;
}

const eye = (r: number, c: number) => (r === c ? 1 : 0);

/** Probes square products of size `s` (<= 256) on `device` with the GEMM family chosen now. */
export function probeGemm(device: Device, s: number): ProbeResult[] {
  if (s > 256) throw new RangeError(`probeGemm: indices above 255 are not exact in bfloat16; got size ${s}`);
  const out: ProbeResult[] = [];
  for (const side of ['A', 'B'] as const) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        // got[0] should be the row index of each element, got[1] its column index.
        const got = [(r: number) => r, (_: number, c: number) => c].map((index) => tidy(() => {
          const a = matrix(s, side === 'A' ? index : eye, transA, device);
          const b = matrix(s, side === 'B' ? index : eye, transB, device);
          return matmul(a, b, { transA, transB }).toFloat32Array();
        }));
        out.push(judge(`${side} side, s=${s}, ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`, s, got[0], got[1]));
      }
    }
  }
  return out;
}

/** Compares the row and column probes of an s x s product with the indices they should read. */
export function judge(label: string, s: number, rows: Float32Array, cols: Float32Array): ProbeResult {
  let wrong = 0, mixed = 0;
  const firsts: string[] = [];
  const offsets = new Map<string, number>();
  for (let i = 0; i < s; i++) {
    for (let j = 0; j < s; j++) {
      const r = rows[i * s + j], c = cols[i * s + j];
      if (r === i && c === j) continue;
      wrong++;
      const whole = Number.isInteger(r) && Number.isInteger(c) && r >= 0 && c >= 0 && r < s && c < s;
      if (!whole) mixed++;
      if (firsts.length < 4) firsts.push(`(${i},${j})<-(${whole ? r : r.toFixed(2)},${whole ? c : c.toFixed(2)})`);
      if (whole) {
        const key = `${r - i},${c - j}`;
        offsets.set(key, (offsets.get(key) ?? 0) + 1);
      }
    }
  }
  if (wrong === 0) return { label, wrong, total: s * s, detail: 'every element from its own place' };
  const [offset, count] = [...offsets].sort((x, y) => y[1] - x[1])[0] ?? ['-', 0];
  return {
    label, wrong, total: s * s,
    detail: `${firsts.join(' ')}; commonest offset (row,col) ${offset} x${count}; ${mixed ? `${mixed} mixed (not one element)` : 'each a single element: a permutation'}`,
  };
}

function main(): void {
  const arg = (name: string, dflt: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
  };
  const device = arg('device', backends().cuda.usable ? 'cuda' : 'cpu') as Device;
  if (device !== 'cpu' && device !== 'cuda') throw new RangeError(`gemm_probe: expected cpu or cuda for --device but got ${device}`);
  const family = arg('family', 'wgmma');
  if (family !== 'wgmma' && family !== 'tma' && family !== 'mma' && family !== 'wmma') {
    throw new RangeError(`gemm_probe: expected wgmma, tma, mma or wmma for --family but got ${family}`);
  }
  if (device === 'cuda') setKernel('gemm', family);
  console.log(`gemm_probe: ${device === 'cuda' ? `${backends().cuda.name}, family ${family}` : 'the CPU'}`);
  let bad = 0;
  for (const s of [128, 256]) {
    for (const r of probeGemm(device, s)) {
      if (r.wrong) bad++;
      console.log(`  ${r.label.padEnd(22)} ${r.wrong ? `${r.wrong}/${r.total} wrong: ${r.detail}` : 'ok'}`);
    }
  }
  process.exitCode = bad ? 1 : 0;
}

if (require.main === module) main();
