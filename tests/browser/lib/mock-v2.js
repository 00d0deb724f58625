// A scripted stand-in for a roomcast server that has contract v2's §7 and §8
// (held queue, chat modes, shadow ban, pin, user card, live stats), enough for
// the console's v2 panels to be exercised before the real server has them. It
// serves the console and the client from disk with the real CSP, answers the
// REST routes the console calls, and speaks the WebSocket frames of §2/§7/§8.
// Rooms are in memory; tokens are read, not verified (the real server's checks
// are tested against the real server, in v1.test.js and v2.test.js).

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, normalize, resolve } from 'node:path';
import { WebSocketServer } from 'ws';
import { ROOT } from './server.js';

const CONSOLE = resolve(ROOT, '../../web/console');
const CLIENT = resolve(ROOT, '../../clients/js/src');
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };
export const MOCK_KEY = 'mock-key';

let n = 0;
const id = () => `01MOCK${String(Date.now()).padStart(13, '0')}${String(++n).padStart(7, '0')}`.slice(0, 26);
const claims = (/** @type {string} */ t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());
const fakeJwt = (/** @type {object} */ c) => `e30.${Buffer.from(JSON.stringify(c)).toString('base64url')}.mock`;

export async function startMockV2() {
  /** @type {Map<string, any>} */
  const rooms = new Map();
  const room = (/** @type {string} */ r) => {
    if (!rooms.has(r)) {
      rooms.set(r, {
        members: new Set(), recent: [], held: new Map(), log: [], pinned: null, shadow: new Set(), timeouts: new Map(),
        settings: { slow_mode: 0, followers_only: null, subscribers_only: false, emote_only: false, unique_chat: false, chat_delay_ms: 0, private: false },
      });
    }
    return rooms.get(r);
  };
  const broadcast = (/** @type {string} */ r, /** @type {object} */ f, only = (/** @type {any} */ _c) => true) => {
    for (const c of room(r).members) if (only(c)) c.send(f);
  };
  const logAction = (/** @type {string} */ r, /** @type {object} */ a) => {
    const entry = { id: id(), user: null, reason: null, seconds: null, message_id: null, ts: Date.now(), ...a };
    room(r).log.unshift(entry);
    return entry;
  };
  const publish = (/** @type {string} */ r, /** @type {any} */ m) => {
    const rm = room(r);
    rm.recent.push(m);
    broadcast(r, m);
  };

  // ---- HTTP: the console's files and the REST routes.
  const http = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    const json = (/** @type {number} */ status, /** @type {any} */ body) => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(body === undefined ? '' : JSON.stringify(body));
    };
    if (path === '/dashboard' || path.startsWith('/dashboard/')) {
      const rel = path === '/dashboard' || path === '/dashboard/' ? 'index.html' : path.slice('/dashboard/'.length);
      const [base, file] = rel.startsWith('client/') ? [CLIENT, rel.slice(7)] : [CONSOLE, rel];
      const full = normalize(join(base, file));
      try {
        if (!full.startsWith(base)) throw new Error('outside');
        const body = await readFile(full);
        res.writeHead(200, { 'Content-Type': TYPES[full.slice(full.lastIndexOf('.'))] ?? 'application/octet-stream', 'Content-Security-Policy': CSP }).end(body);
      } catch {
        json(404, { error: { code: 'not_found', message: 'no such file' } });
      }
      return;
    }
    if (req.headers.authorization !== `Bearer ${MOCK_KEY}`) return json(401, { error: { code: 'unauthorized', message: 'invalid API key' } });
    const body = await new Promise((ok) => {
      let s = '';
      req.on('data', (d) => (s += d));
      req.on('end', () => ok(s ? JSON.parse(s) : undefined));
    });
    const m = /^\/api\/rooms\/([^/]+)(\/.*)?$/.exec(path);
    if (path === '/api/tokens' && req.method === 'POST') {
      const exp = Math.floor(Date.now() / 1000) + (body.ttl_s ?? 3600);
      return json(200, { token: fakeJwt({ ...body, exp }), expires_at: exp * 1000 });
    }
    if (path === '/api/rooms') {
      const list = [...rooms].map(([r, x]) => ({ room: r, viewers: x.members.size })).filter((x) => x.viewers > 0);
      return json(200, { rooms: list.sort((a, b) => b.viewers - a.viewers) });
    }
    if (!m) return json(404, { error: { code: 'not_found', message: 'no such route' } });
    const [, r, rest = ''] = m;
    const rm = room(r);
    if (rest === '') return json(200, { room: r, viewers: rm.members.size, peak: rm.members.size, slow_mode: rm.settings.slow_mode });
    if (rest === '/held') return json(200, { held: [...rm.held.values()].map(({ sender, ...item }) => item) });
    if (rest === '/terms' && req.method === 'PUT') return json(200, body); // the mock holds `promo*` always
    if (rest === '/timeouts' && req.method === 'POST') {
      rm.timeouts.set(body.user, Date.now() + body.seconds * 1000);
      const a = logAction(r, { action: 'timeout', by: 'api', user: body.user, reason: body.reason ?? null, seconds: body.seconds });
      broadcast(r, { type: 'moderation', room: r, action: 'timeout', user: body.user, seconds: body.seconds, reason: body.reason, by: 'api' });
      return json(201, { id: a.id });
    }
    if (rest === '/settings' && req.method === 'PATCH') {
      Object.assign(rm.settings, body);
      broadcast(r, { type: 'settings', room: r, settings: rm.settings });
      return json(200, rm.settings);
    }
    if (rest === '/moderation') return json(200, { actions: rm.log });
    if (rest === '/analytics') {
      const now = Math.floor(Date.now() / 60000) * 60000;
      const snapshots = Array.from({ length: 30 }, (_, i) => ({ minute: now - (30 - i) * 60000, min: i, max: i + 2, avg: i + 1, messages: i, reactions: 2 * i }));
      return json(200, { room: r, snapshots, summary: { peak: 31, avg: 15.5, messages: 435, reactions: 870 } });
    }
    const u = /^\/users\/([^/]+)$/.exec(rest);
    if (u) {
      const user = u[1];
      const until = rm.timeouts.get(user) ?? null;
      return json(200, {
        user,
        messages: rm.recent.filter((x) => x.user === user).slice(-50),
        actions: rm.log.filter((a) => a.user === user),
        state: { banned: false, timed_out_until: until, shadow_banned: rm.shadow.has(user), warned: false },
      });
    }
    return json(404, { error: { code: 'not_found', message: 'no such route' } });
  });

  // ---- WebSocket: §2 and the §7/§8 frames the console uses.
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/ws') return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, url));
  });

  /** @param {import('ws').WebSocket} ws @param {URL} url */
  function onConnection(ws, url) {
    const token = url.searchParams.get('token');
    const c = token ? claims(token) : { sub: `anon-${id()}` };
    const conn = {
      user: c.sub, name: c.name ?? c.sub, mod: c.mod ?? [], rooms: new Set(),
      send: (/** @type {object} */ f) => ws.readyState === 1 && ws.send(JSON.stringify(f)),
    };
    const isMod = () => conn.mod.length > 0;
    conn.send({ type: 'welcome', user: { id: conn.user, name: conn.name, anonymous: !token, mod: conn.mod }, node: 'mock', heartbeat_ms: 30000, expires_at: c.exp ? c.exp * 1000 : undefined });
    ws.on('close', () => {
      for (const r of conn.rooms) room(r).members.delete(conn);
    });
    ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      const ack = (/** @type {string} */ aid = id()) => conn.send({ type: 'ack', ref: f.ref, id: aid });
      const refuse = (/** @type {string} */ code, extra = {}) => conn.send({ type: 'error', ref: f.ref, room: f.room, code, message: code, ...extra });
      const rm = f.room ? room(f.room) : null;
      const modOnly = ['delete', 'timeout', 'ban', 'unban', 'slow_mode', 'settings', 'shadow_ban', 'pin', 'unpin', 'approve', 'deny', 'warn', 'clear', 'purge'];
      if (modOnly.includes(f.type) && !isMod()) return refuse('forbidden');
      switch (f.type) {
        case 'ping': return conn.send({ type: 'pong', ref: f.ref, ts: Date.now() });
        case 'join':
          rm.members.add(conn);
          conn.rooms.add(f.room);
          conn.send({ type: 'joined', room: f.room, viewers: rm.members.size, slow_mode: rm.settings.slow_mode, recent: rm.recent.slice(-50), seq: rm.recent.length, epoch: 'mock', settings: rm.settings, ...(rm.pinned ? { pinned: rm.pinned } : {}) });
          return broadcast(f.room, { type: 'viewers', room: f.room, count: rm.members.size });
        case 'leave':
          rm.members.delete(conn);
          conn.rooms.delete(f.room);
          return conn.send({ type: 'left', room: f.room, reason: 'leave' });
        case 'history': return conn.send({ type: 'history', ref: f.ref, room: f.room, messages: rm.recent.slice(-(f.limit ?? 50)) });
        case 'message': {
          const m = { type: 'message', room: f.room, id: id(), user: conn.user, name: conn.name, text: f.text, ts: Date.now(), badges: isMod() ? ['mod'] : [] };
          if (!isMod() && rm.settings.emote_only && /[A-Za-z]/.test(f.text)) return refuse('emote_only');
          if (!isMod() && /\bpromo\w*/i.test(f.text)) {
            const item = { message: m, term: 'promo*', expires_at: Date.now() + 300_000, sender: conn };
            rm.held.set(m.id, item);
            conn.send({ type: 'held', ref: f.ref, id: m.id });
            return broadcast(f.room, { type: 'held_message', room: f.room, message: m, term: 'promo*' }, (x) => x.mod.length > 0);
          }
          ack(m.id);
          if (rm.shadow.has(conn.user)) {
            return broadcast(f.room, { ...m, shadow: true }, (x) => x.mod.length > 0 || x.user === conn.user);
          }
          return publish(f.room, { ...m, seq: rm.recent.length + 1 });
        }
        case 'approve': case 'deny': {
          const item = rm.held.get(f.id);
          rm.held.delete(f.id);
          ack(logAction(f.room, { action: f.type, by: conn.user, user: item?.message.user, message_id: f.id }).id);
          if (item && f.type === 'approve') publish(f.room, { ...item.message, seq: rm.recent.length + 1 });
          if (item && f.type === 'deny') item.sender.send({ type: 'denied', room: f.room, id: f.id });
          return;
        }
        case 'settings':
          Object.assign(rm.settings, f.settings);
          ack(logAction(f.room, { action: 'settings', by: conn.user }).id);
          return broadcast(f.room, { type: 'settings', room: f.room, settings: rm.settings });
        case 'slow_mode':
          rm.settings.slow_mode = f.seconds;
          ack(logAction(f.room, { action: 'slow_mode', by: conn.user, seconds: f.seconds }).id);
          broadcast(f.room, { type: 'slow_mode', room: f.room, seconds: f.seconds });
          return broadcast(f.room, { type: 'settings', room: f.room, settings: rm.settings });
        case 'delete':
          rm.recent = rm.recent.filter((x) => x.id !== f.id);
          logAction(f.room, { action: 'delete', by: conn.user, message_id: f.id });
          ack(f.id);
          return broadcast(f.room, { type: 'deleted', room: f.room, id: f.id, by: conn.user });
        case 'shadow_ban': case 'timeout': case 'ban': case 'unban': case 'warn': case 'purge': {
          if (f.type === 'shadow_ban') rm.shadow.add(f.user);
          if (f.type === 'unban') rm.shadow.delete(f.user);
          if (f.type === 'timeout') rm.timeouts.set(f.user, Date.now() + f.seconds * 1000);
          ack(logAction(f.room, { action: f.type, by: conn.user, user: f.user, reason: f.reason ?? null, seconds: f.seconds ?? null }).id);
          if (['ban', 'timeout', 'unban'].includes(f.type)) broadcast(f.room, { type: 'moderation', room: f.room, action: f.type, user: f.user, seconds: f.seconds, reason: f.reason, by: conn.user });
          return;
        }
        case 'pin': {
          const msg = rm.recent.find((x) => x.id === f.id);
          if (!msg) return refuse('bad_request');
          rm.pinned = { message: msg, until: Date.now() + f.seconds * 1000 };
          ack(logAction(f.room, { action: 'pin', by: conn.user, user: msg.user, message_id: f.id }).id);
          return broadcast(f.room, { type: 'pinned', room: f.room, ...rm.pinned });
        }
        case 'unpin':
          rm.pinned = null;
          ack(logAction(f.room, { action: 'unpin', by: conn.user }).id);
          return broadcast(f.room, { type: 'pinned', room: f.room, message: null, until: Date.now() });
        default:
          return refuse('bad_request', { message: `unknown variant \`${f.type}\`` });
      }
    });
  }

  // §8 live stats to the moderators of every room, every second.
  const stats = setInterval(() => {
    for (const [r, rm] of rooms) {
      broadcast(r, { type: 'stats', room: r, viewers: rm.members.size, peak: rm.members.size, unique_viewers: rm.members.size + 3, messages_per_min: rm.recent.length, reactions_per_min: 7 }, (x) => x.mod.length > 0);
    }
  }, 1000);

  await new Promise((ok) => http.listen(0, '127.0.0.1', () => ok(undefined)));
  const { port } = /** @type {any} */ (http.address());
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    apiKey: MOCK_KEY,
    rooms,
    /** A token the mock accepts (unsigned). @param {object} c */
    token: (c) => fakeJwt({ exp: Math.floor(Date.now() / 1000) + 3600, ...c }),
    async stop() {
      clearInterval(stats);
      for (const c of wss.clients) c.terminate();
      await new Promise((ok) => http.close(() => ok(undefined)));
    },
  };
}
