// Memory accounting per device: live Tensor objects, native buffers, bytes and peak bytes, and on
// CUDA the caching allocator's driver calls and reserved/cached bytes, the pinned host memory
// that stages uploads, and how many times the host has waited for the GPU.
import { native, NativeMemory } from '../binding';
import { Device, DEVICE_CODE } from './device';
import { liveTensorCount } from './tensor';

/** The native counters plus the live Tensor objects. */
export interface DeviceMemory extends NativeMemory {
  tensors: number;
}

export function memory(): Record<Device, DeviceMemory> {
  const cuda = native.backends().cuda.usable;
  const read = (d: Device): DeviceMemory => {
    const m = native.memory(DEVICE_CODE[d]);
    const out: DeviceMemory = { tensors: liveTensorCount(d), buffers: m.buffers, bytes: m.bytes, peakBytes: m.peakBytes };
    if (d === 'cuda' && cuda) Object.assign(out, {
      driverAllocs: m.driverAllocs, driverFrees: m.driverFrees, reservedBytes: m.reservedBytes, cachedBytes: m.cachedBytes, pinnedBytes: m.pinnedBytes,
      streamWaits: m.streamWaits,
    });
    return out;
  };
  return { cpu: read('cpu'), cuda: read('cuda') };
}

/** Returns the CUDA allocator's cached free blocks and the upload staging memory to the driver
 *  (after waiting for the GPU's queued work); live tensors are untouched. A no-op without CUDA. */
export function emptyCache(): void {
  native.emptyCache();
}

export function resetPeakMemory(device: Device): void {
  native.resetPeak(DEVICE_CODE[device]);
}
