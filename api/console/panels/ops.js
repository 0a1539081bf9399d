// Operations: the poison queue (list, show payload and reason, requeue,
// discard), the readiness of each dependency, and throughput from
// /metrics as small live charts.
//
// The admin token is asked for here and kept in this tab's session
// storage only; it travels in the Authorization header, never in a URL.
import { h, fill, field, fmtInt, fmtNum, fmtClock, session, every } from '../lib/dom.js';
import { get, request, describe } from '../lib/http.js';
import { parseMetrics, total, Rates } from '../lib/prom.js';
import { Series, sparkline } from '../lib/spark.js';

let tokenIn, tokenMsg, readyEl, chartsEl, routesEl, poisonEl, poisonMsg, stops = [];
const opened = new Set(); // entry ids whose payload is shown
const rates = new Rates();
const charts = {
  http: { label: 'HTTP requests/s', series: new Series(60) },
  errors: { label: 'HTTP 5xx/s', series: new Series(60) },
  pushed: { label: 'pushed to clients/s', series: new Series(60) },
  conns: { label: 'open connections', series: new Series(60), gauge: true },
  poison: { label: 'poison queue', series: new Series(60), gauge: true },
};

const token = () => session.get('adminToken');

async function readiness() {
  const res = await get('/readyz', { token: token() });
  if (!res.data || !res.data.checks) {
    fill(readyEl, h('p', { class: 'error' }, describe(res)));
    return;
  }
  const { checks, detail = {} } = res.data;
  fill(readyEl,
    h('p', {}, h('span', { class: 'badge', dataset: { status: res.data.status === 'ready' ? 'ok' : 'failed' } }, res.data.status.replace('_', ' '))),
    h('ul', { class: 'checks' }, Object.keys(checks).sort().map((name) =>
      h('li', { dataset: { check: name } }, h('span', { class: 'badge', dataset: { status: checks[name] } }, checks[name]), ' ', h('b', {}, name),
        detail[name] ? h('div', { class: 'muted' }, detail[name]) : null))),
    !token() && Object.values(checks).some((c) => c !== 'ok') ? h('p', { class: 'muted' }, 'Why a check is not ok is shown with the admin token.') : null);
}

async function metrics() {
  const res = await get('/metrics', { headers: { Accept: 'text/plain' } });
  if (!res.ok) {
    fill(chartsEl, h('p', { class: 'error' }, describe(res)));
    return;
  }
  const m = parseMetrics(res.text);
  const counters = {
    http: total(m, 'surge_http_requests_total'),
    errors: total(m, 'surge_http_requests_total', (l) => Number(l.status) >= 500),
    pushed: total(m, 'surge_push_delivered_total'),
  };
  const routes = {};
  for (const s of m.get('surge_http_requests_total') || []) {
    const k = `${s.labels.method} ${s.labels.route}`;
    routes['r:' + k] = (routes['r:' + k] || 0) + s.value;
  }
  const r = rates.next({ ...counters, ...routes });
  if (r) {
    for (const k of Object.keys(counters)) charts[k].series.push(r[k]);
    const busiest = Object.entries(r).filter(([k, v]) => k.startsWith('r:') && v > 0).sort((a, b) => b[1] - a[1]).slice(0, 6);
    fill(routesEl, busiest.length
      ? h('table', { class: 'routes' }, h('tbody', {}, busiest.map(([k, v]) => h('tr', {}, h('td', { class: 'clip' }, k.slice(2)), h('td', { class: 'num' }, fmtNum(v) + '/s')))))
      : h('p', { class: 'empty' }, 'No traffic.'));
  }
  charts.conns.series.push(total(m, 'surge_http_connections_open'));
  charts.poison.series.push(total(m, 'surge_poison_queue_size'));
  fill(chartsEl, Object.entries(charts).map(([k, c]) =>
    h('div', { class: 'chart', dataset: { chart: k } },
      h('span', { class: 'label' }, c.label, ' ', h('b', {}, c.gauge ? fmtInt(c.series.last) : fmtNum(c.series.last))),
      sparkline(c.series, { label: c.label }))));
}

let poisonSeq = 0; // the latest read of the queue: an older answer is dropped

async function poison() {
  const mine = ++poisonSeq;
  if (!token()) {
    fill(poisonEl, h('p', { class: 'empty' }, 'Enter the admin token to see the poison queue.'));
    return;
  }
  const res = await get('/v1/admin/poison?limit=100', { token: token() });
  if (mine !== poisonSeq) return; // a requeue or discard read it again meanwhile
  if (res.status === 401) {
    session.set('adminToken', '');
    fill(tokenMsg, h('span', { class: 'error' }, 'the token was refused (or the admin API is off): enter it again'));
    fill(poisonEl);
    return;
  }
  if (!res.ok) {
    fill(poisonEl, h('p', { class: 'error' }, describe(res)));
    return;
  }
  renderPoison(res.data);
}

let lastKey = '';

