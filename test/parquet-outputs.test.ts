/**
 * Publish's outputs with Parquet on, through publishDataset with the embedded S3: the manifest
 * lists what was written (with `parquet` alone, no cleaned CSV), and a redelivery of a finished
 * version (a replay) answers with the outputs its manifest recorded, not a cleaned CSV that
 * does not exist.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DatasetHeader, Row } from '../shared/dataset/contract.js';
import type { DatasetEvent } from '../shared/csv/clean.js';
import { publishDataset } from '../functions/publish/publish.js';
import { Lifecycle, versionId, type Manifest } from '../shared/lifecycle/index.js';
import { createLogger } from '../shared/runtime/log.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../shared/storage/config.js';
import { createStorage, getJson, type Storage } from '../shared/storage/s3.js';
import { startEmbeddedS3, type EmbeddedS3 } from '../dev/embedded-s3.js';
import { lifecycleOf, objectExists, readObject } from './helpers.js';
import { readParquetWithDuckDB } from './parquet-reader.js';

const log = createLogger({ fn: 'test' }, { level: 'error' });
const columns = [
  { name: 'id', sourceName: 'id', type: 'integer' as const, nullable: true, origin: 'inferred' as const },
  { name: 'city', sourceName: 'city', type: 'text' as const, nullable: true, origin: 'inferred' as const },
];
const rows: Row[] = Array.from({ length: 500 }, (_, i) => [i, `city ${i % 7}`]);

async function* dataset(key: string): AsyncGenerator<DatasetEvent> {
  const header: DatasetHeader = {
    type: 'header',
    version: 1,
    source: { kind: 'object', bucket: 'incoming', key, etag: `etag-${key}` },
    dialect: { encoding: 'utf-8', bom: false, delimiter: ',', newline: '\n' },
    schema: { columns },
    startedAt: new Date().toISOString(),
  };
  yield { kind: 'header', header };
  yield { kind: 'rows', rows };
  yield { kind: 'trailer', trailer: { type: 'trailer', stats: { rowsIn: rows.length, rowsOut: rows.length, rowsRejected: 0, blankLines: 0, bytesIn: 0, durationMs: 1, columns: {}, rejectReasons: {} }, rejects: [], rejectsTruncated: false } };
}

describe('publish with Parquet: outputs and their replay', () => {
  let server: EmbeddedS3;
  let s3: Storage;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'parquet-outputs-'));
    server = await startEmbeddedS3({ directory: dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
    s3 = createStorage({ S3_ENDPOINT: server.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** As transform hands a version to publish: under a claim, whose run id publish adopts. */
  async function publish(key: string, formats: ('csv' | 'parquet')[]) {
    const lifecycle = lifecycleOf(s3);
    const source = { kind: 'object' as const, bucket: 'incoming', key, etag: `etag-${key}` };
    const runId = Lifecycle.runId();
    const taken = await lifecycle.claims.take(versionId(source), source, runId);
    try {
      return await publishDataset(dataset(key), { outputBucket: 'processed', escapeFormulas: true, formats, s3, sinks: [], log, callId: key, runId, lifecycle });
    } finally {
      if (taken.kind === 'claimed') await taken.claim.release();
    }
  }

  test('parquet alone: no cleaned CSV, in the answer, the manifest or the replay', async () => {
    const first = await publish('only.csv', ['parquet']);
    assert.equal(first.status, 'published');
    assert.deepEqual(first.outputs, { bucket: 'processed', parquet: 'cleaned/only.csv.parquet', manifest: 'manifests/only.csv.json' });
    assert.equal(await objectExists(s3, 'processed', 'cleaned/only.csv'), false);
    assert.deepEqual((await readParquetWithDuckDB(await readObject(s3, 'processed', 'cleaned/only.csv.parquet'))).rows, rows);
    const manifest = await getJson<Manifest>(s3, 'processed', 'manifests/only.csv.json');
    assert.deepEqual(manifest?.outputs, first.outputs);

    const again = await publish('only.csv', ['parquet']);
    assert.deepEqual([again.status, again.replay], ['published', true]);
    assert.deepEqual(again.outputs, first.outputs, 'the outputs the manifest recorded');
  });

  test('csv and parquet: the replay lists both, as the manifest does', async () => {
    const first = await publish('both.csv', ['csv', 'parquet']);
    assert.deepEqual(first.outputs, { bucket: 'processed', cleaned: 'cleaned/both.csv', parquet: 'cleaned/both.csv.parquet', manifest: 'manifests/both.csv.json' });
    const again = await publish('both.csv', ['csv', 'parquet']);
    assert.equal(again.replay, true);
    assert.deepEqual(again.outputs, first.outputs);
  });
});
