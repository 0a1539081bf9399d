// Chat (seed 003): a room's messages and reactions over Server-Sent Events,
// a hot badge with the room's current fetch rate, and a sparkline of
// fetches per second. The stream resumes with Last-Event-ID after any
// drop, so no message is missed; the first connection asks from position 0
// (the room's history).
import { h, fill, field, fmtClock, fmtNum, session, every, randomId } from '../lib/dom.js';
import { get, post, describe } from '../lib/http.js';
import { EventStream } from '../lib/sse.js';
import { Series, sparkline } from '../lib/spark.js';
import { report, forget } from '../lib/status.js';

const QUICK = ['👍', '❤️', '😂', '🔥'];
const MAX_MESSAGES = 300;

let roomIn, nameIn, userIn, textIn, stateEl, listEl, hotEl, sparkEl, roomMsg, postMsg, stopPoll = null;
let room = null; // {id, stream, messages: Map id -> {el, reactions}, hot, rate, series}

function open(id) {
  close();
  const r = { id, messages: new Map(), hot: false, rate: 0, series: new Series(60), stream: null, state: 'connecting', detail: '' };
  room = r;
  fill(listEl);
  renderHot();
  r.stream = new EventStream(`/v1/rooms/${encodeURIComponent(id)}/stream`, {
    lastId: 0,
    onState: (state, detail) => {
      if (room !== r) return;
      r.state = state;
      r.detail = detail;
      renderState(r);
    },
    onEvent: (ev) => room === r && onEvent(r, ev),
  });
  r.stream.start();
}

const stateWords = { live: 'live', connecting: 'connecting', lost: 'connection lost, reconnecting', failed: 'cannot follow' };

function renderState(r) {
  stateEl.dataset.state = r.state;
  const resume = `resumes after position ${r.stream.lastId}`;
  stateEl.textContent = `${stateWords[r.state]} · room ${r.id} · ${r.state === 'failed' ? r.detail : resume}`;
  if (r.state === 'failed') forget('chat');
  else report('chat', r.state, resume);
}

function close() {
  if (!room) return;
  room.stream.stop();
  room = null;
  forget('chat');
}

function onEvent(r, ev) {
  renderState(r);
  let d;
  try {
    d = JSON.parse(ev.data);
  } catch {
    return;
  }
  switch (ev.type) {
    case 'message':
      addMessage(r, d);
      break;
    case 'reaction': {
      const m = r.messages.get(d.messageId);
      if (m) {
        m.reactions[d.emoji] = Math.max(m.reactions[d.emoji] || 0, d.count);
        renderReactions(r, d.messageId);
      }
      break;
    }
    case 'hot':
      r.hot = true;
      addSystem(`the room became hot at ${fmtNum(d.rate)} fetches/s: fetches are throttled, follow the stream`, d.at);
      renderHot();
      break;
    case 'cooled':
      r.hot = false;
      addSystem(`the room cooled down after ${fmtNum(d.hotForSeconds, 0)} s hot`, d.at);
      renderHot();
      break;
    default:
  }
}

function stickToBottom(fn) {
  const near = listEl.scrollHeight - listEl.scrollTop - listEl.clientHeight < 40;
  fn();
  while (listEl.children.length > MAX_MESSAGES) listEl.firstElementChild.remove();
  if (near) listEl.scrollTop = listEl.scrollHeight;
}

function addMessage(r, m) {
  const el = h('li', { class: 'message', dataset: { messageId: m.messageId, position: m.position } },
    h('div', { class: 'row-head' }, h('span', { class: 'user' }, m.userId), h('span', { class: 'muted' }, fmtClock(m.at))),
    h('p', { class: 'text' }, m.text),
    h('div', { class: 'reactions' }));
  r.messages.set(m.messageId, { el, reactions: { ...(m.reactions || {}) } });
  stickToBottom(() => listEl.appendChild(el));
  renderReactions(r, m.messageId);
}

function addSystem(text, at) {
  stickToBottom(() => listEl.appendChild(h('li', { class: 'system' }, h('span', { class: 'muted' }, fmtClock(at)), ' ', text)));
}

function renderReactions(r, messageId) {
  const m = r.messages.get(messageId);
  if (!m) return;
  const emojis = [...new Set([...Object.keys(m.reactions), ...QUICK])];
  fill(m.el.querySelector('.reactions'), emojis.map((e) =>
    h('button', { class: 'reaction' + (m.reactions[e] ? ' given' : ''), type: 'button', title: 'react with ' + e, onclick: () => react(r, messageId, e) },
      e, m.reactions[e] ? h('span', { class: 'count' }, String(m.reactions[e])) : null)));
}

