// The connection state the header and the banner show. Each live channel
// (the API itself, the alerts' WebSocket, the chat stream) reports here;
// a channel that is lost says so, and says where it resumes from.

const channels = new Map(); // name -> { state: 'live'|'connecting'|'lost', detail }
const listeners = new Set();

export function report(name, state, detail = '') {
  const prev = channels.get(name);
  if (prev && prev.state === state && prev.detail === detail) return;
  channels.set(name, { state, detail });
  for (const fn of listeners) fn(channels);
}

// forget removes a channel that was closed on purpose.
export function forget(name) {
  if (channels.delete(name)) for (const fn of listeners) fn(channels);
}

export function onChange(fn) {
  listeners.add(fn);
  fn(channels);
}

// overall: 'lost' if any channel is lost, 'connecting' if any connects,
// else 'live'.
export function overall() {
  let worst = 'live';
  for (const { state } of channels.values()) {
    if (state === 'lost') return 'lost';
    if (state === 'connecting') worst = 'connecting';
  }
  return worst;
}
