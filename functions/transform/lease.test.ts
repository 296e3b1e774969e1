/**
 * transform's claim on an object version, against the embedded store with a fault switch: a claim
 * whose write was stored but whose answer was lost is still this run's (it finds its own write),
 * so the file runs at once instead of waiting for the claim to expire; a redelivery afterwards is
 * a replay.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startEmbeddedS3, type EmbeddedS3 } from '../../dev/embedded-s3.js';
import { Problem } from '../../shared/runtime/problem.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../../shared/storage/config.js';
import { createStorage } from '../../shared/storage/s3.js';
import { Lifecycle, versionId } from '../../shared/lifecycle/index.js';
import { contextOf, create, eventOf, recorder } from '../../test/unit-helpers.js';
import { transform } from './handler.js';

const INTERNAL = 'unit-internal-token-0123456';
let dir: string;
let s3: EmbeddedS3;
let publish: Awaited<ReturnType<typeof recorder>>;
let fn: ReturnType<typeof create>;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'transform-lease-'));
  s3 = await startEmbeddedS3({ directory: dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
  publish = await recorder(() => ({ status: 200, json: { status: 'published' } }));
  fn = create(transform, { S3_ENDPOINT: s3.url, PUBLISH_URL: publish.url, LOG_LEVEL: 'error', INTERNAL_TOKEN: INTERNAL });
});
after(async () => {
  await fn.shutdown?.();
  await publish.close();
  await s3.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a claim stored whose answer was lost is still the run\'s: the file runs at once, and the claim goes once publish answered', async () => {
  const storage = createStorage({ S3_ENDPOINT: s3.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 });
  const body = Buffer.from('id,city\n1,Recife\n');
  const put = await storage.putObject('incoming', 'lease/lost-answer.csv', body, body.length);
  const ref = { bucket: 'incoming', key: 'lease/lost-answer.csv', etag: put.etag, size: body.length };
  const call = (callId: string) =>
    fn.handle({ ...eventOf({ body: JSON.stringify(ref), headers: { 'content-type': 'application/json', authorization: `Bearer ${INTERNAL}` } }), callId }, { ...contextOf('transform'), callId });

  s3.loseAnswers(/_state\/claims\//);
  const first = await call('first-delivery');
  assert.equal(first.status, 200);
  assert.equal((first.json as { status: string }).status, 'published', 'the run went ahead on the claim it wrote');
  assert.equal(publish.bodies.length, 1);
  const runId = String(publish.headers[0]['x-run-id']);
  assert.match(runId, /^[0-9a-f-]{36}$/, 'publish is told the run that holds the claim');
  const lifecycle = new Lifecycle(storage, 'processed', { claimMs: 30_000, maxAttempts: 20 });
  assert.equal((await lifecycle.claims.read(versionId({ ...ref })))?.value, undefined, 'the claim is released');
});

test('a run whose publish never answers stops at the handler deadline: the version waits for its next attempt, the claim no longer held', async () => {
  // A publish that reads the dataset and never answers (a process stuck on a store that stopped answering).
  const { createServer } = await import('node:http');
  let closed = false;
  const stuck = createServer((req) => {
    req.resume();
    req.socket.on('close', () => (closed = true));
  });
  await new Promise<void>((r) => stuck.listen(0, '127.0.0.1', r));
  const stuckFn = create(transform, { S3_ENDPOINT: s3.url, PUBLISH_URL: `http://127.0.0.1:${(stuck.address() as { port: number }).port}/`, LOG_LEVEL: 'error', INTERNAL_TOKEN: INTERNAL });
  try {
    const storage = createStorage({ S3_ENDPOINT: s3.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 });
    const body = Buffer.from('id,city\n1,Recife\n');
    const put = await storage.putObject('incoming', 'lease/stuck.csv', body, body.length);
    const ref = { bucket: 'incoming', key: 'lease/stuck.csv', etag: put.etag, size: body.length };
    const started = Date.now();
    const answer = await stuckFn.handle({ ...eventOf({ body: JSON.stringify(ref), headers: { 'content-type': 'application/json', authorization: `Bearer ${INTERNAL}` } }), deadline: AbortSignal.timeout(1500) }, contextOf('transform'));
    assert.ok(Date.now() - started < 10_000, 'the run ended at its deadline');
    assert.equal(answer.status, 202);
    assert.equal((answer.json as { status: string }).status, 'waiting');
    const lifecycle = new Lifecycle(storage, 'processed', { claimMs: 30_000, maxAttempts: 20 });
    const id = versionId({ ...ref });
    const claim = (await lifecycle.claims.read(id))?.value;
    assert.equal(claim?.runId, undefined, 'no run holds the version any more');
    assert.equal(claim?.attempts, 1);
    assert.equal(claim?.last?.status, 504);
    assert.equal((await lifecycle.status(id)).phase, 'waiting');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(closed, 'the request to publish was abandoned');
  } finally {
    await stuckFn.shutdown?.();
    stuck.closeAllConnections();
    await new Promise((r) => stuck.close(r));
  }
});
