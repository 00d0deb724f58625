// Start a real roomcast server for a test: a free port on 127.0.0.1, SQLite in a
// fresh temp dir (also its cwd), a known JWT secret and API key, analytics every
// second. Waits for /readyz; `stop()` ends it (SIGTERM, then SIGKILL).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** tests/browser/ */
export const ROOT = resolve(here, '..');
/** The server binary: $ROOMCAST_BIN, or the workspace's debug build. */
export const BIN = process.env.ROOMCAST_BIN ?? resolve(ROOT, '../../target/debug/roomcast');

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {any} */ (srv.address());
      srv.close(() => ok(port));
    });
  });
}

/**
 * @param {{env?: Record<string, string>, readyTimeoutMs?: number}} [opts]
 * @returns {Promise<{dir: string, url: string, wsUrl: string, port: number, secret: string, apiKey: string, stop: () => Promise<void>, log: () => string}>}
 */
export async function startServer(opts = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'rc-browser-'));
  const port = await freePort();
  const secret = 'browser-test-secret-0123456789abcdef';
  const apiKey = 'browser-test-key';
  let output = '';
  const child = spawn(BIN, [], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      ROOMCAST__SERVER__HOST: '127.0.0.1',
      ROOMCAST__SERVER__PORT: String(port),
      ROOMCAST__DATABASE__URL: `sqlite://${dir}/rc.db?mode=rwc`,
      ROOMCAST__AUTH__JWT_SECRET: secret,
      ROOMCAST__API__KEY: apiKey,
      ROOMCAST__ANALYTICS__PERIOD_MS: '1000',
      RUST_LOG: 'warn',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (/** @type {Buffer} */ d) => {
    output = (output + d.toString()).slice(-20000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((ok) => child.once('exit', ok));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`roomcast exited (${child.exitCode}) before ready:\n${output}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`roomcast not ready within the time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    dir,
    url,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    port,
    secret,
    apiKey,
    log: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
