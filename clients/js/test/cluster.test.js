// A two-node cluster (shared PostgreSQL, private Redis): the client's node is
// SIGKILLed and the client resumes on the other node by itself (v1 part; the
// recovery part, with `since`, is in recovery.test.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, connected, startCluster, waitFor } from './helpers.js';

test('the client resumes on the other node when its node is killed', async (t) => {
  const cluster = await startCluster(t);
  if (!cluster) return;
  const { a, b } = cluster;
  const room = 'cluster-room';

  // The client rotates through both nodes; it starts on A. While A is dead and the
  // test posts what the client should miss, the gate keeps it from reconnecting.
  let gate = true;
  let calls = 0;
  const url = () => (calls++ === 0 ? a.url : gate ? b.url : 'ws://127.0.0.1:9/ws');
  const alice = await connected(a, 'alice', { rooms: [room], url });
  const bob = await connected(b, 'bob', { rooms: [room] });
  t.after(() => {
    alice.close();
    bob.close();
  });
  assert.equal(alice.node, 'node-a');
  assert.equal(bob.node, 'node-b');

  const got = collect(alice.room(room), 'message');
  const m1 = await bob.room(room).send('across nodes');
  await got.until((m) => m.id === m1.id);

  gate = false;
  const disconnected = waitFor(alice, 'state', (e) => e.state === 'disconnected');
  await a.kill(); // SIGKILL: no drain, no reconnect frame, the socket just dies
  const dropped = await disconnected;
  assert.equal(dropped.code, 1006);

  const missed = [];
  for (const text of ['missed 1', 'missed 2']) missed.push((await bob.room(room).send(text)).id);

  gate = true;
  const joined = await waitFor(alice.room(room), 'joined', (e) => e.rejoin, 20000);
  assert.equal(alice.node, 'node-b');
  assert.deepEqual(
    joined.missed.map((m) => m.id),
    missed,
  );
  await got.until((m) => m.id === missed[1]);
  assert.deepEqual(
    got.map((m) => m.text),
    ['across nodes', 'missed 1', 'missed 2'],
  );

  // Live again, both ways.
  const atBob = collect(bob.room(room), 'message');
  const m2 = await alice.room(room).send('back on node b');
  await atBob.until((m) => m.id === m2.id);
  const m3 = await bob.room(room).send('welcome back');
  await got.until((m) => m.id === m3.id);
});
