/** The webhook's handler, called directly: notification in, object reference handed to transform. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmbeddedS3, type EmbeddedS3 } from '../../dev/embedded-s3.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../../shared/storage/config.js';
import { Problem } from '../../shared/runtime/problem.js';
import { fixturePath } from '../../test/kit.js';
import { contextOf, create, eventOf, recorder } from '../../test/unit-helpers.js';
import { webhook } from './handler.js';
import { Lifecycle, versionId } from '../../shared/lifecycle/index.js';
import { RUN_ID_HEADER } from '../../shared/lifecycle/run.js';
import { stateKeys } from '../../shared/lifecycle/keys.js';
import { createStorage } from '../../shared/storage/s3.js';
import { waitFor } from '../../test/helpers.js';

const put = readFileSync(fixturePath('minio-events/put-simple.json'), 'utf8');
const TOKEN = 'unit-test-token-0123456789';

describe('webhook handler', () => {
  let transform: Awaited<ReturnType<typeof recorder>>;
  /** What the stand-in transform answers: a replay (its run did not take the claim) unless a test says otherwise. */
  let transformAnswer: { status: number; json: unknown } = { status: 200, json: { status: 'published', replay: true } };
  let fn: ReturnType<typeof create>;
  let dir: string;
  let s3: EmbeddedS3;
  let lifecycle: Lifecycle;
  before(async () => {
    transform = await recorder(() => transformAnswer);
    // The webhook reads the lifecycle's records (the output bucket) before it hands anything on.
    dir = mkdtempSync(join(tmpdir(), 'webhook-unit-'));
    s3 = await startEmbeddedS3({ directory: dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
    lifecycle = new Lifecycle(createStorage({ S3_ENDPOINT: s3.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 }), 'processed', { claimMs: 30_000, maxAttempts: 20 });
    fn = create(webhook, { WEBHOOK_TOKEN: TOKEN, INTERNAL_TOKEN: 'unit-internal-token-0123456', TRANSFORM_URL: `${transform.url}/function/transform`, S3_ENDPOINT: s3.url, LOG_LEVEL: 'error' });
  });
  after(async () => {
    await fn.shutdown?.();
    await transform.close();
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a notification without the bearer token is 401', async () => {
    await assert.rejects(fn.handle(eventOf({ body: put, headers: { 'content-type': 'application/json' } }), contextOf('webhook')), (err) => err instanceof Problem && err.status === 401);
  });

  test('an object creation is claimed for the hand-off and answered at once; transform gets the reference and the claim\'s run id', async () => {
    const res = await fn.handle(eventOf({ body: put, headers: { authorization: `Bearer ${TOKEN}` } }), contextOf('webhook'));
    assert.equal(res.status, 202);
    const record = JSON.parse(put).Records[0].s3.object;
    const id = versionId({ bucket: 'incoming', key: 'sales/2026-11/customers.csv', etag: record.eTag });
    assert.deepEqual((res.json as { results: { status: string; id: string }[] }).results.map((r) => [r.status, r.id]), [['running', id]], 'a run holds it: the hand-off');
    await waitFor('the call to transform', async () => (transform.bodies.length ? true : undefined));
    const ref = JSON.parse(transform.bodies.at(-1)!);
    assert.deepEqual({ bucket: ref.bucket, key: ref.key, etag: ref.etag, size: ref.size }, { bucket: 'incoming', key: 'sales/2026-11/customers.csv', etag: record.eTag, size: record.size });
    assert.match(String(transform.headers.at(-1)![RUN_ID_HEADER]), /^[0-9a-f-]{36}$/, 'the hand-off claim\'s run id, for transform to take it over');
    // This transform answered without taking the claim over (a replay): the webhook deletes its claim (nothing left to run).
    await waitFor('the hand-off claim released', async () => ((await lifecycle.claims.read(id)) ? undefined : true));
  });

  test('transform answers the outcome of its own run: the webhook leaves the claim to that run (it took it over and released it; a release would only be refused)', async () => {
    transformAnswer = { status: 200, json: { status: 'published' } };
    try {
      const calls = transform.bodies.length;
      const res = await fn.handle(eventOf({ body: put, headers: { authorization: `Bearer ${TOKEN}` } }), contextOf('webhook'));
      assert.equal(res.status, 202);
      const record = JSON.parse(put).Records[0].s3.object;
      const id = versionId({ bucket: 'incoming', key: 'sales/2026-11/customers.csv', etag: record.eTag });
      await waitFor('the call to transform', async () => (transform.bodies.length > calls ? true : undefined));
      await new Promise((r) => setTimeout(r, 500)); // the webhook has read the answer (a release would be sent within milliseconds)
      // This stand-in did not really take the claim over, so the webhook's claim is still there: no DELETE was sent.
      assert.equal((await lifecycle.claims.read(id))?.value.runId, transform.headers.at(-1)![RUN_ID_HEADER], 'the hand-off claim is left alone');
      await lifecycle.store.remove(stateKeys.claim(id));
    } finally {
      transformAnswer = { status: 200, json: { status: 'published', replay: true } };
    }
  });

  test('transform unreachable: answered at once all the same; the version then waits for its next attempt, counted, with the reason', async () => {
    const down = create(webhook, { WEBHOOK_TOKEN: TOKEN, INTERNAL_TOKEN: 'unit-internal-token-0123456', TRANSFORM_URL: 'http://127.0.0.1:9/function/transform', S3_ENDPOINT: s3.url, LOG_LEVEL: 'error', RECONCILE_SECONDS: '3600' });
    try {
      const event = JSON.parse(put);
      event.Records[0].s3.object.key = 'down.csv';
      const res = await down.handle(eventOf({ body: JSON.stringify(event), headers: { authorization: `Bearer ${TOKEN}` } }), contextOf('webhook'));
      assert.equal(res.status, 202);
      const id = versionId({ bucket: 'incoming', key: 'down.csv', etag: event.Records[0].s3.object.eTag });
      const waiting = await waitFor('the version waiting', async () => {
        const s = await lifecycle.status(id);
        return s.phase === 'waiting' ? s : undefined;
      }, 15_000);
      assert.equal(waiting.claim!.attempts, 1);
      assert.match(waiting.claim!.last!.title, /unreachable/);
      assert.ok(Date.parse(waiting.claim!.expiresAt) > Date.now(), 'not due yet: the next attempt waits');
      const again = await down.handle(eventOf({ body: JSON.stringify(event), headers: { authorization: `Bearer ${TOKEN}` } }), contextOf('webhook'));
      assert.deepEqual((again.json as { results: { status: string }[] }).results.map((r) => r.status), ['waiting'], 'a redelivery before it is due hands nothing on');
    } finally {
      await down.shutdown?.();
    }
  });

  test('an event for another bucket is answered 200 and ignored, with the reason', async () => {
    const other = JSON.parse(put);
    other.Records[0].s3.bucket.name = 'elsewhere';
    const sent = transform.bodies.length;
    const res = await fn.handle(eventOf({ body: JSON.stringify(other), headers: { authorization: `Bearer ${TOKEN}` } }), contextOf('webhook'));
    assert.equal(res.status, 200);
    const result = (res.json as { results: { status: string; reason: string }[] }).results[0];
    assert.equal(result.status, 'ignored');
    assert.match(result.reason, /bucket/);
    assert.equal(transform.bodies.length, sent, 'nothing handed off');
  });

  test('malformed JSON is a 400 that says where', async () => {
    await assert.rejects(fn.handle(eventOf({ body: '{"Records": [', headers: { authorization: `Bearer ${TOKEN}` } }), contextOf('webhook')), (err) => err instanceof Problem && err.status === 400 && err.type.endsWith('invalid-json'));
  });
});
