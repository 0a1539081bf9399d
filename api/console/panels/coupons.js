// Coupons (seed 001): every campaign with live accepted / issued / limit
// bars, one campaign opened, and a rush of simulated applicants fired from
// the page to watch the queue drain.
import { h, fill, width, field, fmtInt, fmtDuration, every, randomId } from '../lib/dom.js';
import { get, post, describe } from '../lib/http.js';
import { Series, sparkline } from '../lib/spark.js';

let listEl, detailEl, openMsg, stopPoll = null;
let selected = null; // campaign id shown in detail
let rush = null; // the rush in progress (or the last one)
const issuedSeries = new Series(60);

// bar draws issued, accepted-not-yet-decided and rejected as parts of the
// limit.
function bar(c) {
  const limit = Math.max(c.limit, 1);
  const pending = Math.max(0, c.accepted - c.issued - c.rejected);
  return h('div', { class: 'bar', role: 'img', 'aria-label': `${c.issued} issued, ${pending} pending, ${c.rejected} rejected of ${c.limit}` },
    width(h('span', { class: 'seg issued' }), c.issued / limit),
    width(h('span', { class: 'seg pending' }), pending / limit),
    width(h('span', { class: 'seg rejected' }), c.rejected / limit));
}

function numbers(c) {
  return h('div', { class: 'nums' },
    h('span', {}, h('b', {}, fmtInt(c.accepted)), ' accepted'),
    h('span', { class: 'k-issued' }, h('b', {}, fmtInt(c.issued)), ' issued'),
    c.rejected ? h('span', { class: 'k-rejected' }, h('b', {}, fmtInt(c.rejected)), ' rejected') : null,
    h('span', {}, 'limit ', h('b', {}, fmtInt(c.limit))));
}

async function listAll() {
  const items = [];
  let after = null;
  for (let page = 0; page < 5; page++) {
    const res = await get('/v1/campaigns?limit=200' + (after ? '&after=' + encodeURIComponent(after) : ''));
    if (!res.ok) return { error: describe(res), items };
    items.push(...res.data.items);
    if (res.data.next == null) break;
    after = res.data.next;
  }
  return { items };
}

function renderList({ items, error }) {
  if (error) {
    fill(listEl, h('p', { class: 'error' }, error));
    return;
  }
  if (!items.length) {
    fill(listEl, h('p', { class: 'empty' }, 'No campaign yet: open one above.'));
    return;
  }
  fill(listEl, items.map((c) =>
    h('a', { class: 'row campaign' + (c.id === selected ? ' selected' : ''), href: '#/coupons/' + encodeURIComponent(c.id), dataset: { campaign: c.id } },
      h('div', { class: 'row-head' }, h('span', { class: 'name' }, c.name), h('span', { class: 'id' }, c.id), h('span', { class: 'badge', dataset: { status: c.status } }, c.status.replace('_', ' '))),
      bar(c), numbers(c))));
}

// The detail's form is made once (what is typed in it stays); its figures
// are refilled on every poll.
let detailHead, detailData, rushForm, rushInput, rushEl;
let sample = null; // {at, issued}: the last point of the issued/s line

async function renderDetail() {
  detailEl.hidden = !selected;
  if (!selected) return;
  const res = await get('/v1/campaigns/' + encodeURIComponent(selected));
  if (!res.ok) {
    fill(detailHead, h('h3', {}, selected));
    fill(detailData, h('p', { class: 'error' }, describe(res)));
    return;
  }
  const c = res.data;
  const now = performance.now();
  if (!sample) sample = { at: now, issued: c.issued };
  else if (now - sample.at >= 1000) {
    issuedSeries.push(((c.issued - sample.issued) * 1000) / (now - sample.at));
    sample = { at: now, issued: c.issued };
  }
  const draining = c.accepted - c.issued - c.rejected;
  const r = rush && rush.campaign === c.id ? rush : null;
  if (r && r.done && draining === 0 && !r.drainedAt) r.drainedAt = now;
  fill(detailHead, h('h3', {}, c.name), h('span', { class: 'id' }, c.id), h('span', { class: 'badge', dataset: { status: c.status } }, c.status.replace('_', ' ')));
  fill(detailData,
    bar(c), numbers(c),
    h('p', { class: 'drain' }, draining > 0 ? `${fmtInt(draining)} admitted applicants are waiting for their coupon: the queue drains` : 'every admitted applicant has an outcome'),
    h('div', { class: 'chart' }, h('span', { class: 'label' }, `coupons issued per second (now ${fmtInt(issuedSeries.last)})`), sparkline(issuedSeries, { label: 'coupons issued per second' })));
  rushForm.querySelector('button').disabled = !!(rush && !rush.done);
  fill(rushEl, r ? rushView(r) : null);
}

