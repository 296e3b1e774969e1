/**
 * The bundler's shims for minio (dev/bundle-shims/, dev/build.ts MINIO_SHIMS) must give minio
 * everything it uses of lodash and mime-types, and the functions' bundles must use them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import lodashForMinio from '../dev/bundle-shims/lodash-for-minio.mjs';
import * as mimeForMinio from '../dev/bundle-shims/mime-types-for-minio.cjs';
import { execFileSync } from 'node:child_process';
import * as https from 'node:https';
import { bundleEntry } from '../dev/build.js';
import { repoRoot } from './kit.js';

const minioDir = join(repoRoot, 'node_modules/minio/dist/esm');
const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : n.endsWith('.mjs') ? [join(dir, n)] : []));

/** Names minio's code uses off an imported namespace (`_.isEmpty(`, `mime.lookup(`). */
function usedOff(binding: string, module: string): Set<string> {
  const used = new Set<string>();
  for (const file of files(minioDir)) {
    const text = readFileSync(file, 'utf8');
    if (!new RegExp(`from ['"]${module}['"]`).test(text)) continue;
    for (const m of text.matchAll(new RegExp(`\\b${binding}\\.([A-Za-z_$][\\w$]*)`, 'g'))) used.add(m[1]);
  }
  return used;
}

test("the lodash shim has every lodash function minio calls, and each is lodash's own", async () => {
  const used = usedOff('_', 'lodash');
  assert.ok(used.size > 0, 'minio still imports lodash as _ (otherwise the shim is no longer needed)');
  for (const name of used) {
    assert.equal(typeof lodashForMinio[name], 'function', `minio uses _.${name}`);
    const own = (await import(`lodash/${name}.js`)).default;
    assert.equal(lodashForMinio[name], own);
  }
  assert.deepEqual(lodashForMinio.pickBy({ a: 1, b: undefined }, (v: unknown) => v !== undefined), { a: 1 });
});

test('the mime-types shim answers what mime-types answers, loading it on first use', async () => {
  const used = usedOff('mime', 'mime-types');
  for (const name of used) assert.equal(typeof (mimeForMinio as unknown as Record<string, unknown>)[name], 'function', `minio uses mime.${name}`);
  // @ts-expect-error: mime-types ships no types (minio's dependency, not the project's).
  const real = (await import('mime-types')).default as { lookup(p: string): string | false };
  for (const p of ['a.csv', 'b.json', 'c.unknown-ext', 'noext']) assert.equal(mimeForMinio.lookup(p), real.lookup(p));
});

test('the https shim has what minio takes of https (a transport: request; globalAgent), node:https itself, loaded on first use', () => {
  const shim = join(repoRoot, 'dev/bundle-shims/https-for-minio.cjs');
  const used = new Set([...usedOff('https', 'https'), 'request']);
  assert.ok(used.has('globalAgent'), 'minio still takes https.globalAgent');
  // In a fresh process: nothing of https or tls is loaded until a name is read, and then it is https's own.
  const out = execFileSync(process.execPath, ['-e', `
    const loaded = () => process.moduleLoadList.some((m) => m === 'NativeModule https' || m === 'NativeModule tls');
    const shim = require(${JSON.stringify(shim)});
    const before = loaded();
    const same = ${JSON.stringify([...used])}.every((n) => shim[n] === require('node:https')[n]);
    console.log(JSON.stringify({ before, after: loaded(), same }));`], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { before: false, after: true, same: true });
  assert.equal(typeof https.request, 'function');
});

test("a function's bundle carries lodash's per-function modules, not its monolith, and mime-types lazily", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shims-'));
  try {
    const out = join(dir, 'webhook.cjs');
    const { metafile } = await bundleEntry(join(repoRoot, 'functions/webhook/index.ts'), out);
    const inputs = Object.keys(metafile.inputs).map((p) => relative(repoRoot, join(process.cwd(), p)));
    assert.ok(inputs.some((p) => p.startsWith('node_modules/minio/')), 'minio is bundled');
    assert.ok(!inputs.includes('node_modules/lodash/lodash.js'), 'the lodash monolith is not bundled');
    assert.ok(inputs.includes('node_modules/lodash/isEmpty.js'));
    assert.ok(inputs.includes('dev/bundle-shims/mime-types-for-minio.cjs'));
    assert.ok(inputs.includes('dev/bundle-shims/https-for-minio.cjs'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
