// SDK unit tests: the client's connection life cycle (hello, join, reconnect with backoff,
// keepalive) against an in-process fake of the server's WebSocket. No media: a client that
// publishes nothing never creates a peer connection, so node can run it.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { ParleyClient } from '../../../web-client/sdk/parley.js';

/** A scripted signaling server. */
class FakeServer {
  down = false;
  answerPings = true;
  /** tokens the server accepts */
  tokens = new Set(['t1']);
  /** @type {FakeWebSocket[]} */ sockets = [];
  /** every request received, in order */
  /** @type {any[]} */ requests = [];
  others = [{ sid: 'PA_bob', identity: 'bob', name: 'Bob', tracks: [] }];
  joins = 0;

  /** @param {FakeWebSocket} ws @param {any} msg */
  handle(ws, msg) {
    this.requests.push(msg);
    const reply = (/** @type {object} */ m) => ws.deliver({ reply_to: msg.id, ...m });
    switch (msg.type) {
      case 'hello':
        if (!this.tokens.has(msg.token)) return reply({ type: 'error', code: 'invalid_token', message: 'bad signature' });
        return reply({ type: 'welcome', version: 1, server: 'fake', identity: 'alice', name: 'Alice' });
      case 'join':
        this.joins++;
        return reply({ type: 'joined', room: msg.room, you: { sid: `PA_alice${this.joins}`, identity: 'alice', name: 'Alice', tracks: [] }, participants: this.others });
      case 'ping':
        if (this.answerPings) reply({ type: 'pong' });
        return;
      case 'chat_conversations':
        // A token without the chat grant: the client is a call client only.
        return reply({ type: 'error', code: 'forbidden', message: 'the token does not grant chat' });
      default:
        return reply({ type: 'ok' });
    }
  }

  /** @param {number} code */
  closeAll(code) {
    for (const ws of this.sockets) ws.serverClose(code, 'server shutting down');
  }
}

let server = new FakeServer();

class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  readyState = 0;
  /** @type {any} */ onopen = null;
  /** @type {any} */ onerror = null;
  /** @type {any} */ onclose = null;
  /** @type {any} */ onmessage = null;

  /** @param {URL} url */
  constructor(url) {
    this.url = String(url);
    const srv = server;
    setTimeout(() => {
      if (srv.down) {
        this.readyState = 3;
        this.onerror?.({});
        this.onclose?.({ code: 1006, reason: '' });
        return;
      }
      srv.sockets.push(this);
      this.readyState = 1;
      this.onopen?.({});
    }, 1);
    this.server = srv;
  }

  /** @param {string} data */
  send(data) {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    const msg = JSON.parse(data);
    setTimeout(() => this.server.handle(this, msg), 1);
  }

  /** @param {any} msg */
  deliver(msg) {
    if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(msg) });
  }

  close(code = 1000, reason = '') {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    this.server.sockets = this.server.sockets.filter((s) => s !== this);
    setTimeout(() => this.onclose?.({ code, reason }), 1);
  }

  /** @param {number} code @param {string} reason */
  serverClose(code, reason) {
    this.close(code, reason);
  }
}

const realWebSocket = globalThis.WebSocket;
beforeEach(() => {
  server = new FakeServer();
  // @ts-ignore the fake covers what the client uses
  globalThis.WebSocket = FakeWebSocket;
});
afterEach(() => {
  globalThis.WebSocket = realWebSocket;
});

