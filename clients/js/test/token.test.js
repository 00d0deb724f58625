// Connections over time (contract §6, server v2): token refresh before
// `welcome.expires_at`, expiry (error token_expired, close 4001) followed by a
// reconnect with a fresh token, and anonymous ids kept across reconnects with `?anon=`.
// Against a v1 server these fail: it sends no `expires_at` and ignores `anon`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, connected, client, delay, mintToken, serverFor, waitFor } from './helpers.js';


test('[v2 §6] the token is refreshed in place before expires_at; the connection outlives it', async (t) => {
  const server = await serverFor(t, { nodeId: 'token-node' });
  const ttl = 8;
  const tokens = [];
  const getToken = () => {
    const tok = mintToken({ sub: 'alice', ttl: ttl + tokens.length * 60 });
    tokens.push(tok);
    return tok;
  };
  const alice = client({ url: server.url, getToken });
  t.after(() => alice.close());
  const welcome = waitFor(alice, 'welcome');
  alice.connect();
  const w = await welcome;
  assert.equal(typeof w.expires_at, 'number', 'welcome.expires_at (server v2)');
  const firstExpiry = w.expires_at;
  assert.ok(Math.abs(firstExpiry - (Date.now() + ttl * 1000)) < 2000, 'expires_at is the token exp, in ms');
  await alice.room('token-room').join();
  const states = collect(alice, 'state');

  const refreshed = await waitFor(alice, 'refresh', () => true, ttl * 1000);
  assert.ok(Date.now() < firstExpiry, 'refreshed before the expiry');
  assert.equal(tokens.length, 2, 'getToken was asked for a new token');
  assert.ok(refreshed.expiresAt > firstExpiry + 30000);
  assert.equal(alice.expiresAt, refreshed.expiresAt);

  // Past the first token's expiry: still the same connection, still chatting.
  await delay(Math.max(0, firstExpiry - Date.now()) + 1500);
  assert.equal(states.length, 0, 'no disconnect');
  const ack = await alice.room('token-room').send('still here');
  assert.ok(ack.id);
});

test('[v2 §6] expiry without refresh: token_expired, close 4001, reconnect with a fresh token', async (t) => {
  const server = await serverFor(t, { nodeId: 'token-node' });
  // The platform keeps handing out the same short token until it expired: the client
  // cannot refresh with it (it is not newer), so the server ends the connection.
  let expired = false;
  const stale = mintToken({ sub: 'bob', ttl: 4 });
  let fresh = null;
  const getToken = () => {
    if (!expired) return stale;
    fresh ??= mintToken({ sub: 'bob', ttl: 3600 });
    return fresh;
  };
  const bob = client({ url: server.url, getToken });
  t.after(() => bob.close());
  bob.on('state', (e) => {
    if (e.code === 4001) expired = true;
  });
  const errors = collect(bob, 'error');
  const welcomes = collect(bob, 'welcome');
  bob.connect();
  await welcomes.until(() => true);
  await bob.room('expiry-room').join();
  assert.equal(typeof bob.expiresAt, 'number', 'welcome.expires_at (server v2)');

  const dropped = await waitFor(bob, 'state', (e) => e.state === 'disconnected', 10000);
  assert.equal(dropped.code, 4001);
  assert.ok(errors.some((e) => e.code === 'token_expired'), 'error token_expired before the close');
  const rejoined = await waitFor(bob.room('expiry-room'), 'joined', (e) => e.rejoin, 10000);
  assert.ok(rejoined);
  assert.equal(welcomes.length, 2);
  assert.ok(bob.expiresAt > Date.now() + 3000 * 1000, 'the new connection has the fresh token');
});

test('[v2 §6] an anonymous viewer keeps its id across reconnects (?anon=)', async (t) => {
  const server = await serverFor(t, { nodeId: 'token-node' });
  const viewer = await connected(server, null, { rooms: ['anon-room'] });
  t.after(() => viewer.close());
  const id = viewer.user.id;
  assert.match(id, /^anon-[0-9A-HJKMNP-TV-Z]{26}\.[A-Za-z0-9_-]{8,}$/, 'a signed anonymous id (server v2)');
  const again = waitFor(viewer, 'welcome');
  viewer.reconnect();
  const w = await again;
  assert.equal(w.user.id, id);
  assert.equal(w.user.anonymous, true);
});
