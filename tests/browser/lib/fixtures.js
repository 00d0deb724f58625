// A tiny static server for the test viewer page (fixtures/) and the project's
// client (clients/js/src/ at /client/), on its own port: a second, independent
// origin that connects to roomcast's /ws like a platform's page would.

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, normalize, resolve } from 'node:path';
import { ROOT } from './server.js';

const FIXTURES = resolve(ROOT, 'fixtures');
const CLIENT = resolve(ROOT, '../../clients/js/src');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

export async function startFixtures() {
  const srv = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [base, rel] = path.startsWith('/client/') ? [CLIENT, path.slice(8)] : [FIXTURES, path.slice(1)];
    const file = normalize(join(base, rel));
    if (!file.startsWith(base)) return void res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => srv.listen(0, '127.0.0.1', () => ok(undefined)));
  const { port } = /** @type {any} */ (srv.address());
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => srv.close(() => ok(undefined))) };
}
