import { describe, expect, test } from 'vitest';
import { formatDuration, Progress } from '../../lib/train/progress';

function sink(isTTY: boolean, columns?: number): { write(s: string): void; isTTY: boolean; columns?: number; out: string[] } {
  const out: string[] = [];
  return { out, isTTY, columns, write: (s: string) => { out.push(s); } };
}

describe('Progress', () => {
  test('plain lines every K steps and at the end', () => {
    const s = sink(false);
    let t = 0;
    const p = new Progress({ total: 25, stream: s, every: 10, now: () => t, label: 'pretrain' });
    for (let step = 1; step <= 25; step++) {
      t += 500; // 2 steps/s, 64 images per step
      p.update({ step, loss: 1 / step, lr: 1.5e-4, images: 64 });
    }
    expect(s.out).toHaveLength(3);
    expect(s.out.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(s.out[0]).toContain('pretrain 10/25');
    expect(s.out[0]).toContain('loss 0.1000');
    expect(s.out[0]).toContain('lr 1.50e-4');
    expect(s.out[0]).toContain('128.0 img/s');
    expect(s.out[0]).toContain('ETA 0:08'); // 15 steps at 2 steps/s
    expect(s.out[2]).toContain('25/25');
    expect(s.out[2]).toContain('ETA 0:00');
  });

  test('TTY: one redrawn line, throttled, newline at finish', () => {
    const s = sink(true, 200);
    let t = 0;
    const p = new Progress({ total: 100, stream: s, now: () => t, minIntervalMs: 100 });
    for (let step = 1; step <= 100; step++) {
      t += 20;
      p.update({ step, loss: 0.5, lr: 1e-3, images: 8 });
    }
    p.finish();
    const draws = s.out.filter((l) => l.startsWith('\r'));
    expect(draws.length).toBeGreaterThan(10);
    expect(draws.length).toBeLessThan(30);
    expect(draws.every((l) => l.endsWith('\x1b[K'))).toBe(true);
    expect(draws[draws.length - 1]).toContain('100/100');
    expect(draws[draws.length - 1]).toContain('[####################] 100%');
    expect(draws[draws.length - 1]).toContain('400.0 img/s');
    expect(s.out[s.out.length - 1]).toBe('\n');
  });

  test('TTY: log() prints above the bar and lines are cut to the terminal width', () => {
    const s = sink(true, 30);
    const p = new Progress({ total: 10, stream: s, now: () => 0 });
    p.update({ step: 10, loss: 1, lr: 1 });
    p.log('epoch 1 done');
    expect(s.out.some((l) => l === '\r\x1b[Kepoch 1 done\n')).toBe(true);
    for (const l of s.out.filter((x) => x.startsWith('\r') && x.endsWith('\x1b[K'))) {
      expect(l.length - 4).toBeLessThanOrEqual(29);
    }
  });

  test('tty option overrides the stream', () => {
    const s = sink(true);
    const p = new Progress({ total: 2, stream: s, tty: false, every: 1, now: () => 0 });
    p.update({ step: 1 });
    expect(s.out).toEqual(['1/2 ETA --:--\n']);
  });
});

test('formatDuration', () => {
  expect(formatDuration(0)).toBe('0:00');
  expect(formatDuration(65)).toBe('1:05');
  expect(formatDuration(3725)).toBe('1:02:05');
  expect(formatDuration(NaN)).toBe('--:--');
});
