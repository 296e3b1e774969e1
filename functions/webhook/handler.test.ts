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

const put = readFileSync(fixturePath('minio-events/put-simple.json'), 'utf8');
const TOKEN = 'unit-test-token-0123456789';

describe('webhook handler', () => {
  let transform: Awaited<ReturnType<typeof recorder>>;
  let fn: ReturnType<typeof create>;
  let dir: string;
  let s3: EmbeddedS3;
  before(async () => {
    transform = await recorder(() => ({ status: 200, json: { status: 'published' } }));
    // The webhook reads the lifecycle's records (the output bucket) before it hands anything on.
    dir = mkdtempSync(join(tmpdir(), 'webhook-unit-'));
    s3 = await startEmbeddedS3({ directory: dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
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

  test('an object creation in the input bucket is handed to transform as an object reference', async () => {
    const res = await fn.handle(eventOf({ body: put, headers: { authorization: `Bearer ${TOKEN}` } }), contextOf('webhook'));
    assert.equal(res.status, 200);
    const ref = JSON.parse(transform.bodies.at(-1)!);
    const record = JSON.parse(put).Records[0].s3.object;
    assert.deepEqual({ bucket: ref.bucket, key: ref.key, etag: ref.etag, size: ref.size }, { bucket: 'incoming', key: 'sales/2026-11/customers.csv', etag: record.eTag, size: record.size });
    assert.equal((res.json as { results: { status: string }[] }).results[0].status, 'published', 'transform\'s answer, in the lifecycle\'s words');
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
