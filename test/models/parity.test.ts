// The five reference files from the official PyTorch code go through the same code path as
// `convmae parity`: loss, outputs, activations at the compared places and every gradient.
import * as path from 'path';
import { describe, expect, it } from 'vitest';

import { formatParity, runParity } from '../../lib/parity/parity';
import { devices } from '../helpers/devices';

const dir = path.join(__dirname, '..', 'fixtures', 'parity');
const files = ['pretrain-tiny-normpix', 'pretrain-tiny-plain', 'finetune-tiny', 'pretrain-small-b3', 'finetune-small-b4'];

describe.each(devices)('parity with the official model on %s', (device) => {
  it.each(files)('%s', (name) => {
    const report = runParity(path.join(dir, `${name}.safetensors`), { device });
    const failed = report.rows.filter((r) => !r.ok);
    if (failed.length) console.log(formatParity(report));
    expect(failed.map((r) => `${r.name}: ${r.error}`)).toEqual([]);
    expect(report.rows.filter((r) => r.kind === 'grad').length).toBeGreaterThan(40);
    expect(report.rows.some((r) => r.name === 'out.loss')).toBe(true);
    expect(report.ok).toBe(true);
  });
});
