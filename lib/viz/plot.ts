// Loss/learning-rate chart rendered into an RGB buffer (for loss.png).
//
// Contract: `renderLossCurve(points, width, height)` returns width·height·3 RGB bytes (white
// background): an upper panel with the loss (blue) and a lower panel with the lr (orange), both
// against `step`, each with a frame, "nice" (1/2/5·10^k) ticks, light grid lines, numeric tick
// labels and a panel title ("loss", "lr"; "step" under the lower x axis), drawn with a built-in
// 5×7 bitmap font (digits . - + e and the letters of those words), scaled 2× when height ≥ 480.
// Non-finite values are skipped; lines break over them. Points are sorted by step. An empty list
// gives empty axes. Minimum size 120×100.

import { writePng } from './png';

export interface CurvePoint {
  step: number;
  loss: number;
  lr: number;
}

const GLYPHS: Record<string, string[]> = {
  '0': [' ### ', '#   #', '#  ##', '# # #', '##  #', '#   #', ' ### '],
  '1': ['  #  ', ' ##  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  '2': [' ### ', '#   #', '    #', '   # ', '  #  ', ' #   ', '#####'],
  '3': ['#####', '   # ', '  #  ', '   # ', '    #', '#   #', ' ### '],
  '4': ['   # ', '  ## ', ' # # ', '#  # ', '#####', '   # ', '   # '],
  '5': ['#####', '#    ', '#### ', '    #', '    #', '#   #', ' ### '],
  '6': ['  ## ', ' #   ', '#    ', '#### ', '#   #', '#   #', ' ### '],
  '7': ['#####', '    #', '   # ', '  #  ', ' #   ', ' #   ', ' #   '],
  '8': [' ### ', '#   #', '#   #', ' ### ', '#   #', '#   #', ' ### '],
  '9': [' ### ', '#   #', '#   #', ' ####', '    #', '   # ', ' ##  '],
  '.': ['     ', '     ', '     ', '     ', '     ', ' ##  ', ' ##  '],
  '-': ['     ', '     ', '     ', ' ### ', '     ', '     ', '     '],
  '+': ['     ', '  #  ', '  #  ', '#####', '  #  ', '  #  ', '     '],
  'e': ['     ', '     ', ' ### ', '#   #', '#####', '#    ', ' ### '],
  'l': [' ##  ', '  #  ', '  #  ', '  #  ', '  #  ', '  #  ', ' ### '],
  'o': ['     ', '     ', ' ### ', '#   #', '#   #', '#   #', ' ### '],
  's': ['     ', '     ', ' ####', '#    ', ' ### ', '    #', '#### '],
  'r': ['     ', '     ', '# ## ', '##  #', '#    ', '#    ', '#    '],
  't': [' #   ', ' #   ', '#####', ' #   ', ' #   ', ' #  #', '  ## '],
  'p': ['     ', '     ', '#### ', '#   #', '#### ', '#    ', '#    '],
  ' ': ['     ', '     ', '     ', '     ', '     ', '     ', '     '],
};

type Rgb = readonly [number, number, number];
const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [225, 225, 225];
const LOSS: Rgb = [31, 119, 180];
const LR: Rgb = [230, 110, 10];

class Canvas {
  readonly data: Uint8Array;
  constructor(readonly width: number, readonly height: number) {
    this.data = new Uint8Array(width * height * 3).fill(255);
  }

  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = (y * this.width + x) * 3;
    this.data[o] = c[0];
    this.data[o + 1] = c[1];
    this.data[o + 2] = c[2];
  }

  rect(x0: number, y0: number, w: number, h: number, c: Rgb): void {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) this.set(x, y, c);
  }

  hline(x0: number, x1: number, y: number, c: Rgb): void {
    for (let x = Math.min(x0, x1); x <= Math.max(x0, x1); x++) this.set(x, y, c);
  }

  vline(x: number, y0: number, y1: number, c: Rgb): void {
    for (let y = Math.min(y0, y1); y <= Math.max(y0, y1); y++) this.set(x, y, c);
  }

  /** Line with a 2-pixel pen (Bresenham on rounded end points). */
  line(xa: number, ya: number, xb: number, yb: number, c: Rgb): void {
    let x0 = Math.round(xa), y0 = Math.round(ya);
    const x1 = Math.round(xb), y1 = Math.round(yb);
    const dx = Math.abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    const dy = -Math.abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      this.set(x0, y0, c);
      this.set(x0 + 1, y0, c);
      this.set(x0, y0 + 1, c);
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  }

  text(s: string, x: number, y: number, scale: number, c: Rgb): void {
    let cx = x;
    for (const ch of s) {
      const g = GLYPHS[ch] ?? GLYPHS[' '];
      for (let r = 0; r < 7; r++) {
        for (let k = 0; k < 5; k++) if (g[r][k] === '#') this.rect(cx + k * scale, y + r * scale, scale, scale, c);
      }
      cx += 6 * scale;
    }
  }
}

