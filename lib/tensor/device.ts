// Devices and their numeric codes (shared with native/dtype.h).
export type Device = 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];
export const DEVICE_CODE: Record<Device, number> = { cpu: 0, cuda: 1 };
