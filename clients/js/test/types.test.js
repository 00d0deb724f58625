// The package as a consumer sees it: index.d.ts compiles and describes the API
// (test/types/usage.ts, strict, no DOM or Node types), the JSDoc of src/ type-checks
// against browser globals only, and src/ imports nothing but its own files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PKG_DIR } from './helpers.js';

const tsc = join(PKG_DIR, 'node_modules', 'typescript', 'bin', 'tsc');

function runTsc(project) {
  return new Promise((resolve) => {
    execFile(process.execPath, [tsc, '-p', project], { cwd: PKG_DIR, timeout: 120000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

test('index.d.ts type-checks a usage of the whole API', { skip: !existsSync(tsc) && 'typescript is not installed' }, async () => {
  const r = await runTsc('test/types/tsconfig.json');
  assert.equal(r.code, 0, r.out);
});

test('src/ type-checks (JSDoc, strict) with browser globals only', { skip: !existsSync(tsc) && 'typescript is not installed' }, async () => {
  const r = await runTsc('test/types/tsconfig.src.json');
  assert.equal(r.code, 0, r.out);
});

test('src/ is browser-safe: only relative imports, no console output', () => {
  for (const file of readdirSync(join(PKG_DIR, 'src'))) {
    const text = readFileSync(join(PKG_DIR, 'src', file), 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/gm)) {
      assert.ok(m[1].startsWith('./'), `${file} imports ${m[1]}`);
    }
    assert.ok(!/\bconsole\./.test(text.replace(/^\s*\*.*$/gm, '')), `${file} writes to the console`);
    assert.ok(!/\b(require|process|Buffer)\b/.test(text.replace(/^\s*(\*|\/\/).*$/gm, '')), `${file} uses a Node global`);
  }
});

test('package.json: ESM, exports, types, engines, no runtime dependencies', () => {
  const pkg = JSON.parse(readFileSync(join(PKG_DIR, 'package.json'), 'utf8'));
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.exports['.'].import, './src/index.js');
  assert.equal(pkg.exports['.'].types, './index.d.ts');
  assert.equal(pkg.types, './index.d.ts');
  assert.equal(pkg.engines.node, '>=20');
  assert.equal(pkg.dependencies, undefined);
});
