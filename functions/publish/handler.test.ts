/** publish's handler, called directly against the embedded S3 store: a dataset stream in, outputs out. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmbeddedS3, type EmbeddedS3 } from '../../dev/embedded-s3.js';
import { transformCsv, transformOptionsFrom } from '../../shared/csv/clean.js';
import { csvDefaults } from '../../shared/csv/config.js';
import { encodeNdjson } from '../../shared/dataset/ndjson.js';
import { Problem } from '../../shared/runtime/problem.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../../shared/storage/config.js';
import { createStorage, getJson } from '../../shared/storage/s3.js';
import { contextOf, create, eventOf } from '../../test/unit-helpers.js';
import { publish } from './handler.js';

async function ndjson(csv: string, name: string): Promise<string> {
  let out = '';
  const bytes = (async function* () {
    yield Buffer.from(csv);
  })();
  for await (const s of encodeNdjson(transformCsv(bytes, transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name })))) out += s;
  return out;
}

const INTERNAL = 'unit-internal-token-0123456';
const auth = { authorization: `Bearer ${INTERNAL}`, 'content-type': 'application/x-ndjson' };

describe('publish handler', () => {
  let s3: EmbeddedS3;
  let dir: string;
  let fn: ReturnType<typeof create>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'publish-unit-'));
    s3 = await startEmbeddedS3({ directory: dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
    fn = create(publish, { S3_ENDPOINT: s3.url, POWERBI_ENABLED: 'false', LOG_LEVEL: 'error', INTERNAL_TOKEN: INTERNAL });
  });
  after(async () => {
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a dataset stream becomes the cleaned CSV and its manifest in the output bucket', async () => {
    const res = await fn.handle(eventOf({ body: await ndjson('id,city\n1,São Paulo\n2,Recife\n', 'cities.csv'), headers: auth }), contextOf('publish'));
    assert.equal(res.status, 200);
    const result = res.json as { status: string; outputs: { manifest: string; cleaned: string } };
    assert.equal(result.status, 'published');
    const storage = createStorage({ S3_ENDPOINT: s3.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 });
    const manifest = await getJson<{ stats: { rowsOut: number }; sinks: Record<string, { skipped?: string }> }>(storage, 'processed', result.outputs.manifest);
    assert.equal(manifest?.stats.rowsOut, 2);
    // No destination: the manifest says so, naming the settings of every sink publish lists.
    assert.match(manifest!.sinks.none.skipped ?? '', /^no sink configured \(set one of: POWERBI_PUSH_URL.*; EVENTSTREAM_CONNECTION_STRING/);
  });

  test('a body that is not a dataset is a 400, and nothing is written', async () => {
    await assert.rejects(fn.handle(eventOf({ body: 'not json\n', headers: auth }), contextOf('publish')), (err) => err instanceof Problem && err.status === 400);
  });

  test('a forged dataset (no credential, a wrong one, or a raw token without Bearer) is 401 and nothing is written', async () => {
    const storage = createStorage({ S3_ENDPOINT: s3.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 });
    const body = await ndjson('id\n1\n', 'victim.csv');
    for (const authorization of [undefined, 'Bearer wrong-token-0123456789', INTERNAL]) {
      const headers = { 'content-type': 'application/x-ndjson', ...(authorization ? { authorization } : {}) };
      await assert.rejects(fn.handle(eventOf({ body, headers }), contextOf('publish')), (err) => err instanceof Problem && err.status === 401);
    }
    const names: string[] = [];
    for await (const o of storage.listObjectsV2('processed', 'adhoc/', true) as AsyncIterable<{ name: string }>) names.push(o.name);
    assert.ok(!names.some((n) => n.endsWith('victim.csv') || n.endsWith('victim.csv.json')), `nothing written: ${names.join(', ')}`);
  });
});
