// The console's §7/§8 parts, as one suite run against two servers: the real
// one (test/v2.test.js: §7; test/v2-platform.test.js: §8) and a
// scripted v2 stand-in (test/mock-v2.test.js: passes today, so the console's
// v2 panels are known to work before the server catches up). AutoMod's held
// queue, the chat modes, shadow ban, pin, the server's user card, live stats.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launch, watch } from './browser.js';
import { WAIT_MS, messageRow, openRoom, realProblems, signInWithKey, toast } from './console.js';
import { Peer } from './peer.js';

const T = { timeout: 60_000 };

/**
 * @typedef {object} V2Server
 * @property {string} url @property {string} wsUrl @property {string} apiKey
 * @property {(claims: {sub: string, name?: string, mod?: string[]}) => string} token a JWT it accepts
 * @property {() => Promise<void>} stop
 */

/**
 * @param {() => Promise<V2Server>} start
 * @param {{moderation?: boolean, platform?: boolean}} [parts] which parts to run: §7, §8
 */
export function v2Suite(start, { moderation = true, platform = true } = {}) {
  /** @type {V2Server} */
  let server;
  /** @type {Awaited<ReturnType<typeof launch>>} */
  let browser;
  /** @type {Peer[]} */
  const peers = [];

  before(async () => {
    server = await start();
    browser = await launch();
  });

  after(async () => {
    for (const p of peers) p.close();
    await browser?.close();
    await server?.stop();
  });

  /** @param {string | null} token */
  async function peer(token = null) {
    const p = await Peer.connect(server.wsUrl, token);
    peers.push(p);
    return p;
  }

  const chatter = (/** @type {string} */ sub, name = sub) => server.token({ sub, name });

  /** @param {string} room @param {{v2?: boolean}} [opts] v2: wait for the §7 controls */
  async function consolePage(room, opts = {}) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const w = watch(page);
    await signInWithKey(page, server);
    await openRoom(page, room);
    // A §7 server sends `joined.settings`: the console shows its §7 controls.
    if (opts.v2 !== false) await page.locator('#room-view[data-v2=true]').waitFor({ timeout: WAIT_MS });
    return { page, w };
  }

  /** @param {string} path @param {string} method @param {unknown} [body] */
  async function api(path, method, body) {
    const r = await fetch(`${server.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? null : r.json().catch(() => null);
  }

  (moderation ? describe : describe.skip)('§7 AutoMod', () => {
    test('a held message shows in the queue (live and from GET /held); Approve publishes it', T, async () => {
      await api('/api/rooms/held-room/terms', 'PUT', { terms: [{ pattern: 'promo*', action: 'hold' }] });
      const gus = await peer(chatter('gus', 'Gus'));
      await gus.join('held-room');
      const viewer = await peer();
      await viewer.join('held-room');

      // Held before the console opened: it comes from GET /api/rooms/{room}/held.
      gus.send({ type: 'message', room: 'held-room', text: 'promocodes here', ref: 'h1' });
      const first = await gus.waitFor((f) => f.type === 'held' && f.ref === 'h1', WAIT_MS, 'held');
      const { page, w } = await consolePage('held-room');
      await page.locator(`#held li[data-id="${first.id}"]`).waitFor({ timeout: WAIT_MS });

      // Held while the console is open: it comes as a `held_message` frame.
      gus.send({ type: 'message', room: 'held-room', text: 'promo time', ref: 'h2' });
      const second = await gus.waitFor((f) => f.type === 'held' && f.ref === 'h2', WAIT_MS, 'held');
      const item = page.locator(`#held li[data-id="${second.id}"]`);
      await item.waitFor({ timeout: WAIT_MS });
      assert.match(await item.textContent(), /promo time.*matched “promo\*”/s);
      assert.equal(await page.locator('#held-count').textContent(), '(2)');

      await item.getByRole('button', { name: 'Approve' }).click();
      await toast(page, /Approve the message of Gus ✓/);
      const published = await viewer.waitFor((f) => f.type === 'message' && f.id === second.id, WAIT_MS, 'approved message');
      assert.equal(published.text, 'promo time');
      await item.waitFor({ state: 'detached', timeout: WAIT_MS });
      await messageRow(page, second.id).waitFor({ timeout: WAIT_MS });

      await page.locator(`#held li[data-id="${first.id}"]`).getByRole('button', { name: 'Deny' }).click();
      await toast(page, /Deny the message of Gus ✓/);
      await gus.waitFor((f) => f.type === 'denied' && f.id === first.id, WAIT_MS, 'denied');
      assert.deepEqual(realProblems(w), []);
      await page.context().close();
    });
  });

  (moderation ? describe : describe.skip)('§7 chat modes', () => {
    test('toggle emote-only: the room gets the settings, a chatter is refused, the switch follows the server', T, async () => {
      const hana = await peer(chatter('hana', 'Hana'));
      await hana.join('emote-room');
      const { page, w } = await consolePage('emote-room');
      const sw = page.getByRole('switch', { name: 'Emote only' });
      assert.equal(await sw.isChecked(), false);
      await sw.focus();
      await page.keyboard.press('Space');
      await toast(page, /Emote-only on ✓/);
      const s = await hana.waitFor((f) => f.type === 'settings' && f.settings?.emote_only === true, WAIT_MS, 'settings');
      assert.equal(s.room, 'emote-room');
      await assert.rejects(hana.say('emote-room', 'words are not emotes'), /emote_only/);
      await hana.say('emote-room', '🎉🎉');
      assert.equal(await sw.isChecked(), true);

      // Changed elsewhere (the API): the switch follows.
      await api('/api/rooms/emote-room/settings', 'PATCH', { emote_only: false });
      await page.waitForFunction(() => !document.querySelector('#set-emote').checked, null, { timeout: WAIT_MS });
      assert.deepEqual(realProblems(w), []);
      await page.context().close();
    });

    test('every chat mode has a control, set from joined.settings', T, async () => {
      await api('/api/rooms/modes-room/settings', 'PATCH', { subscribers_only: true, chat_delay_ms: 2000, followers_only: 10 });
      const { page } = await consolePage('modes-room');
      assert.equal(await page.getByRole('switch', { name: 'Subscribers only' }).isChecked(), true);
      assert.equal(await page.locator('#set-delay').inputValue(), '2000');
      assert.equal(await page.locator('#set-followers').inputValue(), '10');
      for (const name of ['Emote only', 'Unique chat (no repeats within 5 min)', 'Private (room tokens only)']) {
        assert.ok(await page.getByRole('switch', { name }).isVisible(), name);
      }
      await page.context().close();
    });
  });

  (moderation ? describe : describe.skip)('§7 moderator actions', () => {
    test('shadow-ban: the user’s next message reaches moderators only, marked', T, async () => {
      const ivan = await peer(chatter('ivan', 'Ivan'));
      await ivan.join('shadow-room');
      const viewer = await peer();
      await viewer.join('shadow-room');
      const { page, w } = await consolePage('shadow-room');
      const { id } = await ivan.say('shadow-room', 'first');
      await messageRow(page, id).getByRole('button', { name: 'Shadow-ban' }).click();
      await page.locator('#ask').getByRole('button', { name: 'Shadow-ban' }).click();
      await toast(page, /Shadow-ban Ivan ✓/);
      const hidden = await ivan.say('shadow-room', 'nobody sees this');
      await messageRow(page, hidden.id).locator('.flag', { hasText: 'shadow' }).waitFor({ timeout: WAIT_MS });
      // A marker after it, from someone else: the room delivers in order, so once the
      // viewer has the marker it would have had the hidden message too.
      const judy = await peer(chatter('judy', 'Judy'));
      await judy.join('shadow-room');
      const mark = await judy.say('shadow-room', 'marker');
      await viewer.waitFor((f) => f.type === 'message' && f.id === mark.id, WAIT_MS, 'marker');
      assert.ok(!viewer.frames.some((f) => f.type === 'message' && f.id === hidden.id), 'the viewer did not get it');
      assert.deepEqual(realProblems(w), []);
      await page.context().close();
    });

    test('pin a message: the room gets `pinned`; the console shows it and unpins', T, async () => {
      const kim = await peer(chatter('kim', 'Kim'));
      await kim.join('pin-room');
      const { page, w } = await consolePage('pin-room');
      const { id } = await kim.say('pin-room', 'the giveaway starts at 8');
      await messageRow(page, id).getByRole('button', { name: 'Pin' }).click();
      await page.locator('#ask').getByRole('button', { name: 'Pin' }).click();
      await toast(page, /Pin the message of Kim ✓/);
      const pinned = await kim.waitFor((f) => f.type === 'pinned' && f.message?.id === id, WAIT_MS, 'pinned');
      assert.ok(pinned.until > Date.now());
      await page.locator('#pinned:not([hidden])', { hasText: 'the giveaway starts at 8' }).waitFor({ timeout: WAIT_MS });
      await page.locator('#unpin').click();
      await kim.waitFor((f) => f.type === 'pinned' && f.message === null, WAIT_MS, 'unpinned');
      await page.locator('#pinned').waitFor({ state: 'hidden', timeout: WAIT_MS });
      assert.deepEqual(realProblems(w), []);
      await page.context().close();
    });

    test('the user card comes from GET /api/rooms/{room}/users/{user} with the user’s state', T, async () => {
      const lea = await peer(chatter('lea', 'Lea'));
      await lea.join('card-room');
      const { page, w } = await consolePage('card-room');
      const { id } = await lea.say('card-room', 'hello card');
      await api('/api/rooms/card-room/timeouts', 'POST', { user: 'lea', seconds: 600, reason: 'cool off' });
      await messageRow(page, id).locator('.msg-name').click();
      await page.locator('#card[open]').waitFor({ timeout: WAIT_MS });
      await page.locator('#card-state', { hasText: /Timed out until/ }).waitFor({ timeout: WAIT_MS });
      await page.locator('#card-messages li', { hasText: 'hello card' }).waitFor({ timeout: WAIT_MS });
      await page.locator('#card-log li[data-action=timeout]', { hasText: 'cool off' }).waitFor({ timeout: WAIT_MS });
      assert.equal(await page.locator('#card-note').isVisible(), false, 'the server’s card, not the fallback');
      assert.ok(await page.locator('#card').getByRole('button', { name: 'Shadow-ban' }).isVisible());
      assert.deepEqual(realProblems(w), []);
      await page.context().close();
    });
  });

  (platform ? describe : describe.skip)('§8 live stats', () => {
    test('`stats` frames fill the panel', T, async () => {
      const viewer = await peer();
      await viewer.join('stats-room');
      const { page, w } = await consolePage('stats-room', { v2: false });
      await page.locator('#stats-note', { hasText: /From the server/ }).waitFor({ timeout: 15_000 });
      assert.match(await page.locator('#stat-viewers').textContent(), /^\d+$/);
      assert.match(await page.locator('#stat-unique').textContent(), /^\d+$/);
      assert.deepEqual(realProblems(w), []);
      await page.context().close();
    });
  });
}
