/**
 * The Eventstream sink against the in-repo AMQP 1.0 endpoint (dev/eventstream/endpoint.ts), the
 * real `@azure/event-hubs` client on both sides of a real socket, through publishDataset with the
 * embedded S3: one event per row with its columns and properties, in order on one partition;
 * server busy and dropped connections end with every row delivered and the duplicates no more
 * than the manifest reports; too large splits; a wrong key ends the file partial, in words.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig, ConfigError } from '../shared/runtime/config.js';
import { storageConfig } from '../shared/storage/config.js';
import type { Row } from '../shared/dataset/contract.js';
import { createLogger } from '../shared/runtime/log.js';
import { publishDataset } from '../functions/publish/publish.js';
import { Lifecycle, versionId } from '../shared/lifecycle/index.js';
import { lifecycleOf } from './helpers.js';
import { datasetOf } from './dataset-kit.js';
import { eventstreamConfig } from '../shared/sinks/eventstream/config.js';
import { eventstreamSinks } from '../shared/sinks/eventstream/spec.js';
import type { RowSink, SinkResult } from '../shared/sinks/sink.js';
import { createStorage, getJson } from '../shared/storage/s3.js';
import { startEmbeddedS3, type EmbeddedS3 } from '../dev/embedded-s3.js';
import { startEventstreamEndpoint, validSas, type EventstreamEndpoint } from '../dev/eventstream/endpoint.js';

const log = createLogger({ fn: 'test' }, { level: 'error' });

function rowsOf(n: number): Row[] {
  return Array.from({ length: n }, (_, i) => [i, i % 7 === 0 ? 'São Paulo, "SP"' : `city ${i % 13}`, Math.round(i * 1.25 * 100) / 100, `2026-11-${String((i % 28) + 1).padStart(2, '0')}`, i % 5 === 0 ? null : i % 2 === 0]);
}

describe('Eventstream sink against the AMQP endpoint', () => {
  let s3: EmbeddedS3;
  let ep: EventstreamEndpoint;
  let dir: string;
  const config = loadConfig({ storage: storageConfig }, { OUTPUT_BUCKET: 'processed' }).storage;
  let storage: ReturnType<typeof createStorage>;
  const made: RowSink[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'es-test-'));
    s3 = await startEmbeddedS3({ directory: dir, accessKey: config.S3_ACCESS_KEY, secretKey: config.S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
    storage = createStorage({ ...config, S3_ENDPOINT: s3.url });
    ep = await startEventstreamEndpoint({ port: 0 });
  });
  after(async () => {
    for (const s of made) await s.close?.();
    await ep.close();
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The sink as publish builds it: the EVENTSTREAM_* variables through the spec. */
  function sinkFrom(env: Record<string, string>): RowSink {
    const values = loadConfig({ eventstream: eventstreamConfig }, { EVENTSTREAM_TIMEOUT_SECONDS: '2', ...env }).eventstream;
    const [sink] = eventstreamSinks.create(values, { log, s3: storage, outputBucket: 'processed' });
    made.push(sink);
    return sink;
  }

  /** As transform hands a version to publish: a run claims it first, and publish adopts its checkpoint with the run id. */
  const publish = async (key: string, rows: Row[], sinks: RowSink[]) => {
    const lifecycle = lifecycleOf(storage);
    const source = { kind: 'object' as const, bucket: 'incoming', key, etag: createHash('md5').update(key).digest('hex') };
    const runId = Lifecycle.runId();
    const taken = await lifecycle.claims.take(versionId(source), source, runId);
    try {
      return await publishDataset(datasetOf(key, rows), { outputBucket: 'processed', escapeFormulas: true, s3: storage, sinks, log, callId: key, runId, lifecycle });
    } finally {
      if (taken.kind === 'claimed') await taken.claim.release();
    }
  };
  const eventsOf = (key: string) => ep.events.filter((e) => e.properties.objectKey === key);

  test('one event per row: the columns by name with typed values, the object, version and row as properties, in order on one partition', async () => {
    const sink = sinkFrom({ EVENTSTREAM_CONNECTION_STRING: ep.connectionString });
    await sink.healthcheck!();
    assert.ok(ep.stats.managementReads >= 1, 'the healthcheck READs the hub through $management');
    const rows = rowsOf(5000);
    const result = await publish('sales/one.csv', rows, [sink]);
    assert.equal(result.status, 'published');
    const events = eventsOf('sales/one.csv');
    assert.equal(events.length, 5000);
    assert.deepEqual(events[7].body, { id: 7, city: 'São Paulo, "SP"', amount: 8.75, day: '2026-11-08', active: false });
    assert.deepEqual(events[10].body, { id: 10, city: 'city 10', amount: 12.5, day: '2026-11-11', active: null });
    assert.deepEqual(events[0].properties, { objectKey: 'sales/one.csv', version: createHash('md5').update('sales/one.csv').digest('hex'), row: 1 });
    assert.equal(events[0].contentType, 'application/json');
    assert.deepEqual(events.map((e) => e.properties.row), rows.map((_, i) => i + 1), 'rows arrive in order');
    assert.equal(new Set(events.map((e) => e.partition)).size, 1, 'the partition key keeps a file on one partition');
    assert.ok(events.every((e) => e.partitionKey === 'sales/one.csv'));
    const r = result.sinks.eventstream as SinkResult;
    assert.equal(r.rowsSent, 5000);
    assert.equal(r.possibleDuplicates ?? 0, 0);
    const manifest = await getJson<{ sinks: Record<string, SinkResult> }>(storage, 'processed', 'manifests/sales/one.csv.json');
    assert.equal(manifest!.sinks.eventstream.rowsSent, 5000);
  });

  test('20,000 rows under server busy and dropped connections: every row arrives, duplicates ≤ those the manifest reports', async () => {
    const sink = sinkFrom({ EVENTSTREAM_CONNECTION_STRING: ep.connectionString, EVENTSTREAM_MAX_BATCH_BYTES: String(32 * 1024) });
    Object.assign(ep.faults, { busyEvery: 3, busyWaitSeconds: 0.05, dropEvery: 20 });
    try {
      const rows = rowsOf(20_000);
      const result = await publish('sales/faults.csv', rows, [sink]);
      assert.equal(result.status, 'published');
      const r = result.sinks.eventstream as SinkResult;
      const events = eventsOf('sales/faults.csv');
      const unique = new Set(events.map((e) => e.properties.row));
      assert.equal(unique.size, 20_000, 'every row arrived');
      const duplicates = events.length - unique.size;
      assert.ok(ep.stats.busy > 0 && ep.stats.dropped > 0, 'the faults happened');
      assert.ok(duplicates > 0, 'a dropped connection after the store duplicates a batch');
      assert.ok(duplicates <= (r.possibleDuplicates ?? 0), `${duplicates} duplicates, ${r.possibleDuplicates} reported`);
      assert.ok(r.retries >= ep.stats.busy, 'each busy answer was retried');
      assert.ok(r.throttledMs > 0);
      const ids = events.map((e) => (e.body as { id: number }).id);
      assert.equal(ids.reduce((a, b) => a + b, 0) - [...events.entries()].filter(([i, e]) => events.findIndex((x) => x.properties.row === e.properties.row) !== i).reduce((s, [, e]) => s + (e.body as { id: number }).id, 0), (19_999 * 20_000) / 2, 'every value once after de-duplication by row');
    } finally {
      Object.assign(ep.faults, { busyEvery: 0, dropEvery: 0, busyWaitSeconds: 4 });
      await sink.close!();
    }
  });

  test('a batch refused as too large is split until it fits, nothing stored twice', async () => {
    const sink = sinkFrom({ EVENTSTREAM_CONNECTION_STRING: ep.connectionString, EVENTSTREAM_MAX_BATCH_BYTES: String(64 * 1024) });
    ep.faults.tooLargeOver = 6000;
    try {
      const result = await publish('sales/large.csv', rowsOf(2000), [sink]);
      assert.equal(result.status, 'published');
      const events = eventsOf('sales/large.csv');
      assert.equal(events.length, 2000);
      assert.equal(new Set(events.map((e) => e.properties.row)).size, 2000);
      assert.ok(ep.stats.tooLarge > 0);
      assert.equal((result.sinks.eventstream as SinkResult).possibleDuplicates ?? 0, 0);
    } finally {
      ep.faults.tooLargeOver = 0;
    }
  });

  test('a wrong key ends the file partial: the problem names the setting, never the key', async () => {
    const wrong = ep.connectionString.replace(/SharedAccessKey=[^;]+/, 'SharedAccessKey=not-the-key-0123456789');
    const result = await publish('sales/key.csv', rowsOf(10), [sinkFrom({ EVENTSTREAM_CONNECTION_STRING: wrong })]);
    assert.equal(result.status, 'partial');
    const r = result.sinks.eventstream as { error: { type: string; detail: string; setting: string }; rowsNotSent: number };
    assert.match(r.error.type, /eventstream-auth-failed/);
    assert.equal(r.error.setting, 'EVENTSTREAM_CONNECTION_STRING');
    assert.equal(r.rowsNotSent, 10);
    const manifest = await getJson<{ partial: string }>(storage, 'processed', 'manifests/sales/key.csv.json');
    assert.match(manifest!.partial, /10 rows not sent to Eventstream/);
    assert.doesNotMatch(JSON.stringify(manifest), /not-the-key-0123456789/);
    assert.equal(eventsOf('sales/key.csv').length, 0);
  });

  test('EVENTSTREAM_ROUTES: files go to the endpoint of their key prefix, others to the default', async () => {
    const other = await startEventstreamEndpoint({ port: 0, hub: 'es_other', key: 'other-key' });
    try {
      const sink = sinkFrom({ EVENTSTREAM_CONNECTION_STRING: ep.connectionString, EVENTSTREAM_ROUTES: JSON.stringify({ 'eu/': other.connectionString }) });
      await publish('eu/a.csv', rowsOf(30), [sink]);
      await publish('us/b.csv', rowsOf(20), [sink]);
      assert.equal(other.events.length, 30);
      assert.equal(eventsOf('us/b.csv').length, 20);
      assert.equal(eventsOf('eu/a.csv').length, 0);
      await sink.close!();
    } finally {
      await other.close();
    }
  });

  test('a bad connection string is named at start, never echoed', () => {
    assert.throws(
      () => loadConfig({ eventstream: eventstreamConfig }, { EVENTSTREAM_CONNECTION_STRING: 'Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=SECRET-VALUE-42' }),
      (err: unknown) => err instanceof ConfigError && err.variables.includes('EVENTSTREAM_CONNECTION_STRING') && /EntityPath/.test(err.message) && !err.message.includes('SECRET-VALUE-42'),
    );
    assert.deepEqual(eventstreamSinks.create(loadConfig({ eventstream: eventstreamConfig }, {}).eventstream, { log, s3: storage, outputBucket: 'processed' }), [], 'no connection string: no sink');
  });

  test('the endpoint checks the SAS signature as Event Hubs does', () => {
    const audience = 'sb://localhost:5672/hub';
    const se = Math.floor(Date.now() / 1000) + 3600;
    const sr = encodeURIComponent(audience);
    const sig = encodeURIComponent(createHmac('sha256', 'k3y').update(`${sr}\n${se}`).digest('base64'));
    const token = `SharedAccessSignature sr=${sr}&sig=${sig}&se=${se}&skn=name`;
    assert.equal(validSas(token, audience, 'name', 'k3y'), true);
    assert.equal(validSas(token, audience, 'name', 'other'), false);
    assert.equal(validSas(token, 'sb://localhost:5672/elsewhere', 'name', 'k3y'), false);
    assert.equal(validSas(token, audience, 'name', 'k3y', se + 1), false, 'expired');
  });
});
