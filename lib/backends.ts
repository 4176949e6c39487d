// What the addon was built with and what can run here: backends(), the default device, and the
// human-readable report `convmae info` prints.
import { native } from './binding';
import { Device } from './tensor/device';

export interface BackendInfo {
  cpu: { compiled: true; usable: true; threads: number; hardwareConcurrency: number };
  cuda: {
    compiled: boolean;
    usable: boolean;
    reason: string;
    name: string;
    deviceCount: number;
    computeCapability: string;
    totalBytes: number;
    freeBytes: number;
    runtimeVersion: number;
    driverVersion: number;
  };
}

export function backends(): BackendInfo {
  return native.backends() as BackendInfo;
}

/** cuda when a GPU is usable, else cpu. */
export function defaultDevice(): Device {
  return backends().cuda.usable ? 'cuda' : 'cpu';
}

function cudaVersion(v: number): string {
  return v ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'none';
}

export function formatBackends(b: BackendInfo = backends()): string {
  const gib = (x: number) => `${(x / 2 ** 30).toFixed(1)} GiB`;
  const lines = [
    `cpu:  compiled yes, usable yes, ${b.cpu.threads} threads`,
    `cuda: compiled ${b.cuda.compiled ? 'yes' : 'no'}, usable ${b.cuda.usable ? 'yes' : 'no'}` +
      (b.cuda.usable
        ? `, ${b.cuda.name} (sm_${b.cuda.computeCapability.replace('.', '')}), ${gib(b.cuda.freeBytes)} free of ${gib(b.cuda.totalBytes)}`
        : b.cuda.reason ? ` (${b.cuda.reason})` : ''),
  ];
  if (b.cuda.compiled) lines.push(`      runtime ${cudaVersion(b.cuda.runtimeVersion)}, driver ${cudaVersion(b.cuda.driverVersion)}`);
  return lines.join('\n');
}
