// Test harness: real roomcast processes (and Redis/PostgreSQL for the cluster),
// tokens, REST calls, and bounded waits. Every process started here is killed by
// the test that started it (and, as a last resort, when this process exits).

import { spawn, execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Roomcast } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
export const PKG_DIR = resolve(here, '..');
export const BIN = resolve(PKG_DIR, process.env.ROOMCAST_BIN ?? '../../target/debug/roomcast');
export const SECRET = 'js-client-test-secret-0123456789abcdef';
export const API_KEY = 'js-client-test-api-key';

/** @type {Set<import('node:child_process').ChildProcess>} */
const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {}
  }
});

// ---------------------------------------------------------------------------
// Waiting, always bounded.

/**
 * Resolve with the first `event` from `emitter` whose args satisfy `pred`; reject after `ms`.
 * @param {{on: Function, off: Function}} emitter
 * @param {string} event
 * @param {(...args: any[]) => boolean} [pred]
 * @param {number} [ms]
 * @returns {Promise<any>}
 */
export function waitFor(emitter, event, pred = () => true, ms = 15000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, fn);
      reject(new Error(`timed out after ${ms} ms waiting for "${event}"`));
    }, ms);
    const fn = (/** @type {any[]} */ ...args) => {
      if (!pred(...args)) return;
      clearTimeout(timer);
      emitter.off(event, fn);
      resolve(args[0]);
    };
    emitter.on(event, fn);
  });
}

/** Wait for a client state. */
export function waitState(client, state, ms = 15000) {
  if (client.state === state) return Promise.resolve({ state });
  return waitFor(client, 'state', (e) => e.state === state, ms);
}

/**
 * Poll `fn` until it returns a truthy value (for conditions with no event, e.g. a port
 * answering); reject after `ms`.
 */
export async function waitUntil(fn, ms = 15000, what = 'condition', every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(every);
  }
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Collect every `event` of `emitter` into an array (until `stop()`).
 * `items.until(pred)` resolves with the first item, past or future, that satisfies
 * `pred` — so a test can trigger first and wait after without a race.
 */
export function collect(emitter, event) {
  const items = [];
  /** @type {Set<Function>} */
  const watchers = new Set();
  const fn = (x) => {
    items.push(x);
    for (const w of [...watchers]) w(x);
  };
  emitter.on(event, fn);
  items.stop = () => emitter.off(event, fn);
  items.until = (pred = () => true, ms = 15000) => {
    const found = items.find(pred);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        watchers.delete(w);
        reject(new Error(`timed out after ${ms} ms waiting for a matching "${event}"`));
      }, ms);
      const w = (x) => {
        if (!pred(x)) return;
        clearTimeout(timer);
        watchers.delete(w);
        resolve(x);
      };
      watchers.add(w);
    });
  };
  return items;
}

// ---------------------------------------------------------------------------
// Identity

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/**
 * An HS256 JWT signed with the servers' secret.
 * @param {{sub: string, name?: string, mod?: string[], badges?: string[], ttl?: number, exp?: number, [k: string]: any}} claims
 */
export function mintToken({ ttl = 3600, ...claims }, secret = SECRET) {
  const body = { exp: Math.floor(Date.now() / 1000) + ttl, ...claims };
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify(body));
  const sig = createHmac('sha256', secret).update(`${head}.${payload}`).digest('base64url');
  return `${head}.${payload}.${sig}`;
}

// ---------------------------------------------------------------------------
// Processes

/** A free loopback TCP port (bound and released; the OS does not hand it out again at once). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {any} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix = 'roomcast-js-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * @param {import('node:child_process').ChildProcess} proc
 */
function exited(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((r) => proc.once('exit', r));
}

/**
 * Start a roomcast node and wait until `/readyz` answers 200.
 * @param {{port?: number, dir?: string, databaseUrl?: string, redisUrl?: string, nodeId?: string, env?: Record<string, string>}} [o]
 */
export async function startServer(o = {}) {
  if (!existsSync(BIN)) throw new Error(`roomcast binary not found at ${BIN} (set ROOMCAST_BIN)`);
  const port = o.port ?? (await freePort());
  const dir = o.dir ?? tempDir();
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? dir,
    RUST_LOG: 'warn',
    ROOMCAST__SERVER__HOST: '127.0.0.1',
    ROOMCAST__SERVER__PORT: String(port),
    ROOMCAST__SERVER__DRAIN_S: '1',
    ROOMCAST__DATABASE__URL: o.databaseUrl ?? `sqlite://${dir}/rc.db?mode=rwc`,
    ROOMCAST__AUTH__JWT_SECRET: SECRET,
    ROOMCAST__API__KEY: API_KEY,
    ROOMCAST__NODE__ID: o.nodeId ?? 'js-test',
    ...(o.redisUrl ? { ROOMCAST__REDIS__URL: o.redisUrl } : {}),
    ...o.env,
  };
  const proc = spawn(BIN, [], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let log = '';
  const keep = (d) => {
    log += d;
    if (log.length > 20000) log = log.slice(-20000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  proc.once('exit', () => live.delete(proc));

  const http = `http://127.0.0.1:${port}`;
  const server = {
    port,
    dir,
    http,
    url: `ws://127.0.0.1:${port}/ws`,
    proc,
    nodeId: env.ROOMCAST__NODE__ID,
    get log() {
      return log;
    },
    /** SIGTERM (graceful drain), then SIGKILL if it takes too long. */
    async stop(ms = 15000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGCONT');
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), ms);
      await exited(proc);
      clearTimeout(t);
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited(proc);
    },
    /** SIGSTOP, and wait until the process really is stopped (signals are asynchronous). */
    async pause() {
      proc.kill('SIGSTOP');
      await waitUntil(
        () => {
          try {
            // /proc/<pid>/stat: "pid (comm) STATE ..."; T = stopped.
            return / T /.test(readFileSync(`/proc/${proc.pid}/stat`, 'utf8').replace(/\(.*\)/, ''));
          } catch {
            return true; // no /proc: nothing better to wait on
          }
        },
        5000,
        'the server to stop',
        5,
      );
    },
    resume() {
      proc.kill('SIGCONT');
    },
    exited: () => exited(proc),
  };
  try {
    await waitUntil(
      async () => {
        if (proc.exitCode !== null) throw new Error(`roomcast exited (${proc.exitCode}):\n${log}`);
        try {
          const r = await fetch(`${http}/readyz`, { signal: AbortSignal.timeout(1000) });
          return r.status === 200;
        } catch {
          return false;
        }
      },
      30000,
      `roomcast on port ${port} to be ready`,
    );
  } catch (err) {
    await server.kill();
    throw err;
  }
  return server;
}

