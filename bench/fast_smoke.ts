// A quick first look at the fast CUDA kernel families (gemm wgmma, attention mma, layernorm
// rows): each runs forward and backward once on small bf16 problems, compared with the CPU in
// float32 on the same bf16-rounded inputs. A smoke check, not the tests (those hold every shape
// to the per-op rule): it exists so that a GPU run learns in seconds, under a short timeout,
// whether these kernels run at all (a hang or a fault here means the run should leave them out).
//   node dist/bench/fast_smoke.js        prints a line per case, exits 1 when one is off
//   node dist/bench/fast_smoke.js --dry-run   the CPU against itself (checks the script, not a GPU)
import { backward, requireGrad } from '../lib/autograd/tape';
import { backends, setKernel } from '../lib/backends';
import { native } from '../lib/binding';
import * as ops from '../lib/ops';
import { Device } from '../lib/tensor/device';
import { tidy } from '../lib/tensor/scope';
import { Tensor, tensor } from '../lib/tensor/tensor';
import { relL2 } from './compare';
import { randn } from './train_step';

interface Case {
  name: string;
  inputs: number[][];
  run: (xs: Tensor[]) => Tensor;
}

const CASES: Case[] = [
  { name: 'gemm wgmma x·Wᵀ+b (and dX = dY·W, dW = dYᵀ·X)', inputs: [[200, 192], [320, 192], [320]], run: ([x, w, b]) => ops.linear(x, w, b) },
  { name: 'gemm wgmma MLP (GELU and gelu\' epilogues)', inputs: [[136, 64], [256, 64], [256], [64, 256], [64]], run: ([x, w1, b1, w2, b2]) => ops.mlp(x, w1, b1, w2, b2) },
  { name: 'attention mma L49 h2 d64', inputs: [[2, 49, 3 * 2 * 64]], run: ([q]) => ops.attention(q, 2) },
  { name: 'attention mma L196 h2 d32', inputs: [[2, 196, 3 * 2 * 32]], run: ([q]) => ops.attention(q, 2) },
  { name: 'attention mma L50 h1 d80', inputs: [[1, 50, 3 * 80]], run: ([q]) => ops.attention(q, 1) },
  { name: 'layernorm rows C768', inputs: [[64, 768], [768], [768]], run: ([x, w, b]) => ops.layerNorm(x, w, b, 1e-6) },
];

/** Output and input gradients of a case on a device: bf16 on cuda, float32 on the CPU. */
function evaluate(c: Case, device: Device, seed: number): Float32Array[] {
  return tidy(() => {
    const xs = c.inputs.map((shape, i) => {
      const f = tensor(randn(shape.reduce((p, q) => p * q, 1), seed + i), shape);
      // the CPU starts from the same bf16-rounded values
      const r = f.cast('bfloat16').cast('float32');
      return requireGrad(device === 'cuda' ? r.to('cuda').cast('bfloat16') : r);
    });
    const y = c.run(xs);
    const dy = tensor(randn(y.numel, seed + 50), y.shape).cast('bfloat16').cast('float32').to(device).cast(y.dtype);
    backward(y, dy);
    const out = [y, ...xs.map((x) => x.grad!)].map((t) => t.toFloat32Array());
    xs.forEach((x) => x.grad!.dispose());
    return out;
  });
}

function main(): void {
  const b = backends().cuda;
  const dry = process.argv.includes('--dry-run');
  const dev: Device = dry ? 'cpu' : 'cuda';
  if (!dry && !b.usable) {
    console.log(`fast_smoke: CUDA is not usable here (${b.reason || 'not compiled'})`);
    process.exitCode = 1;
    return;
  }
  if (dry) console.log('fast_smoke: dry run, the CPU against itself');
  else {
    setKernel('gemm', 'wgmma');
    setKernel('attention', 'mma');
    setKernel('layernorm', 'rows');
    console.log(`fast_smoke: ${b.name}, wgmma GEMM ${b.wgmma ? 'available' : 'NOT available (the gemm cases run wmma)'}`);
  }
  let failed = 0;
  for (const c of CASES) {
    const t0 = Date.now();
    try {
      const cpu = evaluate(c, 'cpu', 7), gpu = evaluate(c, dev, 7);
      native.synchronize();
      // bf16 outputs and gradients: ~2^-9 per element; 1e-2 is far from any real mistake's size
      const worst = Math.max(...cpu.map((want, i) => relL2(gpu[i], want)));
      const ok = worst <= 1e-2;
      if (!ok) failed++;
      console.log(`  ${c.name.padEnd(48)} worst rel L2 ${worst.toExponential(2)}  ${Date.now() - t0} ms  ${ok ? 'ok' : 'FAIL'}`);
    } catch (e) {
      failed++;
      console.log(`  ${c.name.padEnd(48)} ${(e as Error).message.split('\n')[0]}  FAIL`);
    }
  }
  console.log(failed ? `fast_smoke: ${failed} case(s) FAILED` : 'fast_smoke: all cases ok');
  process.exitCode = failed ? 1 : 0;
}

main();
