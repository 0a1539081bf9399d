// Sparklines: a small SVG line of the last values, drawn by the page
// itself (no chart library).
import { s } from './dom.js';

// Series keeps the last n values.
export class Series {
  constructor(n = 60) {
    this.n = n;
    this.values = [];
  }

  push(v) {
    this.values.push(Number.isFinite(v) ? v : 0);
    if (this.values.length > this.n) this.values.shift();
  }

  get last() {
    return this.values.length ? this.values[this.values.length - 1] : NaN;
  }

  get max() {
    return this.values.reduce((a, b) => Math.max(a, b), 0);
  }
}

// sparkline draws series into an SVG (width × height user units, scaled
// by CSS). A dashed line marks the threshold when given.
export function sparkline(series, { width = 240, height = 48, threshold = null, label = '' } = {}) {
  const vals = series.values;
  const top = Math.max(series.max, threshold ?? 0, 1) * 1.1;
  const step = width / Math.max(series.n - 1, 1);
  const x0 = width - (vals.length - 1) * step;
  const y = (v) => (height - 2 - (v / top) * (height - 4)).toFixed(1);
  const pts = vals.map((v, i) => `${(x0 + i * step).toFixed(1)},${y(v)}`);
  const svg = s('svg', { class: 'spark', viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label });
  if (pts.length > 1) {
    svg.appendChild(s('polygon', { class: 'spark-area', points: `${pts[0].split(',')[0]},${height} ${pts.join(' ')} ${width},${height}` }));
    svg.appendChild(s('polyline', { class: 'spark-line', points: pts.join(' ') }));
  }
  if (threshold != null) {
    const ty = y(threshold);
    svg.appendChild(s('line', { class: 'spark-threshold', x1: 0, x2: width, y1: ty, y2: ty }));
  }
  return svg;
}
