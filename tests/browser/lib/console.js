// Steps on the console page, shared by the tests and the screenshot script.

/** Bounded waits: nothing in a test waits longer than this for one thing. */
export const WAIT_MS = 10_000;

/**
 * Open the console and sign in with the platform's API key.
 * @param {import('playwright-core').Page} page @param {{url: string, apiKey: string}} server @param {string} [name]
 */
export async function signInWithKey(page, server, name = 'staff') {
  await page.goto(`${server.url}/dashboard`);
  await page.getByLabel('the platform\'s API key').check();
  await page.locator('#signin-key').fill(server.apiKey);
  await page.locator('#signin-name').fill(name);
  await page.locator('#signin-submit').click();
  await page.locator('#rooms-view').waitFor({ state: 'visible', timeout: WAIT_MS });
  await page.locator('#conn[data-state=connected]').waitFor({ timeout: WAIT_MS });
}

/**
 * Open the console and sign in with a moderator's JWT.
 * @param {import('playwright-core').Page} page @param {{url: string}} server @param {string} jwt
 */
export async function signInWithJwt(page, server, jwt) {
  await page.goto(`${server.url}/dashboard`);
  await page.locator('#signin-jwt').fill(jwt);
  await page.locator('#signin-submit').click();
  await page.locator('#rooms-view').waitFor({ state: 'visible', timeout: WAIT_MS });
  await page.locator('#conn[data-state=connected]').waitFor({ timeout: WAIT_MS });
}

/** Open a room from the rooms list (or by id) and wait until it is joined. @param {import('playwright-core').Page} page @param {string} room */
export async function openRoom(page, room) {
  const link = page.locator(`#rooms-body tr[data-room="${room}"] a`);
  if (await link.count()) await link.click();
  else {
    await page.locator('#open-room-id').fill(room);
    await page.locator('#open-room button[type=submit]').click();
  }
  await page.locator('#room-status[data-state=joined]').waitFor({ timeout: WAIT_MS });
}

/** The chat row of a message id. @param {import('playwright-core').Page} page @param {string} id */
export function messageRow(page, id) {
  return page.locator(`#chat li[data-id="${id}"]`);
}

/** Wait for a toast whose text matches. @param {import('playwright-core').Page} page @param {RegExp} re */
export async function toast(page, re) {
  const t = page.locator('#toasts .toast').filter({ hasText: re }).first();
  await t.waitFor({ timeout: WAIT_MS });
  return (await t.textContent()) ?? '';
}

/**
 * Routes the console may find missing or refused without it being a problem: it
 * probes the §7 routes (held queue, user card) and reads analytics, which a
 * moderator JWT may not.
 */
export const EXPECTED_REFUSALS = [
  { status: 404, path: /^\/api\/rooms\/[^/]+\/held$/ },
  { status: 404, path: /^\/api\/rooms\/[^/]+\/users\/[^/]+$/ },
  { status: 401, path: /^\/api\/rooms\/[^/]+\/analytics$/ },
];

/**
 * What a page reported that should fail a test: errors, and refused requests
 * other than the expected ones (their "Failed to load resource" console lines
 * are the browser's, not the console's).
 * @param {{problems: string[], failed: Array<{status: number, path: string}>}} w
 */
export function realProblems(w) {
  const unexpected = w.failed.filter((f) => !EXPECTED_REFUSALS.some((e) => e.status === f.status && e.path.test(f.path)));
  const problems = w.problems.filter((p) => !/Failed to load resource/.test(p) || unexpected.length > 0);
  return [...problems, ...unexpected.map((f) => `HTTP ${f.status} ${f.path}`)];
}
