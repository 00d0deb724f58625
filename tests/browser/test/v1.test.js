// Browser tests of the moderator console against what today's server has
// (contract §1–§4 and §9's token route). One real roomcast process for the
// file, Debian's Chromium through playwright-core, Node WebSocket peers as the
// room's viewers and chatters. Every wait is bounded; nothing sleeps and hopes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launch, watch } from '../lib/browser.js';
import { WAIT_MS, messageRow, openRoom, realProblems, signInWithJwt, signInWithKey, toast } from '../lib/console.js';
import { startFixtures } from '../lib/fixtures.js';
import { Peer } from '../lib/peer.js';
import { startServer } from '../lib/server.js';
import { signJwt } from '../lib/tokens.js';

const T = { timeout: 60_000 };

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {Awaited<ReturnType<typeof launch>>} */
let browser;
/** @type {Peer[]} */
let peers = [];

before(async () => {
  server = await startServer();
  browser = await launch();
});

after(async () => {
  for (const p of peers) p.close();
  await browser?.close();
  await server?.stop();
});

/** A Node peer, closed after the file. @param {string | null} token */
async function peer(token = null) {
  const p = await Peer.connect(server.wsUrl, token);
  peers.push(p);
  return p;
}

/** A new page in a fresh browser context, watched for errors. */
async function newPage(opts) {
  const ctx = await browser.newContext(opts);
  const page = await ctx.newPage();
  return { page, w: watch(page), ctx };
}

const chatter = (sub, name = sub) => signJwt(server.secret, { sub, name });

describe('sign-in', () => {
  test('with the API key: the console mints its own token; nothing is stored in the browser', T, async () => {
    const { page, w } = await newPage();
    await signInWithKey(page, server, 'alex');
    assert.match(await page.locator('#who-name').textContent(), /alex · API key/);
    // The key is gone from the page and from every browser store.
    const leaks = await page.evaluate((key) => ({
      local: localStorage.length,
      session: sessionStorage.length,
      cookie: document.cookie,
      inDom: document.documentElement.outerHTML.includes(key),
      inInputs: [...document.querySelectorAll('input, textarea')].some((i) => i.value.includes(key)),
    }), server.apiKey);
    assert.deepEqual(leaks, { local: 0, session: 0, cookie: '', inDom: false, inInputs: false });
    // Reloading signs out (memory only).
    await page.reload();
    await page.locator('#signin-view').waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.deepEqual(realProblems(w), []);
    await page.context().close();
  });

  test('with a moderator token: the rooms its mod claim names, with live counts', T, async () => {
    const viewer = await peer();
    await viewer.join('mod-a');
    const { page, w } = await newPage();
    await signInWithJwt(page, server, signJwt(server.secret, { sub: 'mia', name: 'Mia', mod: ['mod-a', 'mod-b'] }));
    assert.match(await page.locator('#who-name').textContent(), /Mia · moderator/);
    // Both claimed rooms listed; mod-a has the viewer plus this console.
    await page.locator('#rooms-body tr[data-room="mod-a"] td.viewers', { hasText: /^2$/ }).waitFor({ timeout: WAIT_MS });
    await page.locator('#rooms-body tr[data-room="mod-b"]').waitFor({ timeout: WAIT_MS });
    assert.equal(await page.locator('#rooms-body tr').count(), 2);
    // The graph needs the API key: the console says so instead of failing.
    await openRoom(page, 'mod-a');
    await page.locator('#graph-summary', { hasText: /needs the platform’s API key/ }).waitFor({ timeout: WAIT_MS });
    assert.deepEqual(realProblems(w), []);
    await page.context().close();
  });

  test('a wrong API key and a forged token are refused with a reason', T, async () => {
    const { page } = await newPage();
    await page.goto(`${server.url}/dashboard`);
    await page.getByLabel("the platform's API key").check();
    await page.locator('#signin-key').fill('not-the-key');
    await page.locator('#signin-submit').click();
    await page.locator('#signin-error', { hasText: /token or API key was refused \(unauthorized\)/ }).waitFor({ timeout: WAIT_MS });
    await page.getByLabel('a moderator token (JWT)').check();
    await page.locator('#signin-jwt').fill(signJwt('some-other-secret-0123456789abcdef', { sub: 'eve', mod: ['*'] }));
    await page.locator('#signin-submit').click();
    await page.locator('#signin-error', { hasText: /refused the connection/ }).waitFor({ timeout: WAIT_MS });
    await page.locator('#signin-view').waitFor({ state: 'visible' });
    await page.context().close();
  });
});