function rushView(r) {
  const t = r.tally;
  const elapsed = (r.done ? r.doneAt : performance.now()) - r.started;
  return h('div', { class: 'rush' },
    h('div', {}, `${r.done ? 'Sent' : 'Sending'} ${fmtInt(r.sent)} / ${fmtInt(r.n)} applications in ${fmtDuration(elapsed)}`),
    h('div', { class: 'nums' }, Object.entries(t).map(([k, v]) => h('span', {}, h('b', {}, fmtInt(v)), ' × ' + k))),
    r.drainedAt ? h('div', {}, `queue drained ${fmtDuration(r.drainedAt - r.started)} after the first application`) : null);
}

// fire sends n applications from made-up users, six at a time (a browser's
// connections per host).
async function fire(campaign, n) {
  if (!Number.isFinite(n) || n < 1) return;
  n = Math.min(5000, Math.floor(n));
  const prefix = 'rush-' + randomId(4);
  const r = { campaign, n, sent: 0, tally: {}, started: performance.now(), done: false };
  rush = r;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const res = await post(`/v1/campaigns/${encodeURIComponent(campaign)}/applications`, { userId: `${prefix}-${i}` });
      const key = res.ok ? '202 accepted' : res.status === 0 ? 'no answer' : `${res.status} ${res.error.code}`;
      r.tally[key] = (r.tally[key] || 0) + 1;
      r.sent++;
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  r.done = true;
  r.doneAt = performance.now();
}

async function openCampaign(form) {
  const data = new FormData(form);
  const body = { name: data.get('name'), limit: Number(data.get('limit')) };
  if (data.get('id')) body.id = data.get('id');
  const res = await post('/v1/campaigns', body);
  if (!res.ok) {
    fill(openMsg, h('span', { class: 'error' }, describe(res)));
    return;
  }
  fill(openMsg, h('span', { class: 'ok' }, `opened ${res.data.id}`));
  location.hash = '#/coupons/' + encodeURIComponent(res.data.id);
}

export default {
  id: 'coupons',
  title: 'Coupons',
  init(root) {
    openMsg = h('span', { class: 'msg' });
    listEl = h('div', { class: 'list', id: 'campaigns' });
    detailHead = h('div', { class: 'row-head' });
    detailData = h('div', {});
    rushInput = h('input', { type: 'number', min: 1, max: 5000, value: 500, name: 'applicants' });
    rushForm = h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); fire(selected, Number(rushInput.value)); } },
      field('Applicants', rushInput), h('button', { type: 'submit', class: 'primary' }, 'Fire a rush'));
    rushEl = h('div', { class: 'rush-out' });
    detailEl = h('div', { class: 'card detail', id: 'campaign', hidden: true }, detailHead, detailData, rushForm, rushEl);
    fill(root,
      h('h2', {}, 'Coupons'),
      h('p', { class: 'lead' }, 'First come, first served: the gate admits exactly the limit, the queue issues the coupons.'),
      h('form', { class: 'inline card', onsubmit: (e) => { e.preventDefault(); openCampaign(e.target); } },
        field('Id', h('input', { name: 'id', placeholder: 'spring', pattern: '[A-Za-z0-9._\\-]{1,64}' })),
        field('Name', h('input', { name: 'name', required: true, value: 'Spring sale' })),
        field('Limit', h('input', { name: 'limit', type: 'number', min: 1, max: 10000000, value: 100, required: true })),
        h('button', { type: 'submit' }, 'Open campaign'), openMsg),
      h('div', { class: 'cols' }, h('div', {}, h('h3', {}, 'Campaigns'), listEl), detailEl));
  },
  show({ path }) {
    if (path[0] !== selected) {
      issuedSeries.values = [];
      sample = null;
    }
    selected = path[0] || null;
    stopPoll?.();
    // Fast while a rush drains, else once a second.
    let last = 0;
    stopPoll = every(250, async () => {
      const busy = rush && (!rush.done || !rush.drainedAt);
      if (!busy && performance.now() - last < 1000) return;
      last = performance.now();
      await Promise.all([listAll().then(renderList), renderDetail()]);
    });
  },
  hide() {
    stopPoll?.();
    stopPoll = null;
  },
};
