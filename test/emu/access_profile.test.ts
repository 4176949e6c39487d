// The emulator's memory-access profiler (emu/access_profile.h) scores access patterns whose cost
// is known: shared-memory bank conflicts by stride and width, ldmatrix and WMMA tile rows, and
// global-memory sectors (kernels of emu/selftest.cu, `profile-<pattern>:<stride>`), and names
// each site's source line. Runs only on the profile build (npm run test:emu builds it); elsewhere
// it skips, saying so.
import { describe, expect, it } from 'vitest';

import { locate } from '../../bench/access_profile';
import { EmuAccessSite, native } from '../../lib/binding';

const profile = native.emuAccessProfile;
const why = profile ? '' : '(not the emulator\'s profile build: npm run test:emu builds and runs it)';

describe.skipIf(!profile)(`the emulator's memory-access profiler ${why}`, () => {
  /** The sites of one self-test kernel's run. */
  const sites = (name: string): EmuAccessSite[] => {
    profile!('start');
    const error = native.emuSelfTest!(name);
    const out = profile!('stop') ?? [];
    expect(error).toBe('');
    return out;
  };
  /** Transactions and ideal per request of the one site of that space and direction. */
  const cost = (list: EmuAccessSite[], space: 'shared' | 'global', store: boolean) => {
    const s = list.filter((x) => x.space === space && x.store === store);
    expect(s).toHaveLength(1);
    return [s[0].transactions / s[0].requests, s[0].ideal / s[0].requests];
  };

  it('counts shared-memory wavefronts by bank conflicts for 4-byte lanes', () => {
    for (const [stride, waves] of [[1, 1], [2, 2], [4, 4], [32, 32], [33, 1]]) {
      const list = sites(`profile-smem-f32:${stride}`);
      expect(cost(list, 'shared', false), `stride ${stride}`).toEqual([waves, 1]);
      expect(cost(list, 'shared', true), `stride ${stride}`).toEqual([waves, 1]);
    }
  });

  it('serves 16-byte lanes in quarter-warp phases', () => {
    expect(cost(sites('profile-smem-vec4:1'), 'shared', false)).toEqual([4, 4]);
    expect(cost(sites('profile-smem-vec4:2'), 'shared', false)).toEqual([8, 4]);
    expect(cost(sites('profile-smem-vec4:8'), 'shared', false)).toEqual([32, 4]);
  });

  it('scores ldmatrix and WMMA tile loads by their row pitch', () => {
    for (const op of ['ldmatrix', 'wmma']) {
      expect(cost(sites(`profile-${op}:128`), 'shared', false), `${op}, 128-byte rows`).toEqual([32, 4]);
      expect(cost(sites(`profile-${op}:144`), 'shared', false), `${op}, 144-byte rows`).toEqual([4, 4]);
    }
  });

  it('counts global-memory sectors against the fewest the bytes need', () => {
    expect(cost(sites('profile-global-f32:1'), 'global', false)).toEqual([4, 4]);
    expect(cost(sites('profile-global-f32:2'), 'global', false)).toEqual([8, 4]);
    expect(cost(sites('profile-global-f32:8'), 'global', false)).toEqual([32, 4]);
    expect(cost(sites('profile-global-f32:8'), 'global', true)).toEqual([4, 4]);
  });

  it('names the kernel and the source line of each site', () => {
    const located = locate(sites('profile-global-f32:8'));
    const load = located.find((s) => s.space === 'global' && !s.store)!;
    expect(load.kernel).toBe('global_strided');
    expect(load.where).toMatch(/^emu\/selftest\.cu:\d+$/);
  });

  it('records nothing once stopped', () => {
    profile!('start');
    profile!('stop');
    expect(native.emuSelfTest!('profile-smem-f32:32')).toBe('');
    profile!('start');
    expect(profile!('stop')).toEqual([]);
  });
});
