// Server-Sent Events read over fetch, so that every reconnect sends
// Last-Event-ID itself: after a drop, an HTTP error or a restart of the
// server the stream resumes after the last id it saw and misses nothing.
// (EventSource resends it on its own reconnects too, but gives up for good
// after an HTTP error, and a new EventSource cannot be given one.)

export class EventStream {
  // url: same origin. lastId: resume after this id (null: live only).
  // onEvent({type, data, id}); onState(state, detail) with state 'connecting',
  // 'live', 'lost' or 'failed' (a 4xx: retrying would not help).
  constructor(url, { lastId = null, onEvent, onState, retryMs = 1000 }) {
    this.url = url;
    this.lastId = lastId;
    this.onEvent = onEvent;
    this.onState = onState;
    this.retryMs = retryMs;
    this.ctrl = new AbortController();
    this.stopped = false;
  }

  start() {
    this.run();
    return this;
  }

  stop() {
    this.stopped = true;
    this.ctrl.abort();
  }

  async run() {
    while (!this.stopped) {
      this.onState('connecting', this.resumeNote());
      try {
        const headers = { Accept: 'text/event-stream' };
        if (this.lastId != null) headers['Last-Event-ID'] = String(this.lastId);
        const res = await fetch(this.url, { headers, signal: this.ctrl.signal, cache: 'no-store' });
        const type = res.headers.get('Content-Type') || '';
        if (!res.ok || !type.startsWith('text/event-stream')) {
          const body = await res.text().catch(() => '');
          let msg = `${res.status}`;
          try {
            const e = JSON.parse(body).error;
            msg = `${res.status} ${e.code}: ${e.message}`;
          } catch {
            /* not the API's error shape */
          }
          if (res.status >= 400 && res.status < 500 && res.status !== 429) {
            this.onState('failed', msg);
            return;
          }
          this.onState('lost', msg);
        } else {
          this.onState('live', this.resumeNote());
          await this.read(res.body);
          if (!this.stopped) this.onState('lost', 'the stream ended; ' + this.resumeNote());
        }
      } catch (err) {
        if (this.stopped) return;
        this.onState('lost', 'connection lost; ' + this.resumeNote());
      }
      await this.pause();
    }
  }

  resumeNote() {
    return this.lastId == null ? 'live from now' : `resumes after position ${this.lastId}`;
  }

  pause() {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, this.retryMs);
      this.ctrl.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }

  // read parses the stream (the HTML spec's rules for id, event, data,
  // retry; comments ignored) and dispatches each event.
  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let ev = { type: 'message', data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (line === '') {
          if (ev.id != null) this.lastId = ev.id;
          if (ev.data.length) this.onEvent({ type: ev.type, data: ev.data.join('\n'), id: ev.id ?? this.lastId });
          ev = { type: 'message', data: [], id: null };
          continue;
        }
        if (line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const name = c < 0 ? line : line.slice(0, c);
        let val = c < 0 ? '' : line.slice(c + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (name === 'data') ev.data.push(val);
        else if (name === 'event') ev.type = val;
        else if (name === 'id') ev.id = val;
        else if (name === 'retry' && /^\d+$/.test(val)) this.retryMs = Number(val);
      }
    }
  }
}
