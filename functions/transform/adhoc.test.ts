/**
 * Ad-hoc transform behind the local half-duplex gateway (dev/gateway.ts: once the answer starts,
 * at most 256 KiB more of the body get through). The body is transformed as it arrives and the
 * answer is held in a temporary file until the body has been read whole: every row comes back,
 * and the answer's file is removed on every path (success, a failed file, a client gone).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { request as undiciRequest } from 'undici';
import { startGateway, type Gateway } from '../../dev/gateway.js';
import { serveFunction, type RunningFunction } from '../../shared/runtime/server.js';
import { SPOOL_FILE_PREFIX } from '../../shared/runtime/spool.js';
import { create, csvTable, quietLog, recorder, slowly } from '../../test/unit-helpers.js';
import { transform } from './handler.js';

const INTERNAL = 'unit-internal-token-0123456';
/** The spool's own temporary directory (os.tmpdir() reads TMPDIR at each call): only this file's spools land there. */
const spoolDir = mkdtempSync(join(tmpdir(), 'adhoc-test-'));
const spoolFiles = () => readdirSync(spoolDir).filter((f) => f.startsWith(SPOOL_FILE_PREFIX));

/** Each call on a connection of its own (closed after it): a kept-alive one may be closed by the server just as it is reused. */
const request: typeof undiciRequest = ((url: string, opts: object) => undiciRequest(url, { ...opts, reset: true })) as typeof undiciRequest;

