// The client's protocol logic against a scripted server (test/mock.js): recovery
// answers, seq gaps, dedup, held messages, room tokens, closes the client must not
// come back from, 401s, heartbeats, the reconnect frame, token refresh and expiry,
// anonymous id reuse, kept room state. These need no roomcast binary.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, RoomcastError } from '../src/index.js';
import { client, collect, delay, mintToken, waitFor } from './helpers.js';
import { MockServer, fakeId, msg } from './mock.js';

/**
 * A mock server and a client on it, both closed after the test.
 * @param {import('node:test').TestContext} t
 * @param {import('./mock.js').MockOptions} [mockOptions]
 * @param {any} [clientOptions]
 */
async function setup(t, mockOptions = {}, clientOptions = {}) {
  const mock = await new MockServer(mockOptions).listen();
  const c = client({ url: mock.url, getToken: () => mintToken({ sub: 'u1' }), ...clientOptions });
  t.after(async () => {
    c.close();
    await mock.close();
  });
  return { mock, c };
}

test('backoff: full jitter under an exponential ceiling', () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(20000, 500 * 2 ** attempt);
    assert.equal(backoffDelay(attempt, 500, 20000, () => 0), 0);
    assert.equal(backoffDelay(attempt, 500, 20000, () => 0.999999), ceiling - 1);
    const d = backoffDelay(attempt, 500, 20000);
    assert.ok(d >= 0 && d < ceiling);
  }
});

test('the same message twice is emitted once; delayed copies do not hide the published one', async (t) => {
  const { mock, c } = await setup(t);
  c.connect();
  const room = c.room('r');
  await room.join();
  const conn = await mock.connection(0);
  const got = collect(room, 'message');
  const m = msg('r');
  conn.send(m);
  conn.send(m);
  const early = msg('r', { delayed: true });
  conn.send(early);
  const published = { ...early, delayed: undefined, seq: undefined };
  delete published.delayed;
  delete published.seq;
  conn.send(published);
  const end = msg('r', { text: 'end' });
  conn.send(end);
  await got.until((x) => x.id === end.id);
  assert.deepEqual(
    got.map((x) => [x.id, x.delayed === true]),
    [
      [m.id, false],
      [early.id, true],
      [early.id, false],
      [end.id, false],
    ],
  );
});

test('a seq jump in live messages emits a discontinuity', async (t) => {
  const { mock, c } = await setup(t, {
    handle: (conn, f) => {
      if (f.type !== 'join') return;
      conn.send({ type: 'joined', room: f.room, viewers: 1, slow_mode: 0, recent: [], seq: 5, epoch: 'e1' });
      return true;
    },
  });
  c.connect();
  const room = c.room('r');
  await room.join();
  assert.equal(room.seq, 5);
  assert.equal(room.epoch, 'e1');
  const conn = await mock.connection(0);
  const gaps = collect(room, 'discontinuity');
  const got = collect(room, 'message');
  conn.send(msg('r', { seq: 6 }));
  const last = msg('r', { seq: 9 });
  conn.send(last);
  await got.until((x) => x.id === last.id);
  assert.equal(gaps.length, 1);
  assert.deepEqual(gaps[0], { room: 'r', reason: 'gap', lastSeq: 6, lastId: null, seq: 9, epoch: 'e1' });
  assert.equal(room.seq, 9);
});

/** A mock whose n-th join is answered by `answers[n](frame)`. */
function scriptedJoins(answers) {
  const joins = [];
  return {
    joins,
    handle: (/** @type {any} */ conn, /** @type {any} */ f) => {
      if (f.type !== 'join') return;
      joins.push(f);
      conn.send({ type: 'joined', room: f.room, viewers: 1, slow_mode: 0, recent: [], ...answers[joins.length - 1](f) });
      return true;
    },
  };
}

