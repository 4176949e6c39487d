// The CUDA emulator (emu/) reports each kind of mistake it claims to, and models cp.async, wgmma
// and TMA copies as asynchronous: kernels of emu/selftest.cu that break the rules on purpose. Runs only on
// the emulated build (npm run test:emu); elsewhere it skips, saying so.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';

const selfTest = native.emuSelfTest;
const why = selfTest ? '' : '(not the CUDA emulator build: npm run test:emu runs these)';

describe.skipIf(!selfTest)(`the CUDA emulator's own checks ${why}`, () => {
  const run = (name: string) => selfTest!(name);

  it('fails a launch whose threads wait at barriers that cannot meet', () => {
    expect(run('divergent-barriers')).toMatch(/emulated launch failed: deadlock: thread \(0,0,0\) of block \(0,0,0\) waits at a warp barrier/);
  });

  it('fails a shuffle whose mask names a lane that has exited', () => {
    expect(run('exited-lanes')).toMatch(/names lane 16, which has exited/);
  });

  it('holds dynamic shared memory to 48 KB until cudaFuncSetAttribute raises it', () => {
    expect(run('smem-limit')).toMatch(/asks for 65536 bytes of dynamic shared memory; the kernel may use 49152 .* \| after the attribute: ok$/);
  });

  it('fails a WMMA load from a pointer that is not 32-byte aligned', () => {
    expect(run('wmma-misaligned')).toMatch(/wmma::load_matrix_sync: the pointer is not 32-byte aligned/);
  });

  it('shows a cp.async destination as NaN until its group is waited for', () => {
    expect(run('cp-async')).toBe('before the wait nan, after 1');
  });

  it('applies a wgmma when its group is waited for, and fails a thread that never waits', () => {
    expect(run('wgmma')).toBe('before the wait 0, after 16');
    expect(run('wgmma-no-wait')).toMatch(/a thread exited with wgmma operations never waited for/);
  });

  it('lands a TMA box swizzled and zero-filled outside the tensor, when its mbarrier phase is waited for', () => {
    expect(run('tma')).toBe('before the wait nan, after 5, its partner 4, outside 0');
  });

  it('runs the blocks of a cluster together: a multicast copy lands in both, an arrival reaches the other block', () => {
    expect(run('cluster')).toBe('block 0 saw 4, block 1 saw 4, remote arrival 1');
  });

  it('fails a multicast copy to a block that has not initialised its mbarrier yet (no cluster barrier after the inits)', () => {
    expect(run('cluster-unsynced')).toMatch(/cp\.async\.bulk\.tensor: the mbarrier was never initialised \(mbarrier\.init\) in block 1 of the cluster/);
  });

  it('runs the threads an mbarrier arrival releases before the arriving thread goes on', () => {
    expect(run('mbarrier-order')).toBe('the released thread saw -1');
  });

  it('fails a launch whose threads wait for an mbarrier phase no thread completes, or use one never initialised', () => {
    expect(run('mbarrier-deadlock')).toMatch(/emulated launch failed: deadlock: threads poll mbarriers that no running thread can complete \(thread \(0,0,0\)/);
    expect(run('mbarrier-uninitialised')).toMatch(/mbarrier\.arrive: the mbarrier was never initialised/);
  });

  it('names an unknown case', () => {
    expect(run('nope')).toBe('unknown self-test `nope`');
  });
});