/**
 * A REST call to the server API with the API key.
 * @returns {Promise<{status: number, body: any}>}
 */
export async function api(server, method, path, body) {
  const r = await fetch(`${server.http}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${API_KEY}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: r.status, body: parsed };
}

/**
 * Publish system messages through the REST API, in order, within the API's per-room
 * limit (20/s): a 429 waits and retries the same message.
 * @returns {Promise<string[]>} the ids
 */
export async function postMessages(server, room, texts) {
  const ids = [];
  for (const text of texts) {
    for (let tries = 0; ; tries++) {
      const r = await api(server, 'POST', `/api/rooms/${room}/messages`, { user: 'bot', name: 'Shop', text });
      if (r.status === 201) {
        ids.push(r.body.id);
        break;
      }
      if (r.status !== 429 || tries > 50) throw new Error(`POST message: ${r.status} ${JSON.stringify(r.body)}`);
      await delay(100);
    }
    await delay(55); // stay under 20/s
  }
  return ids;
}

// ---------------------------------------------------------------------------
// Redis and PostgreSQL for the cluster test

export function hasCommand(cmd) {
  return new Promise((resolve) => {
    execFile('sh', ['-c', `command -v ${cmd}`], (err) => resolve(!err));
  });
}

export async function startRedis() {
  const port = await freePort();
  const dir = tempDir('roomcast-js-redis-');
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  await waitUntil(() => {
    if (proc.exitCode !== null) throw new Error(`redis-server exited: ${out}`);
    return /Ready to accept connections/i.test(out);
  }, 15000, 'redis-server');
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function psql(sql) {
  return new Promise((resolve, reject) => {
    execFile(
      'psql',
      ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-Atc', sql],
      { timeout: 30000 },
      (err, stdout, stderr) => (err ? reject(new Error(`psql: ${stderr || err.message}`)) : resolve(stdout)),
    );
  });
}

/** A fresh PostgreSQL database for one test run. */
export async function createDatabase() {
  const name = `roomcast_js_${Date.now()}_${randomBytes(3).toString('hex')}`;
  await psql(`CREATE DATABASE ${name}`);
  return {
    name,
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {}),
  };
}

// ---------------------------------------------------------------------------
// Clients

/**
 * A client with test-friendly delays. Closed by `closeAll()`.
 * @param {ConstructorParameters<typeof Roomcast>[0]} options
 */
export function client(options) {
  return new Roomcast({
    WebSocket,
    minReconnectDelay: 100,
    maxReconnectDelay: 1000,
    ...options,
  });
}

/**
 * A connected client for `sub` (or anonymous when `sub` is null), joined to `rooms`.
 */
export async function connected(server, sub, { rooms = [], claims = {}, ...options } = {}) {
  const token = sub === null ? null : mintToken({ sub, ...claims });
  const c = client({ url: server.url, getToken: () => token, ...options });
  c.connect();
  await c.ready(15000);
  const joined = [];
  for (const r of rooms) joined.push(await c.room(r).join());
  return c;
}

/**
 * Two roomcast nodes sharing a fresh PostgreSQL database and a private Redis.
 * Everything is torn down by `t.after`. Skips the test when redis-server or psql
 * is missing on this machine (CI installs both).
 * @param {import('node:test').TestContext} t
 */
export async function startCluster(t) {
  for (const cmd of ['redis-server', 'psql']) {
    if (!(await hasCommand(cmd))) {
      t.skip(`${cmd} is not installed`);
      return null;
    }
  }
  const redis = await startRedis();
  t.after(() => redis.stop());
  const db = await createDatabase();
  t.after(() => db.drop());
  const common = { databaseUrl: db.url, redisUrl: redis.url };
  // One at a time: both would run the migrations on the empty database at once.
  const a = await startServer({ ...common, nodeId: 'node-a' });
  t.after(() => a.kill());
  const b = await startServer({ ...common, nodeId: 'node-b' });
  t.after(() => b.kill());
  return { a, b, redis, db };
}

/**
 * A roomcast node for one test, killed when the test ends.
 * @param {import('node:test').TestContext} t
 * @param {Parameters<typeof startServer>[0]} [o]
 */
export async function serverFor(t, o) {
  const s = await startServer(o);
  t.after(() => s.kill());
  return s;
}
