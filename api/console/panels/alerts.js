// Alerts (seed 002). A resident's view: pick a complex and a house, see
// every alert of the complex arrive live over STOMP/WebSocket (a visual
// flash, no sound), accept someone else's or cancel your own. An
// operator's view beside it: the open alerts with their age, and how long
// accepted ones waited.
//
// The page subscribes to /sub/line/<complex> with x-after:<the last
// position it saw> (0 the first time: the complex's history), so after a
// lost connection stompjs reconnects and the server sends exactly what was
// missed, then live.
import { Client } from '../vendor/stompjs/index.js';
import { h, fill, field, fmtDuration, fmtClock, fmtInt, since, session, every } from '../lib/dom.js';
import { post, describe, wsURL } from '../lib/http.js';
import { report, forget } from '../lib/status.js';

const FLASH_WITHIN = 60_000; // alerts younger than this flash when they arrive
const MAX_CARDS = 100;

let complexIn, houseIn, tokenIn, textIn, stateEl, feedEl, opEl, raiseMsg, stopTick = null;
let conn = null; // the current connection: {complex, house, client, last, alerts, cards}

const norm = (house) => house.trim().normalize('NFC');

function connect(complex, house) {
  disconnect();
  const token = session.get('residentToken');
  const c = { complex, house: norm(house), last: 0, alerts: new Map(), cards: new Map(), client: null, notice: '' };
  conn = c;
  fill(feedEl);
  const setState = (state, detail = '') => {
    if (conn !== c) return;
    c.state = state;
    c.detail = detail;
    renderState(c);
  };
  c.client = new Client({
    brokerURL: wsURL('/ws'),
    connectHeaders: token ? { passcode: token } : {},
    heartbeatIncoming: 10000,
    heartbeatOutgoing: 10000,
    reconnectDelay: 1000,
    debug: () => {},
    onConnect: () => {
      c.client.subscribe('/sub/line/' + complex, (m) => onNotice(c, m), { id: 'line', 'x-after': String(c.last) });
      setState('live');
    },
    onStompError: (frame) => setState('lost', frame.headers.message || 'error'),
    onWebSocketClose: () => setState('lost'),
    onWebSocketError: () => setState('lost'),
  });
  setState('connecting');
  c.client.activate();
}

const stateWords = { live: 'live', lost: 'connection lost, reconnecting', connecting: 'connecting' };

function renderState(c) {
  stateEl.dataset.state = c.state;
  stateEl.textContent = `${stateWords[c.state]} · complex ${c.complex} as ${c.house} · resumes after position ${c.last}${c.detail ? ' · ' + c.detail : ''}`;
  report('alerts', c.state, `resumes after position ${c.last}`);
}

function disconnect() {
  if (!conn) return;
  conn.client.deactivate();
  conn = null;
  forget('alerts');
}

function onNotice(c, m) {
  let n;
  try {
    n = JSON.parse(m.body);
  } catch {
    return;
  }
  if (!(n.position > c.last)) return; // a duplicate
  c.last = n.position;
  renderState(c);
  const a = c.alerts.get(n.alertId);
  switch (n.type) {
    case 'alert':
      c.alerts.set(n.alertId, { id: n.alertId, house: n.house, text: n.text || '', lat: n.lat, lng: n.lng, raisedAt: n.at, status: 'raised', error: '' });
      break;
    case 'accept':
      if (a) Object.assign(a, { status: 'accepted', acceptedBy: n.acceptedBy, acceptedAt: n.at });
      break;
    case 'cancel':
      if (a) Object.assign(a, { status: 'cancelled', cancelledAt: n.at });
      break;
    case 'reject':
      if (a && n.target === c.house) a.error = `your ${n.action || 'action'} was refused: ${n.reason}${n.acceptedBy ? ', accepted by ' + n.acceptedBy : ''}`;
      break;
    default:
      return;
  }
  const alert = c.alerts.get(n.alertId);
  if (alert) renderCard(c, alert, n.type === 'alert' && since(n.at) < FLASH_WITHIN);
  renderOperator();
}

