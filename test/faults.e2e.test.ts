/**
 * A run never takes the process down: a malformed dataset line, or a sender that dies mid-stream
 * (transform killed), fails only its own run. Publish keeps serving, writes no output for the
 * broken run, and the next dataset goes through.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { outputNames } from '../shared/storage/layout.js';
import { claimAsTransform, objectExists, useTestStack } from './helpers.js';

const header = (key: string) =>
  JSON.stringify({ type: 'header', version: 1, source: { kind: 'object', bucket: 'incoming', key, etag: `etag-${key}` }, dialect: { encoding: 'utf-8', bom: false, delimiter: ',', newline: '\n' }, schema: { columns: [{ name: 'x', sourceName: 'x', type: 'integer', nullable: true, origin: 'inferred' }] }, startedAt: new Date().toISOString() });
const trailer = (n: number) => JSON.stringify({ type: 'trailer', stats: { rowsIn: n, rowsOut: n, rowsRejected: 0, blankLines: 0, bytesIn: n * 4, durationMs: 1, columns: {}, rejectReasons: {} }, rejects: [], rejectsTruncated: false });
const rows = (n: number) => Array.from({ length: n }, (_, i) => `[${i}]`).join('\n');

describe('faults: a broken stream fails only its own run', () => {
  const stack = useTestStack({ POWERBI_ENABLED: 'false' });

  const publishUrl = () => {
    const fp = stack().stack.functions.get('publish')!;
    return { port: fp.port, alive: () => fp.child.exitCode === null && fp.child.signalCode === null };
  };

  /** As transform sends a dataset: with the run id of the version's claim. */
  async function post(key: string, body: string) {
    const t = stack();
    const runId = await claimAsTransform(t.s3, { bucket: 'incoming', key, etag: `etag-${key}` });
    const res = await request(`${t.stack.gateway.url}/function/publish`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${t.stack.env.INTERNAL_TOKEN}`, 'x-run-id': runId } });
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
  }

  test('a malformed line after 300,000 rows: 400 naming the line; publish serves on; nothing written', async () => {
    const t = stack();
    const res = await post('faults/malformed.csv', `${header('faults/malformed.csv')}\n${rows(300_000)}\n{broken\n`);
    assert.equal(res.status, 400);
    assert.equal(res.json.line, 300_002);
    assert.ok(publishUrl().alive(), 'publish is still running');
    for (const name of Object.values(outputNames('faults/malformed.csv'))) assert.equal(await objectExists(t.s3, 'processed', name), false, name);
    const ok = await post('faults/next.csv', `${header('faults/next.csv')}\n${rows(10)}\n${trailer(10)}\n`);
    assert.equal(ok.status, 200);
    assert.equal(ok.json.status, 'published');
  });

  test('the sender dies mid-stream (as when transform is killed): publish serves on; nothing written', async () => {
    const t = stack();
    const { port, alive } = publishUrl();
    const key = 'faults/killed.csv';
    // A raw chunked request straight to publish, cut off after 200,000 rows without its trailer.
    const socket = connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const runId = await claimAsTransform(t.s3, { bucket: 'incoming', key, etag: `etag-${key}` });
    socket.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\nAuthorization: Bearer ${t.stack.env.INTERNAL_TOKEN}\r\nX-Run-Id: ${runId}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = `${header(key)}\n${rows(200_000)}\n`;
    socket.write(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`);
    await new Promise<void>((r) => socket.write('', () => r()));
    const closed = new Promise((r) => socket.once('close', r));
    socket.destroy();
    await closed;
    // Publish answers the next request (so it is up), and the broken run left no output.
    const ok = await post('faults/after-kill.csv', `${header('faults/after-kill.csv')}\n${rows(5)}\n${trailer(5)}\n`);
    assert.equal(ok.status, 200);
    assert.ok(alive(), 'publish is still running');
    for (const name of Object.values(outputNames(key))) assert.equal(await objectExists(t.s3, 'processed', name), false, name);
  });
});

describe('faults under load (the short version of npm run faults)', () => {
  const load = { small: 8, smallRows: 150, large: 1, largeRows: 12_000 };
  for (const name of ['Power BI stores a batch, then the answer is lost (ack-then-fail ×3), push URL', 'Power BI 503 on 12 requests in a row', 'publish killed mid-push (SIGKILL), restarted', '3 replicas: one publish replica SIGKILLed mid-file (the others carry on), then replaced', 'S3 unreachable for 5 s mid-run (reads and writes cut), then back', 'notifications lost (no queue_dir), webhook restarted: reconciliation', 'Eventstream: a batch stored, then the connection dropped (every 15th)']) {
    test(name, { timeout: 300_000 }, async () => {
      process.env.FAULTS_WAIT_MS = '240000';
      const { SCENARIOS, runScenario } = await import('../bench/faults.js');
      const r = await runScenario(SCENARIOS.find((s) => s.name === name)!, load);
      assert.equal(r.delivered, r.expected, 'every row reached the sink');
      assert.ok(r.duplicated <= r.reported, `duplicates (${r.duplicated}) within what the manifests report (${r.reported})`);
      assert.equal(r.crashes, 0);
      assert.equal(r.unfinished, 0, 'every object version ended done or failed');
    });
  }
});
