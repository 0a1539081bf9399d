// Building the page. Every piece of text that comes from the API (chat
// messages, alert texts, names, poison payloads) goes in as text: a Text
// node or textContent, never HTML. A message that reads <script>…</script>
// is shown as those characters and runs nothing. Nothing in the console
// uses innerHTML, outerHTML, insertAdjacentHTML or document.write
// (api/console_test.go checks).

// h makes an element: h('p', {class: 'note'}, 'text', child, …).
// props: class, text (textContent), dataset, on<event> (a function),
// anything else an attribute. Children: strings and numbers become Text
// nodes, arrays are flattened, null and false are skipped.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

// s makes an SVG element (sparklines).
export function s(tag, props = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  setProps(el, props);
  append(el, children);
  return el;
}

function setProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') {
      el.setAttribute('class', v);
    } else if (k === 'text') {
      el.textContent = String(v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k.startsWith('on')) {
      if (typeof v !== 'function') throw new Error(`${k} must be a function`);
      el.addEventListener(k.slice(2), v);
    } else if (k === 'style') {
      throw new Error('no style attributes: the CSP forbids them; use a class');
    } else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden') {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

// append adds children as nodes, text as Text nodes.
export function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

// fill replaces an element's children.
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// width sets a bar segment's width through the CSSOM (allowed by the CSP,
// unlike a style attribute). fraction is clamped to 0..1.
export function width(el, fraction) {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  el.style.width = (f * 100).toFixed(2) + '%';
  return el;
}

// field is a labelled input.
export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label, hint ? h('span', { class: 'hint' }, ' · ' + hint) : null), input);
}

export const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');

export function fmtNum(n, digits = 1) {
  if (!Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

// fmtDuration: 850 ms, 4.2 s, 3 min 05 s, 2 h 10 min.
export function fmtDuration(ms) {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

// fmtClock: the local time of an ISO timestamp, HH:MM:SS.
export function fmtClock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '–';
  return d.toLocaleTimeString('en-GB', { hour12: false });
}

// since is how long ago an ISO timestamp was, in milliseconds.
export const since = (iso) => Date.now() - new Date(iso).getTime();

// session keeps a value for this tab only (sessionStorage): tokens and
// names, never in a URL.
export const session = {
  get(key, fallback = '') {
    try {
      return sessionStorage.getItem('surge.' + key) ?? fallback;
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    try {
      if (value) sessionStorage.setItem('surge.' + key, value);
      else sessionStorage.removeItem('surge.' + key);
    } catch {
      /* storage refused (private mode): the value lives in memory only */
    }
  },
};

// every runs fn now and then every ms until the returned stop is called.
export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try {
      await fn();
    } catch (err) {
      console.warn(err);
    } finally {
      if (!stopped) timer = setTimeout(tick, ms);
    }
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// randomId is a short random suffix for user ids made up by the page.
export function randomId(n = 6) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => (x % 36).toString(36)).join('');
}
