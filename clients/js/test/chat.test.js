// Chat against a real roomcast (v1 features only): send/receive, ack ids, dedup,
// request timeouts, refusals with codes and retry_after_ms, moderation, history.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomcastError } from '../src/index.js';
import { api, collect, connected, delay, mintToken, client, serverFor, waitFor } from './helpers.js';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;


/** A room id per test, so tests do not see each other's messages or rate limits. */
let n = 0;
const roomId = () => `chat-${process.pid}-${++n}`;

test('send and receive between two clients; the ack carries the message id', async (t) => {
  const server = await serverFor(t, { nodeId: 'chat-node' });
  const room = roomId();
  const alice = await connected(server, 'alice', { rooms: [room], claims: { name: 'Alice' } });
  const bob = await connected(server, 'bob', { rooms: [room] });
  t.after(() => {
    alice.close();
    bob.close();
  });
  assert.equal(alice.state, 'connected');
  assert.equal(alice.user.id, 'alice');
  assert.equal(alice.node, 'chat-node');
  assert.ok(alice.heartbeatMs > 0);

  const atBob = collect(bob.room(room), 'message');
  const own = collect(alice.room(room), 'message');
  const ack = await alice.room(room).send('hello bob');
  assert.match(ack.id, ULID);
  assert.equal(ack.held, undefined);
  const m = await atBob.until((x) => x.text === 'hello bob');
  assert.equal(m.id, ack.id);
  assert.equal(m.user, 'alice');
  assert.equal(m.name, 'Alice');
  assert.equal(m.room, room);
  assert.ok(Array.isArray(m.badges));

  // The sender sees its own message too, once.
  await own.until((x) => x.id === ack.id);
  await bob.room(room).send('and back');
  await own.until((x) => x.text === 'and back');
  assert.deepEqual(
    own.map((x) => x.text),
    ['hello bob', 'and back'],
  );
  // The count reaches the first joiner within the viewers coalescing window (1 s).
  if (alice.room(room).viewers !== 2) await waitFor(alice.room(room), 'viewers', (v) => v.count === 2, 5000);
  assert.equal(alice.room(room).viewers, 2);
  assert.equal(bob.room(room).viewers, 2, 'joined.viewers includes the joiner');
});

test('a re-join after a reconnect does not emit messages already seen (dedup by id)', async (t) => {
  const server = await serverFor(t, { nodeId: 'chat-node' });
  const room = roomId();
  const alice = await connected(server, 'dedup-a', { rooms: [room] });
  const bob = await connected(server, 'dedup-b', { rooms: [room] });
  t.after(() => {
    alice.close();
    bob.close();
  });
  const seen = collect(bob.room(room), 'message');
  const ids = [];
  for (const text of ['one', 'two', 'three']) ids.push((await alice.room(room).send(text)).id);
  await seen.until((m) => m.id === ids[2]);
  assert.equal(seen.length, 3);

  // Force a new connection. The client resumes with `since` (§5): the server answers
  // `recovered: true` with only what came after bob's last seq (nothing), and even if a
  // frame repeated a seen message the client would drop it by id.
  const rejoined = waitFor(bob.room(room), 'joined', (e) => e.rejoin);
  bob.reconnect();
  const ev = await rejoined;
  assert.equal(ev.recovered, true, 'the re-join resumed from its seq');
  assert.ok(!ev.recent.some((m) => ids.includes(m.id)), 'nothing already seen is sent again');
  assert.deepEqual(ev.missed, []);
  const after1 = (await alice.room(room).send('four')).id;
  await seen.until((m) => m.id === after1);
  assert.deepEqual(
    seen.map((m) => m.text),
    ['one', 'two', 'three', 'four'],
    'each message exactly once',
  );
});

