// The emulator's shared-memory race checker (emu/racecheck.h) fails a launch whose threads share
// bytes without the barrier they need, naming both threads and both source lines, and passes the
// same kernels with the barrier in: kernels of emu/selftest.cu (`race-<kind>[-synced]`). Runs only
// on the profile build (npm run test:emu builds it); elsewhere it skips, saying so.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';

const profileBuild = native.emuAccessProfile !== undefined && native.emuSelfTest !== undefined;
const why = profileBuild ? '' : '(not the emulator\'s profile build: npm run test:emu builds and runs it)';

describe.skipIf(!profileBuild)(`the emulator's shared-memory race checker ${why}`, () => {
  const run = (name: string) => native.emuSelfTest!(name);
  const line = 'emu/selftest\\.cu:\\d+';
  const race = (writer: string, reader: string) => new RegExp(
    `shared-memory race in selftest\\.cu:\\d+ race_\\w+, block \\(0,0,0\\): ${writer} .* at ${line}, which ${reader} at ${line}, with no barrier between`);

  it('catches a read and a write of one byte by two warps with no __syncthreads between', () => {
    expect(run('race-across-warps')).toMatch(race('thread 33 \\(warp 1, lane 1\\) writes', 'thread 0 \\(warp 0, lane 0\\) read'));
    expect(run('race-across-warps-synced')).toBe('');
  });

  it('catches lanes of one warp exchanging through shared memory with no __syncwarp', () => {
    expect(run('race-in-warp')).toMatch(race('thread 1 \\(warp 0, lane 1\\) writes', 'thread 0 \\(warp 0, lane 0\\) read'));
    expect(run('race-in-warp-synced')).toBe('');
  });

  it('counts a cp.async as writing until the wait that lands it, and from its issue', () => {
    expect(run('race-cp-async-read'))
      .toMatch(/shared-memory race .*: thread 32 \(warp 1, lane 0\) reads .*, which thread 0 \(warp 0, lane 0\) wrote at cuda\/cp_async\.cuh:\d+/);
    expect(run('race-cp-async-read-synced')).toBe('');
    expect(run('race-cp-async-refill')).toMatch(/shared-memory race .*thread 32 \(warp 1, lane 0\).*thread 0 \(warp 0, lane 0\)/);
    expect(run('race-cp-async-refill-synced')).toBe('');
  });
});