async function react(r, messageId, emoji) {
  const res = await post(`/v1/rooms/${encodeURIComponent(r.id)}/messages/${encodeURIComponent(messageId)}/reactions`, { userId: user(), emoji });
  if (!res.ok) fill(postMsg, h('span', { class: 'error' }, describe(res)));
}

function renderHot() {
  const r = room;
  hotEl.dataset.hot = !!(r && r.hot);
  hotEl.textContent = r ? `${r.hot ? 'HOT' : 'calm'} · ${fmtNum(r.rate)} fetches/s` : '–';
  fill(sparkEl, sparkline(r ? r.series : new Series(60), { label: 'fetches per second' }));
}

// poll reads the room's heat and fetch rate (not a counted fetch).
async function poll() {
  const r = room;
  if (!r) return;
  const res = await get(`/v1/rooms/${encodeURIComponent(r.id)}`);
  if (room !== r || !res.ok) return;
  r.rate = res.data.fetchesPerSecond || 0;
  r.hot = res.data.hot;
  r.series.push(r.rate);
  renderHot();
}

function user() {
  const u = userIn.value.trim() || 'console-' + randomId(4);
  userIn.value = u;
  session.set('chatUser', u);
  return u;
}

async function send() {
  if (!room) return;
  const res = await post(`/v1/rooms/${encodeURIComponent(room.id)}/messages`, { userId: user(), text: textIn.value });
  if (res.ok) {
    textIn.value = '';
    fill(postMsg);
  } else fill(postMsg, h('span', { class: 'error' }, describe(res)));
}

async function createRoom() {
  const id = roomIn.value.trim();
  const res = await post('/v1/rooms', { id, name: nameIn.value.trim() || id });
  if (!res.ok) {
    fill(roomMsg, h('span', { class: 'error' }, describe(res)));
    return;
  }
  fill(roomMsg, h('span', { class: 'ok' }, `room ${res.data.id} is open`));
  location.hash = '#/chat/' + encodeURIComponent(res.data.id);
  if (room && room.state === 'failed' && room.id === res.data.id) open(res.data.id);
}

export default {
  id: 'chat',
  title: 'Chat',
  init(root) {
    roomIn = h('input', { name: 'room', value: 'lobby', required: true, pattern: '[A-Za-z0-9._\\-]{1,64}', size: 12 });
    nameIn = h('input', { name: 'name', placeholder: 'Lobby', size: 12 });
    userIn = h('input', { name: 'user', value: session.get('chatUser', 'console-' + randomId(4)), maxlength: 64, size: 14 });
    textIn = h('input', { name: 'text', maxlength: 1000, placeholder: 'say something', autocomplete: 'off' });
    stateEl = h('p', { class: 'state', id: 'chat-state', role: 'status' }, 'no room open');
    listEl = h('ol', { class: 'messages', id: 'chat-messages' });
    hotEl = h('span', { class: 'hot', id: 'chat-hot', dataset: { hot: false } }, '–');
    sparkEl = h('div', { class: 'chart', id: 'chat-spark' });
    roomMsg = h('span', { class: 'msg' });
    postMsg = h('span', { class: 'msg' });
    fill(root,
      h('h2', {}, 'Hot chat'),
      h('p', { class: 'lead' }, 'Messages stream over SSE; a room fetched too often runs hot and its fetches are throttled.'),
      h('form', { class: 'inline card', onsubmit: (e) => { e.preventDefault(); location.hash = '#/chat/' + encodeURIComponent(roomIn.value.trim()); } },
        field('Room', roomIn), h('button', { type: 'submit', class: 'primary' }, 'Open'),
        field('Name', nameIn), h('button', { type: 'button', onclick: createRoom }, 'Create room'), roomMsg),
      stateEl,
      h('div', { class: 'cols' },
        h('div', { class: 'card chat' },
          listEl,
          h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); send(); } },
            field('You', userIn), field('Message', textIn), h('button', { type: 'submit', class: 'primary' }, 'Send'), postMsg)),
        h('div', { class: 'card' }, h('h3', {}, 'Heat'), hotEl, h('span', { class: 'label' }, 'fetches per second, last minute'), sparkEl,
          h('p', { class: 'muted' }, 'The detector marks a room hot when its fetch rate crosses the threshold, and cools it when the rate has stayed low.'))));
  },
  show({ path }) {
    const id = path[0] || roomIn.value.trim() || 'lobby';
    roomIn.value = id;
    if (!room || room.id !== id || room.state === 'failed') open(id);
    stopPoll?.();
    stopPoll = every(1000, poll);
  },
  hide() {
    stopPoll?.();
    stopPoll = null;
  },
};