async function noSpoolFilesLeft(): Promise<void> {
  for (let i = 0; i < 100 && spoolFiles().length; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(spoolFiles(), []);
}

describe('ad-hoc transform through the half-duplex gateway', () => {
  let fn: RunningFunction;
  let gw: Gateway;
  let publish: Awaited<ReturnType<typeof recorder>>;
  let shutdown: (() => Promise<void> | void) | undefined;
  const url = (query = '') => `${gw.url}/function/transform${query}`;
  before(async () => {
    process.env.TMPDIR = spoolDir;
    publish = await recorder(() => ({ status: 200, json: { status: 'published' } }));
    const env = { S3_ENDPOINT: 'http://127.0.0.1:1', LOG_LEVEL: 'error', INTERNAL_TOKEN: INTERNAL, PUBLISH_URL: publish.url, CSV_MAX_RECORD_BYTES: '1024', CSV_MAX_FIELD_BYTES: '1024', ADHOC_SPOOL_MAX_BYTES: String(64 * 1024 * 1024) };
    const handler = create(transform, env);
    shutdown = handler.shutdown;
    fn = await serveFunction({ name: 'transform', log: quietLog, handler: handler.handle, maxBodyBytes: Infinity });
    gw = await startGateway({ routes: [{ name: 'transform', port: fn.port }] });
  });
  after(async () => {
    await gw.close();
    await fn.close();
    await publish.close();
    await shutdown?.();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  test('30,000 rows sent slowly in chunks, NDJSON: every row comes back, in order, and the answer file is removed', async () => {
    const res = await request(url(), { method: 'POST', body: slowly(csvTable(30_000), 400), headers: { accept: 'application/x-ndjson' } });
    assert.equal(res.statusCode, 200);
    const lines = (await res.body.text()).trimEnd().split('\n');
    const rows = lines.filter((l) => l.startsWith('['));
    assert.equal(rows.length, 30_000);
    assert.ok(rows.every((r, i) => JSON.parse(r)[0] === i), 'rows 0…29,999 in order');
    assert.equal(JSON.parse(lines.at(-1)!).stats.rowsOut, 30_000);
    await noSpoolFilesLeft();
  });

  test('without Accept or Content-Length (a chunked body), a small file is one JSON document and a large one NDJSON', async () => {
    const small = await request(url(), { method: 'POST', body: slowly(csvTable(100), 10) });
    assert.match(String(small.headers['content-type']), /^application\/json/);
    assert.equal(((await small.body.json()) as { rows: unknown[] }).rows.length, 100);
    const large = await request(url(), { method: 'POST', body: slowly(csvTable(400_000), 100) });
    assert.match(String(large.headers['content-type']), /ndjson/);
    const lines = (await large.body.text()).trimEnd().split('\n');
    assert.equal(JSON.parse(lines.at(-1)!).stats.rowsOut, 400_000);
    await noSpoolFilesLeft();
  });

  test('a file that fails mid-way: NDJSON ends with its problem in the trailer, CSV is the problem; no file is left', async () => {
    const body = csvTable(30_000, 20_000);
    const nd = await request(url(), { method: 'POST', body: slowly(body, 200), headers: { accept: 'application/x-ndjson' } });
    assert.equal(nd.statusCode, 200);
    const lines = (await nd.body.text()).trimEnd().split('\n');
    const trailer = JSON.parse(lines.at(-1)!);
    assert.equal(trailer.type, 'trailer');
    assert.equal(trailer.error.status, 422);
    assert.ok(lines.filter((l) => l.startsWith('[')).length >= 19_000, 'the rows before the problem');
    const csv = await request(url(), { method: 'POST', body: slowly(body, 200), headers: { accept: 'text/csv' } });
    assert.equal(csv.statusCode, 422);
    assert.equal(csv.headers['content-type'], 'application/problem+json');
    await csv.body.text();
    await noSpoolFilesLeft();
  });

  test('an answer past its spool limit (4× ADHOC_SPOOL_MAX_BYTES) is a 413 problem; a body past the limit too', async () => {
    // 2,000 one-letter columns: each costs a few bytes of CSV and ~100 of the NDJSON header.
    const names = Array.from({ length: 2000 }, (_, i) => `c${i}`);
    const wide = [names.join(','), names.map(() => '1').join(',')].join('\n') + '\n';
    const small = create(transform, { S3_ENDPOINT: 'http://127.0.0.1:1', LOG_LEVEL: 'error', INTERNAL_TOKEN: INTERNAL, ADHOC_SPOOL_MAX_BYTES: String(48 * 1024) });
    const f = await serveFunction({ name: 'transform', log: quietLog, handler: small.handle, maxBodyBytes: Infinity });
    const g = await startGateway({ routes: [{ name: 'transform', port: f.port }] });
    try {
      const res = await request(`${g.url}/function/transform`, { method: 'POST', body: slowly(wide.repeat(1), 4), headers: { accept: 'application/x-ndjson' } });
      assert.equal(res.statusCode, 413);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      const problem = (await res.body.json()) as { type: string; detail: string };
      assert.equal(problem.type.split('/').pop(), 'body-too-large');
      assert.match(problem.detail, new RegExp(`${4 * 48 * 1024} bytes`), 'the answer\'s limit, not the body\'s');
      const big = await request(`${g.url}/function/transform`, { method: 'POST', body: slowly(csvTable(10_000), 50), headers: { accept: 'application/x-ndjson' } });
      assert.equal(big.statusCode, 413);
      await big.body.text();
      await noSpoolFilesLeft();
    } finally {
      await g.close();
      await f.close();
      await small.shutdown?.();
    }
  });

  test('a client gone mid-upload, or mid-answer: no file is left', async () => {
    // Mid-upload: half the body, then the connection is closed; once while the answer is being
    // spooled, once when it is whole (the file failed at line 5,002) and waits for the body's end.
    for (const body of [Buffer.from(csvTable(60_000)), Buffer.from(csvTable(60_000, 5_000))]) {
      const req = httpRequest(url(), { method: 'POST', headers: { accept: 'application/x-ndjson', 'transfer-encoding': 'chunked' } });
      req.on('error', () => {});
      req.write(body.subarray(0, body.length / 2));
      for (let i = 0; i < 100 && !spoolFiles().length; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(spoolFiles().length, 1, 'the answer is being spooled');
      req.destroy();
      await noSpoolFilesLeft();
    }
    // Mid-answer: the answer's first chunk read, then the connection closed.
    const res = await request(url(), { method: 'POST', body: csvTable(200_000), headers: { accept: 'application/x-ndjson' } });
    assert.equal(res.statusCode, 200);
    for await (const _chunk of res.body) break;
    assert.equal(spoolFiles().length, 1, 'the answer is read from its file');
    await noSpoolFilesLeft();
  });

  test('an answer held past the handler deadline: 504, and its file is removed', async () => {
    const handler = create(transform, { S3_ENDPOINT: 'http://127.0.0.1:1', LOG_LEVEL: 'error', INTERNAL_TOKEN: INTERNAL });
    const f = await serveFunction({ name: 'transform', log: quietLog, handler: handler.handle, maxBodyBytes: Infinity, timeoutSeconds: 1 });
    const g = await startGateway({ routes: [{ name: 'transform', port: f.port }] });
    try {
      // The rows at once (the answer is spooled), the last line 1.5 s later: past the deadline.
      const body = Readable.from(
        (async function* () {
          yield Buffer.from(csvTable(20_000));
          await new Promise((r) => setTimeout(r, 1500));
          yield Buffer.from('20000,Recife,1.5,2026-11-01\n');
        })(),
      );
      const res = await request(`${g.url}/function/transform`, { method: 'POST', body, headers: { accept: 'application/x-ndjson' } });
      assert.equal(res.statusCode, 504);
      await res.body.text();
      await new Promise((r) => setTimeout(r, 700)); // the body's end reaches the handler
      await noSpoolFilesLeft();
    } finally {
      await g.close();
      await f.close();
      await handler.shutdown?.();
    }
  });

  test('?publish=true: the body streams into the call to publish, every row arrives, and the caller gets publish\'s answer', async () => {
    const res = await request(url('?publish=true'), { method: 'POST', body: slowly(csvTable(30_000), 400), headers: { authorization: `Bearer ${INTERNAL}` } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { status: 'published' });
    const sent = publish.bodies.at(-1)!.trimEnd().split('\n');
    assert.equal(sent.filter((l) => l.startsWith('[')).length, 30_000);
    assert.equal(JSON.parse(sent.at(-1)!).stats.rowsOut, 30_000);
    await noSpoolFilesLeft();
  });
});
