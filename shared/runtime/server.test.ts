import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { request } from 'undici';
import { Problem } from './problem.js';
import { serveFunction } from './server.js';
import { repoRoot } from '../../test/kit.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };

test('health, readiness, call id and streaming bodies', async () => {
  const fn = await serveFunction({
    name: 't',
    log: quiet,
    handler: async (event, ctx) => {
      let n = 0;
      for await (const c of event.body) n += (c as Buffer).length;
      return { json: { bytes: n, callId: ctx.callId, path: event.path, q: event.query.get('q') } };
    },
  });
  try {
    assert.equal((await request(`${fn.url}/_/health`)).statusCode, 200);
    assert.equal((await request(`${fn.url}/_/ready`)).statusCode, 200);
    const res = await request(`${fn.url}/x?q=1`, { method: 'POST', body: Buffer.alloc(300_000), headers: { 'x-call-id': 'abc' } });
    assert.equal(res.headers['x-call-id'], 'abc');
    assert.deepEqual(await res.body.json(), { bytes: 300_000, callId: 'abc', path: '/x', q: '1' });
    const gen = await request(`${fn.url}/`, { method: 'POST', body: 'x' });
    assert.match(String(gen.headers['x-call-id']), /^[0-9a-f-]{36}$/);
    await gen.body.dump();
  } finally {
    await fn.close();
  }
});

test('errors are problem+json without stack traces; body limits give 413', async () => {
  const fn = await serveFunction({
    name: 't',
    log: quiet,
    maxBodyBytes: 1000,
    handler: async (event) => {
      if (event.path === '/problem') throw new Problem(422, 'bad-thing', 'Bad thing', 'line 3 is odd', { line: 3, file: 'a.csv' });
      if (event.path === '/crash') throw new Error('secret internals at /srv/x.js:10');
      for await (const _ of event.body) void _;
      return { body: 'ok' };
    },
  });
  try {
    const p = await request(`${fn.url}/problem`, { method: 'POST', body: 'x' });
    assert.equal(p.statusCode, 422);
    assert.equal(p.headers['content-type'], 'application/problem+json');
    const body = (await p.body.json()) as Record<string, unknown>;
    assert.equal(body.title, 'Bad thing');
    assert.equal(body.line, 3);
    assert.equal(body.file, 'a.csv');
    const c = await request(`${fn.url}/crash`, { method: 'POST', body: 'x' });
    assert.equal(c.statusCode, 500);
    const text = await c.body.text();
    assert.doesNotMatch(text, /secret internals|x\.js/);
    const big = await request(`${fn.url}/`, { method: 'POST', body: Buffer.alloc(5000) });
    assert.equal(big.statusCode, 413);
    await big.body.dump();
    // Chunked (no content-length) past the limit: still 413.
    async function* chunks() {
      for (let i = 0; i < 10; i++) yield Buffer.alloc(500);
    }
    const chunked = await request(`${fn.url}/`, { method: 'POST', body: Readable.from(chunks()) });
    assert.equal(chunked.statusCode, 413);
    await chunked.body.dump();
  } finally {
    await fn.close();
  }
});

test('SIGTERM: readiness and the lock go, new requests are still served for drainSeconds, in-flight ones finish, exit 0', async () => {
  // The child says when a request is in flight and when it starts draining: the test waits for those events.
  const lock = join(mkdtempSync(join(tmpdir(), 'lock-')), '.lock');
  const script = `
    import { serveFunction } from './shared/runtime/server.ts';
    const say = (msg) => console.log(JSON.stringify({ msg }));
    const log = { debug() {}, info(msg) { say(msg); }, warn() {}, error() {}, child() { return this; } };
    let release;
    process.on('SIGUSR2', () => release?.());
    const fn = await serveFunction({ name: 'slow', handleSignals: true, drainSeconds: 1, lockFile: ${JSON.stringify(lock)}, log,
      handler: async (event) => {
        if (event.path !== '/slow') return { body: 'fast' };
        say('in-flight');
        await new Promise((r) => (release = r));
        return { body: 'finished' };
      } });
    console.log(JSON.stringify({ port: fn.port }));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const seen = (what: (l: { msg?: string; port?: number }) => boolean) =>
    new Promise<{ msg?: string; port?: number }>((resolve) => {
      const on = (l: string) => {
        const rec = JSON.parse(l) as { msg?: string; port?: number };
        if (what(rec)) {
          lines.off('line', on);
          resolve(rec);
        }
      };
      lines.on('line', on);
    });
  const { port } = await seen((l) => l.port !== undefined);
  assert.ok(existsSync(lock), 'the lock file is written once the server listens');
  const url = `http://127.0.0.1:${port}`;
  const started = seen((l) => l.msg === 'in-flight');
  const inflight = request(`${url}/slow`, { method: 'POST', body: 'x' });
  await started;
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const draining = seen((l) => l.msg === 'draining');
  child.kill('SIGTERM');
  await draining;
  assert.ok(!existsSync(lock), 'the lock file goes at SIGTERM: the watchdog stops routing');
  const ready = await request(`${url}/_/ready`);
  assert.equal(ready.statusCode, 503);
  await ready.body.dump();
  const late = await request(`${url}/fast`, { method: 'POST', body: 'y' });
  assert.equal(late.statusCode, 200, 'a request that still arrives while draining is served');
  assert.equal(await late.body.text(), 'fast');
  child.kill('SIGUSR2'); // let the in-flight request finish
  const res = await inflight;
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'finished');
  assert.equal(await exited, 0);
});

test('a body shorter than its Content-Length ends with 408 after the idle time, and leaves the in-flight count', async () => {
  const fn = await serveFunction({
    name: 'idle',
    log: quiet,
    bodyIdleSeconds: 0.3,
    handler: async (event) => {
      let n = 0;
      for await (const c of event.body) n += (c as Buffer).length;
      return { json: { n } };
    },
  });
  try {
    const { connect } = await import('node:net');
    const socket = connect(fn.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (b) => (text += b.toString()));
      socket.on('close', () => resolve(text));
    });
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly-part-of-it');
    const text = await answer;
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.match(text, /body-idle/);
    const metrics = await (await request(`${fn.url}/metrics`)).body.text();
    assert.match(metrics, /^minipipeline_requests_in_flight\{fn="idle"\} 0$/m);
  } finally {
    await fn.close();
  }
});

test("Node's process metrics are on /metrics from the first scrape, though registered after the start", async () => {
  const fn = await serveFunction({ name: 'm', log: quiet, handler: async () => ({ json: {} }) });
  try {
    const text = await (await request(`${fn.url}/metrics`)).body.text();
    assert.match(text, /^minipipeline_process_cpu_seconds_total \d/m);
    assert.match(text, /^minipipeline_nodejs_heap_size_used_bytes \d/m);
  } finally {
    await fn.close();
  }
});