describe('rooms and chat', () => {
  test('a room appears in the list with its viewer count, which follows joins and leaves', T, async () => {
    const vs = await Promise.all([peer(), peer(), peer()]);
    for (const v of vs) await v.join('busy-room');
    const { page, w } = await newPage();
    await signInWithKey(page, server);
    const cell = page.locator('#rooms-body tr[data-room="busy-room"] td.viewers');
    await cell.filter({ hasText: /^3$/ }).waitFor({ timeout: WAIT_MS });
    vs[2].send({ type: 'leave', room: 'busy-room' });
    await cell.filter({ hasText: /^2$/ }).waitFor({ timeout: WAIT_MS });
    assert.deepEqual(realProblems(w), []);
    await page.context().close();
  });

  test('a chat message arrives live; deleting it removes it for a viewer page and a Node viewer', T, async () => {
    const bob = await peer(chatter('bob', 'Bob'));
    await bob.join('chat-room');
    const nodeViewer = await peer();
    await nodeViewer.join('chat-room');

    // The console, signed in with the key.
    const { page, w } = await newPage();
    await signInWithKey(page, server);
    await openRoom(page, 'chat-room');

    // A second browser context: a viewer page on another origin, through the project's client.
    const fixtures = await startFixtures();
    const { page: viewerPage } = await newPage();
    await viewerPage.goto(`${fixtures.url}/viewer.html?ws=${encodeURIComponent(server.wsUrl)}&room=chat-room`);
    await viewerPage.locator('#state', { hasText: 'joined' }).waitFor({ timeout: WAIT_MS });

    const { id } = await bob.say('chat-room', 'hello moderators');
    const row = messageRow(page, id);
    await row.waitFor({ timeout: WAIT_MS });
    assert.match(await row.locator('.msg-text').textContent(), /hello moderators/);
    assert.equal(await row.locator('.msg-name').textContent(), 'Bob');
    await viewerPage.locator(`#chat li[data-id="${id}"]`).waitFor({ timeout: WAIT_MS });

    await row.getByRole('button', { name: 'Delete' }).click();
    await toast(page, /Delete the message of Bob ✓/);
    await viewerPage.locator(`#chat li[data-id="${id}"]`).waitFor({ state: 'detached', timeout: WAIT_MS });
    const deleted = await nodeViewer.waitFor((f) => f.type === 'deleted' && f.id === id, WAIT_MS, 'deleted');
    assert.equal(deleted.by, 'staff');
    // The console keeps a line saying who deleted it; the text is gone.
    await page.locator(`#chat li[data-id="${id}"][data-deleted=true]`, { hasText: 'deleted by staff' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await page.locator('#chat').getByText('hello moderators').count(), 0);
    // …and the moderation log shows it.
    await page.locator('#log li[data-action=delete]', { hasText: 'staff' }).waitFor({ timeout: WAIT_MS });

    assert.deepEqual(realProblems(w), []);
    await viewerPage.context().close();
    await page.context().close();
    await fixtures.close();
  });

  test('ban from the console: the viewer’s connection leaves with reason banned', T, async () => {
    const carl = await peer(chatter('carl', 'Carl'));
    await carl.join('ban-room');
    const { page, w } = await newPage();
    await signInWithKey(page, server);
    await openRoom(page, 'ban-room');
    const { id } = await carl.say('ban-room', 'buy cheap followers');
    const row = messageRow(page, id);
    await row.getByRole('button', { name: 'Ban', exact: true }).click();
    const dialog = page.locator('#ask');
    await dialog.getByLabel('Reason (optional)').fill('spam');
    await dialog.getByRole('button', { name: 'Ban', exact: true }).click();
    await toast(page, /Ban Carl ✓/);
    const left = await carl.waitFor((f) => f.type === 'left' && f.room === 'ban-room', WAIT_MS, 'left');
    assert.equal(left.reason, 'banned');
    await page.locator('#log li[data-action=ban]', { hasText: 'carl' }).waitFor({ timeout: WAIT_MS });
    assert.deepEqual(realProblems(w), []);
    await page.context().close();
  });

  test('a message with HTML in it is shown as text: no element, no script, no dialog', T, async () => {
    const mallory = await peer(chatter('mallory', '<b>Mal</b>'));
    await mallory.join('xss-room');
    const { page, w } = await newPage();
    await signInWithKey(page, server);
    await openRoom(page, 'xss-room');
    const payload = '<img src=x onerror=alert(1)> <script>alert(2)</script>';
    const { id } = await mallory.say('xss-room', payload);
    const row = messageRow(page, id);
    await row.waitFor({ timeout: WAIT_MS });
    assert.equal(await row.locator('.msg-text').textContent(), payload);
    assert.equal(await row.locator('.msg-name').textContent(), '<b>Mal</b>');
    // Open the user card too: names and texts there are text as well.
    await row.locator('.msg-name').click();
    await page.locator('#card[open]').waitFor({ timeout: WAIT_MS });
    await page.locator('#card-messages li', { hasText: 'onerror' }).waitFor({ timeout: WAIT_MS });
    const found = await page.evaluate(() => ({
      img: document.querySelectorAll('main img, dialog img').length,
      script: document.querySelectorAll('body script').length,
      bold: document.querySelectorAll('#chat b, #card b').length,
    }));
    assert.deepEqual(found, { img: 0, script: 0, bold: 0 });
    assert.deepEqual(w.dialogs, []);
    assert.deepEqual(realProblems(w), []);
    await page.context().close();
  });
});

describe('moderation feedback and the server’s checks', () => {
  test('keyboard only: Tab to a message’s Timeout, Enter, type a reason, Enter; focus is visible', T, async () => {
    const dora = await peer(chatter('dora', 'Dora'));
    await dora.join('kbd-room');
    const { page, w } = await newPage();
    await signInWithKey(page, server);
    await openRoom(page, 'kbd-room');
    const { id } = await dora.say('kbd-room', 'tab to me');
    await messageRow(page, id).waitFor({ timeout: WAIT_MS });
    let reached = false;
    for (let i = 0; i < 60 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate((mid) => {
        const el = document.activeElement;
        return !!el && el.matches('button[data-action=timeout]') && el.closest('li')?.dataset.id === mid;
      }, id);
    }
    assert.ok(reached, 'Tab reaches the Timeout button of the message');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused button shows a focus ring');
    await page.keyboard.press('Enter');
    await page.locator('#ask[open]').waitFor({ timeout: WAIT_MS });
    // Focus is on the length (default 10 minutes); Tab to the reason, type it, Enter submits.
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'seconds');
    await page.keyboard.press('Tab');
    await page.keyboard.type('calm down');
    await page.keyboard.press('Enter');
    await toast(page, /Time out Dora ✓/);
    const mod = await dora.waitFor((f) => f.type === 'moderation' && f.action === 'timeout', WAIT_MS, 'moderation');
    assert.equal(mod.seconds, 600);
    assert.equal(mod.reason, 'calm down');
    // Focus went back to the button that opened the dialog.
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.action), 'timeout');
    // Dora's next message is refused with the time left.
    await assert.rejects(dora.say('kbd-room', 'still here?'), /timed_out/);
    assert.deepEqual(realProblems(w), []);
    await page.context().close();
  });

  test('a moderator of another room is refused by the server, and told why', T, async () => {
    const erin = await peer(chatter('erin', 'Erin'));
    await erin.join('not-yours');
    const { page } = await newPage();
    await signInWithJwt(page, server, signJwt(server.secret, { sub: 'max', name: 'Max', mod: ['some-room'] }));
    await openRoom(page, 'not-yours');
    assert.ok(await page.locator('#room-notmod').isVisible(), 'the console says so up front');
    const { id } = await erin.say('not-yours', 'you cannot touch this');
    await messageRow(page, id).getByRole('button', { name: 'Delete' }).click();
    assert.match(await toast(page, /Delete the message of Erin/), /Refused: you are not allowed to do this here \(forbidden\)/);
    assert.equal(await messageRow(page, id).locator('.msg-text').textContent(), 'you cannot touch this');
    assert.ok(!erin.frames.some((f) => f.type === 'deleted'), 'nothing was deleted');
    await page.context().close();
  });

  test('a refused message says why and when to retry (timed_out)', T, async () => {
    // A moderator timed out by the platform: moderators are exempt from slow mode, not from timeouts.
    const r = await fetch(`${server.url}/api/rooms/retry-room/timeouts`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'nina', seconds: 300 }),
    });
    assert.equal(r.status, 201);
    const { page } = await newPage();
    await signInWithJwt(page, server, signJwt(server.secret, { sub: 'nina', mod: ['retry-room'] }));
    await openRoom(page, 'retry-room');
    await page.locator('#composer-text').fill('hello?');
    await page.locator('#composer-text').press('Enter');
    const t = await toast(page, /Send: Refused/);
    assert.match(t, /you are timed out in this room — try again in [45] min \(timed_out\)/);
    await page.context().close();
  });
});

