// Prices (seed 000): look up a product; a hit shows the offers, the
// lowest, the vendors that failed and how long the price still holds; a
// miss shows the pending state, then waits (?wait) for the result.
import { h, fill, field, fmtDuration, fmtClock, every } from '../lib/dom.js';
import { get, describe } from '../lib/http.js';

let input, out, stopClock = null;
let shown = null; // the comparison on screen (for the countdown)
let looking = 0; // the lookup in progress (a newer one wins)

function money(price, currency) {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(price);
  } catch {
    return `${price} ${currency}`; // a code Intl does not know
  }
}

function renderResult(v, res, how) {
  shown = v;
  const lowest = v.lowest;
  fill(out,
    h('div', { class: 'card price', dataset: { product: v.productId } },
      h('div', { class: 'row-head' }, h('h3', {}, v.productId), h('span', { class: 'badge', dataset: { status: 'ok' } }, how)),
      lowest
        ? h('p', { class: 'lowest' }, h('span', { class: 'big' }, money(lowest.price, lowest.currency)), ' lowest, at ', h('b', {}, lowest.vendor))
        : h('p', { class: 'lowest' }, 'No vendor offers this product.'),
      h('table', { class: 'offers' },
        h('thead', {}, h('tr', {}, h('th', {}, 'vendor'), h('th', { class: 'num' }, 'price'))),
        h('tbody', {}, v.offers.map((o) =>
          h('tr', { class: lowest && o.vendor === lowest.vendor ? 'best' : '' }, h('td', {}, o.vendor), h('td', { class: 'num' }, money(o.price, o.currency)))))),
      h('p', {}, 'Failed vendors: ', v.failedVendors.length ? v.failedVendors.map((f) => h('span', { class: 'badge', dataset: { status: 'failed' } }, f)) : h('span', { class: 'muted' }, 'none')),
      h('p', { class: 'muted' }, `compared at ${fmtClock(v.comparedAt)} · answered in ${fmtDuration(res.ms)}`),
      h('p', { class: 'expiry', id: 'price-expiry' })));
  tick();
}

// tick updates the time to expiry once a second.
function tick() {
  const el = document.getElementById('price-expiry');
  if (!el || !shown) return;
  const left = new Date(shown.expiresAt).getTime() - Date.now();
  el.dataset.expired = left <= 0;
  el.textContent = left > 0 ? `the vendors guarantee this price for ${fmtDuration(left)} more` : 'expired: the next look-up asks the vendors again';
}

function renderPending(id, res, note) {
  shown = null;
  const failed = res.data && res.data.lastComparison === 'failed';
  fill(out,
    h('div', { class: 'card price pending', dataset: { product: id } },
      h('div', { class: 'row-head' }, h('h3', {}, id), h('span', { class: 'badge', dataset: { status: 'pending' } }, 'pending')),
      h('p', {}, failed ? 'The last comparison failed (no vendor answered); the vendors are asked again after the back-off.' : 'Not cached: the vendors are being asked, once for everyone asking.'),
      h('p', { class: 'muted' }, `202 after ${fmtDuration(res.ms)}, Retry-After ${res.headers.get('Retry-After') || '?'} s. ${note}`)));
}

async function lookup(id) {
  const mine = ++looking;
  fill(out, h('p', { class: 'muted' }, `looking up ${id}…`));
  const path = `/v1/products/${encodeURIComponent(id)}/price-comparison`;
  let res = await get(path);
  for (let attempt = 0; mine === looking; attempt++) {
    if (res.status === 200) {
      renderResult(res.data, res, attempt === 0 ? 'cache hit' : 'compared just now');
      return;
    }
    if (res.status !== 202) {
      fill(out, h('p', { class: 'error' }, describe(res)));
      return;
    }
    if (attempt >= 3) {
      renderPending(id, res, 'Still pending: look it up again later.');
      return;
    }
    renderPending(id, res, 'Waiting for the result…');
    res = await get(path + '?wait=5s');
  }
}

export default {
  id: 'prices',
  title: 'Prices',
  init(root) {
    input = h('input', { name: 'product', value: 'sku-1', required: true, pattern: '[A-Za-z0-9._\\-]{1,64}', autocomplete: 'off' });
    out = h('div', { id: 'price' });
    fill(root,
      h('h2', {}, 'Price comparison'),
      h('p', { class: 'lead' }, 'Every vendor asked once per product and lifetime; a hit is one Redis read.'),
      h('form', { class: 'inline card', onsubmit: (e) => {
        e.preventDefault();
        const id = input.value.trim();
        const target = '#/prices/' + encodeURIComponent(id);
        if (location.hash === target) lookup(id);
        else location.hash = target;
      } }, field('Product', input), h('button', { type: 'submit', class: 'primary' }, 'Look up')),
      out);
  },
  show({ path }) {
    if (path[0]) {
      input.value = path[0];
      lookup(path[0]);
    }
    stopClock?.();
    stopClock = every(1000, tick);
  },
  hide() {
    stopClock?.();
    looking++; // a lookup in flight stops rendering
  },
};
