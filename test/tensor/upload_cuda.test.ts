// Uploads to the GPU go through pinned staging slots and return before their copy has run
// (cuda/upload.cu): each must still land whole and in order, with the host array read at the
// call (it may be overwritten right after), the staging memory bounded, and freed by emptyCache;
// an upload above half the cap takes the pageable path.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { emptyCache, memory } from '../../lib/tensor/memory';
import { tensor } from '../../lib/tensor/tensor';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';

const pinned = () => memory().cuda.pinnedBytes ?? 0;

/** Index of the first element where a and b differ (-1: none; a length mismatch counts). */
function firstMismatch(a: ArrayLike<number | bigint>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

function pattern(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 2654435761 + seed * 40503) % 1000003) / 1000003 - 0.5;
  return a;
}

describe.skipIf(!cudaUsable)(`uploads through pinned staging (cuda) ${cudaSkipReason}`, () => {
  it('land whole and in order though queued without a wait, reading the host array at the call', () => {
    // Sizes from one element to 64 MB, many more bytes than one slot, none read back before all are queued.
    const sizes = [1, 7, 1000, 16384, 16385, 300000, 1 << 20, 16 << 20, 3, 65536, 4 << 20, 1, 123457];
    const host = sizes.map((n, i) => pattern(n, i));
    const expected = host.map((a) => a.slice());
    const onDevice = host.map((a, i) => {
      const t = tensor(a, [a.length], { device: 'cuda' });
      a.fill(-7 - i); // the upload must already have taken its bytes
      return t;
    });
    try {
      expect(pinned(), 'uploads take pinned staging memory').toBeGreaterThan(0);
      onDevice.forEach((t, i) => expect(firstMismatch(t.toTypedArray(), expected[i]), `upload ${i} of ${sizes[i]} elements`).toBe(-1));
    } finally {
      onDevice.forEach((t) => t.dispose());
    }
  });

  it('reuse their staging: many uploads hold a bounded amount, one slot serves uploads in turn, emptyCache frees it', () => {
    emptyCache();
    expect(pinned()).toBe(0);
    const n = 1 << 20; // 4 MiB each, 100 of them: 400 MiB through the slots
    const kept = [];
    try {
      for (let i = 0; i < 100; i++) kept.push(tensor(pattern(n, 1000 + i), [n], { device: 'cuda' }));
      expect(pinned(), 'staging stays within its 512 MiB cap').toBeLessThanOrEqual(512 * 2 ** 20);
      for (const i of [0, 37, 99]) expect(firstMismatch(kept[i].toTypedArray(), pattern(n, 1000 + i)), `upload ${i}`).toBe(-1);
    } finally {
      kept.forEach((t) => t.dispose());
    }
    const waits = memory().cuda.streamWaits ?? NaN;
    emptyCache();
    expect((memory().cuda.streamWaits ?? NaN) - waits, 'emptyCache waits for the GPU once').toBe(1);
    expect(pinned()).toBe(0);
    for (let i = 0; i < 20; i++) {
      const t = tensor(pattern(n, 2000 + i), [n], { device: 'cuda' });
      native.synchronize();
      expect(pinned(), `upload ${i} after the last one finished reuses its slot`).toBe(4 * 2 ** 20);
      if (i % 7 === 0) expect(firstMismatch(t.toTypedArray(), pattern(n, 2000 + i))).toBe(-1);
      t.dispose();
    }
    emptyCache();
    expect(pinned()).toBe(0);
    // Above half the cap (256 MiB) an upload takes the pageable path and holds no staging.
    const big = new Float32Array(70 << 20); // 280 MiB
    for (let i = 0; i < big.length; i += 4099) big[i] = i % 1000;
    const onDevice = tensor(big, [big.length], { device: 'cuda' });
    expect(pinned(), 'a 280 MiB upload stages nothing').toBe(0);
    expect(firstMismatch(onDevice.toTypedArray(), big)).toBe(-1);
    onDevice.dispose();
    const again = tensor(pattern(5000, 7), [5000], { device: 'cuda' });
    expect(firstMismatch(again.toTypedArray(), pattern(5000, 7))).toBe(-1);
    again.dispose();
  });
});
