// Checkpoint I/O on plain TensorRecords (no native addon): safetensors read/write, torch.save
// (.pth) loading through a restricted unpickler, and the zip reader underneath it.

export type { TensorRecord } from './record';
export { recordNumel, recordToFloat32, float32Record } from './record';
export type { SafetensorsContent } from './safetensors';
export { readSafetensors, writeSafetensors } from './safetensors';
export type { PthCheckpoint } from './pth';
export { loadPth, loadPthRaw } from './pth';
export type { ZipEntry } from './zip';
export { ZipArchive } from './zip';
export type { UnpickleOptions } from './pickle';
export { unpickle, PickledTensor, PyObject } from './pickle';