test('re-join resumes with since {seq, epoch}; recovered: true delivers exactly the missed messages', async (t) => {
  const seen = [msg('r', { seq: 9 }), msg('r', { seq: 10 })];
  const live = msg('r', { seq: 11 });
  const missed = [msg('r', { seq: 12 }), msg('r', { seq: 13 })];
  const script = scriptedJoins([
    () => ({ seq: 10, epoch: 'e1', recent: seen }),
    () => ({ seq: 13, epoch: 'e1', recent: missed, recovered: true }),
  ]);
  const { mock, c } = await setup(t, { handle: script.handle });
  c.connect();
  const room = c.room('r');
  const first = await room.join();
  assert.equal(first.rejoin, false);
  assert.equal(room.recovered, null);
  const got = collect(room, 'message');
  const gaps = collect(room, 'discontinuity');
  (await mock.connection(0)).send(live);
  await got.until((m) => m.id === live.id);
  (await mock.connection(0)).terminate();

  const rejoined = await waitFor(room, 'joined', (e) => e.rejoin);
  assert.equal(script.joins[0].since, undefined, 'the first join has no since');
  assert.deepEqual(script.joins[1].since, { seq: 11, epoch: 'e1' });
  assert.equal(rejoined.recovered, true);
  assert.equal(room.recovered, true);
  assert.deepEqual(
    rejoined.missed.map((m) => m.id),
    missed.map((m) => m.id),
  );
  await got.until((m) => m.id === missed[1].id);
  assert.deepEqual(
    got.map((m) => m.seq),
    [11, 12, 13],
  );
  assert.equal(gaps.length, 0);
  assert.equal(room.seq, 13);
});

test('recovered: false emits a discontinuity; new messages of recent are still delivered', async (t) => {
  const old = msg('r', { seq: 3 });
  const fresh = msg('r', { seq: 1 });
  const script = scriptedJoins([
    () => ({ seq: 3, epoch: 'e1', recent: [old] }),
    () => ({ seq: 1, epoch: 'e2', recent: [fresh], recovered: false }),
  ]);
  const { mock, c } = await setup(t, { handle: script.handle });
  c.connect();
  const room = c.room('r');
  await room.join();
  const gap = waitFor(room, 'discontinuity');
  const got = collect(room, 'message');
  (await mock.connection(0)).terminate();
  const d = await gap;
  assert.equal(d.reason, 'recovery_failed');
  assert.equal(d.lastSeq, 3);
  assert.equal(d.epoch, 'e2');
  await got.until((m) => m.id === fresh.id);
  assert.equal(room.seq, 1, 'the new epoch restarts the sequence');
  assert.equal(room.epoch, 'e2');
  assert.equal(room.recovered, false);
});

test('without seq (v1 server): continuity is judged from the overlap of recent', async (t) => {
  const a = msg('r');
  const b = msg('r');
  const c1 = msg('r');
  const many = Array.from({ length: 50 }, () => msg('r'));
  const script = scriptedJoins([
    () => ({ recent: [a, b] }),
    () => ({ recent: [a, b, c1] }), // overlaps: nothing lost
    () => ({ recent: many }), // 50 new ones: maybe more were lost
  ]);
  const { mock, c } = await setup(t, { handle: script.handle });
  c.connect();
  const room = c.room('r');
  await room.join();
  const gaps = collect(room, 'discontinuity');
  const got = collect(room, 'message');
  (await mock.connection(0)).terminate();
  const second = await waitFor(room, 'joined', (e) => e.rejoin);
  assert.equal(script.joins[1].since, undefined, 'no since without a seq');
  assert.deepEqual(
    second.missed.map((m) => m.id),
    [c1.id],
  );
  assert.equal(gaps.length, 0);
  (await mock.connection(1)).terminate();
  await waitFor(room, 'joined', (e) => e.rejoin && e.recent.length === 50);
  assert.equal(gaps.length, 1);
  assert.equal(gaps[0].reason, 'no_recovery');
  await got.until((m) => m.id === many[49].id);
  assert.equal(got.length, 51);
});

