import { mock, test } from "node:test";
import assert from "node:assert/strict";

import { Connection, backoffDelay } from "../connection.js";

/** A WebSocket the test opens, feeds and closes by hand. */
class FakeSocket extends EventTarget {
  static OPEN = 1;
  static made = [];

  constructor(url) {
    super();
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.made.push(this);
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  close() {
    this.readyState = 3;
  }

  opened() {
    this.readyState = FakeSocket.OPEN;
    this.dispatchEvent(new Event("open"));
  }

  closed() {
    this.readyState = 3;
    this.dispatchEvent(Object.assign(new Event("close"), { code: 1006 }));
  }
}

/** A Connection on a fake socket, opened, its hello sent; timers mocked. */
function opened() {
  globalThis.window = new EventTarget();
  globalThis.WebSocket = FakeSocket;
  mock.timers.enable({ apis: ["setTimeout"] });
  const statuses = [];
  const conn = new Connection({
    url: "ws://server/ws",
    hello: () => ({ type: "new_connection", username: "ann" }),
    onMessage: () => {},
    onStatus: (status) => statuses.push(status),
  });
  conn.start();
  const ws = FakeSocket.made.at(-1);
  ws.opened();
  return { conn, ws, statuses };
}

test("the first retry comes within half a second", () => {
  for (const r of [0, 0.5, 0.999]) assert.ok(backoffDelay(0, () => r) <= 500);
  assert.ok(backoffDelay(0, () => 0) >= 250);
});

test("the waits double, are jittered, and never exceed 10 s", () => {
  assert.equal(backoffDelay(1, () => 1), 1000);
  assert.equal(backoffDelay(2, () => 0), 1000);
  for (let attempt = 0; attempt < 40; attempt += 1) {
    for (const r of [0, 0.3, 1]) assert.ok(backoffDelay(attempt, () => r) <= 10_000, `${attempt}`);
  }
  assert.equal(backoffDelay(30, () => 1), 10_000);
  assert.equal(backoffDelay(30, () => 0), 5_000);
});

test("a hello refused for now is said again on the same socket, after waits that double", () => {
  try {
    const { conn, ws } = opened();
    const made = FakeSocket.made.length;
    assert.equal(ws.sent.length, 1);
    assert.equal(conn.helloLater(() => 1), 500);
    mock.timers.tick(499);
    assert.equal(ws.sent.length, 1);
    mock.timers.tick(1);
    assert.deepEqual(ws.sent, [ws.sent[0], ws.sent[0]]); // the same hello, again
    assert.equal(conn.helloLater(() => 1), 1000);
    mock.timers.tick(1000);
    assert.equal(ws.sent.length, 3);
    // Waits grow to the cap; the socket is kept all along (no reconnect, no new socket).
    for (let i = 0; i < 6; i += 1) mock.timers.tick(conn.helloLater(() => 1));
    assert.equal(ws.sent.length, 9);
    assert.equal(conn.helloLater(() => 1), 10_000);
    assert.equal(FakeSocket.made.length, made);
    assert.equal(conn.status, "handshake");
    // Once the session opens, a later refusal starts again from the shortest wait.
    conn.ready();
    assert.equal(conn.status, "ready");
    assert.equal(conn.helloLater(() => 1), 500);
  } finally {
    mock.timers.reset();
  }
});

test("a socket that closes while a hello waits reconnects instead", () => {
  try {
    const { conn, ws, statuses } = opened();
    const made = FakeSocket.made.length;
    conn.helloLater(() => 1);
    ws.closed();
    assert.equal(statuses.at(-1), "down");
    mock.timers.tick(1000); // the longest the second attempt's wait can be
    assert.equal(ws.sent.length, 1); // nothing said on the closed socket
    assert.equal(FakeSocket.made.length, made + 1); // the reconnect's new socket
  } finally {
    mock.timers.reset();
  }
});

test("without an open socket there is nothing to say hello on", () => {
  try {
    const { conn, ws } = opened();
    ws.closed();
    assert.equal(conn.helloLater(), null);
  } finally {
    mock.timers.reset();
  }
});