export function textWidth(s: string, scale = 1): number {
  return s.length === 0 ? 0 : (s.length * 6 - 1) * scale;
}

/** "Nice" tick positions covering [lo, hi] with about `count` intervals. */
export function niceTicks(lo: number, hi: number, count = 5): { ticks: number[]; step: number } {
  const range = hi - lo;
  const raw = range / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const r = raw / mag;
  const step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    if (ticks.length > 100) break;
  }
  return { ticks, step };
}

/** Short tick label: fixed decimals matching the step, or e-notation for very large/small values. */
export function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const digits = Math.max(0, Math.min(3, Math.floor(Math.log10(a)) - Math.floor(Math.log10(step))));
    const [m, e] = v.toExponential(digits).split('e');
    const mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
    return `${mant}e${Number(e)}`;
  }
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

interface Panel {
  x0: number;
  y0: number;
  w: number;
  h: number;
}

function range(values: number[], fromZero: boolean): [number, number] {
  const fin = values.filter(Number.isFinite);
  if (fin.length === 0) return [0, 1];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of fin) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (fromZero && lo >= 0) lo = 0;
  if (hi === lo) {
    const d = Math.abs(hi) * 0.1 || 1;
    return [lo - (fromZero && lo === 0 ? 0 : d), hi + d];
  }
  const pad = (hi - lo) * 0.05;
  return [fromZero && lo === 0 ? 0 : lo - pad, hi + pad];
}

interface YAxis {
  yr: [number, number];
  ticks: number[];
  labels: string[];
}

function yAxis(ys: number[], fromZero: boolean, h: number, scale: number): YAxis {
  const yr = range(ys, fromZero);
  const t = niceTicks(yr[0], yr[1], Math.max(2, Math.floor(h / (7 * scale * 3))));
  return { yr, ticks: t.ticks, labels: t.ticks.map((v) => formatTick(v, t.step)) };
}

