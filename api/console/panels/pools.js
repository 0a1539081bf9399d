// Warm pools (seed 004): every template with its pool (ready / target),
// opening a template, and creating designs: warm (a ready copy taken) or
// cold (copied now), with how long each took.
import { h, fill, field, fmtInt, fmtDuration, since, every } from '../lib/dom.js';
import { get, post, request, describe } from '../lib/http.js';

const SAMPLES = 'templates/sample/01.png\ntemplates/sample/02.png\ntemplates/sample/03.png';

let listEl, detailEl, detailHead, detailPool, resultsEl, ownerIn, openMsg, closeBtn, stopPoll = null;
let selected = null;
const results = []; // the designs made from this page, newest first

async function listAll() {
  const items = [];
  let after = null;
  for (let page = 0; page < 5; page++) {
    const res = await get('/v1/templates?limit=200' + (after ? '&after=' + encodeURIComponent(after) : ''));
    if (!res.ok) return { error: describe(res), items };
    items.push(...res.data.items);
    if (res.data.next == null) break;
    after = res.data.next;
  }
  return { items };
}

// slots draws the pool as target boxes, the ready ones filled.
function slots(pool) {
  const n = Math.max(pool.target, pool.ready);
  return h('div', { class: 'slots', role: 'img', 'aria-label': `${pool.ready} of ${pool.target} ready` },
    Array.from({ length: Math.min(n, 40) }, (_, i) => h('span', { class: 'slot' + (i < pool.ready ? ' ready' : '') })),
    h('span', { class: 'slots-n' }, `${fmtInt(pool.ready)} / ${fmtInt(pool.target)} ready`));
}

function renderList({ items, error }) {
  if (error) {
    fill(listEl, h('p', { class: 'error' }, error));
    return;
  }
  if (!items.length) {
    fill(listEl, h('p', { class: 'empty' }, 'No template yet: open one above.'));
    return;
  }
  fill(listEl, items.map((t) =>
    h('a', { class: 'row template' + (t.id === selected ? ' selected' : ''), href: '#/pools/' + encodeURIComponent(t.id), dataset: { template: t.id } },
      h('div', { class: 'row-head' }, h('span', { class: 'name' }, t.name), h('span', { class: 'id' }, t.id), h('span', { class: 'muted' }, `${fmtInt(t.assets)} assets`)),
      slots(t.pool),
      t.pool.oldestReadyAt ? h('div', { class: 'muted' }, `oldest ready copy ${fmtDuration(since(t.pool.oldestReadyAt))} old`) : null)));
}

async function renderDetail() {
  detailEl.hidden = !selected;
  if (!selected) return;
  const res = await get('/v1/templates/' + encodeURIComponent(selected));
  if (!res.ok) {
    fill(detailHead, h('h3', {}, selected));
    fill(detailPool, h('p', { class: 'error' }, describe(res)));
    return;
  }
  const t = res.data;
  fill(detailHead, h('h3', {}, t.name), h('span', { class: 'id' }, t.id), h('span', { class: 'muted' }, `${fmtInt(t.assets)} assets`));
  fill(detailPool, slots(t.pool));
}

function renderResults() {
  const mine = results.filter((r) => r.template === selected);
  fill(resultsEl, mine.length
    ? h('ul', { class: 'plain designs' }, mine.slice(0, 12).map((r) =>
      h('li', { dataset: { source: r.source || 'error' } },
        r.error
          ? h('span', { class: 'error' }, r.error)
          : [h('span', { class: 'badge', dataset: { status: r.source } }, r.source), ` in ${fmtDuration(r.ms)} · design ${r.designId.slice(0, 8)}… · ${r.assets} objects`])))
    : h('p', { class: 'empty' }, 'Create a design: warm when the pool has a ready copy, cold when it is empty.'));
}

async function createDesigns(n) {
  const template = selected;
  const owner = ownerIn.value.trim() || 'console-user';
  await Promise.all(Array.from({ length: n }, async () => {
    const res = await post(`/v1/templates/${encodeURIComponent(template)}/designs`, { ownerId: owner });
    results.unshift(res.ok
      ? { template, source: res.data.source, ms: res.ms, designId: res.data.designId, assets: res.data.assets.length }
      : { template, error: describe(res) });
    renderResults();
  }));
  renderDetail();
}

async function openTemplate(form) {
  const data = new FormData(form);
  const body = { name: data.get('name'), assets: String(data.get('assets')).split('\n').map((s) => s.trim()).filter(Boolean) };
  if (data.get('id')) body.id = data.get('id');
  const res = await post('/v1/templates', body);
  if (!res.ok) {
    fill(openMsg, h('span', { class: 'error' }, describe(res)));
    return;
  }
  fill(openMsg, h('span', { class: 'ok' }, `opened ${res.data.id}: the pool starts filling`));
  location.hash = '#/pools/' + encodeURIComponent(res.data.id);
}

// closeTemplate asks twice: closing drains the pool.
async function closeTemplate() {
  if (closeBtn.dataset.armed !== 'true') {
    closeBtn.dataset.armed = 'true';
    closeBtn.textContent = 'Really close? Click again';
    setTimeout(() => {
      closeBtn.dataset.armed = 'false';
      closeBtn.textContent = 'Close template';
    }, 3000);
    return;
  }
  const res = await request('DELETE', '/v1/templates/' + encodeURIComponent(selected));
  if (res.ok) location.hash = '#/pools';
  else fill(resultsEl, h('p', { class: 'error' }, describe(res)));
}

export default {
  id: 'pools',
  title: 'Warm pools',
  init(root) {
    openMsg = h('span', { class: 'msg' });
    listEl = h('div', { class: 'list', id: 'templates' });
    detailHead = h('div', { class: 'row-head' });
    detailPool = h('div', {});
    resultsEl = h('div', { id: 'designs' });
    ownerIn = h('input', { name: 'owner', value: 'console-user', maxlength: 64, size: 14 });
    closeBtn = h('button', { type: 'button', class: 'danger', onclick: closeTemplate }, 'Close template');
    detailEl = h('div', { class: 'card detail', id: 'template', hidden: true },
      detailHead, detailPool,
      h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); createDesigns(1); } },
        field('Owner', ownerIn),
        h('button', { type: 'submit', class: 'primary' }, 'Create a design'),
        h('button', { type: 'button', onclick: () => createDesigns(5) }, 'Create 5 at once'),
        closeBtn),
      resultsEl);
    fill(root,
      h('h2', {}, 'Warm pools'),
      h('p', { class: 'lead' }, 'Each template keeps ready copies of its S3 objects: a design takes one (warm) or copies now (cold).'),
      h('form', { class: 'card open-template', onsubmit: (e) => { e.preventDefault(); openTemplate(e.target); } },
        h('div', { class: 'inline' },
          field('Id', h('input', { name: 'id', placeholder: 'spring', pattern: '[A-Za-z0-9._\\-]{1,64}' })),
          field('Name', h('input', { name: 'name', value: 'Spring', required: true }))),
        field('Asset keys, one a line', h('textarea', { name: 'assets', rows: 3, text: SAMPLES })),
        h('div', { class: 'inline' }, h('button', { type: 'submit' }, 'Open template'), openMsg)),
      h('div', { class: 'cols' }, h('div', {}, h('h3', {}, 'Templates'), listEl), detailEl));
  },
  show({ path }) {
    selected = path[0] || null;
    renderResults();
    stopPoll?.();
    stopPoll = every(1000, () => Promise.all([listAll().then(renderList), renderDetail()]));
  },
  hide() {
    stopPoll?.();
    stopPoll = null;
  },
};
