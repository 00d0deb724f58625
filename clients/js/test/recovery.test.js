// Sequence numbers and recovery (contract §5, server v2). Against a v1 server these
// fail: it sends no `seq`/`epoch`, so the client has nothing to resume from.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, connected, postMessages, startCluster, startServer, tempDir, waitFor } from './helpers.js';

test('[v2 §5] joined carries seq and epoch; live messages carry consecutive seqs', async (t) => {
  const server = await startServer();
  t.after(() => server.kill());
  const room = 'seq-room';
  const alice = await connected(server, 'alice', { rooms: [room] });
  t.after(() => alice.close());
  const r = alice.room(room);
  assert.equal(typeof r.seq, 'number', 'joined.seq');
  assert.equal(typeof r.epoch, 'string', 'joined.epoch');
  const start = r.seq;
  const got = collect(r, 'message');
  const gaps = collect(r, 'discontinuity');
  for (const text of ['a', 'b', 'c']) await r.send(text);
  await got.until((m) => m.text === 'c');
  assert.deepEqual(
    got.map((m) => m.seq),
    [start + 1, start + 2, start + 3],
  );
  assert.equal(r.seq, start + 3);
  assert.equal(gaps.length, 0);
});

test('[v2 §5] server restart: the re-join resumes with since and gets exactly the missed messages', async (t) => {
  const dir = tempDir();
  let server = await startServer({ dir });
  t.after(() => server.kill());
  const room = 'recover-room';
  let gate = true;
  const url = () => (gate ? server.url : 'ws://127.0.0.1:9/ws');
  const alice = await connected(server, 'alice', { rooms: [room], url });
  t.after(() => alice.close());
  const r = alice.room(room);
  const got = collect(r, 'message');
  const gaps = collect(r, 'discontinuity');
  const before = await r.send('before');
  await got.until((m) => m.id === before.id);
  const seqBefore = r.seq;
  assert.equal(typeof seqBefore, 'number', 'the client saw a seq (server v2)');

  const port = server.port;
  gate = false;
  await server.stop();
  server = await startServer({ dir, port });
  // More than the 50 of a plain `recent`: recovery must return them all.
  const texts = Array.from({ length: 60 }, (_, i) => `missed ${i + 1}`);
  const missedIds = await postMessages(server, room, texts);

  gate = true;
  const joined = await waitFor(r, 'joined', (e) => e.rejoin, 30000);
  assert.equal(joined.recovered, true);
  assert.equal(r.recovered, true);
  assert.deepEqual(
    joined.recent.map((m) => m.id),
    missedIds,
    '`recent` holds exactly the messages after since.seq',
  );
  assert.deepEqual(
    joined.missed.map((m) => m.id),
    missedIds,
  );
  assert.deepEqual(
    joined.recent.map((m) => m.seq),
    missedIds.map((_, i) => seqBefore + 1 + i),
  );
  await got.until((m) => m.id === missedIds.at(-1));
  assert.deepEqual(
    got.map((m) => m.text),
    ['before', ...texts],
    'each missed message emitted once, in order',
  );
  assert.equal(gaps.length, 0, 'no discontinuity');
  assert.equal(r.seq, seqBefore + 60);
});

test('[v2 §5] too much missed: recovered false and a discontinuity event', async (t) => {
  const dir = tempDir();
  const env = { ROOMCAST__RECOVERY__MAX_MESSAGES: '5' };
  let server = await startServer({ dir, env });
  t.after(() => server.kill());
  const room = 'too-much-room';
  let gate = true;
  const url = () => (gate ? server.url : 'ws://127.0.0.1:9/ws');
  const alice = await connected(server, 'alice', { rooms: [room], url });
  t.after(() => alice.close());
  const r = alice.room(room);
  const got = collect(r, 'message');
  await r.send('seen');
  await got.until((m) => m.text === 'seen');
  assert.equal(typeof r.seq, 'number', 'the client saw a seq (server v2)');

  const port = server.port;
  gate = false;
  await server.stop();
  server = await startServer({ dir, port, env });
  const ids = await postMessages(server, room, Array.from({ length: 8 }, (_, i) => `gone ${i}`));
  const gap = waitFor(r, 'discontinuity', () => true, 30000);
  gate = true;
  const joined = await waitFor(r, 'joined', (e) => e.rejoin, 30000);
  assert.equal(joined.recovered, false);
  const d = await gap;
  assert.equal(d.reason, 'recovery_failed');
  assert.equal(d.room, room);
  // Still, what `recent` has that is new is delivered.
  assert.deepEqual(
    joined.missed.map((m) => m.id),
    ids,
  );
});

test('[v2 §5] cluster: the client node is killed; the other node recovers the missed messages', async (t) => {
  const cluster = await startCluster(t);
  if (!cluster) return;
  const { a, b } = cluster;
  const room = 'cluster-recover';
  let gate = true;
  let calls = 0;
  const url = () => (calls++ === 0 ? a.url : gate ? b.url : 'ws://127.0.0.1:9/ws');
  const alice = await connected(a, 'alice', { rooms: [room], url });
  const bob = await connected(b, 'bob', { rooms: [room] });
  t.after(() => {
    alice.close();
    bob.close();
  });
  const r = alice.room(room);
  const got = collect(r, 'message');
  const first = await bob.room(room).send('first');
  await got.until((m) => m.id === first.id);
  const seqBefore = r.seq;
  assert.equal(typeof seqBefore, 'number', 'the client saw a seq (server v2)');

  gate = false;
  const down = waitFor(alice, 'state', (e) => e.state === 'disconnected');
  await a.kill();
  await down;
  const missed = [];
  for (const text of ['m1', 'm2', 'm3']) missed.push((await bob.room(room).send(text)).id);
  missed.push(...(await postMessages(b, room, ['from the api'])));

  gate = true;
  const joined = await waitFor(r, 'joined', (e) => e.rejoin, 30000);
  assert.equal(alice.node, 'node-b');
  assert.equal(joined.recovered, true);
  assert.deepEqual(
    joined.recent.map((m) => m.id),
    missed,
  );
  assert.deepEqual(
    joined.recent.map((m) => m.seq),
    [seqBefore + 1, seqBefore + 2, seqBefore + 3, seqBefore + 4],
  );
  await got.until((m) => m.id === missed.at(-1));
  assert.deepEqual(
    got.map((m) => m.text),
    ['first', 'm1', 'm2', 'm3', 'from the api'],
  );
});