function drawPanel(cv: Canvas, p: Panel, xs: number[], ys: number[], xr: [number, number], ya: YAxis, title: string,
                   colour: Rgb, scale: number, xLabel: string | null): void {
  const yr = ya.yr;
  const px = (x: number): number => p.x0 + ((x - xr[0]) / (xr[1] - xr[0])) * (p.w - 1);
  const py = (y: number): number => p.y0 + p.h - 1 - ((y - yr[0]) / (yr[1] - yr[0])) * (p.h - 1);
  const charH = 7 * scale;
  const tickLen = 4 * scale;
  // Grid and ticks.
  ya.ticks.forEach((v, k) => {
    const y = Math.round(py(v));
    if (y < p.y0 || y >= p.y0 + p.h) return;
    cv.hline(p.x0 + 1, p.x0 + p.w - 2, y, GRID);
    cv.hline(p.x0 - tickLen, p.x0, y, BLACK);
    const label = ya.labels[k];
    cv.text(label, p.x0 - tickLen - 3 * scale - textWidth(label, scale), y - Math.floor(charH / 2), scale, BLACK);
  });
  const xt = niceTicks(xr[0], xr[1], Math.max(2, Math.floor(p.w / (textWidth('00000', scale) * 2))));
  for (const v of xt.ticks) {
    const x = Math.round(px(v));
    if (x < p.x0 || x >= p.x0 + p.w) continue;
    cv.vline(x, p.y0 + 1, p.y0 + p.h - 2, GRID);
    cv.vline(x, p.y0 + p.h - 1, p.y0 + p.h - 1 + tickLen, BLACK);
    const label = formatTick(v, xt.step);
    cv.text(label, x - Math.floor(textWidth(label, scale) / 2), p.y0 + p.h + tickLen + 2 * scale, scale, BLACK);
  }
  // Data.
  let prev: [number, number] | null = null;
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i]) || !Number.isFinite(ys[i])) {
      prev = null;
      continue;
    }
    const cur: [number, number] = [px(xs[i]), Math.max(p.y0, Math.min(p.y0 + p.h - 1, py(ys[i])))];
    if (prev) cv.line(prev[0], prev[1], cur[0], cur[1], colour);
    else cv.set(cur[0], cur[1], colour);
    prev = cur;
  }
  // Frame and labels.
  cv.hline(p.x0, p.x0 + p.w - 1, p.y0, BLACK);
  cv.hline(p.x0, p.x0 + p.w - 1, p.y0 + p.h - 1, BLACK);
  cv.vline(p.x0, p.y0, p.y0 + p.h - 1, BLACK);
  cv.vline(p.x0 + p.w - 1, p.y0, p.y0 + p.h - 1, BLACK);
  cv.rect(p.x0 + 3 * scale, p.y0 + 3 * scale, textWidth(title, scale) + 4 * scale, charH + 4 * scale, [255, 255, 255]);
  cv.text(title, p.x0 + 5 * scale, p.y0 + 5 * scale, scale, colour);
  if (xLabel) {
    cv.text(xLabel, p.x0 + p.w - textWidth(xLabel, scale), p.y0 + p.h + tickLen + 2 * scale + charH + 3 * scale, scale, BLACK);
  }
}

export function renderLossCurve(points: readonly CurvePoint[], width: number, height: number): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 120 || height < 100) {
    throw new RangeError(`renderLossCurve: size ${width}x${height} too small (min 120x100)`);
  }
  const pts = [...points].sort((a, b) => a.step - b.step);
  const cv = new Canvas(width, height);
  const scale = height >= 480 ? 2 : 1;
  const charH = 7 * scale;
  const xs = pts.map((p) => p.step);
  const finiteXs = xs.filter(Number.isFinite);
  const xr: [number, number] = finiteXs.length > 0 ? [finiteXs[0], finiteXs[finiteXs.length - 1]] : [0, 1];
  if (xr[1] === xr[0]) xr[1] = xr[0] + 1;
  const right = Math.max(8 * scale, Math.ceil(textWidth('00000', scale) / 2) + 2);
  const top = 6 * scale;
  const xAxisSpace = charH + 8 * scale; // tick + tick labels
  const bottom = xAxisSpace + charH + 4 * scale; // plus the "step" label
  const gapBetween = xAxisSpace + 6 * scale;
  const avail = height - top - bottom - gapBetween;
  const h1 = Math.round(avail * 0.6);
  const h2 = avail - h1;
  const ya1 = yAxis(pts.map((p) => p.loss), false, h1, scale);
  const ya2 = yAxis(pts.map((p) => p.lr), true, h2, scale);
  const widest = Math.max(textWidth('0.0', scale), ...[...ya1.labels, ...ya2.labels].map((l) => textWidth(l, scale)));
  const left = Math.min(widest + 10 * scale, Math.floor(width / 3));
  const w = width - left - right;
  drawPanel(cv, { x0: left, y0: top, w, h: h1 }, xs, pts.map((p) => p.loss), xr, ya1, 'loss', LOSS, scale, null);
  drawPanel(cv, { x0: left, y0: top + h1 + gapBetween, w, h: h2 }, xs, pts.map((p) => p.lr), xr, ya2, 'lr', LR, scale, 'step');
  return cv.data;
}

/** Render and write a loss chart as PNG. */
export function writeLossCurve(file: string, points: readonly CurvePoint[], width = 800, height = 600): void {
  writePng(file, renderLossCurve(points, width, height), width, height, 3);
}
