// Learning-rate and stochastic-depth schedules (spec §6.3, §6.5, §7, §8.1, §8.3).
//
// Contract: `lrAt(iter, s)` is §8.3 evaluated at the continuous epoch e = iter / itersPerEpoch,
// written in iterations: linear warmup lr = baseLr·iter/warmupIters for iter < warmupIters, then
// the half cosine minLr + (baseLr − minLr)·½·(1 + cos(π·(iter − warmupIters)/(totalIters −
// warmupIters))). `iter` counts data-loader iterations from the start of training (epoch·
// itersPerEpoch + it; with gradient accumulation the lr is set at window starts, i.e. at iters
// that are multiples of accumIter, still counted in loader iterations), so iter 0 gives lr 0.
// Fractional warmup/total values are allowed (the schedule is continuous). At and beyond
// totalIters the lr stays at minLr. `baseLr` is the absolute peak lr (`absoluteLr(blr, batch)`).

export interface LrScheduleOptions {
  /** Peak (absolute) learning rate reached at the end of warmup. */
  baseLr: number;
  /** Final learning rate of the cosine (0 for pretraining/probe, 1e-6 for finetuning). */
  minLr: number;
  warmupIters: number;
  totalIters: number;
}

export function lrAt(iter: number, s: LrScheduleOptions): number {
  const { baseLr, minLr, warmupIters, totalIters } = s;
  if (!(totalIters > 0)) throw new RangeError(`lrAt: totalIters must be > 0, got ${totalIters}`);
  if (!(warmupIters >= 0)) throw new RangeError(`lrAt: warmupIters must be >= 0, got ${warmupIters}`);
  if (iter < warmupIters) return (baseLr * iter) / warmupIters;
  if (iter >= totalIters || totalIters <= warmupIters) return minLr;
  const progress = (iter - warmupIters) / (totalIters - warmupIters);
  return minLr + (baseLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** §8.3 in epochs, as the official `adjust_learning_rate(optimizer, epoch_float)`. */
export function lrAtEpoch(epoch: number, s: { baseLr: number; minLr: number; warmupEpochs: number; epochs: number }): number {
  return lrAt(epoch, { baseLr: s.baseLr, minLr: s.minLr, warmupIters: s.warmupEpochs, totalIters: s.epochs });
}

/** Schedule in iterations for a run of `epochs` epochs of `itersPerEpoch` loader iterations. */
export function iterSchedule(o: { baseLr: number; minLr: number; warmupEpochs: number; epochs: number; itersPerEpoch: number }):
    LrScheduleOptions {
  return {
    baseLr: o.baseLr, minLr: o.minLr,
    warmupIters: o.warmupEpochs * o.itersPerEpoch, totalIters: o.epochs * o.itersPerEpoch,
  };
}

/** lr = blr · effective batch / 256 (effective batch = per-device batch · accumIter · devices). */
export function absoluteLr(blr: number, effectiveBatch: number): number {
  return (blr * effectiveBatch) / 256;
}

/**
 * §6.3: drop-path rates linspace(0, rate, L1+L2+L3) over all blocks in the order
 * blocks1, blocks2, blocks3, split back per stage.
 */
export function dropPathRates(depths: readonly number[], rate: number): number[][] {
  const total = depths.reduce((a, b) => a + b, 0);
  const all = Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));
  const out: number[][] = [];
  let k = 0;
  for (const d of depths) {
    out.push(all.slice(k, k + d));
    k += d;
  }
  return out;
}
