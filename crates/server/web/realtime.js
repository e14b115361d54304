// The WebSocket: hello/ready, resume from the last cursor, reconnect with backoff, and an outbox of
// `send` ops that are sent again (same ref, same nonce) until acknowledged.
import { api, CURSOR_KEY } from '/api.js';

const MIN_DELAY = 500;
const MAX_DELAY = 10000;
const PING_EVERY = 25000;
const DEAD_AFTER = 60000;
/** A connection counts as good, and the backoff starts over, only once it has stayed up this long: a server
 * that says `ready` and then closes (a failed replay, a restart) must not be hammered. */
const STABLE_AFTER = 10000;

/** Close codes that end the login: the token is no good any more (4001: unknown, revoked or expired) or the
 * session was logged out (4003, also by "log out everywhere"). Every other close, 1013 (the server cannot
 * check the token for a moment) and 4005 (too many sockets) included, keeps the token and reconnects. */
const SIGNED_OUT = [4001, 4003];
/** The user's role in their organization changed (4006): the server closed the socket so that a new one
 * carries the new role, and it is opened again at once, without the backoff. */
const ROLE_CHANGED = 4006;

export class Realtime {
  /**
   * handlers: onEvent(frame) for durable events, onReply(frame) for ack/error of send ops,
   * onFrame(frame) for anything else, onReady(), onResync(), onStatus(connected, closeCode), and
   * onAuthFail(closeCode) for a 4001 or 4003.
   * @param {string} token
   * @param {{onEvent: (f: any) => void, onReply: (f: any) => void, onFrame?: (f: any) => void, onReady: () => void,
   *   onResync: () => void, onStatus: (up: boolean, code?: number) => void, onAuthFail: (code: number) => void}} handlers
   */
  constructor(token, handlers) {
    this.token = token;
    this.on = handlers;
    this.ws = null;
    this.ready = false;
    this.stopped = true;
    this.attempt = 0;
    this.timer = 0;
    this.pinger = 0;
    this.lastRx = 0;
    this.seq = 0;
    this.outbox = new Map(); // ref -> op, sends awaiting their ack
    this.cursor = sessionStorage.getItem(CURSOR_KEY);
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.drop();
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    clearTimeout(this.timer);
    clearTimeout(this.stable);
    this.detach(1000);
  }

  /** Sends an op; `send` ops are kept and sent again after a reconnect until answered. Returns its ref. */
  send(op) {
    const ref = `r${++this.seq}-${Date.now().toString(36)}`;
    const full = { ...op, ref };
    if (op.op === 'send') this.outbox.set(ref, full);
    if (this.ready) this.write(full);
    return ref;
  }

  write(op) {
    try {
      this.ws.send(JSON.stringify(op));
    } catch {
      /* closing; the outbox resends after the reconnect */
    }
  }

  saveCursor(cursor) {
    if (!cursor) return;
    this.cursor = cursor;
    sessionStorage.setItem(CURSOR_KEY, cursor);
  }

  async connect() {
    clearTimeout(this.timer);
    if (this.stopped || this.ws || this.connecting) return;
    if (navigator.onLine === false) {
      this.on.onStatus(false);
      return; // the `online` event brings us back
    }
    const fallback = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/v1/ws`;
    let url = fallback;
    this.connecting = true;
    try {
      const g = await api('GET', '/v1/gateway');
      if (g && typeof g.url === 'string' && /^wss?:\/\//.test(g.url)) url = g.url;
    } catch (e) {
      if (e.status === 401) return; // api() has logged out already
    } finally {
      this.connecting = false;
    }
    if (this.stopped || this.ws) return;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      ws = new WebSocket(fallback);
    }
    this.ws = ws;
    this.lastRx = Date.now();
    ws.onopen = () => {
      ws.send(JSON.stringify({ op: 'hello', token: this.token, resume: this.cursor ?? null }));
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastRx = Date.now();
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.frame(f);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.detach();
      if (SIGNED_OUT.includes(ev.code)) {
        this.stop();
        this.on.onAuthFail(ev.code);
        return;
      }
      this.on.onStatus(false, ev.code);
      if (ev.code === ROLE_CHANGED) this.connect();
      else this.schedule();
    };
    ws.onerror = () => {}; // a close follows
  }

  frame(f) {
    const type = f.type;
    if (type === 'ready') {
      this.ready = true;
      clearTimeout(this.stable);
      this.stable = setTimeout(() => { this.attempt = 0; }, STABLE_AFTER);
      if (!this.cursor) this.saveCursor(f.cursor);
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.heartbeat(), PING_EVERY);
      this.on.onStatus(true);
      for (const op of this.outbox.values()) this.write(op);
      this.on.onReady();
    } else if (type === 'resync') {
      this.saveCursor(f.cursor);
      this.on.onResync();
    } else if (f.cursor !== undefined && f.cursor !== null) {
      try {
        this.on.onEvent(f);
      } catch (e) {
        console.error('event', f.type, e);
      }
      this.saveCursor(f.cursor);
    } else if ((type === 'ack' || type === 'error') && f.ref && this.outbox.has(f.ref)) {
      // A failure of the server's own is sent again by itself (the nonce makes that safe). A refusal,
      // `rate_limited` included, goes to the page, which shows it as "Not sent" with Retry.
      if (type === 'error' && f.code === 'internal') {
        const op = this.outbox.get(f.ref);
        setTimeout(() => this.ready && this.outbox.has(op.ref) && this.write(op), 1000 + Math.random() * 1000);
        return;
      }
      this.outbox.delete(f.ref);
      this.on.onReply(f);
    } else {
      this.on.onFrame?.(f);
    }
  }

  heartbeat() {
    if (!this.ready) return;
    if (Date.now() - this.lastRx > DEAD_AFTER) {
      // Nothing came back from two pings: the connection is dead without knowing it.
      this.drop();
      this.schedule();
      return;
    }
    this.write({ op: 'ping' });
  }

  /** Forgets the current socket (its late events are ignored) and closes it. */
  detach(code) {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    clearInterval(this.pinger);
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try {
        ws.close(code);
      } catch {
        /* already closed */
      }
    }
  }

  /** The network went away: stop using the socket now rather than wait for a timeout. */
  drop() {
    if (this.stopped) return;
    this.detach(1000);
    this.on.onStatus(false);
  }

  schedule() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    clearTimeout(this.stable);
    const bound = Math.min(MAX_DELAY, MIN_DELAY * 2 ** this.attempt);
    this.attempt++;
    // Full jitter (docs/protocol.md), so clients a restart dropped together do not come back together.
    const delay = Math.random() * bound;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped) return;
    if (!this.ws) this.connect();
  }
}