test('a held reply resolves send with {id, held: true}', async (t) => {
  const { c } = await setup(t, {
    handle: (conn, f) => {
      if (f.type !== 'message') return;
      conn.send({ type: 'held', ref: f.ref, id: 'HELDID' });
      return true;
    },
  });
  c.connect();
  await c.room('r').join();
  assert.deepEqual(await c.room('r').send('buy cheap pills'), { id: 'HELDID', held: true });
});

test('refs are unique; replies are matched by ref; errors carry code and retryAfterMs', async (t) => {
  const { mock, c } = await setup(t, {
    handle: (conn, f) => {
      if (f.type !== 'message') return;
      if (f.text === 'slow') {
        conn.send({ type: 'error', ref: f.ref, room: f.room, code: 'slow_mode', message: 'slow down', retry_after_ms: 800 });
        return true;
      }
    },
  });
  c.connect();
  const room = c.room('r');
  await room.join();
  const [x, y] = await Promise.all([room.send('one'), room.send('two')]);
  assert.notEqual(x.id, y.id);
  const err = await room.send('slow').catch((e) => e);
  assert.ok(err instanceof RoomcastError);
  assert.equal(err.code, 'slow_mode');
  assert.equal(err.retryAfterMs, 800);
  assert.equal(err.room, 'r');
  const refs = (await mock.connection(0)).frames.map((f) => f.ref).filter(Boolean);
  assert.equal(new Set(refs).size, refs.length);
  assert.ok(refs.every((r) => /^c\d+$/.test(r)));
});

test('room tokens are sent with the join (and fetched again for every re-join)', async (t) => {
  const { mock, c } = await setup(t);
  let n = 0;
  c.connect();
  const room = c.room('vip', { getRoomToken: async (id) => `room-token-${id}-${++n}` });
  await room.join();
  const j1 = await (await mock.connection(0)).next((f) => f.type === 'join');
  assert.equal(j1.token, 'room-token-vip-1');
  (await mock.connection(0)).terminate();
  const j2 = await (await mock.connection(1)).next((f) => f.type === 'join');
  assert.equal(j2.token, 'room-token-vip-2');
});

test('a refused join rejects, emits error, and is not retried; banned sets room.banned', async (t) => {
  const { mock, c } = await setup(t, {
    handle: (conn, f) => {
      if (f.type === 'join' && f.room === 'nope') {
        conn.send({ type: 'error', ref: f.ref, room: f.room, code: 'banned', message: 'you are banned' });
        return true;
      }
    },
  });
  c.connect();
  const errors = collect(c.room('nope'), 'error');
  await assert.rejects(c.room('nope').join(), { code: 'banned' });
  assert.equal(c.room('nope').banned, true);
  assert.equal(c.room('nope').status, 'left');
  assert.equal(errors.length, 1);
  await c.room('ok').join();
  (await mock.connection(0)).terminate();
  await waitFor(c.room('ok'), 'joined', (e) => e.rejoin);
  const joins = (await mock.connection(1)).frames.filter((f) => f.type === 'join').map((f) => f.room);
  assert.deepEqual(joins, ['ok']);
});

test('left with reason banned: the room is not re-joined after a reconnect', async (t) => {
  const { mock, c } = await setup(t);
  c.connect();
  await c.room('a').join();
  await c.room('b').join();
  const conn = await mock.connection(0);
  const left = waitFor(c.room('a'), 'left');
  conn.send({ type: 'left', room: 'a', reason: 'banned' });
  assert.equal((await left).reason, 'banned');
  assert.equal(c.room('a').banned, true);
  conn.send({ type: 'left', room: 'b', reason: 'shutdown' });
  conn.send({ type: 'reconnect', after_ms: 10 });
  conn.close(1012, 'restart');
  await waitFor(c.room('b'), 'joined', (e) => e.rejoin);
  const joins = (await mock.connection(1)).frames.filter((f) => f.type === 'join').map((f) => f.room);
  assert.deepEqual(joins, ['b']);
});

