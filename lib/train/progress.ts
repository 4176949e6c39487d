// Training progress reporter.
//
// Contract: `update({ step, loss, lr, images })` after each step (step = steps completed, 1-based;
// images = images processed in that step). On a TTY one status line is redrawn in place ("\r" +
// text + erase-to-end-of-line, at most every `minIntervalMs`, always for the last step) showing
// step/total, a bar, loss, lr, images/s and ETA; `log()` prints a message above it and `finish()`
// ends the line. Otherwise a plain line is written every `every` steps and at the last step.
// Rates are measured over a sliding window of recent updates. The stream and the clock are
// injectable for tests; whether the stream is a TTY comes from `stream.isTTY` unless `tty` is set.

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  total: number;
  stream?: ProgressStream;
  tty?: boolean;
  /** Plain-mode period in steps (default 10). */
  every?: number;
  label?: string;
  /** Clock in milliseconds (default Date.now). */
  now?: () => number;
  /** TTY redraw throttle (default 100 ms). */
  minIntervalMs?: number;
}

export interface ProgressUpdate {
  step: number;
  loss?: number;
  lr?: number;
  images?: number;
}

/** h:mm:ss or m:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (x: number): string => String(x).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

function fmtLoss(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toFixed(4) : x.toExponential(3);
}

export class Progress {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly every: number;
  private readonly now: () => number;
  private readonly minInterval: number;
  private readonly window: { t: number; step: number; images: number }[] = [];
  private imagesTotal = 0;
  private lastDraw = -Infinity;
  private drawn = false;
  private lastLine = '';

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
    this.every = Math.max(1, opts.every ?? 10);
    this.now = opts.now ?? Date.now;
    this.minInterval = opts.minIntervalMs ?? 100;
    this.window.push({ t: this.now(), step: 0, images: 0 });
  }

  /** Steps and images per second over the recent window. */
  rates(): { stepsPerSec: number; imagesPerSec: number } {
    const a = this.window[0];
    const b = this.window[this.window.length - 1];
    const dt = (b.t - a.t) / 1000;
    if (dt <= 0) return { stepsPerSec: 0, imagesPerSec: 0 };
    return { stepsPerSec: (b.step - a.step) / dt, imagesPerSec: (b.images - a.images) / dt };
  }

  /** The status text for an update (without control characters). */
  format(u: ProgressUpdate): string {
    const total = this.opts.total;
    const { stepsPerSec, imagesPerSec } = this.rates();
    const parts: string[] = [];
    if (this.opts.label) parts.push(this.opts.label);
    const frac = total > 0 ? Math.min(1, u.step / total) : 0;
    parts.push(`${u.step}/${total}`);
    if (this.tty) {
      const w = 20;
      const fill = Math.round(frac * w);
      parts.push(`[${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${Math.floor(frac * 100)}%`);
    }
    if (u.loss !== undefined) parts.push(`loss ${fmtLoss(u.loss)}`);
    if (u.lr !== undefined) parts.push(`lr ${u.lr.toExponential(2)}`);
    if (imagesPerSec > 0) parts.push(`${imagesPerSec.toFixed(1)} img/s`);
    const eta = stepsPerSec > 0 ? (total - u.step) / stepsPerSec : NaN;
    parts.push(`ETA ${formatDuration(eta)}`);
    return parts.join(' ');
  }

  update(u: ProgressUpdate): void {
    const t = this.now();
    this.imagesTotal += u.images ?? 0;
    this.window.push({ t, step: u.step, images: this.imagesTotal });
    while (this.window.length > 50) this.window.shift();
    const last = u.step >= this.opts.total;
    if (this.tty) {
      if (!last && t - this.lastDraw < this.minInterval) return;
      this.lastDraw = t;
      this.lastLine = this.format(u);
      this.draw();
    } else if (u.step % this.every === 0 || last) {
      this.stream.write(this.format(u) + '\n');
    }
  }

  private draw(): void {
    let line = this.lastLine;
    const cols = this.stream.columns;
    if (cols && line.length > cols - 1) line = line.slice(0, cols - 1);
    this.stream.write(`\r${line}\x1b[K`);
    this.drawn = true;
  }

  /** Print a message without corrupting the status line. */
  log(message: string): void {
    if (this.tty && this.drawn) {
      this.stream.write(`\r\x1b[K${message}\n`);
      this.draw();
    } else {
      this.stream.write(message + '\n');
    }
  }

  /** End the status line (TTY). */
  finish(): void {
    if (this.tty && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
