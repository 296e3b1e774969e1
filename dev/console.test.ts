/**
 * The console's status comes from the lifecycle's records, as the embedded store reports their
 * writes: a file finished by another process (a sweep after a restart) appears when its outcome is
 * recorded; a reprocess starts its journey again and ends with the new outcome; a partial file is
 * partial, with the rows its sink refused and Power BI's words; a file links the outputs its manifest
 * recorded (Parquet alone: no cleaned CSV).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startEmbeddedS3, type EmbeddedS3, type S3RecordEvent } from './embedded-s3.js';
import { PipelineConsole } from './console.js';
import { Lifecycle, versionId } from '../shared/lifecycle/index.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../shared/storage/config.js';
import { createStorage, putJson, type Storage } from '../shared/storage/s3.js';
import { outputNames } from '../shared/storage/layout.js';
import { waitFor } from '../test/helpers.js';

let dir: string;
let server: EmbeddedS3;
let s3: Storage;
let pc: PipelineConsole;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'console-'));
  server = await startEmbeddedS3({ directory: dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
  s3 = createStorage({ S3_ENDPOINT: server.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 });
  pc = new PipelineConsole({ s3: () => s3, inputBucket: 'incoming', outputBucket: 'processed', prefix: '', suffixes: ['.csv'] });
  server.events.on('event', (ev: S3RecordEvent) => pc.onStoreEvent(ev));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const stats = { rowsIn: 3, rowsOut: 3, rowsRejected: 0, blankLines: 0, bytesIn: 20, durationMs: 1, columns: {}, rejectReasons: {} };

async function finish(l: Lifecycle, key: string, etag: string, outcome: 'published' | 'partial', sinks: Record<string, unknown>, partial?: string) {
  const source = { kind: 'object' as const, bucket: 'incoming', key, etag };
  await putJson(s3, 'processed', outputNames(key).manifest, { manifestVersion: 1, id: versionId(source), status: outcome, ...(partial ? { partial } : {}), source, stats, rejects: { count: 0, first: [] }, sinks });
  await l.outcomes.record({ id: versionId(source), source, outcome, manifest: outputNames(key).manifest, sinks });
}

test('a file finished elsewhere appears; a reprocess starts its journey again; a partial file shows the rows its sink refused', async () => {
  const l = new Lifecycle(s3, 'processed', { claimMs: 30_000, maxAttempts: 20 });
  // Finished by another process while this console never saw the upload (a sweep after a restart).
  await finish(l, 'late/a.csv', 'e1', 'published', { 'powerbi-push': { rowsSent: 3 } });
  const id = versionId({ bucket: 'incoming', key: 'late/a.csv', etag: 'e1' });
  await waitFor('the file listed', async () => (pc.files.get(id)?.stage === 'published' ? true : undefined), 10_000, 20);

  // Reprocessed: a new run claims it, then it ends partial, with the rows Power BI refused.
  await l.outcomes.forget(id);
  const taken = await l.claims.take(id, { kind: 'object', bucket: 'incoming', key: 'late/a.csv', etag: 'e1' }, 'rerun');
  assert.equal(taken.kind, 'claimed');
  await waitFor('the new run shown', async () => (pc.files.get(id)?.stage === 'transforming' ? true : undefined), 10_000, 20);
  await finish(l, 'late/a.csv', 'e1', 'partial', { 'powerbi-push': { rowsSent: 2, rowsRejected: 1, rejects: [{ row: 2, reason: 'Power BI refused the row: a string longer than 4,000 characters' }] } }, 'powerbi-push: 1 rows not sent');
  const f = await waitFor('the new outcome shown', async () => (pc.files.get(id)?.stage === 'partial' ? pc.files.get(id) : undefined), 10_000, 20);
  assert.deepEqual(f.sinkRejects, ['powerbi-push refused row 2: Power BI refused the row: a string longer than 4,000 characters']);
  assert.equal(f.problem, 'powerbi-push: 1 rows not sent');
  assert.deepEqual(f.steps.map((s) => s.stage), ['transforming', 'partial'], 'the earlier run\'s steps are gone');
});

test("a file's links are the outputs its manifest recorded: a Parquet-only file has no cleaned CSV", async () => {
  const l = new Lifecycle(s3, 'processed', { claimMs: 30_000, maxAttempts: 20 });
  const names = outputNames('pq/only.csv');
  const source = { kind: 'object' as const, bucket: 'incoming', key: 'pq/only.csv', etag: 'p1' };
  const outputs = { bucket: 'processed', parquet: names.parquet, manifest: names.manifest };
  await putJson(s3, 'processed', names.manifest, { manifestVersion: 1, id: versionId(source), status: 'published', source, stats, rejects: { count: 0, first: [] }, outputs, sinks: {} });
  await l.outcomes.record({ id: versionId(source), source, outcome: 'published', manifest: names.manifest, sinks: {} });
  const f = await waitFor('the file listed', async () => (pc.files.get(versionId(source))?.stage === 'published' ? pc.files.get(versionId(source)) : undefined), 10_000, 20);
  assert.deepEqual(f.links, { parquet: 'cleaned/pq/only.csv.parquet', manifest: 'manifests/pq/only.csv.json' });
});