test('close 1008 "too many bad frames": the client stops instead of coming back', async (t) => {
  const { mock, c } = await setup(t);
  c.connect();
  await c.ready();
  const closed = waitFor(c, 'state', (e) => e.state === 'closed');
  (await mock.connection(0)).close(1008, 'too many bad frames');
  const ev = await closed;
  assert.equal(ev.code, 1008);
  assert.equal(ev.error.code, 'bad_request');
  await delay(400); // several times the test client's first backoff
  assert.equal(mock.upgrades, 1, 'no reconnect');
});

test('close 1008 for a slow consumer is not final: the client reconnects', async (t) => {
  const { mock, c } = await setup(t);
  c.connect();
  await c.ready();
  (await mock.connection(0)).close(1008, 'slow consumer: outbound queue overflowed');
  await mock.connection(1);
  await waitFor(c, 'state', (e) => e.state === 'connected');
});

test('HTTP 401 before the upgrade: a new token each time, then the client stops', async (t) => {
  let calls = 0;
  const { mock, c } = await setup(t, {}, { getToken: () => mintToken({ sub: `u${++calls}` }), maxUnauthorized: 3 });
  mock.refuse = 401;
  const closed = waitFor(c, 'state', (e) => e.state === 'closed', 10000);
  c.connect();
  const ev = await closed;
  assert.equal(ev.code, 401);
  assert.equal(calls, 3);
  assert.equal(mock.upgrades, 3);
  // A fixed token after one refusal: connected.
  mock.refuse = 401;
  const seen = [];
  mock.on('upgrade', (req) => {
    seen.push(new URL(req.url, 'http://x').searchParams.get('token'));
    if (seen.length >= 2) mock.refuse = null; // (the handler runs before the refusal check)
  });
  c.connect();
  await c.ready(5000);
  assert.equal(seen.length, 2);
  assert.notEqual(seen[0], seen[1], 'the second attempt asked getToken again');
});

test('a server that never answers pings is dropped and reconnected', async (t) => {
  const { mock, c } = await setup(
    t,
    {
      welcome: () => ({ type: 'welcome', user: { id: 'u1', name: 'u1', anonymous: false, mod: [] }, node: 'mock', heartbeat_ms: 100 }),
      handle: (conn, f) => f.type === 'ping' && conn === mock.conns[0], // swallow pings on the first connection
    },
    { pongTimeout: 200 },
  );
  c.connect();
  const dropped = waitFor(c, 'state', (e) => e.state === 'disconnected', 5000);
  const ev = await dropped;
  assert.equal(ev.code, 4000);
  assert.equal(ev.reason, 'heartbeat timeout');
  await mock.connection(1);
  await waitFor(c, 'state', (e) => e.state === 'connected');
  const pings = (await mock.connection(0)).frames.filter((f) => f.type === 'ping');
  assert.ok(pings.length >= 1 && pings.every((p) => typeof p.ref === 'string'));
});

test('a socket that never gets a welcome is given up after connectTimeout', async (t) => {
  const { mock, c } = await setup(t, { welcome: () => null }, { connectTimeout: 300 });
  c.connect();
  const ev = await waitFor(c, 'state', (e) => e.state === 'disconnected', 5000);
  assert.equal(ev.reason, 'connect timeout');
  await mock.connection(1);
});

test('the reconnect frame: the client leaves after_ms later even if the server does not close', async (t) => {
  const { mock, c } = await setup(t);
  c.connect();
  await c.ready();
  const conn = await mock.connection(0);
  let frameAt = 0;
  c.on('reconnect', () => (frameAt = Date.now()));
  const dropped = waitFor(c, 'state', (e) => e.state === 'disconnected');
  conn.send({ type: 'reconnect', after_ms: 300 });
  const next = await mock.connection(1);
  assert.ok(Date.now() - frameAt >= 290, `reconnected after ${Date.now() - frameAt} ms`);
  assert.ok(next);
  assert.equal((await dropped).code, 1012);
  // Browsers only let a client close with 1000 or 3000–4999.
  assert.equal((await conn.closed).code, 1000);
});

