// Reconnecting against a real roomcast (v1 features only): a server restart in the
// middle of a conversation, requests cut off by a dying server, bans that must not
// be undone by a re-join.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, collect, connected, postMessages, startServer, tempDir, waitFor, waitState } from './helpers.js';

test('server restart mid-conversation: the client reconnects by itself, re-joins, catches up', async (t) => {
  const dir = tempDir();
  let server = await startServer({ dir, nodeId: 'first' });
  t.after(() => server.kill());
  const room = 'restart-room';
  // Held back from reconnecting until the test has posted what it should miss.
  let gate = true;
  const url = () => (gate ? server.url : 'ws://127.0.0.1:9/ws');
  const alice = await connected(server, 'alice', { rooms: [room], url });
  const bob = await connected(server, 'bob', { rooms: [room] });
  t.after(() => {
    alice.close();
    bob.close();
  });
  const got = collect(alice.room(room), 'message');
  const states = collect(alice, 'state');
  const a1 = await bob.room(room).send('before the restart');
  await got.until((m) => m.id === a1.id);

  // SIGTERM: the server drains (left "shutdown", reconnect frame, close 1012) and exits.
  const left = waitFor(alice.room(room), 'left');
  const reconnectFrame = waitFor(alice, 'reconnect');
  const port = server.port;
  gate = false;
  await server.stop();
  assert.equal((await left).reason, 'shutdown');
  assert.ok((await reconnectFrame).after_ms >= 0);
  await waitState(alice, 'disconnected');
  assert.equal(alice.room(room).status, 'joining', 'still wanted: it will be re-joined');

  server = await startServer({ dir, port, nodeId: 'second' });
  const missedIds = await postMessages(server, room, ['while away 1', 'while away 2', 'while away 3']);

  gate = true;
  const joined = await waitFor(alice.room(room), 'joined', (e) => e.rejoin, 20000);
  assert.equal(alice.node, 'second');
  assert.equal(alice.state, 'connected');
  // What was posted meanwhile comes as `message` events (from `recent`), once each, in order.
  assert.deepEqual(
    joined.missed.map((m) => m.id),
    missedIds,
  );
  await got.until((m) => m.id === missedIds[2]);
  assert.deepEqual(
    got.map((m) => m.text),
    ['before the restart', 'while away 1', 'while away 2', 'while away 3'],
  );
  // The state went disconnected → connecting (→ disconnected → connecting …) → connected.
  assert.equal(states[0].state, 'disconnected');
  assert.equal(states[0].code, 1012);
  assert.equal(states.at(-1).state, 'connected');

  // And the conversation goes on (bob reconnected by himself too).
  if (!bob.room(room).joined) await waitFor(bob.room(room), 'joined', () => true, 20000);
  const atBob = collect(bob.room(room), 'message');
  const a2 = await alice.room(room).send('after the restart');
  await atBob.until((m) => m.id === a2.id);
});

test('requests in flight when the server dies reject with `disconnected`', async (t) => {
  const server = await startServer();
  t.after(() => server.kill());
  const room = 'dying-room';
  const alice = await connected(server, 'alice', { rooms: [room] });
  t.after(() => alice.close());
  await server.pause();
  const sending = assert.rejects(alice.room(room).send('into the void'), { name: 'RoomcastError', code: 'disconnected' });
  const pinging = assert.rejects(alice.ping(), { code: 'disconnected' });
  await server.kill(); // the kernel resets the sockets of the dead process
  await sending;
  await pinging;
  await waitState(alice, 'disconnected');
});

test('a banned user is not re-joined after a reconnect', async (t) => {
  const server = await startServer();
  t.after(() => server.kill());
  const room = 'ban-room';
  const other = 'other-room';
  const vic = await connected(server, 'vic', { rooms: [room, other] });
  t.after(() => vic.close());
  const left = waitFor(vic.room(room), 'left');
  const r = await api(server, 'POST', `/api/rooms/${room}/bans`, { user: 'vic', reason: 'spam' });
  assert.equal(r.status, 201);
  assert.equal((await left).reason, 'banned');
  assert.equal(vic.room(room).banned, true);
  assert.equal(vic.room(room).status, 'left');
  await assert.rejects(vic.room(room).send('let me back'), { code: 'not_joined' });

  const frames = collect(vic, 'frame');
  const rejoinedOther = waitFor(vic.room(other), 'joined', (e) => e.rejoin);
  vic.reconnect();
  await rejoinedOther;
  assert.equal(vic.room(room).status, 'left', 'the banned room was not joined again');
  assert.ok(!frames.some((f) => f.type === 'joined' && f.room === room));
  assert.ok(!frames.some((f) => f.type === 'error' && f.room === room), 'no join was even tried');

  // Asking explicitly is the app's call; the server still refuses.
  await assert.rejects(vic.room(room).join(), { code: 'banned' });
  assert.equal(vic.room(room).banned, true);
});
