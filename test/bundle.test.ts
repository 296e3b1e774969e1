/**
 * The bundled function files (what the image runs) start from a clean process without the dev
 * stack, answer /_/ready, serve a request and drain on SIGTERM. Start-to-ready times are
 * reported as diagnostics (measured, not asserted).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { bundle, SIDE_BUNDLES } from '../dev/build.js';
import { startEmbeddedS3, type EmbeddedS3 } from '../dev/embedded-s3.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../shared/storage/config.js';
import { fixturePath } from './kit.js';
import { waitFor } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mini-pipeline-bundle-'));
const env: Record<string, string> = { PATH: process.env.PATH ?? '', WEBHOOK_TOKEN: 'bundle-webhook-token-0123', INTERNAL_TOKEN: 'bundle-internal-token-0123', DRAIN_SECONDS: '0', PORT: '0', SECRETS_DIR: join(dir, 'none'), LOG_LEVEL: 'warn' };

async function startBundle(file: string, extraEnv: Record<string, string> = {}): Promise<{ port: number; readyMs: number; stop: () => Promise<number | null> }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [file], { env: { ...env, ...extraEnv, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"msg":"ready","port":(\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
  // Ready means /_/ready answers 200.
  for (;;) {
    const res = await request(`http://127.0.0.1:${port}/_/ready`).catch(() => undefined);
    if (res) {
      await res.body.dump();
      if (res.statusCode === 200) break;
    }
  }
  const readyMs = performance.now() - t0;
  child.stdout!.resume();
  return {
    port,
    readyMs,
    stop: () =>
      new Promise((r) => {
        child.once('exit', (code) => r(code));
        child.kill('SIGTERM');
      }),
  };
}

/** This process's live esbuild children (Linux /proc; zombies not counted): tsx runs its own. */
function esbuildChildren(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [, comm, state, ppid] = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat) ?? [];
      if (comm === 'esbuild' && state !== 'Z' && Number(ppid) === process.pid) out.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return out.sort();
}
const esbuildAtLoad = esbuildChildren();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('bundled functions', () => {
  const files: Record<string, { file: string; bytes: number }> = {};
  let s3: EmbeddedS3;
  before(async () => {
    for (const n of ['webhook', 'transform', 'publish']) files[n] = await bundle(n, dir);
    // A function is ready only once its object store answers and its buckets exist.
    s3 = await startEmbeddedS3({ directory: join(dir, 's3'), accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
    env.S3_ENDPOINT = s3.url;
  });
  after(async () => {
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("bundling leaves no esbuild service behind (the local stack's bundles do not hold one for its life)", async () => {
    await bundle('webhook', join(dir, 'again'));
    // esbuild's stop() kills its child without waiting for it to exit: give a loaded machine a moment.
    for (let waited = 0; waited < 5000 && esbuildChildren().join() !== esbuildAtLoad.join(); waited += 50) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(esbuildChildren(), esbuildAtLoad);
  });

  test('not ready while the object store cannot be reached, with the reason; ready once it can', async () => {
    const child = spawn(process.execPath, [files.publish.file], { env: { ...env, S3_ENDPOINT: 'http://127.0.0.1:9', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const { port, reason } = await new Promise<{ port: number; reason: string }>((resolve) => {
        let buf = '';
        let port = 0;
        child.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          port ||= Number(/"msg":"listening","port":(\d+)/.exec(buf)?.[1] ?? 0);
          const why = /"msg":"not ready","reason":"([^"]+)"/.exec(buf)?.[1];
          if (port && why) resolve({ port, reason: why });
        });
      });
      assert.match(reason, /cannot be reached .*S3_ENDPOINT/);
      const res = await request(`http://127.0.0.1:${port}/_/ready`);
      assert.equal(res.statusCode, 503);
      assert.match(await res.body.text(), /not ready: the object store cannot be reached/);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  test('webhook bundle: ready, refuses a request without the token, exits 0 on SIGTERM', async (t) => {
    const f = await startBundle(files.webhook.file);
    const res = await request(`http://127.0.0.1:${f.port}/`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    await res.body.dump();
    assert.equal(await f.stop(), 0);
    t.diagnostic(`webhook bundle ${(files.webhook.bytes / 1024).toFixed(0)} KiB`);
  });

  test('transform bundle cleans an ad-hoc CSV', async () => {
    const f = await startBundle(files.transform.file);
    const res = await request(`http://127.0.0.1:${f.port}/`, { method: 'POST', body: 'a;b\n1;2,5\n', headers: { accept: 'application/json' } });
    assert.equal(res.statusCode, 200);
    const doc = (await res.body.json()) as { rows: unknown[] };
    assert.deepEqual(doc.rows, [{ a: 1, b: 2.5 }]);
    assert.equal(await f.stop(), 0);
  });

  test('publish bundle refuses a body without the chain credential, and one that is not a dataset', async () => {
    const f = await startBundle(files.publish.file);
    const anonymous = await request(`http://127.0.0.1:${f.port}/`, { method: 'POST', body: 'not json\n', headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(anonymous.statusCode, 401);
    await anonymous.body.dump();
    const res = await request(`http://127.0.0.1:${f.port}/`, { method: 'POST', body: 'not json\n', headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${env.INTERNAL_TOKEN}` } });
    assert.equal(res.statusCode, 400);
    assert.match(await res.body.text(), /invalid-dataset/);
    assert.equal(await f.stop(), 0);
  });

  test('the libraries loaded on first use are side bundles beside each function, and load from there', () => {
    for (const n of ['webhook', 'transform', 'publish']) {
      const out = join(dir, n);
      const source = readFileSync(join(out, 'function.cjs'), 'latin1');
      for (const side of [SIDE_BUNDLES.undici, SIDE_BUNDLES['mime-types']]) assert.ok(source.includes(`require("./${side}")`), `${n} asks for ./${side}`);
      assert.ok(!/[^\x00-\x7f]/.test(source), `${n}: the bundle is ASCII (the code cache reads it as latin1)`);
      // minio's mime lookup (only fPutObject uses it), from the side bundle beside the function.
      const lookup = execFileSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(join(out, SIDE_BUNDLES['mime-types']))}).lookup('a.csv'))`], { encoding: 'utf8' }).trim();
      assert.equal(lookup, 'text/csv', n);
    }
  });

  test("webhook bundle hands a notification on to transform through undici, its side bundle, loaded on first use", async () => {
    const calls: { auth?: string; run?: string | string[]; body: string }[] = [];
    const fakeTransform = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        calls.push({ auth: req.headers.authorization, run: req.headers['x-run-id'], body });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'published' }));
      });
    });
    await new Promise<void>((r) => fakeTransform.listen(0, '127.0.0.1', r));
    const f = await startBundle(files.webhook.file, { TRANSFORM_URL: `http://127.0.0.1:${(fakeTransform.address() as AddressInfo).port}/`, RECONCILE_SECONDS: '3600' });
    try {
      const event = readFileSync(join(fixturePath('minio-events'), 'put-simple.json'), 'utf8');
      const res = await request(`http://127.0.0.1:${f.port}/`, { method: 'POST', body: event, headers: { 'content-type': 'application/json', authorization: `Bearer ${env.WEBHOOK_TOKEN}` } });
      const answer = (await res.body.json()) as { results: { status: string }[] };
      assert.equal(res.statusCode, 202, JSON.stringify(answer));
      assert.equal(answer.results[0].status, 'running', 'answered once its hand-off claim is written');
      await waitFor('the call to transform', async () => (calls.length ? true : undefined));
      assert.equal(calls.length, 1);
      assert.equal(calls[0].auth, `Bearer ${env.INTERNAL_TOKEN}`);
      assert.match(String(calls[0].run), /^[0-9a-f-]{36}$/, 'the hand-off claim\'s run id');
      assert.equal(JSON.parse(calls[0].body).bucket, 'incoming');
    } finally {
      assert.equal(await f.stop(), 0);
      fakeTransform.close();
    }
  });

  test('start-to-ready, median of 10 starts per function (reported)', async (t) => {
    for (const n of ['webhook', 'transform', 'publish']) {
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const f = await startBundle(files[n].file);
        times.push(f.readyMs);
        assert.equal(await f.stop(), 0);
      }
      assert.equal(times.length, 10);
      t.diagnostic(`${n}: ${(files[n].bytes / 1024).toFixed(0)} KiB, start-to-ready median ${median(times).toFixed(0)} ms (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})`);
    }
  });
});
