// Screenshots of the console's main screens, for docs/console/: sign-in, the
// rooms list, a room (chat with its actions and the side panels), the viewer
// graph and the user card, at 1280×800 and on a phone (375×812).
//
//   ROOMCAST_BIN=/path/to/roomcast node screenshots.js
//
// It starts a real server, fills a few rooms with Node viewers and chatters,
// and seeds three hours of per-minute analytics for the graph straight into the
// server's SQLite file (table viewer_snapshots; with python3's sqlite3 — if that
// is not possible the graph shows only what the live viewers produce). The
// room-* screenshots show the real server's §7 controls; room-v2-* show a
// filled held queue and the §8 live stats, taken against the tests' scripted
// v2 stand-in (lib/mock-v2.js) until the real server has §8.

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { launch } from './lib/browser.js';
import { WAIT_MS, messageRow, openRoom, signInWithKey } from './lib/console.js';
import { Peer } from './lib/peer.js';
import { ROOT, startServer } from './lib/server.js';
import { signJwt } from './lib/tokens.js';
import { startMockV2 } from './lib/mock-v2.js';

const OUT = resolve(ROOT, '../../docs/console');
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const ROOM = 'launch-party';

mkdirSync(OUT, { recursive: true });
// Analytics at their real period (a minute): the graph shows the seeded three hours.
const server = await startServer({ env: { ROOMCAST__ANALYTICS__PERIOD_MS: '60000' } });
const peers = [];
const browser = await launch();
try {
  // Rooms with viewers (anonymous) and chatters (token users).
  const counts = { [ROOM]: 7, 'cooking-live': 4, 'retro-games': 2 };
  for (const [room, n] of Object.entries(counts)) {
    for (let i = 0; i < n; i++) {
      const p = await Peer.connect(server.wsUrl);
      await p.join(room);
      peers.push(p);
    }
  }
  const chatters = {};
  for (const [sub, name, badges] of [['ana', 'Ana', ['vip']], ['ben', 'Ben', []], ['chloe', 'Chloe', ['subscriber']], ['dev', 'dev_shop', ['seller']], ['spammy', 'FreeCoins', []]]) {
    const p = await Peer.connect(server.wsUrl, signJwt(server.secret, { sub, name, badges }));
    await p.join(ROOM);
    peers.push(p);
    chatters[sub] = p;
  }
  seedAnalytics(server.dir, ROOM);

  const lines = [
    ['ana', 'hi everyone! 👋'], ['ben', 'when does the giveaway start?'], ['dev', 'Welcome! The drop goes live at 8pm'],
    ['chloe', 'the new colours look great'], ['spammy', 'FREE COINS at totally-legit.example <b>click</b>'],
    ['ben', 'is there a discount code?'], ['ana', 'love this stream ❤️'], ['chloe', 'can you show the blue one again?'],
  ];
  for (const [who, text] of lines) await chatters[who].say(ROOM, text);

  const ctx = await browser.newContext(DESKTOP);
  const page = await ctx.newPage();
  const phoneCtx = await browser.newContext(PHONE);
  const phone = await phoneCtx.newPage();

  // Sign-in.
  for (const [p, suffix] of [[page, 'desktop'], [phone, 'phone']]) {
    await p.goto(`${server.url}/dashboard`);
    await p.locator('#signin-view').waitFor({ state: 'visible' });
    await shot(p, `signin-${suffix}`);
  }

  // Rooms list.
  for (const [p, suffix] of [[page, 'desktop'], [phone, 'phone']]) {
    await signInWithKey(p, server, 'alex');
    await p.locator(`#rooms-body tr[data-room="${ROOM}"] td.viewers`, { hasText: /^12$/ }).waitFor({ timeout: WAIT_MS });
    await shot(p, `rooms-${suffix}`);
  }

  // A room: chat with actions, held queue, settings, stats, graph, log.
  for (const [p, suffix] of [[page, 'desktop'], [phone, 'phone']]) {
    await openRoom(p, ROOM);
    await p.waitForFunction(() => Number(document.querySelector('#graph')?.dataset.points) >= 1, null, { timeout: 30_000 });
  }
  // Some moderation, so that the log and the chat show it.
  const spam = chatters.spammy.frames.find((f) => f.type === 'ack');
  await messageRow(page, spam.id).getByRole('button', { name: 'Delete' }).click();
  await page.locator(`#chat li[data-id="${spam.id}"][data-deleted=true]`).waitFor({ timeout: WAIT_MS });
  await chatters.spammy.say(ROOM, 'FREE COINS!!! totally-legit.example');
  const ack = chatters.spammy.frames.filter((f) => f.type === 'ack').at(-1);
  await messageRow(page, ack.id).getByRole('button', { name: 'Timeout' }).click();
  await page.locator('#ask').getByLabel('Reason (optional)').fill('spam links');
  await page.locator('#ask').getByRole('button', { name: 'Time out' }).click();
  await page.locator('#log li[data-action=timeout]').waitFor({ timeout: WAIT_MS });
  await chatters.chloe.say(ROOM, 'thanks mods!');
  await page.locator('#toasts .toast').first().waitFor();
  await shot(page, 'room-desktop');
  await phone.locator('#log li[data-action=timeout]').waitFor({ timeout: WAIT_MS });
  await shot(phone, 'room-phone');

  // The viewer graph.
  await page.locator('#graph-panel').scrollIntoViewIfNeeded();
  await page.locator('#graph-panel').screenshot({ path: resolve(OUT, 'graph-desktop.png') });
  console.log('docs/console/graph-desktop.png');
  await phone.locator('#graph-panel').scrollIntoViewIfNeeded();
  await phone.evaluate(() => document.querySelector('#graph-panel').scrollIntoView({ block: 'start' }));
  await shot(phone, 'graph-phone');

  // The user card (on a v1 server: made from what the console saw and the log).
  await page.evaluate(() => document.querySelectorAll('#toasts .toast').forEach((t) => t.remove()));
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.locator('#chat .msg-name', { hasText: 'FreeCoins' }).first().click();
  await page.locator('#card-log li').first().waitFor({ timeout: WAIT_MS });
  await page.locator('#card-state', { hasText: /Timed out|No restrictions|State/ }).waitFor({ timeout: WAIT_MS });
  await shot(page, 'usercard-desktop');

  await v2Screens();
} finally {
  for (const p of peers) p.close();
  await browser.close();
  await server.stop();
}