function statusLine(a) {
  if (a.status === 'accepted') return `accepted by ${a.acceptedBy} after ${fmtDuration(new Date(a.acceptedAt) - new Date(a.raisedAt))}`;
  if (a.status === 'cancelled') return 'cancelled by the raiser';
  return `open for ${fmtDuration(since(a.raisedAt))}: waiting for a neighbour`;
}

// renderCard draws (or redraws in place) one alert's card.
function renderCard(c, a, flash) {
  let card = c.cards.get(a.id);
  if (!card) {
    card = h('article', { class: 'alert', dataset: { alertId: a.id } });
    c.cards.set(a.id, card);
    feedEl.prepend(card);
    while (feedEl.children.length > MAX_CARDS) {
      const old = feedEl.lastElementChild;
      c.cards.delete(old.dataset.alertId);
      old.remove();
    }
  }
  card.dataset.status = a.status;
  if (a.status !== 'raised') card.classList.remove('flash'); // settled: nothing to call attention to
  if (flash) {
    card.classList.remove('flash');
    void card.offsetWidth; // restart the animation
    card.classList.add('flash');
  }
  const mine = a.house === c.house;
  const act = (what) => async (e) => {
    e.target.disabled = true;
    const res = await post(`/v1/alerts/${encodeURIComponent(a.id)}/${what}`, { house: c.house }, { token: session.get('residentToken') });
    if (!res.ok) {
      a.error = describe(res);
      renderCard(c, a, false);
    }
  };
  fill(card,
    h('div', { class: 'row-head' },
      h('span', { class: 'house' }, a.house, mine ? ' (you)' : ''),
      h('span', { class: 'muted' }, fmtClock(a.raisedAt)),
      h('span', { class: 'badge', dataset: { status: a.status } }, a.status)),
    h('p', { class: 'text' }, a.text || '(no text)'),
    a.lat != null ? h('p', { class: 'muted' }, `at ${a.lat.toFixed(5)}, ${a.lng.toFixed(5)}`) : null,
    h('p', { class: 'status' }, statusLine(a)),
    a.error ? h('p', { class: 'error' }, a.error) : null,
    a.status === 'raised'
      ? h('div', { class: 'actions' }, mine
        ? h('button', { class: 'cancel', onclick: act('cancellation') }, 'Cancel my alert')
        : h('button', { class: 'accept primary', onclick: act('acceptances') }, `Accept as ${c.house}`))
      : null);
}

// renderOperator: open alerts (oldest first) with their age; accepted
// ones with their time to accept.
function renderOperator() {
  if (!conn) {
    fill(opEl);
    return;
  }
  const all = [...conn.alerts.values()];
  const open = all.filter((a) => a.status === 'raised').sort((x, y) => new Date(x.raisedAt) - new Date(y.raisedAt));
  const accepted = all.filter((a) => a.status === 'accepted');
  const waits = accepted.map((a) => new Date(a.acceptedAt) - new Date(a.raisedAt)).sort((x, y) => x - y);
  const p50 = waits.length ? waits[Math.ceil(waits.length / 2) - 1] : NaN;
  fill(opEl,
    h('div', { class: 'nums' },
      h('span', {}, h('b', {}, fmtInt(open.length)), ' open'),
      h('span', {}, h('b', {}, fmtInt(accepted.length)), ' accepted'),
      h('span', {}, h('b', {}, fmtInt(all.length - open.length - accepted.length)), ' cancelled'),
      h('span', {}, 'time to accept p50 ', h('b', {}, fmtDuration(p50)), ', max ', h('b', {}, fmtDuration(waits[waits.length - 1])))),
    open.length
      ? h('table', { class: 'open-alerts' },
        h('thead', {}, h('tr', {}, h('th', {}, 'house'), h('th', {}, 'text'), h('th', { class: 'num' }, 'open for'))),
        h('tbody', {}, open.map((a) => h('tr', { dataset: { alertId: a.id } }, h('td', {}, a.house), h('td', { class: 'clip' }, a.text), h('td', { class: 'num age' }, fmtDuration(since(a.raisedAt)))))))
      : h('p', { class: 'empty' }, 'No open alert.'),
    accepted.length
      ? h('ul', { class: 'plain' }, accepted.slice(-5).reverse().map((a) =>
        h('li', {}, `${a.house} ← ${a.acceptedBy}: accepted after ${fmtDuration(new Date(a.acceptedAt) - new Date(a.raisedAt))}`)))
      : null);
}

