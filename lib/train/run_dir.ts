// A run folder (`--out`): metrics.jsonl (one JSON object per logged step), loss.png (loss and lr
// curves), and checkpoints written under a temporary name and renamed (safetensors writer), so a
// kill at any moment leaves the last good file.
import * as fs from 'fs';
import * as path from 'path';

import { TensorRecord } from '../io/record';
import { writeSafetensors } from '../io/safetensors';
import { CurvePoint, writeLossCurve } from '../viz/plot';

export interface MetricsRow {
  step: number;
  loss: number;
  lr: number;
  [key: string]: unknown;
}

export class RunDir {
  readonly metricsFile: string;

  constructor(readonly dir: string, opts: { append?: boolean } = {}) {
    if (typeof dir !== 'string' || dir.length === 0) throw new TypeError('run folder: expected a path for `--out`');
    fs.mkdirSync(dir, { recursive: true });
    this.metricsFile = path.join(dir, 'metrics.jsonl');
    if (!opts.append) fs.writeFileSync(this.metricsFile, '');
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  log(row: MetricsRow): void {
    fs.appendFileSync(this.metricsFile, JSON.stringify(row) + '\n');
  }

  /** Rows logged so far (also those of an earlier run this one resumed). */
  metrics(): MetricsRow[] {
    if (!fs.existsSync(this.metricsFile)) return [];
    return fs.readFileSync(this.metricsFile, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as MetricsRow);
  }

  /** Drops logged rows past `step` (a resumed run rewrites them). */
  truncateAfter(step: number): void {
    const kept = this.metrics().filter((r) => r.step <= step);
    fs.writeFileSync(this.metricsFile, kept.map((r) => JSON.stringify(r) + '\n').join(''));
  }

  writeCheckpoint(name: string, tensors: Map<string, TensorRecord>, metadata: Record<string, string>): string {
    const file = this.file(name);
    writeSafetensors(file, tensors, metadata);
    return file;
  }

  plotLoss(name = 'loss.png'): string {
    const points: CurvePoint[] = this.metrics()
      .filter((r) => Number.isFinite(r.loss) && Number.isFinite(r.lr))
      .map((r) => ({ step: r.step, loss: r.loss, lr: r.lr }));
    const file = this.file(name);
    if (points.length > 0) writeLossCurve(file, points);
    return file;
  }
}
