// Debian's Chromium, headless, driven by playwright-core (which never downloads
// a browser). The flags keep it off the network (this machine has none beyond
// loopback) and quiet. Each launch gets a fresh, throwaway profile.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

export const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A browser with a fresh user-data dir: a persistent context on a new temp dir
 * (removed on close), so several pages can share it, plus `newContext()` for a
 * second, separate browser context (another user) in its own fresh profile.
 */
export async function launch() {
  /** @type {Array<{ctx: import('playwright-core').BrowserContext, dir: string}>} */
  const opened = [];
  /** @param {{viewport?: {width: number, height: number}, isMobile?: boolean, hasTouch?: boolean, deviceScaleFactor?: number}} [opts] */
  const newContext = async (opts = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'rc-chromium-'));
    const ctx = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: opts.viewport ?? { width: 1280, height: 800 },
      isMobile: opts.isMobile,
      hasTouch: opts.hasTouch,
      deviceScaleFactor: opts.deviceScaleFactor,
    });
    opened.push({ ctx, dir });
    return ctx;
  };
  return {
    newContext,
    async close() {
      for (const { ctx, dir } of opened.splice(0)) {
        await ctx.close().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Record what a page reports that a test should fail on: uncaught errors,
 * console errors (CSP violations are reported there), HTTP answers ≥ 400 and
 * dialogs (which are dismissed).
 * @param {import('playwright-core').Page} page
 */
export function watch(page) {
  const problems = /** @type {string[]} */ ([]);
  const dialogs = /** @type {string[]} */ ([]);
  const failed = /** @type {Array<{status: number, path: string}>} */ ([]);
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push({ status: r.status(), path: new URL(r.url()).pathname });
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  return { problems, dialogs, failed };
}
