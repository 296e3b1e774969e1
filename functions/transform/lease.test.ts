/**
 * transform's lease on an object version, against the embedded store with a fault switch: a lease
 * whose write was stored but whose answer was lost must not hold the object for LEASE_SECONDS
 * (the next delivery would be told "in progress" for 15 minutes while nothing runs).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startEmbeddedS3, type EmbeddedS3 } from '../../dev/embedded-s3.js';
import { Problem } from '../../shared/runtime/problem.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../../shared/storage/config.js';
import { idempotencyKey } from '../../shared/storage/object-state.js';
import { createStorage, getJson } from '../../shared/storage/s3.js';
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

test('a lease stored whose answer was lost is released: the next delivery runs the file', async () => {
  const storage = createStorage({ S3_ENDPOINT: s3.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 });
  const body = Buffer.from('id,city\n1,Recife\n');
  const put = await storage.putObject('incoming', 'lease/lost-answer.csv', body, body.length);
  const ref = { bucket: 'incoming', key: 'lease/lost-answer.csv', etag: put.etag, size: body.length };
  const leaseKey = `_state/${idempotencyKey(ref)}.lease.json`;
  const call = (callId: string) =>
    fn.handle({ ...eventOf({ body: JSON.stringify(ref), headers: { 'content-type': 'application/json', authorization: `Bearer ${INTERNAL}` } }), callId }, { ...contextOf('transform'), callId });

  s3.loseAnswers(/\.lease\.json$/);
  await assert.rejects(call('first-delivery'), (err) => !(err instanceof Problem) || err.status >= 500, 'a lost answer is a failure a retry can help (5xx)');
  assert.equal(await getJson(storage, 'processed', leaseKey), undefined, 'the lease written before the answer was lost is gone');

  const res = await call('redelivery');
  assert.equal(res.status, 200);
  assert.equal((res.json as { status: string }).status, 'published', 'the redelivery ran the file instead of "in progress"');
  assert.equal(publish.bodies.length, 1);
});