describe('settings on today’s server', () => {
  test('slow mode from the settings panel; the §7 parts this server lacks are hidden or say so', T, async () => {
    const gil = await peer(chatter('gil', 'Gil'));
    await gil.join('slow-room');
    const { page, w } = await newPage();
    await signInWithKey(page, server);
    await openRoom(page, 'slow-room');
    const { id } = await gil.say('slow-room', 'first');
    await messageRow(page, id).waitFor({ timeout: WAIT_MS });

    // Degrades without errors: what a server without §7 lacks is hidden or says so.
    if (!(await page.locator('#room-view[data-v2=true]').count())) {
      await page.locator('#held-note', { hasText: 'not available on this server' }).waitFor({ timeout: WAIT_MS });
      assert.match(await page.locator('#settings-note').textContent(), /not available on this server/);
      assert.equal(await page.getByRole('switch', { name: 'Emote only' }).isVisible(), false);
      assert.equal(await messageRow(page, id).getByRole('button', { name: 'Shadow-ban' }).isVisible(), false);
      assert.equal(await messageRow(page, id).getByRole('button', { name: 'Pin' }).isVisible(), false);
      // The user card falls back to what the console knows.
      await messageRow(page, id).locator('.msg-name').click();
      await page.locator('#card-note', { hasText: 'This server has no user card' }).waitFor({ timeout: WAIT_MS });
      await page.locator('#card-close').click();
    }

    await page.getByLabel('Slow mode').selectOption('10');
    await toast(page, /Slow mode 10 s ✓/);
    await gil.waitFor((f) => f.type === 'slow_mode' && f.seconds === 10, WAIT_MS, 'slow_mode');
    await gil.say('slow-room', 'second');
    await assert.rejects(gil.say('slow-room', 'third'), /slow_mode/);
    await page.locator('#log li[data-action=slow_mode]', { hasText: '10 s' }).waitFor({ timeout: WAIT_MS });
    // Set elsewhere (the API): the control follows.
    const r = await fetch(`${server.url}/api/rooms/slow-room/slow_mode`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ seconds: 0 }),
    });
    assert.equal(r.status, 200);
    await page.waitForFunction(() => document.querySelector('#set-slow').value === '0', null, { timeout: WAIT_MS });
    assert.deepEqual(realProblems(w), []);
    await page.context().close();
  });
});