test('token refresh before expires_at: getToken, refresh frame, ack, new expiry', async (t) => {
  let n = 0;
  const tokens = [];
  const getToken = () => {
    const tok = mintToken({ sub: 'u1', ttl: 4 + 100 * n++ });
    tokens.push(tok);
    return tok;
  };
  const { mock, c } = await setup(
    t,
    {
      welcome: () => ({
        type: 'welcome',
        user: { id: 'u1', name: 'u1', anonymous: false, mod: [] },
        node: 'mock',
        heartbeat_ms: 30000,
        expires_at: Date.now() + 3000,
      }),
    },
    { getToken },
  );
  c.connect();
  await c.ready();
  const startExpiry = c.expiresAt;
  const refreshed = await waitFor(c, 'refresh', () => true, 5000);
  assert.ok(Date.now() < startExpiry, 'before the expiry');
  const frame = await (await mock.connection(0)).next((f) => f.type === 'refresh');
  assert.equal(frame.token, tokens[1]);
  assert.match(frame.ref, /^c\d+$/);
  assert.ok(refreshed.expiresAt > startExpiry + 90000, 'expiry read from the new token');
  assert.equal(mock.upgrades, 1, 'same connection');
});

test('a refused refresh is reported and retried until it works', async (t) => {
  let refreshes = 0;
  let n = 0;
  const { mock, c } = await setup(
    t,
    {
      welcome: () => ({
        type: 'welcome',
        user: { id: 'u1', name: 'u1', anonymous: false, mod: [] },
        node: 'mock',
        heartbeat_ms: 30000,
        expires_at: Date.now() + 8000,
      }),
      handle: (conn, f) => {
        if (f.type !== 'refresh') return;
        if (++refreshes === 1) conn.send({ type: 'error', ref: f.ref, code: 'unauthorized', message: 'bad token' });
        else conn.send({ type: 'ack', ref: f.ref, id: fakeId() });
        return true;
      },
    },
    { getToken: () => mintToken({ sub: 'u1', ttl: 8 + 100 * n++ }) },
  );
  c.connect();
  await c.ready();
  const error = waitFor(c, 'error', () => true, 8000);
  const refreshed = waitFor(c, 'refresh', () => true, 10000);
  assert.equal((await error).code, 'unauthorized');
  await refreshed;
  assert.equal(refreshes, 2);
  assert.equal(mock.upgrades, 1);
});

test('token_expired and close 4001: reconnect at once with a fresh token', async (t) => {
  let calls = 0;
  const { mock, c } = await setup(t, {}, { getToken: () => mintToken({ sub: `u1`, ttl: 3600, n: ++calls }), minReconnectDelay: 5000 });
  c.connect();
  await c.room('r').join();
  const conn = await mock.connection(0);
  const errors = collect(c, 'error');
  const started = Date.now();
  conn.send({ type: 'error', code: 'token_expired', message: 'token expired' });
  conn.close(4001, 'token expired');
  await waitFor(c.room('r'), 'joined', (e) => e.rejoin, 3000);
  assert.ok(Date.now() - started < 2000, 'no backoff after 4001');
  assert.equal(calls, 2, 'a fresh token');
  assert.equal(errors[0].code, 'token_expired');
});

test('an anonymous id is sent back with ?anon= on reconnect; not with a token', async (t) => {
  let token = null;
  const { mock, c } = await setup(t, {}, { getToken: () => token });
  c.connect();
  await c.ready();
  const id = c.user.id;
  assert.equal(c.user.anonymous, true);
  assert.equal((await mock.connection(0)).url.searchParams.get('anon'), null);
  (await mock.connection(0)).terminate();
  const second = await mock.connection(1);
  assert.equal(second.url.searchParams.get('anon'), id);
  assert.equal(second.url.searchParams.get('token'), null);
  await waitFor(c, 'welcome');
  assert.equal(c.user.id, id);
  token = mintToken({ sub: 'u1' });
  c.reconnect(); // e.g. after logging in
  const third = await mock.connection(2);
  assert.equal(third.url.searchParams.get('anon'), null);
  assert.equal(third.url.searchParams.get('token'), token);
});

