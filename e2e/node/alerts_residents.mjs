// Residents on @stomp/stompjs (the library of the seed's web clients) over
// the `ws` package, driven by the Go e2e test (e2e/alerts_stompjs_test.go).
//
//   node alerts_residents.mjs http://127.0.0.1:PORT
//
// It reads commands, one JSON object a line, on stdin:
//   {"op":"connect","name":"a1","path":"/ws","complex":"A","probe":"P","resume":false}
//       a new Client for the resident: CONNECT (heart-beats 10000,10000),
//       SUBSCRIBE id:line to /sub/line/<complex> (with x-after:<the last
//       position this resident received> when resume is true), then, if
//       probe is set, SUBSCRIBE id:probe to /sub/line/<probe> with x-after:0,
//       unsubscribed at its first message
//   {"op":"disconnect","name":"a1"}    client.deactivate()
//   {"op":"quit"}                      deactivate every client and exit 0
// and prints events, one JSON object a line, on stdout, each with "at", the
// wall-clock time in milliseconds when it happened:
//   {"ev":"connected","name","conn","path","version","heartBeat","server","protocol","xAfter"}
//   {"ev":"message","name","conn","sub","headers":{...},"body":"..."}
//   {"ev":"disconnected","name","conn"}    deactivate() resolved
//   {"ev":"ws-close","name","conn","code","reason","deliberate"}
//   {"ev":"stomp-error","name","conn","message","body"}
//   {"ev":"ws-error","name","conn","message"}
//   {"ev":"fatal","message"}                a bad command or a crash
// Closing stdin is the same as quit.
import { createInterface } from 'node:readline';
import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

const base = process.argv[2];
if (!base || !/^https?:\/\//.test(base)) {
  console.error('usage: node alerts_residents.mjs http://HOST:PORT');
  process.exit(2);
}
const wsBase = base.replace(/^http/, 'ws');
const now = () => performance.timeOrigin + performance.now();
const emit = (ev) => process.stdout.write(JSON.stringify({ at: now(), ...ev }) + '\n');

process.on('uncaughtException', (err) => {
  emit({ ev: 'fatal', message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});

// name -> { name, complex, last, conns, client, closing }
const residents = new Map();

function connect({ name, path = '/ws', complex, probe = '', resume = false }) {
  if (!name || !complex) throw new Error('connect needs a name and a complex');
  let r = residents.get(name);
  if (!r) {
    r = { name, complex, last: null, conns: 0, client: null, closing: 0 };
    residents.set(name, r);
  }
  if (r.client && r.client.active) throw new Error(`${name} is connected already`);
  const conn = ++r.conns;
  const client = new Client({
    webSocketFactory: () => new WebSocket(wsBase + path, ['v12.stomp', 'v11.stomp', 'v10.stomp']),
    heartbeatIncoming: 10000,
    heartbeatOutgoing: 10000,
    reconnectDelay: 0, // the test decides when a resident comes back
    debug: () => {},
    onConnect: (frame) => {
      const headers = { id: 'line' };
      if (resume) headers['x-after'] = String(r.last ?? 0);
      client.subscribe(`/sub/line/${complex}`, (m) => onMessage(r, conn, 'line', m), headers);
      if (probe) {
        const sub = client.subscribe(
          `/sub/line/${probe}`,
          (m) => {
            onMessage(r, conn, 'probe', m);
            sub.unsubscribe();
          },
          { id: 'probe', 'x-after': '0' },
        );
      }
      emit({
        ev: 'connected',
        name,
        conn,
        path,
        version: frame.headers.version ?? null,
        heartBeat: frame.headers['heart-beat'] ?? null,
        server: frame.headers.server ?? null,
        protocol: client.webSocket ? client.webSocket.protocol : null,
        xAfter: headers['x-after'] ?? null,
      });
    },
    onStompError: (frame) =>
      emit({ ev: 'stomp-error', name, conn, message: frame.headers.message ?? '', body: frame.body }),
    onWebSocketClose: (e) =>
      emit({ ev: 'ws-close', name, conn, code: e.code, reason: String(e.reason ?? ''), deliberate: r.closing === conn }),
    onWebSocketError: (e) => emit({ ev: 'ws-error', name, conn, message: String(e && e.message ? e.message : e) }),
  });
  r.client = client;
  client.activate();
}

function onMessage(r, conn, sub, m) {
  // Timestamp first: this is the moment the resident's page would show it.
  const at = now();
  if (sub === 'line') r.last = Number(m.headers.position);
  emit({ at, ev: 'message', name: r.name, conn, sub, headers: { ...m.headers }, body: m.body });
}

async function disconnect({ name }) {
  const r = residents.get(name);
  if (!r || !r.client) throw new Error(`no resident ${name}`);
  r.closing = r.conns;
  await r.client.deactivate();
  emit({ ev: 'disconnected', name, conn: r.conns });
}

let quitting = false;
async function quit() {
  if (quitting) return;
  quitting = true;
  await Promise.all(
    [...residents.values()].map((r) => {
      r.closing = r.conns;
      return r.client ? r.client.deactivate() : null;
    }),
  );
  process.exit(0);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  if (!line.trim()) return;
  try {
    const cmd = JSON.parse(line);
    switch (cmd.op) {
      case 'connect':
        connect(cmd);
        break;
      case 'disconnect':
        await disconnect(cmd);
        break;
      case 'quit':
        await quit();
        break;
      default:
        throw new Error(`unknown op ${JSON.stringify(cmd.op)}`);
    }
  } catch (err) {
    emit({ ev: 'fatal', message: String(err && err.stack ? err.stack : err) });
  }
});
lines.on('close', () => quit());
emit({ ev: 'ready', node: process.version });