test('a request without a reply rejects with `timeout`; the connection goes on', async (t) => {
  const server = await serverFor(t, { nodeId: 'chat-node' });
  const room = roomId();
  const alice = await connected(server, 'slowpoke', { rooms: [room], requestTimeout: 300 });
  t.after(() => {
    server.resume();
    alice.close();
  });
  await server.pause(); // SIGSTOP: the server reads nothing and answers nothing
  const started = Date.now();
  const err = await alice.room(room).send('anyone?').then(
    () => assert.fail('should time out'),
    (e) => e,
  );
  server.resume();
  assert.ok(err instanceof RoomcastError);
  assert.equal(err.code, 'timeout');
  assert.ok(Date.now() - started >= 290);
  // The late ack is ignored; the next request works.
  const ok = await alice.room(room).send('still here');
  assert.match(ok.id, ULID);
  const pong = await alice.ping();
  assert.ok(typeof pong.ts === 'number' && pong.rtt >= 0);
});

test('the 6th message in 10 s is refused with rate_limited and retryAfterMs', async (t) => {
  const server = await serverFor(t, { nodeId: 'chat-node' });
  const room = roomId();
  const alice = await connected(server, 'chatty', { rooms: [room] });
  t.after(() => alice.close());
  const r = alice.room(room);
  const results = await Promise.allSettled([1, 2, 3, 4, 5, 6].map((i) => r.send(`msg ${i}`)));
  assert.deepEqual(
    results.map((x) => x.status),
    ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
  );
  const err = /** @type {PromiseRejectedResult} */ (results[5]).reason;
  assert.ok(err instanceof RoomcastError);
  assert.equal(err.code, 'rate_limited');
  assert.equal(err.room, room);
  assert.ok(typeof err.retryAfterMs === 'number' && err.retryAfterMs > 0 && err.retryAfterMs <= 10000, `retryAfterMs ${err.retryAfterMs}`);
  assert.ok(err.message.length > 0);
});

test('refusals carry their code: not joined, anonymous chat, bad emoji, too long', async (t) => {
  const server = await serverFor(t, { nodeId: 'chat-node' });
  const room = roomId();
  const anon = await connected(server, null, { rooms: [room] });
  const alice = await connected(server, 'refused', { rooms: [room] });
  t.after(() => {
    anon.close();
    alice.close();
  });
  assert.equal(anon.user.anonymous, true);
  assert.match(anon.user.id, /^anon-/);

  await assert.rejects(anon.room(room).send('hi'), { code: 'forbidden' });
  await assert.rejects(alice.room('never-joined').send('hi'), { code: 'not_joined' });
  await assert.rejects(alice.room(room).send('x'.repeat(501)), { code: 'too_long' });

  // A frame over the server's 4096-byte limit would get us closed (1009): refused locally.
  await assert.rejects(alice.room(room).send('é'.repeat(2100)), { code: 'too_large' });
  assert.equal(alice.state, 'connected');

  const err = waitFor(alice.room(room), 'error');
  const reactions = waitFor(alice.room(room), 'reactions');
  assert.equal(alice.room(room).react('not-an-emoji'), true);
  assert.equal((await err).code, 'bad_request');
  assert.equal(anon.room(room).react('heart'), true, 'anonymous viewers may react');
  const counts = await reactions;
  assert.equal(counts.counts.heart, 1);
});

test('history returns older messages, oldest first', async (t) => {
  const server = await serverFor(t, { nodeId: 'chat-node' });
  const room = roomId();
  const alice = await connected(server, 'historian', { rooms: [room] });
  t.after(() => alice.close());
  const ids = [];
  for (const text of ['h1', 'h2', 'h3']) ids.push((await alice.room(room).send(text)).id);
  const all = await alice.room(room).history({ limit: 10 });
  assert.deepEqual(
    all.map((m) => m.id),
    ids,
  );
  const older = await alice.room(room).history({ before: ids[2], limit: 1 });
  assert.deepEqual(
    older.map((m) => m.text),
    ['h2'],
  );
  await assert.rejects(alice.room(room).history({ limit: 1000 }), { code: 'bad_request' });
});

