// The per-op profiler of bench/op_profile.ts: what it files under each op (calls, FLOPs, bytes of
// the buffer arguments, phase), that it records only between start and stop, and that uninstall
// puts the addon's functions back.
import { afterEach, describe, expect, it } from 'vitest';

import { groupRows, OpProfiler, rate, stepVerdict } from '../../bench/op_profile';
import { native } from '../../lib/binding';
import * as ops from '../../lib/ops';
import { tidy } from '../../lib/tensor/scope';
import { tensor } from '../../lib/tensor/tensor';
import { devices } from '../helpers/devices';

const original = native.gemm;
let profiler: OpProfiler | null = null;
afterEach(() => profiler?.uninstall());

describe.each(devices)('op profiler on %s', (device) => {
  it('files each call under its op, sizes and phase, with FLOPs and argument bytes', () => {
    profiler = new OpProfiler();
    profiler.install();
    expect(native.gemm).not.toBe(original);
    tidy(() => {
      // made after install, so their sizes are known
      const x = tensor(new Float32Array(6 * 4).fill(1), [6, 4], { device });
      const w = tensor(new Float32Array(5 * 4).fill(1), [5, 4], { device });
      const b = tensor(new Float32Array(5), [5], { device });
      ops.linear(x, w, b); // not recorded: before start
      profiler!.start('device');
      profiler!.phase('forward');
      ops.linear(x, w, b);
      ops.linear(x, w, b, { gelu: true });
      profiler!.phase('backward');
      ops.linear(x, w, b);
      profiler!.stop();
      ops.linear(x, w, b); // not recorded: after stop
    });
    const rows = profiler.report();
    const gemms = rows.filter((r) => r.op === 'gemm');
    expect(gemms.map((r) => `${r.phase} ${r.sizes}`).sort()).toEqual(['backward 6x4x5 NT +bias', 'forward 6x4x5 NT +bias', 'forward 6x4x5 NT +bias+gelu']);
    const plain = gemms.find((r) => r.phase === 'forward' && r.sizes === '6x4x5 NT +bias')!;
    expect(plain.calls).toBe(1);
    expect(plain.flops).toBe(2 * 6 * 5 * 4);
    expect(plain.bytes).toBe(4 * (6 * 5 + 6 * 4 + 5 * 4 + 5)); // c, a, b, bias
    const withGelu = gemms.find((r) => r.sizes.endsWith('+gelu'))!;
    expect(withGelu.bytes).toBe(plain.bytes + 4 * 6 * 5); // and the GELU output
    expect(rows.every((r) => r.ms >= 0)).toBe(true);
    // the outputs' allocations are filed too, under "memory"
    const byCategory = groupRows(rows, (r) => r.category);
    expect(byCategory.find((g) => g.op === 'gemm')!.calls).toBe(3);
    expect(byCategory.find((g) => g.op === 'memory')!.calls).toBeGreaterThanOrEqual(4);
    expect(rate({ ...plain, ms: 1e-3 })).toBe('0.24 GF/s');
    profiler.reset();
    expect(profiler.report()).toEqual([]);
    profiler.uninstall();
    expect(native.gemm).toBe(original);
  });
});

describe('step verdict', () => {
  it('calls a step device-bound where the device works nearly all the wall time, however high the host clock reads', () => {
    // run 8's pretraining step: wall 40.02, host 22.68 + 37.47 of script (a full launch queue), device 43.69
    expect(stepVerdict(40.02, 22.68, 37.47, 43.69)).toMatch(/^verdict: device-bound \(the device's work adds up to 109% .*launching reads 150%/);
    expect(stepVerdict(40, 10, 5, 36)).toMatch(/^verdict: device-bound \(the device's work adds up to 90%/);
  });

  it('calls it launch-bound where the device idles and launching takes most of the wall time', () => {
    expect(stepVerdict(40, 20, 14, 20)).toMatch(/^verdict: launch-bound \(the host spends 85% .*device works 50%/);
    expect(stepVerdict(40, 10, 5, 20)).toMatch(/^verdict: device-bound \(launching takes 38%/);
  });
});
