// WebSocket session: one socket at a time, automatic reconnect with backoff,
// and a send queue so actions taken while the link is down are not lost.
//
// The owner supplies `hello()`, the first message of every socket (it carries
// the resume token, so a reconnect takes back the same session), and calls
// `ready()` once the server has answered it: only then is the queue flushed,
// because the server refuses anything sent before the session exists.

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;
// A socket stuck in CONNECTING (black-holed network) or an open socket the
// server never greets would otherwise stall the session forever.
const CONNECT_TIMEOUT_MS = 8_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const MAX_QUEUE = 32;
// The server closes a socket whose session another tab or device took over with this
// code (docs/protocol.md): reconnecting would only take it back, and so on for ever.
const CLOSE_TAKEN_OVER = 4000;

/** The /ws endpoint on this page's host, secure when the page is. */
export function socketUrl(loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/ws`;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): doubling, capped at 10 s, and
 * jittered down to half ("equal jitter"), so the first retry comes within 0.5 s and no
 * wait exceeds the cap. `random` is injectable for tests.
 */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  // Jitter spreads out the reconnect storm after a server restart.
  return Math.round(base * (0.5 + random() * 0.5));
}

/**
 * Status values passed to onStatus:
 *   "connecting"  first attempt in progress (nothing was lost yet)
 *   "handshake"   socket open, waiting for the server's answer to hello()
 *   "ready"       session established (owner called ready())
 *   "down"        link lost, a reconnect is scheduled or running
 *   "stopped"     stop() was called; no more attempts
 *   "taken"       the session moved to another tab or device; no more attempts
 */
export class Connection {
  constructor({ url, hello, onMessage, onStatus }) {
    this.url = url;
    this.hello = hello;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.ws = null;
    this.status = "stopped";
    this.attempt = 0;
    this.queue = [];
    this.retryTimer = null;
    this.guardTimer = null;

    // The browser knows about lost connectivity long before TCP does.
    window.addEventListener("offline", () => this.abandon(this.ws));
    window.addEventListener("online", () => {
      if (this.status === "down" && !this.ws) this.reconnectNow();
    });
  }

  /** Begin connecting (idempotent). */
  start() {
    if (this.active) return;
    this.attempt = 0;
    this.setStatus("connecting");
    this.open();
  }

  /** Close for good; queued messages are dropped (they belonged to the old session). */
  stop() {
    this.clearTimers();
    this.queue = [];
    const ws = this.ws;
    this.ws = null;
    this.setStatus("stopped");
    if (ws) ws.close(1000, "client stop");
  }

  /**
   * Say hello() again on the open socket: after a `leave`, the same link opens a new session
   * (another name) without a new socket. Without an open socket, start afresh.
   */
  rejoin() {
    const ws = this.ws;
    if (!this.active || !ws || ws.readyState !== WebSocket.OPEN) {
      this.stop();
      this.start();
      return;
    }
    clearTimeout(this.guardTimer);
    this.guardTimer = setTimeout(() => this.abandon(ws), HANDSHAKE_TIMEOUT_MS);
    this.setStatus("handshake");
    ws.send(JSON.stringify(this.hello()));
  }

  /**
   * The server refused hello() for now (`server_recovering`: a cluster's core is taking
   * over): say it again on the same socket after a backoff wait, as a reconnect would wait,
   * without dropping the socket. Returns the wait in ms (null without an open socket: the
   * reconnect path already retries).
   */
  helloLater(random = Math.random) {
    const ws = this.ws;
    if (!this.active || !ws || ws.readyState !== WebSocket.OPEN) return null;
    const delay = backoffDelay(this.attempt, random);
    this.attempt += 1;
    clearTimeout(this.guardTimer);
    // In the guard's place: a socket that closes meanwhile clears it and reconnects instead.
    this.guardTimer = setTimeout(() => {
      if (this.ws === ws) this.rejoin();
    }, delay);
    return delay;
  }

  /** Give up on the current socket and go through the normal reconnect path. */
  drop() {
    this.abandon(this.ws);
  }

  /** Skip the pending backoff wait. */
  reconnectNow() {
    if (!this.active || this.ws) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.open();
  }

  /** The server accepted hello(): reset the backoff and flush queued messages. */
  ready() {
    clearTimeout(this.guardTimer);
    this.attempt = 0;
    this.setStatus("ready");
    const pending = this.queue;
    this.queue = [];
    for (const msg of pending) this.send(msg);
  }

  /** Send now if the session is up, else queue it for after the next ready(). */
  send(msg) {
    if (this.status === "ready" && this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    if (!this.active) return false;
    if (this.queue.length >= MAX_QUEUE) this.queue.shift();
    this.queue.push(msg);
    return false;
  }

  /** Connecting, connected or trying to reconnect (neither stopped nor taken over). */
  get active() {
    return this.status !== "stopped" && this.status !== "taken";
  }

  // ------------------------------------------------------------------ internals

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.onStatus?.(status);
  }

  clearTimers() {
    clearTimeout(this.retryTimer);
    clearTimeout(this.guardTimer);
    this.retryTimer = null;
    this.guardTimer = null;
  }

  open() {
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      // Malformed URL (e.g. page opened from file://): treat like a refused connection.
      console.warn("WebSocket could not be created:", err);
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.guardTimer = setTimeout(() => this.abandon(ws), CONNECT_TIMEOUT_MS);

    // Every handler checks `this.ws === ws`: events of a replaced socket are stale.
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      clearTimeout(this.guardTimer);
      this.guardTimer = setTimeout(() => this.abandon(ws), HANDSHAKE_TIMEOUT_MS);
      this.setStatus("handshake");
      ws.send(JSON.stringify(this.hello()));
    });

    ws.addEventListener("message", (event) => {
      if (this.ws !== ws || typeof event.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        console.warn("Ignoring a non-JSON frame from the server");
        return;
      }
      if (msg && typeof msg === "object" && typeof msg.type === "string") this.onMessage(msg);
    });

    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.guardTimer);
      if (!this.active) return;
      if (event.code === CLOSE_TAKEN_OVER) {
        this.clearTimers();
        this.queue = [];
        this.setStatus("taken");
        return;
      }
      this.scheduleReconnect();
    });
    // "error" is always followed by "close", which does the work.
  }

  /**
   * Stop using `ws` right away and reconnect. We don't wait for its "close"
   * event: on a dead network the closing handshake can take minutes.
   */
  abandon(ws) {
    if (!ws || this.ws !== ws) return;
    this.ws = null;
    clearTimeout(this.guardTimer);
    try {
      ws.close();
    } catch {
      /* already closing */
    }
    if (this.active) this.scheduleReconnect();
  }

  scheduleReconnect() {
    this.setStatus("down");
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.active) this.open();
    }, delay);
  }
}
