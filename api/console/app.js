// The console's shell: tabs (each panel a deep link, #/<panel>/<arg>?<query>),
// the connection pill and the lost-connection banner.
import { onChange, overall } from './lib/status.js';
import coupons from './panels/coupons.js';
import prices from './panels/prices.js';
import alerts from './panels/alerts.js';
import chat from './panels/chat.js';
import pools from './panels/pools.js';
import ops from './panels/ops.js';

const panels = [coupons, prices, alerts, chat, pools, ops];
const byId = new Map(panels.map((p) => [p.id, p]));
let current = null;

// route reads location.hash: #/alerts?complex=A&house=101 → {id: 'alerts',
// path: [], query}.
function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart, queryPart = ''] = raw.split('?');
  const [id, ...path] = pathPart.split('/').map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return '';
    }
  });
  return { id: byId.has(id) ? id : panels[0].id, path: path.filter(Boolean), query: new URLSearchParams(queryPart) };
}

function show() {
  const r = route();
  const panel = byId.get(r.id);
  if (current && current !== panel) current.hide();
  for (const section of document.querySelectorAll('section.panel')) section.hidden = section.dataset.panel !== r.id;
  for (const a of document.querySelectorAll('#tabs a')) {
    if (a.dataset.panel === r.id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  current = panel;
  document.title = `${panel.title} · Surge console`;
  panel.show(r);
}

const labels = { live: 'live', connecting: 'connecting…', lost: 'connection lost' };

function showConnection(channels) {
  const state = overall();
  const pill = document.getElementById('conn');
  pill.dataset.state = state;
  pill.textContent = labels[state];
  const banner = document.getElementById('banner');
  const lost = [...channels].filter(([, c]) => c.state === 'lost');
  banner.hidden = lost.length === 0;
  banner.replaceChildren(
    document.createTextNode('Connection lost — reconnecting. '),
    ...lost.map(([name, c]) => {
      const span = document.createElement('span');
      span.className = 'banner-item';
      span.textContent = `${name}: ${c.detail || 'reconnecting'}`;
      return span;
    }),
  );
}

for (const p of panels) p.init(document.getElementById('panel-' + p.id));
onChange(showConnection);
window.addEventListener('hashchange', show);
show();