test('a list of URLs is rotated through on every reconnect', async (t) => {
  const m1 = await new MockServer().listen();
  const m2 = await new MockServer().listen();
  const c = client({ url: [m1.url, m2.url], getToken: () => null });
  t.after(async () => {
    c.close();
    await Promise.all([m1.close(), m2.close()]);
  });
  c.connect();
  (await m1.connection(0)).terminate();
  (await m2.connection(0)).terminate();
  await m1.connection(1);
});

test('the online event reconnects at once (browsers)', async (t) => {
  const target = new EventTarget();
  const g = /** @type {any} */ (globalThis);
  g.addEventListener = target.addEventListener.bind(target);
  g.removeEventListener = target.removeEventListener.bind(target);
  t.after(() => {
    delete g.addEventListener;
    delete g.removeEventListener;
  });
  const { mock, c } = await setup(t, {}, { minReconnectDelay: 60000, maxReconnectDelay: 60000 });
  c.connect();
  await c.ready();
  // Make the first backoff long for sure: a drop right after connecting counts as a failure.
  mock.refuse = 503;
  (await mock.connection(0)).terminate();
  await waitFor(c, 'state', (e) => e.state === 'disconnected');
  mock.refuse = null;
  const started = Date.now();
  target.dispatchEvent(new Event('online'));
  await waitFor(c, 'state', (e) => e.state === 'connected', 3000);
  assert.ok(Date.now() - started < 2000);
});

test('kept room state: settings, state map, pinned, slow mode, viewers', async (t) => {
  const pinnedMsg = msg('r');
  const { mock, c } = await setup(t, {
    handle: (conn, f) => {
      if (f.type !== 'join') return;
      conn.send({
        type: 'joined',
        room: 'r',
        viewers: 42,
        slow_mode: 0,
        recent: [],
        seq: 0,
        epoch: 'e',
        settings: { slow_mode: 0, emote_only: false, private: false, chat_delay_ms: 0 },
        state: { product: { sku: 'A-1' }, bid: 10 },
        pinned: { message: pinnedMsg, until: Date.now() + 60000 },
      });
      return true;
    },
  });
  c.connect();
  const room = c.room('r');
  const joined = await room.join();
  assert.equal(room.viewers, 42);
  assert.equal(room.settings.emote_only, false);
  assert.deepEqual(Object.fromEntries(room.state), { product: { sku: 'A-1' }, bid: 10 });
  assert.equal(room.pinned.message.id, pinnedMsg.id);
  assert.equal(joined.rejoin, false);
  const conn = await mock.connection(0);
  const stateMap = room.state;

  const last = waitFor(room, 'viewers', (v) => v.count === 7);
  conn.send({ type: 'settings', room: 'r', settings: { slow_mode: 10, emote_only: true, private: false, chat_delay_ms: 0 } });
  conn.send({ type: 'state', room: 'r', key: 'bid', data: 12 });
  conn.send({ type: 'state', room: 'r', key: 'product', data: null });
  conn.send({ type: 'pinned', room: 'r', message: null, until: 0 });
  conn.send({ type: 'slow_mode', room: 'r', seconds: 3 });
  conn.send({ type: 'viewers', room: 'r', count: 7 });
  await last;
  assert.equal(room.settings.emote_only, true);
  assert.equal(room.slowMode, 3);
  assert.equal(room.settings.slow_mode, 3);
  assert.deepEqual(Object.fromEntries(room.state), { bid: 12 });
  assert.equal(room.state, stateMap, 'the same Map object');
  assert.equal(room.pinned, null);
  assert.equal(room.viewers, 7);
});