test('moderator actions resolve with the ack and reach the room', async (t) => {
  const server = await serverFor(t, { nodeId: 'chat-node' });
  const room = roomId();
  const mod = await connected(server, 'mia', { rooms: [room], claims: { mod: [room] } });
  const viewer = await connected(server, 'vic', { rooms: [room] });
  const other = await connected(server, 'oli', { rooms: [room] });
  t.after(() => {
    mod.close();
    viewer.close();
    other.close();
  });
  const { id } = await viewer.room(room).send('spam spam');
  const deleted = waitFor(other.room(room), 'deleted');
  assert.deepEqual(await mod.room(room).delete(id), { id });
  assert.deepEqual(await deleted, { type: 'deleted', room, id, by: 'mia' });

  const moderation = waitFor(other.room(room), 'moderation');
  const t1 = await mod.room(room).timeout('vic', 60, 'calm down');
  assert.match(t1.id, ULID);
  const ev = await moderation;
  assert.equal(ev.action, 'timeout');
  assert.equal(ev.seconds, 60);
  const err = await viewer.room(room).send('let me talk').catch((e) => e);
  assert.equal(err.code, 'timed_out');
  assert.ok(err.retryAfterMs > 50000 && err.retryAfterMs <= 60000);
  await mod.room(room).unban('vic');

  const slow = waitFor(other.room(room), 'slow_mode');
  await mod.room(room).setSlowMode(5);
  await slow;
  assert.equal(other.room(room).slowMode, 5);
  await other.room(room).send('first');
  await assert.rejects(other.room(room).send('second'), (e) => e.code === 'slow_mode' && e.retryAfterMs > 0);
  await mod.room(room).setSlowMode(0);

  // A non-moderator is refused, and nothing happens.
  await assert.rejects(viewer.room(room).ban('oli'), { code: 'forbidden' });
  // v1 servers do not know §7 frames: a clear refusal, not a hang.
  await assert.rejects(mod.room(room).pin(id, 60), (e) => e instanceof RoomcastError && e.code !== 'timeout');
});

test('platform events and viewer counts reach the room', async (t) => {
  const server = await serverFor(t, { nodeId: 'chat-node' });
  const room = roomId();
  const alice = await connected(server, 'ev-a', { rooms: [room] });
  t.after(() => alice.close());
  const ev = waitFor(alice.room(room), 'event');
  const r = await api(server, 'POST', `/api/rooms/${room}/events`, { name: 'product_highlighted', data: { sku: 'A-1' } });
  assert.equal(r.status, 202);
  assert.deepEqual(await ev, { type: 'event', room, name: 'product_highlighted', data: { sku: 'A-1' } });

  const viewers = waitFor(alice.room(room), 'viewers', (v) => v.count === 2);
  const bob = await connected(server, 'ev-b', { rooms: [room] });
  t.after(() => bob.close());
  await viewers;
  assert.equal(alice.room(room).viewers, 2);
  const down = waitFor(alice.room(room), 'viewers', (v) => v.count === 1);
  await bob.room(room).leave();
  assert.equal(bob.room(room).status, 'left');
  await down;
});

test('close() ends the connection; no reconnect follows', async (t) => {
  const server = await serverFor(t, { nodeId: 'chat-node' });
  const room = roomId();
  const c = await connected(server, 'closer', { rooms: [room] });
  const states = collect(c, 'state');
  c.close();
  assert.equal(c.state, 'closed');
  assert.deepEqual(states.map((s) => s.state), ['closed']);
  await assert.rejects(c.ping(), { code: 'disconnected' });
  await delay(300); // longer than the test client's first backoff: a reconnect would show
  assert.deepEqual(states.map((s) => s.state), ['closed']);
  // connect() again re-joins the rooms that were joined.
  c.connect();
  const joined = await waitFor(c.room(room), 'joined');
  assert.equal(joined.rejoin, true);
  c.close();
});

test('an invalid token is refused: getToken is asked again, then the client stops', async (t) => {
  const server = await serverFor(t, { nodeId: 'chat-node' });
  let calls = 0;
  const c = client({
    url: server.url,
    getToken: () => {
      calls++;
      return mintToken({ sub: 'mallory' }, 'not-the-server-secret-at-all-000000');
    },
  });
  t.after(() => c.close());
  const closed = waitFor(c, 'state', (e) => e.state === 'closed');
  const errors = collect(c, 'error');
  c.connect();
  const ev = await closed;
  assert.equal(ev.code, 401);
  assert.equal(ev.reason, 'unauthorized');
  assert.equal(calls, 3, 'a fresh token for every attempt, three attempts');
  assert.equal(errors.at(-1).code, 'unauthorized');
});