/** @param {ParleyClient} c @param {string} name @param {number} [timeout] */
function next(c, name, timeout = 2000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} event within ${timeout} ms`)), timeout);
    const off = c.on(/** @type {any} */ (name), (/** @type {any} */ e) => {
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

/** Record every event of the client, in order. @param {ParleyClient} c */
function record(c) {
  /** @type {[string, any][]} */
  const log = [];
  for (const name of ['participantJoined', 'participantLeft', 'reconnecting', 'reconnected', 'disconnected', 'connectionQuality']) {
    c.on(/** @type {any} */ (name), (/** @type {any} */ e) => log.push([name, e]));
  }
  return log;
}

const fast = { backoff: { initialDelay: 20, factor: 2, jitter: 0, maxDelay: 200 }, keepaliveInterval: 0, qualityInterval: 60_000 };

test('join emits participantJoined for everyone already in the room', async () => {
  const c = new ParleyClient(fast);
  const log = record(c);
  const welcome = await c.connect('http://parley.test', 't1');
  assert.equal(welcome.identity, 'alice');
  assert.equal(server.sockets[0].url, 'ws://parley.test/ws');
  await c.join('r1');
  assert.deepEqual(log.map(([n, e]) => [n, e.sid]), [['participantJoined', 'PA_bob']]);
  c.disconnect();
});

test('a dropped connection reconnects: reconnecting, hello with the same token, join, reconnected', async () => {
  const c = new ParleyClient(fast);
  const log = record(c);
  await c.connect('http://parley.test', 't1');
  await c.join('r1');
  const reconnected = next(c, 'reconnected');
  server.closeAll(1001);
  const done = await reconnected;
  assert.equal(done.attempts, 1);
  assert.ok(done.downtime >= 20, `downtime ${done.downtime} ms shorter than the first delay`);
  // Calls only: the chat grant is refused (`chat_conversations`), so no chat requests follow.
  const calls = server.requests.filter((r) => !r.type.startsWith('chat_'));
  assert.deepEqual(calls.map((r) => r.type), ['hello', 'join', 'hello', 'join']);
  assert.equal(calls[2].token, 't1');
  assert.equal(calls[3].room, 'r1');
  // The room is rebuilt: Bob leaves with the old session and comes back with the new one.
  const names = log.map(([n]) => n);
  assert.deepEqual(names, ['participantJoined', 'connectionQuality', 'participantLeft', 'reconnecting', 'participantJoined', 'reconnected']);
  const lost = log.find(([n]) => n === 'connectionQuality')?.[1];
  assert.deepEqual([lost.local, lost.level, lost.participant], [true, 'lost', 'PA_alice1']);
  assert.equal(log[3][1].attempt, 1);
  assert.equal(log[3][1].delay, 20);
  assert.equal(c.you?.sid, 'PA_alice2');
  assert.equal(c.reconnecting, false);
  c.disconnect();
});

test('while the server is down, attempts back off exponentially until it is back', async () => {
  const c = new ParleyClient(fast);
  const log = record(c);
  await c.connect('http://parley.test', 't1');
  await c.join('r1');
  server.down = true;
  server.closeAll(1006);
  // Let three attempts fail: 20 + 40 + 80 ms.
  await new Promise((r) => setTimeout(r, 220));
  assert.equal(c.reconnecting, true);
  server.down = false;
  await next(c, 'reconnected');
  const delays = log.filter(([n]) => n === 'reconnecting').map(([, e]) => e.delay);
  assert.deepEqual(delays.slice(0, 4), [20, 40, 80, 160]);
  assert.equal(log.filter(([n]) => n === 'reconnecting').map(([, e]) => e.attempt)[3], 4);
  c.disconnect();
});

test('a refused token is replaced by a fresh one from the token function, once', async () => {
  let calls = 0;
  const c = new ParleyClient(fast);
  await c.connect('http://parley.test', () => `t${++calls}`);
  await c.join('r1');
  assert.equal(calls, 1);
  // The server restarted with a new secret: t1 is refused, t2 works.
  server.tokens = new Set(['t2']);
  const reconnected = next(c, 'reconnected');
  server.closeAll(1001);
  await reconnected;
  assert.equal(calls, 2);
  assert.deepEqual(server.requests.filter((r) => r.type === 'hello').map((r) => r.token), ['t1', 't1', 't2']);
  c.disconnect();
});

test('with a fixed token that is refused, reconnecting gives up and says so', async () => {
  const c = new ParleyClient(fast);
  await c.connect('http://parley.test', 't1');
  await c.join('r1');
  server.tokens = new Set();
  const gone = next(c, 'disconnected');
  server.closeAll(1001);
  const { reason } = await gone;
  assert.match(reason, /reconnecting failed: bad signature/);
  assert.equal(c.room, null);
  assert.equal(c.reconnecting, false);
});

test('maxAttempts bounds the attempts', async () => {
  const c = new ParleyClient({ ...fast, backoff: { ...fast.backoff, maxAttempts: 3 } });
  const log = record(c);
  await c.connect('http://parley.test', 't1');
  await c.join('r1');
  server.down = true;
  const gone = next(c, 'disconnected');
  server.closeAll(1006);
  await gone;
  assert.equal(log.filter(([n]) => n === 'reconnecting').length, 3);
});

test('an unanswered ping counts as a dropped connection', async () => {
  const c = new ParleyClient({ ...fast, keepaliveInterval: 30 });
  await c.connect('http://parley.test', 't1');
  await c.join('r1');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(c.reconnecting, false, 'answered pings must not trigger a reconnect');
  server.answerPings = false;
  const reconnecting = next(c, 'reconnecting', 500);
  const { reason } = await reconnecting;
  assert.equal(reason, 'keepalive timeout');
  server.answerPings = true;
  await next(c, 'reconnected');
  c.disconnect();
});

test('disconnect() while reconnecting stops the attempts', async () => {
  const c = new ParleyClient(fast);
  await c.connect('http://parley.test', 't1');
  await c.join('r1');
  server.down = true;
  const first = next(c, 'reconnecting');
  server.closeAll(1006);
  await first;
  const gone = next(c, 'disconnected');
  c.disconnect();
  await gone;
  const attempts = server.requests.length;
  server.down = false;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(server.requests.length, attempts, 'no attempt after disconnect()');
  assert.equal(c.reconnecting, false);
});

test('leaving on purpose does not reconnect', async () => {
  const c = new ParleyClient(fast);
  const log = record(c);
  await c.connect('http://parley.test', 't1');
  await c.join('r1');
  await c.leave();
  c.disconnect();
  await next(c, 'disconnected').catch(() => {});
  assert.ok(!log.some(([n]) => n === 'reconnecting'));
});

test('a request failing with unknown_type rejects with that code (how optional requests are detected)', async () => {
  const c = new ParleyClient(fast);
  await c.connect('http://parley.test', 't1');
  const orig = server.handle.bind(server);
  server.handle = (ws, msg) => (msg.type === 'update_subscription'
    ? ws.deliver({ type: 'error', reply_to: msg.id, code: 'unknown_type', message: 'x' })
    : orig(ws, msg));
  await assert.rejects(c.setSubscription('TR_1', { paused: true }), (e) => e.code === 'unknown_type');
  c.disconnect();
});

test('a request whose reply never comes rejects with timeout instead of hanging', async () => {
  const c = new ParleyClient({ ...fast, requestTimeout: 50 });
  await c.connect('http://parley.test', 't1');
  const orig = server.handle.bind(server);
  // What the server does when it rate-limits: an error without reply_to.
  server.handle = (ws, msg) => (msg.type === 'update_subscription'
    ? ws.deliver({ type: 'error', code: 'rate_limited', message: 'too many messages; slow down' })
    : orig(ws, msg));
  const errors = [];
  c.on('error', (e) => errors.push(e.code));
  await assert.rejects(c.setSubscription('TR_1', { paused: true }), (e) => e.code === 'timeout');
  assert.deepEqual(errors, ['rate_limited']);
  assert.equal(c.connected, true);
  c.disconnect();
});
