/**
 * The bundler's shims for minio (dev/bundle-shims/, dev/build.ts MINIO_SHIMS) must give minio
 * everything it uses of lodash and mime-types, and the functions' bundles must use them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import lodashForMinio from '../dev/bundle-shims/lodash-for-minio.cjs';
import * as mimeForMinio from '../dev/bundle-shims/mime-types-for-minio.cjs';
import * as xml2jsForMinio from '../dev/bundle-shims/xml2js-for-minio.cjs';
import BlockStream2ForMinio from '../dev/bundle-shims/block-stream2-for-minio.cjs';
import * as asyncForMinio from '../dev/bundle-shims/async-for-minio.cjs';
import * as queryStringForMinio from '../dev/bundle-shims/query-string-for-minio.cjs';
import { createRequire } from 'node:module';
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

const requireHere = createRequire(import.meta.url);

/** In a fresh process: requiring the shim loads nothing of `pkg` until `use` runs (a JS expression on `shim`). */
function loadsOnFirstUse(shimFile: string, pkg: string, use: string): { before: boolean; after: boolean } {
  const out = execFileSync(process.execPath, ['-e', `
    const loaded = () => Object.keys(require.cache).some((f) => f.includes('/node_modules/${pkg}/'));
    const shim = require(${JSON.stringify(join(repoRoot, shimFile))});
    const before = loaded();
    ${use};
    console.log(JSON.stringify({ before, after: loaded() }));`], { encoding: 'utf8', cwd: repoRoot });
  return JSON.parse(out) as { before: boolean; after: boolean };
}

test('the xml2js shim builds what xml2js builds, loading it on first use', () => {
  assert.deepEqual([...usedOff('xml2js', 'xml2js')], ['Builder']);
  const opts = { renderOpts: { pretty: false }, headless: true };
  const doc = { Delete: { Quiet: true, Object: [{ Key: 'a&b.csv' }, { Key: 'c.csv', VersionId: '1' }] } };
  const Real = (requireHere('xml2js') as { Builder: new (o?: object) => { buildObject(x: unknown): string } }).Builder;
  assert.equal(new xml2jsForMinio.Builder(opts).buildObject(doc), new Real(opts).buildObject(doc));
  assert.equal(new xml2jsForMinio.Builder().buildObject(doc), new Real().buildObject(doc));
  assert.deepEqual(loadsOnFirstUse('dev/bundle-shims/xml2js-for-minio.cjs', 'xml2js', "new shim.Builder({ headless: true }).buildObject({ a: 1 })"), { before: false, after: true });
});

test("the block-stream2 shim makes block-stream2's own stream, loading it on first use", async () => {
  assert.ok(readFileSync(join(minioDir, 'internal/client.mjs'), 'utf8').includes("import BlockStream2 from 'block-stream2'"));
  const chunker = new BlockStream2ForMinio({ size: 4, zeroPadding: false });
  assert.ok(chunker instanceof (requireHere('block-stream2') as new (o: object) => object));
  const chunks: Buffer[] = [];
  chunker.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((r) => {
    chunker.on('end', r);
    chunker.end(Buffer.from('abcdefghij'));
  });
  assert.deepEqual(chunks.map(String), ['abcd', 'efgh', 'ij']);
  assert.deepEqual(loadsOnFirstUse('dev/bundle-shims/block-stream2-for-minio.cjs', 'block-stream2', 'new shim({ size: 4 })'), { before: false, after: true });
});

test('the async and query-string shims have every name minio calls, each the library\'s own, loaded on first use', async () => {
  // (`async.mjs` is minio's own file, not a name off the library.)
  for (const name of [...usedOff('async', 'async')].filter((n) => n !== 'mjs')) assert.equal(typeof (asyncForMinio as Record<string, unknown>)[name], 'function', `minio uses async.${name}`);
  const seen: number[] = [];
  await new Promise<void>((resolve, reject) => asyncForMinio.eachSeries([1, 2, 3], (x: number, cb: (e?: Error) => void) => (seen.push(x), cb()), (err?: Error) => (err ? reject(err) : resolve())));
  assert.deepEqual(seen, [1, 2, 3]);
  const used = new Set([...usedOff('qs', 'query-string'), ...usedOff('querystring', 'query-string')]);
  assert.ok(used.size > 0, 'minio still imports query-string');
  for (const name of used) assert.equal(typeof (queryStringForMinio as Record<string, unknown>)[name], 'function', `minio uses query-string's ${name}`);
  const real = requireHere('query-string') as { stringify(o: object): string };
  assert.equal(queryStringForMinio.stringify({ b: 'x y', a: 'é&' }), real.stringify({ b: 'x y', a: 'é&' }));
  assert.deepEqual(loadsOnFirstUse('dev/bundle-shims/async-for-minio.cjs', 'async', 'shim.eachSeries([], (x, cb) => cb(), () => {})'), { before: false, after: true });
  assert.deepEqual(loadsOnFirstUse('dev/bundle-shims/query-string-for-minio.cjs', 'query-string', 'shim.stringify({ a: 1 })'), { before: false, after: true });
});

test("a function's bundle carries lodash's per-function modules, not its monolith, and mime-types lazily", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shims-'));
  try {
    const out = join(dir, 'webhook.cjs');
    const { metafile } = await bundleEntry(join(repoRoot, 'functions/webhook/index.ts'), out);
    // From node_modules/ on (a worktree's node_modules may be a link to another checkout's).
    const inputs = Object.keys(metafile.inputs).map((p) => relative(repoRoot, join(process.cwd(), p)).replace(/^.*?(?=node_modules\/)/, ''));
    assert.ok(inputs.some((p) => p.startsWith('node_modules/minio/')), 'minio is bundled');
    assert.ok(!inputs.includes('node_modules/lodash/lodash.js'), 'the lodash monolith is not bundled');
    assert.ok(inputs.includes('node_modules/lodash/isEmpty.js'));
    assert.ok(inputs.includes('dev/bundle-shims/mime-types-for-minio.cjs'));
    assert.ok(inputs.includes('dev/bundle-shims/https-for-minio.cjs'));
    for (const shim of ['xml2js', 'block-stream2', 'async', 'query-string']) assert.ok(inputs.includes(`dev/bundle-shims/${shim}-for-minio.cjs`), shim);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
