// What a training checkpoint holds beyond the weights, for exact resume: the step and epoch, the
// data loader's position, the model's random streams (masking, drop path) and the optimizer's
// state (optim.* tensors + its step count). Stored as JSON in the `train_state` metadata entry.
import { TensorRecord } from '../io/record';
import { LoaderState } from '../data/loader';
import { RngState } from '../data/rng';
import { checkpointMetadata, ModelKind } from '../models/checkpoint';
import { ConvMAEConfig } from '../models/config';

export interface TrainState {
  /** Optimizer steps completed. */
  step: number;
  epoch: number;
  loader: LoaderState;
  rng: Record<string, RngState>;
  optimizerSteps: number;
  /** Settings the run was started with (a resumed run must use the same). */
  settings: Record<string, unknown>;
}

export function trainMetadata(kind: ModelKind, config: ConvMAEConfig, state: TrainState, extra: Record<string, string> = {}): Record<string, string> {
  return checkpointMetadata(kind, config, { step: String(state.step), epoch: String(state.epoch), train_state: JSON.stringify(state), ...extra });
}

export function readTrainState(metadata: Record<string, string>, file: string): TrainState {
  if (!metadata.train_state) throw new Error(`resume: ${file} holds weights only (no train_state); use --init to start from it`);
  try {
    return JSON.parse(metadata.train_state) as TrainState;
  } catch {
    throw new Error(`resume: the train_state of ${file} is not valid JSON`);
  }
}

/** Settings that must match between a run and the run it resumes. */
export function checkSameSettings(saved: Record<string, unknown>, now: Record<string, unknown>, file: string): void {
  for (const [k, v] of Object.entries(now)) {
    if (JSON.stringify(saved[k]) !== JSON.stringify(v)) {
      throw new Error(`resume: ${file} was trained with ${k} = ${JSON.stringify(saved[k])} but this run has ${JSON.stringify(v)}`);
    }
  }
}

export function mergeRecords(...maps: Map<string, TensorRecord>[]): Map<string, TensorRecord> {
  const out = new Map<string, TensorRecord>();
  for (const m of maps) for (const [k, v] of m) out.set(k, v);
  return out;
}
