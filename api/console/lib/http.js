// Calls to the API, from the page's own origin. Tokens go in the
// Authorization header, never in a URL.
import { report } from './status.js';

// request sends one call and never throws for HTTP or network errors: it
// returns { status (0: no answer), ok, data (parsed JSON), text, headers,
// error: {code, message} | null, ms }.
export async function request(method, path, { body, token, headers = {}, signal } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, signal, cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (token) init.headers.Authorization = 'Bearer ' + token;
  const started = performance.now();
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    report('api', 'lost', 'the server does not answer');
    return { status: 0, ok: false, data: null, text: '', headers: new Headers(), error: { code: 'network', message: 'the server does not answer' }, ms: performance.now() - started };
  }
  const text = await res.text().catch(() => '');
  const ms = performance.now() - started;
  report('api', 'live');
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON (/metrics) */
  }
  let error = null;
  if (!res.ok) {
    error = (data && data.error) || { code: 'http_' + res.status, message: text.slice(0, 200) || res.statusText };
  }
  return { status: res.status, ok: res.ok, data, text, headers: res.headers, error, ms };
}

export const get = (path, opts) => request('GET', path, opts);
export const post = (path, body, opts = {}) => request('POST', path, { ...opts, body });

// describe turns a failed answer into one line for the page.
export function describe(res) {
  if (res.ok) return '';
  if (res.status === 0) return 'no answer from the server';
  return `${res.status} ${res.error.code}: ${res.error.message}`;
}

// wsURL is a WebSocket URL on the page's own host.
export function wsURL(path) {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
}
