// Sending while disconnected (the bounded offline buffer, or immediate rejection)
// and the server's `reconnect` frame, against real roomcast processes (v1).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, connected, startServer, tempDir, waitFor, waitState } from './helpers.js';

test('messages sent while disconnected wait in the buffer and go out, in order, after the re-join', async (t) => {
  const dir = tempDir();
  let server = await startServer({ dir });
  t.after(() => server.kill());
  const room = 'offline-room';
  const alice = await connected(server, 'alice', { rooms: [room], offlineQueueSize: 3 });
  const bob = await connected(server, 'bob', { rooms: [room] });
  t.after(() => {
    alice.close();
    bob.close();
  });

  const port = server.port;
  await server.kill();
  await waitState(alice, 'disconnected');
  const r = alice.room(room);
  const sends = ['queued 1', 'queued 2', 'queued 3'].map((text) => r.send(text));
  // The buffer holds 3: the 4th is refused at once.
  await assert.rejects(r.send('one too many'), { code: 'buffer_full', room });

  server = await startServer({ dir, port });
  const ids = (await Promise.all(sends)).map((a) => a.id);
  assert.equal(new Set(ids).size, 3);
  assert.deepEqual([...ids].sort(), ids, 'sent in order (ULIDs sort by time)');

  if (!bob.room(room).joined) await waitFor(bob.room(room), 'joined', () => true, 20000);
  const history = await bob.room(room).history({ limit: 10 });
  assert.deepEqual(
    history.map((m) => m.text),
    ['queued 1', 'queued 2', 'queued 3'],
  );
});

test('a buffered message that cannot go out in time rejects with `timeout`', async (t) => {
  const server = await startServer();
  t.after(() => server.kill());
  const alice = await connected(server, 'alice', { rooms: ['r'], offlineTimeout: 300 });
  t.after(() => alice.close());
  await server.kill();
  await waitState(alice, 'disconnected');
  const started = Date.now();
  await assert.rejects(alice.room('r').send('nobody hears this'), { code: 'timeout' });
  assert.ok(Date.now() - started >= 290);
});

test('offlineQueueSize 0: sends while disconnected reject at once with `disconnected`', async (t) => {
  const server = await startServer();
  t.after(() => server.kill());
  const alice = await connected(server, 'alice', { rooms: ['r'], offlineQueueSize: 0 });
  t.after(() => alice.close());
  await server.kill();
  await waitState(alice, 'disconnected');
  await assert.rejects(alice.room('r').send('now or never'), { code: 'disconnected' });
  // And a room that was never joined is refused whatever the connection.
  await assert.rejects(alice.room('elsewhere').send('hi'), { code: 'not_joined' });
});

test('the `reconnect` frame: the client waits after_ms, then moves to the next node', async (t) => {
  const a = await startServer({ nodeId: 'node-a' });
  const b = await startServer({ nodeId: 'node-b' });
  t.after(() => Promise.all([a.kill(), b.kill()]));
  const room = 'drain-room';
  const alice = await connected(a, 'alice', { rooms: [room], url: [a.url, b.url] });
  t.after(() => alice.close());
  assert.equal(alice.node, 'node-a');

  let frameAt = 0;
  let connectingAt = 0;
  alice.on('reconnect', () => (frameAt = Date.now()));
  alice.on('state', (s) => {
    if (s.state === 'connecting' && !connectingAt) connectingAt = Date.now();
  });
  const frame = waitFor(alice, 'reconnect');
  const states = collect(alice, 'state');
  const stopping = a.stop(); // SIGTERM: drain, `reconnect` frame, close 1012
  const f = await frame;
  assert.equal(typeof f.after_ms, 'number');
  const joined = await waitFor(alice.room(room), 'joined', (e) => e.rejoin, 20000);
  await stopping;
  const waited = connectingAt - frameAt;
  assert.ok(waited >= f.after_ms - 25, `waited ${waited} ms, the server asked for ${f.after_ms} ms`);
  assert.equal(alice.node, 'node-b');
  assert.equal(joined.room, room);
  assert.equal(states.find((s) => s.state === 'disconnected')?.code, 1012);
  await alice.room(room).send('hello node b');
});
