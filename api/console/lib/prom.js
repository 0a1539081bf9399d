// A reader of Prometheus's text format (GET /metrics), enough for the
// operations panel's charts.

// parseMetrics returns Map name -> [{labels, value}].
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) {
      for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, '$1');
    }
    const value = Number(m[3]);
    if (!out.has(m[1])) out.set(m[1], []);
    out.get(m[1]).push({ labels, value });
  }
  return out;
}

// total sums a metric's samples whose labels pass keep.
export function total(metrics, name, keep = () => true) {
  let sum = 0;
  for (const s of metrics.get(name) || []) if (keep(s.labels)) sum += s.value;
  return sum;
}

// Rates turns counters read at intervals into per-second rates.
export class Rates {
  constructor() {
    this.prev = null;
  }

  // next takes {key: counterValue} read now and returns {key: perSecond}
  // (null the first time). A counter that went down (a restart) counts
  // from zero.
  next(values) {
    const now = performance.now();
    const prev = this.prev;
    this.prev = { at: now, values };
    if (!prev) return null;
    const dt = (now - prev.at) / 1000;
    const out = {};
    for (const [k, v] of Object.entries(values)) {
      const before = prev.values[k] ?? 0;
      out[k] = dt > 0 ? Math.max(0, v >= before ? v - before : v) / dt : 0;
    }
    return out;
  }
}