// renderPoison redraws the table when what it shows changed (a poll that
// finds the same entries leaves a half-confirmed discard alone).
function renderPoison(entries, force = false) {
  const key = JSON.stringify([entries.map((e) => e.id), [...opened]]);
  if (key === lastKey && !force) return;
  lastKey = key;
  if (!entries.length) {
    fill(poisonEl, h('p', { class: 'empty', id: 'poison-empty' }, 'The poison queue is empty.'));
    return;
  }
  fill(poisonEl, h('table', { class: 'poison', id: 'poison-table' },
    h('thead', {}, h('tr', {}, ['id', 'topic', 'handler', 'reason', 'attempts', 'poisoned', ''].map((t) => h('th', {}, t)))),
    entries.map((e) => h('tbody', { dataset: { entryId: e.id } },
      h('tr', {},
        h('td', {}, String(e.id)), h('td', {}, e.topic), h('td', {}, e.handler),
        h('td', { class: 'clip reason', title: e.reason }, e.reason), h('td', { class: 'num' }, String(e.attempts)),
        h('td', {}, fmtClock(e.poisonedAt)),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'show', onclick: () => { opened.has(e.id) ? opened.delete(e.id) : opened.add(e.id); renderPoison(entries, true); } }, opened.has(e.id) ? 'Hide' : 'Show'),
          h('button', { type: 'button', class: 'requeue primary', onclick: (ev) => requeue(e, ev.target) }, 'Requeue'),
          h('button', { type: 'button', class: 'discard danger', onclick: (ev) => discard(e, ev.target) }, 'Discard'))),
      opened.has(e.id) ? h('tr', { class: 'payload' }, h('td', { colspan: 7 },
        h('p', {}, h('b', {}, 'message '), e.messageId, h('b', {}, ' reason '), e.reason),
        h('p', { class: 'muted' }, `payload (${e.payloadEncoding})`),
        h('pre', {}, e.payload),
        h('p', { class: 'muted' }, 'metadata'),
        h('pre', {}, JSON.stringify(e.metadata, null, 2)))) : null))));
}

async function requeue(e, btn) {
  btn.disabled = true;
  const res = await request('POST', `/v1/admin/poison/${e.id}/requeue`, { token: token() });
  fill(poisonMsg, res.ok
    ? h('span', { class: 'ok' }, `entry ${e.id} requeued to ${res.data.topic} (message ${res.data.messageId})`)
    : h('span', { class: 'error' }, `requeue of ${e.id}: ${describe(res)}`));
  opened.delete(e.id);
  lastKey = ''; // redraw even if the entry is still there (a failed call)
  await poison();
}

// discard asks twice: a discarded message is gone.
async function discard(e, btn) {
  if (btn.dataset.armed !== 'true') {
    btn.dataset.armed = 'true';
    btn.textContent = 'Really discard?';
    return;
  }
  btn.disabled = true;
  const res = await request('DELETE', `/v1/admin/poison/${e.id}`, { token: token() });
  fill(poisonMsg, res.ok ? h('span', { class: 'ok' }, `entry ${e.id} discarded`) : h('span', { class: 'error' }, `discard of ${e.id}: ${describe(res)}`));
  opened.delete(e.id);
  lastKey = ''; // redraw even if the entry is still there (a failed call)
  await poison();
}

function useToken() {
  session.set('adminToken', tokenIn.value.trim());
  tokenIn.value = '';
  fill(tokenMsg, token() ? h('span', { class: 'ok' }, 'token kept for this tab') : null);
  poison();
  readiness();
}

export default {
  id: 'ops',
  title: 'Operations',
  init(root) {
    tokenIn = h('input', { name: 'adminToken', type: 'password', autocomplete: 'off', placeholder: 'SURGE_ADMIN_TOKEN' });
    tokenMsg = h('span', { class: 'msg' });
    readyEl = h('div', { id: 'readiness' });
    chartsEl = h('div', { class: 'charts', id: 'throughput' });
    routesEl = h('div', { id: 'routes' });
    poisonEl = h('div', { id: 'poison' });
    poisonMsg = h('p', { class: 'msg', id: 'poison-msg' });
    fill(root,
      h('h2', {}, 'Operations'),
      h('div', { class: 'cols' },
        h('div', { class: 'card' }, h('h3', {}, 'Readiness'), readyEl),
        h('div', { class: 'card' }, h('h3', {}, 'Throughput'), chartsEl, h('h4', {}, 'Busiest routes'), routesEl)),
      h('div', { class: 'card' },
        h('h3', {}, 'Poison queue'),
        h('form', { class: 'inline', id: 'admin-token', onsubmit: (e) => { e.preventDefault(); useToken(); } },
          field('Admin token', tokenIn, 'kept in this tab only, sent as a header'),
          h('button', { type: 'submit' }, 'Use token'),
          h('button', { type: 'button', onclick: () => { tokenIn.value = ''; useToken(); } }, 'Forget token'),
          tokenMsg),
        poisonMsg, poisonEl));
  },
  show() {
    stops.forEach((s) => s());
    stops = [every(2000, readiness), every(2000, metrics), every(3000, poison)];
  },
  hide() {
    stops.forEach((s) => s());
    stops = [];
  },
};