test('every room-scoped frame is emitted on its room; notify on the client', async (t) => {
  const { mock, c } = await setup(t);
  c.connect();
  const room = c.room('r');
  await room.join();
  const conn = await mock.connection(0);
  const types = [
    'reactions',
    'deleted',
    'moderation',
    'event',
    'typing',
    'cleared',
    'held_message',
    'denied',
    'warning',
    'stream',
    'milestone',
    'stats',
  ];
  const got = [];
  for (const type of types) room.on(type, (f) => got.push(f.type));
  const notify = waitFor(c, 'notify');
  for (const type of types) conn.send({ type, room: 'r' });
  conn.send({ type: 'notify', name: 'won_auction', data: { lot: 3 }, ts: Date.now() });
  assert.deepEqual((await notify).data, { lot: 3 });
  assert.deepEqual(got, types);
});

test('moderator frames are built as the contract says', async (t) => {
  const { mock, c } = await setup(t);
  c.connect();
  await c.ready();
  const r = c.room('r');
  await Promise.all([
    r.delete('MSG1'),
    r.timeout('u2', 300, 'spam'),
    r.ban('u2', 'bad'),
    r.unban('u2'),
    r.setSlowMode(10),
    r.updateSettings({ emote_only: true }),
    r.shadowBan('u3'),
    r.warn('u4', 'be nice'),
    r.clear(),
    r.purge('u5'),
    r.pin('MSG2', 60),
    r.unpin(),
    r.approve('H1'),
    r.deny('H2'),
    r.acknowledge(),
  ]);
  const frames = (await mock.connection(0)).frames.map(({ ref, ...f }) => f);
  assert.deepEqual(frames, [
    { type: 'delete', room: 'r', id: 'MSG1' },
    { type: 'timeout', room: 'r', user: 'u2', seconds: 300, reason: 'spam' },
    { type: 'ban', room: 'r', user: 'u2', reason: 'bad' },
    { type: 'unban', room: 'r', user: 'u2' },
    { type: 'slow_mode', room: 'r', seconds: 10 },
    { type: 'settings', room: 'r', settings: { emote_only: true } },
    { type: 'shadow_ban', room: 'r', user: 'u3' },
    { type: 'warn', room: 'r', user: 'u4', reason: 'be nice' },
    { type: 'clear', room: 'r' },
    { type: 'purge', room: 'r', user: 'u5' },
    { type: 'pin', room: 'r', id: 'MSG2', seconds: 60 },
    { type: 'unpin', room: 'r' },
    { type: 'approve', room: 'r', id: 'H1' },
    { type: 'deny', room: 'r', id: 'H2' },
    { type: 'acknowledge', room: 'r' },
  ]);
});

test('typing is throttled to one frame per 3 s; reactions are fire and forget', async (t) => {
  const { mock, c } = await setup(t);
  c.connect();
  const r = c.room('r');
  assert.equal(r.typing(), false, 'not joined');
  await r.join();
  assert.equal(r.typing(), true);
  assert.equal(r.typing(), false);
  assert.equal(r.react('heart'), true);
  await c.ping();
  const frames = (await mock.connection(0)).frames.filter((f) => f.type === 'typing' || f.type === 'reaction');
  assert.deepEqual(frames, [
    { type: 'typing', room: 'r' },
    { type: 'reaction', room: 'r', emoji: 'heart' },
  ]);
});

test('a join while disconnected waits for the connection; leave() cancels it', async (t) => {
  const { mock, c } = await setup(t);
  const r = c.room('later');
  const joined = r.join();
  assert.equal(r.status, 'joining');
  c.connect();
  await joined;
  assert.equal(r.status, 'joined');
  await r.leave();
  assert.equal(r.status, 'left');
  const frames = (await mock.connection(0)).frames.map((f) => f.type);
  assert.deepEqual(frames, ['join', 'leave']);
  assert.throws(() => c.room('bad room!'), { code: 'invalid' });
});