// tick keeps the ages current.
function tick() {
  if (!conn) return;
  for (const a of conn.alerts.values()) {
    if (a.status !== 'raised') continue;
    const s = conn.cards.get(a.id)?.querySelector('.status');
    if (s) s.textContent = statusLine(a);
  }
  renderOperator();
}

async function raise() {
  if (!conn) return;
  const res = await post(`/v1/complexes/${encodeURIComponent(conn.complex)}/alerts`, { house: conn.house, text: textIn.value }, { token: session.get('residentToken') });
  fill(raiseMsg, res.ok ? h('span', { class: 'ok' }, 'raised: every resident of the complex is told') : h('span', { class: 'error' }, describe(res)));
  if (res.ok) textIn.value = '';
}

export default {
  id: 'alerts',
  title: 'Alerts',
  init(root) {
    complexIn = h('input', { name: 'complex', value: 'A', required: true, pattern: '[A-Za-z0-9._\\-]{1,64}', size: 8 });
    houseIn = h('input', { name: 'house', value: session.get('house', '101-1203'), required: true, maxlength: 32, size: 10 });
    tokenIn = h('input', { name: 'token', type: 'password', autocomplete: 'off', placeholder: 'only if the server needs one', value: session.get('residentToken') });
    textIn = h('input', { name: 'text', maxlength: 500, placeholder: 'smoke on 12F', value: '' });
    stateEl = h('p', { class: 'state', id: 'alerts-state', role: 'status' }, 'not connected');
    feedEl = h('div', { class: 'alerts', id: 'alert-feed' });
    opEl = h('div', { id: 'alert-operator' });
    raiseMsg = h('span', { class: 'msg' });
    fill(root,
      h('h2', {}, 'Emergency alerts'),
      h('p', { class: 'lead' }, 'Pushed to every resident of the complex over STOMP/WebSocket; the first neighbour to accept wins.'),
      h('form', { class: 'inline card', onsubmit: (e) => {
        e.preventDefault();
        session.set('residentToken', tokenIn.value.trim());
        session.set('house', houseIn.value.trim());
        const target = `#/alerts?complex=${encodeURIComponent(complexIn.value.trim())}&house=${encodeURIComponent(houseIn.value.trim())}`;
        if (location.hash === target) connect(complexIn.value.trim(), houseIn.value.trim());
        else location.hash = target;
      } },
      field('Complex', complexIn), field('House', houseIn), field('Resident token', tokenIn, 'kept in this tab only'),
      h('button', { type: 'submit' }, 'Connect')),
      stateEl,
      h('div', { class: 'cols' },
        h('div', {},
          h('h3', {}, 'Resident'),
          h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); raise(); } },
            field('Alert text', textIn), h('button', { type: 'submit', class: 'danger' }, 'Raise an alert'), raiseMsg),
          feedEl),
        h('div', { class: 'card' }, h('h3', {}, 'Operator'), opEl)));
  },
  show({ query }) {
    const complex = query.get('complex') || complexIn.value.trim() || 'A';
    const house = query.get('house') || houseIn.value.trim() || '101-1203';
    complexIn.value = complex;
    houseIn.value = house;
    if (!conn || conn.complex !== complex || conn.house !== norm(house)) connect(complex, house);
    stopTick?.();
    stopTick = every(1000, tick);
  },
  hide() {
    // The connection stays: alerts keep arriving while another panel is shown.
    stopTick?.();
    stopTick = null;
  },
};