describe('viewer graph and layout', () => {
  test('the viewer graph draws the room’s analytics (≥ 1 point) with the live count', T, async () => {
    const v = await peer();
    await v.join('graph-room');
    const { page, w } = await newPage();
    await signInWithKey(page, server);
    await openRoom(page, 'graph-room');
    // Snapshots are written every second here (analytics.period_ms = 1000); the panel re-reads until it has some.
    await page.waitForFunction(() => Number(document.querySelector('#graph')?.dataset.points) >= 1, null, { timeout: 30_000 });
    assert.equal(await page.locator('#graph canvas').count(), 1);
    const box = await page.locator('#graph canvas').boundingBox();
    assert.ok(box && box.width > 100 && box.height > 100, 'the chart has a size');
    await page.locator('#graph-summary', { hasText: /Peak \d+ · average [\d.]+ .* now 2 watching/ }).waitFor({ timeout: WAIT_MS });
    assert.deepEqual(realProblems(w), []);
    await page.context().close();
  });

  test('phone viewport: the room fits 375 px without sideways scrolling', T, async () => {
    const fay = await peer(chatter('fay', 'Fay'));
    await fay.join('phone-room');
    const { page, w } = await newPage({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
    await signInWithKey(page, server);
    await openRoom(page, 'phone-room');
    const { id } = await fay.say('phone-room', 'a long message '.repeat(20));
    await messageRow(page, id).waitFor({ timeout: WAIT_MS });
    const width = await page.evaluate(() => document.scrollingElement.scrollWidth);
    assert.ok(width <= 375, `page is ${width}px wide`);
    assert.ok(await messageRow(page, id).getByRole('button', { name: 'Ban', exact: true }).isVisible());
    assert.deepEqual(realProblems(w), []);
    await page.context().close();
  });
});