/**
 * The room as it looks on a server with §7/§8 (held queue, chat modes, pin,
 * shadow-ban, live stats), taken against the scripted v2 stand-in of the tests
 * (lib/mock-v2.js) until the real server has them.
 */
async function v2Screens() {
  const mock = await startMockV2();
  const v2peers = [];
  try {
    const say = async (sub, name, text) => {
      const p = await Peer.connect(mock.wsUrl, mock.token({ sub, name }));
      v2peers.push(p);
      await p.join(ROOM);
      p.send({ type: 'message', room: ROOM, text, ref: 'x' });
      return p.waitFor((f) => f.ref === 'x');
    };
    await say('ana', 'Ana', 'hi everyone!');
    const pin = await say('dev', 'dev_shop', 'Giveaway at 8pm: answer the quiz to enter');
    await say('ben', 'Ben', 'is there a discount code?');
    const page = await (await browser.newContext(DESKTOP)).newPage();
    const phone = await (await browser.newContext(PHONE)).newPage();
    for (const p of [page, phone]) {
      await signInWithKey(p, mock, 'alex');
      await openRoom(p, ROOM);
      await p.locator('#room-view[data-v2=true]').waitFor({ timeout: WAIT_MS });
    }
    await say('spam', 'FreeCoins', 'promo codes at totally-legit.example');
    await page.locator('#held li').first().waitFor({ timeout: WAIT_MS });
    await messageRow(page, pin.id).getByRole('button', { name: 'Pin' }).click();
    await page.locator('#ask').getByRole('button', { name: 'Pin' }).click();
    await page.locator('#pinned:not([hidden])').waitFor({ timeout: WAIT_MS });
    await page.getByRole('switch', { name: 'Unique chat (no repeats within 5 min)' }).check();
    await page.locator('#set-unique:checked:enabled').waitFor({ timeout: WAIT_MS });
    await page.locator('#stats-note', { hasText: /From the server/ }).waitFor({ timeout: WAIT_MS });
    await page.locator('#log li[data-action=settings]').waitFor({ timeout: WAIT_MS });
    await say('chloe', 'Chloe', 'the blue one please!');
    await page.evaluate(() => document.querySelectorAll('#toasts .toast').forEach((t) => t.remove()));
    await shot(page, 'room-v2-desktop');
    await phone.locator('#held li').first().waitFor({ timeout: WAIT_MS });
    await phone.evaluate(() => document.querySelectorAll('#toasts .toast').forEach((t) => t.remove()));
    await phone.evaluate(() => document.querySelector('#held-panel').scrollIntoView({ block: 'start' }));
    await shot(phone, 'room-v2-phone');
  } finally {
    for (const p of v2peers) p.close();
    await mock.stop();
  }
}

/** @param {import('playwright-core').Page} page @param {string} name */
async function shot(page, name) {
  await page.screenshot({ path: resolve(OUT, `${name}.png`) });
  console.log(`docs/console/${name}.png`);
}

/**
 * Three hours of per-minute viewer snapshots for one room, written into the
 * server's database (what the server itself writes once a minute).
 * @param {string} dir @param {string} room
 */
function seedAnalytics(dir, room) {
  const script = `
import sqlite3, sys, math, random, time
db = sqlite3.connect(sys.argv[1], timeout=10)
room = sys.argv[2]
now = int(time.time() * 1000) // 60000 * 60000
random.seed(7)
rows = []
for i in range(180, 0, -1):
    minute = now - i * 60000
    t = (180 - i) / 180
    base = 40 + 260 * math.sin(min(t * 1.25, 1) * math.pi / 2) - (90 * max(0, t - 0.8) / 0.2)
    avg = max(0, base + random.uniform(-12, 12))
    rows.append((room, minute, int(avg * 0.9), int(avg * 1.1) + 1, round(avg, 2), random.randint(5, 60), random.randint(20, 300)))
db.executemany('INSERT OR IGNORE INTO viewer_snapshots (room, minute, min, max, avg, messages, reactions) VALUES (?,?,?,?,?,?,?)', rows)
db.commit()
`;
  const r = spawnSync('python3', ['-c', script, resolve(dir, 'rc.db'), room], { encoding: 'utf8' });
  if (r.status !== 0) console.warn(`could not seed analytics (the graph shows live data only): ${r.stderr || r.error}`);
}
