/**
 * Power BI sinks against the emulator (real HTTP), through publishDataset with the embedded S3:
 * limits never exceeded, faults (429 + Retry-After, 5xx, slow, dropped, ack-then-fail) end with
 * exactly the source rows (compared by a row hash), and the manifest reports the retries.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { loadConfig } from '../shared/runtime/config.js';
import { storageConfig } from '../shared/storage/config.js';
import type { DatasetHeader, Row } from '../shared/dataset/contract.js';
import { createLogger } from '../shared/runtime/log.js';
import { publishDataset } from '../functions/publish/publish.js';
import { Lifecycle, versionId } from '../shared/lifecycle/index.js';
import { lifecycleOf } from './helpers.js';
import { datasetOf } from './dataset-kit.js';
import { EntraTokenProvider } from '../shared/sinks/powerbi/entra-token.js';
import { PowerBiPushSink, RoutedPushSink } from '../shared/sinks/powerbi/push-url.js';
import { PowerBiRestSink } from '../shared/sinks/powerbi/rest/sink.js';
import type { RowSink } from '../shared/sinks/sink.js';
import { createStorage, getJson } from '../shared/storage/s3.js';
import { startEmbeddedS3, type EmbeddedS3 } from '../dev/embedded-s3.js';
import { startEmulator, type EmulatorServer } from '../dev/powerbi/server.js';

const log = createLogger({ fn: 'test' }, { level: 'error' });
const TENANT = '11111111-2222-3333-4444-555555555555';
const GROUP = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

function rowsOf(n: number): Row[] {
  return Array.from({ length: n }, (_, i) => [i, i % 7 === 0 ? 'São Paulo, SP' : `city ${i % 13}`, Math.round(i * 1.25 * 100) / 100, `2026-11-${String((i % 28) + 1).padStart(2, '0')}`, i % 2 === 0]);
}

const hashRows = (rows: Record<string, unknown>[]) =>
  rows
    .map((r) => createHash('sha1').update(JSON.stringify([r.id, r.city, r.amount, r.active])).digest('hex'))
    .sort()
    .join('');
const expectedHash = (rows: Row[]) => hashRows(rows.map((r) => ({ id: r[0], city: r[1], amount: r[2], active: r[4] })));

describe('Power BI sinks against the emulator', () => {
  let s3: EmbeddedS3;
  let em: EmulatorServer;
  let dir: string;
  let client: { clientId: string; secret: string };
  const config = loadConfig({ storage: storageConfig }, { OUTPUT_BUCKET: 'processed' }).storage;
  let storage: ReturnType<typeof createStorage>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pbi-test-'));
    s3 = await startEmbeddedS3({ directory: dir, accessKey: config.S3_ACCESS_KEY, secretKey: config.S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
    storage = createStorage({ ...config, S3_ENDPOINT: s3.url });
    em = await startEmulator({ port: 0 });
    client = em.rest.registerClient({ tenantId: TENANT, groups: [GROUP] });
  });
  after(async () => {
    await em.close();
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function restDataset(name: string) {
    return em.rest.createDataset(GROUP, { name, tables: [{ name: 'RealTimeData', columns: [{ name: 'id', dataType: 'Int64' }, { name: 'city', dataType: 'string' }, { name: 'amount', dataType: 'Double' }, { name: 'day', dataType: 'DateTime' }, { name: 'active', dataType: 'bool' }] }] }, 'None');
  }

  function restSink(datasetId: string, over: Partial<ConstructorParameters<typeof PowerBiRestSink>[0]> = {}) {
    return new PowerBiRestSink({
      apiUrl: em.url,
      groupId: GROUP,
      datasetId,
      table: 'RealTimeData',
      tokens: new EntraTokenProvider({ authorityUrl: em.url, tenantId: TENANT, clientId: client.clientId, clientSecret: client.secret }),
      sequenceNumbers: true,
      columnMap: {},
      maxRowsPerFile: 1_000_000,
      bigTable: false,
      timeoutMs: 5000,
      maxRetries: 8,
      log,
      ...over,
    });
  }

  /** As transform hands a version to publish: a run claims it first, and publish adopts its checkpoint with the run id. */
  async function publish(key: string, rows: Row[], sinks: RowSink[]) {
    const lifecycle = lifecycleOf(storage);
    const source = { kind: 'object' as const, bucket: 'incoming', key, etag: createHash('md5').update(key).digest('hex') };
    const runId = Lifecycle.runId();
    const taken = await lifecycle.claims.take(versionId(source), source, runId); // 'finished' for a version with an outcome
    try {
      return await publishDataset(datasetOf(key, rows), { outputBucket: 'processed', escapeFormulas: true, s3: storage, sinks, log, callId: key, runId, lifecycle });
    } finally {
      if (taken.kind === 'claimed') await taken.claim.release();
    }
  }

  test('REST: 250,000 rows in 10,000-row requests, no server-side 429', async () => {
    const ds = restDataset('big');
    const rows = rowsOf(250_000);
    const result = await publish('big.csv', rows, [restSink(ds.id, { sequenceNumbers: false })]);
    assert.equal(result.status, 'published');
    const table = ds.tables.get('RealTimeData')!;
    assert.equal(table.rows.length, 250_000);
    assert.equal(ds.refused['429'] ?? 0, 0);
    const sink = result.sinks['powerbi-rest'] as { requests: number; retries: number };
    assert.equal(sink.requests, 25);
    assert.equal(sink.retries, 0);
    assert.equal(table.rows[3].day, '2026-11-04T00:00:00.000Z');
  });

  test('REST: rows carry their source version when the table has the version column', async () => {
    const ds = em.rest.createDataset(GROUP, { name: 'versioned', tables: [{ name: 'RealTimeData', columns: [{ name: 'id', dataType: 'Int64' }, { name: 'city', dataType: 'string' }, { name: 'source_version', dataType: 'string' }] }] }, 'None');
    const result = await publish('versioned.csv', rowsOf(30), [restSink(ds.id, { versionColumn: 'source_version' })]);
    assert.equal(result.status, 'published');
    const rows = ds.tables.get('RealTimeData')!.rows;
    assert.equal(rows.length, 30);
    const etag = createHash('md5').update('versioned.csv').digest('hex');
    assert.ok(rows.every((r) => r.source_version === etag), 'every row names the version it came from');
  });

  test('REST: a batch of multi-byte text over 16 MB is split by bytes, never by characters', async () => {
    const ds = em.rest.createDataset(GROUP, { name: 'wide', tables: [{ name: 'RealTimeData', columns: [{ name: 'id', dataType: 'Int64' }, { name: 'city', dataType: 'string' }] }] }, 'None');
    // 4,000 rows of 3,900 'ã' (2 bytes each in UTF-8): ~31 MB of JSON in ~15.6 M characters.
    const wide: Row[] = Array.from({ length: 4000 }, (_, i) => [i, 'ã'.repeat(3900), 0, null, true]);
    const result = await publish('wide.csv', wide, [restSink(ds.id)]);
    assert.equal(result.status, 'published');
    assert.equal(ds.tables.get('RealTimeData')!.rows.length, 4000);
    assert.equal(ds.refused['413'] ?? 0, 0, 'no request over 16 MB');
    assert.ok((result.sinks['powerbi-rest'] as { requests: number }).requests >= 2, 'split into requests under 16 MB');
  });

  test('push URL: 20,000 rows, every request ≤ 15 KB, no server-side 429', async () => {
    const ds = em.state.createDataset({ name: 'push', mode: 'Streaming' });
    const sink = new PowerBiPushSink({ url: em.state.pushUrl(ds, em.url), maxRequestBytes: 15360, requestsPerSecond: 5, timeoutMs: 5000, maxRetries: 5, log });
    const rows = rowsOf(20_000);
    const result = await publish('push20k.csv', rows, [sink]);
    assert.equal(ds.rows.length, 20_000);
    assert.equal(ds.refused['429'] ?? 0, 0);
    assert.equal(ds.refused['400'] ?? 0, 0, 'no request over 15 KB');
    assert.equal(hashRows(ds.rows.map((r) => r.row)), expectedHash(rows));
    assert.ok((result.sinks['powerbi-push'] as { requests: number }).requests >= 20_000 / 400);
  });

  test('push URL: multi-byte text near 15 KB is batched by UTF-8 bytes, never by characters', async () => {
    const ds = em.state.createDataset({ name: 'push-wide', mode: 'Streaming' });
    const sink = new PowerBiPushSink({ url: em.state.pushUrl(ds, em.url), maxRequestBytes: 15360, requestsPerSecond: 5, timeoutMs: 5000, maxRetries: 5, log });
    // 3,000 'ã' = 6,000 bytes in 3,000 characters: two rows fit a request by bytes; five would by characters.
    const rows: Row[] = Array.from({ length: 12 }, (_, i) => [i, 'ã'.repeat(3000), 0, null, true]);
    const result = await publish('push-wide.csv', rows, [sink]);
    const r = result.sinks['powerbi-push'] as { rowsSent: number; requests: number };
    assert.equal(ds.rows.length, 12);
    assert.equal(ds.refused['400'] ?? 0, 0, 'no request over 15 KB');
    assert.equal(r.requests, 6, 'two rows a request');
  });

  test('push URL refusing the file (a real one keeps one table): the file ends partial, with the rows not sent and why', async () => {
    const ds = em.state.createDataset({ name: 'fixed-columns', mode: 'Streaming', columns: [{ name: 'produto', type: 'Text' }] });
    const sink = new PowerBiPushSink({ url: em.state.pushUrl(ds, em.url), maxRequestBytes: 15360, requestsPerSecond: 5, timeoutMs: 5000, maxRetries: 5, log });
    const result = await publish('refused.csv', rowsOf(300), [sink]);
    assert.equal(result.status, 'partial');
    const r = result.sinks['powerbi-push'] as { rowsNotSent: number; reason: string };
    assert.equal(r.rowsNotSent, 300);
    assert.match(r.reason, /Column 'id' not found/);
    assert.equal(ds.rows.length, 0);
    assert.ok((ds.refused['400'] ?? 0) <= 34, `a systemic refusal stops within the split budget (${ds.refused['400']} requests refused)`);
    const manifest = await getJson<{ status: string; partial: string }>(storage, 'processed', 'manifests/refused.csv.json');
    assert.equal(manifest?.status, 'partial');
    const source = { bucket: 'incoming', key: 'refused.csv', etag: createHash('md5').update('refused.csv').digest('hex') };
    assert.equal((await lifecycleOf(storage).status(versionId(source))).phase, 'partial', 'partial in the lifecycle\'s record too (never stored as published)');
    assert.match(manifest!.partial, /300 rows not sent to Power BI/);
  });

  test('POWERBI_ROUTES sends each key prefix to its own push URL; other files to the default', async () => {
    const main = em.state.createDataset({ name: 'main', mode: 'Streaming' });
    const sales = em.state.createDataset({ name: 'sales', mode: 'Streaming' });
    const make = (url: string) => new PowerBiPushSink({ url, maxRequestBytes: 15360, requestsPerSecond: 5, timeoutMs: 5000, maxRetries: 5, log });
    const routed = new RoutedPushSink({ 'vendas/': em.state.pushUrl(sales, em.url) }, make(em.state.pushUrl(main, em.url)), make);
    await publish('vendas/jan.csv', rowsOf(30), [routed]);
    await publish('outros/jan.csv', rowsOf(20), [routed]);
    assert.equal(sales.rows.length, 30);
    assert.equal(main.rows.length, 20);
  });

  const faults: [string, object[]][] = [
    ['429 with Retry-After', [{ kind: 'status', status: 429, retryAfter: 1, count: 2 }]],
    ['5xx', [{ kind: 'status', status: 503, count: 2 }, { kind: 'status', status: 500, count: 1 }]],
    ['slow answers (past the client timeout)', [{ kind: 'delay', ms: 1500, count: 1 }]],
    ['dropped connections', [{ kind: 'drop', count: 2 }]],
    ['ack then fail', [{ kind: 'ack-then-fail', count: 2 }]],
  ];
  for (const [name, fault] of faults) {
    test(`REST, 50,000 rows with ${name}: exactly the source rows, retries in the manifest`, async () => {
      const ds = restDataset(`fault-${name}`);
      await request(`${em.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify(fault) });
      const rows = rowsOf(50_000);
      const key = `fault-${name.replace(/\W+/g, '-')}.csv`;
      const result = await publish(key, rows, [restSink(ds.id, { timeoutMs: 1000 })]);
      const table = ds.tables.get('RealTimeData')!;
      assert.equal(table.rows.length, 50_000);
      assert.equal(hashRows(table.rows), expectedHash(rows));
      const manifest = await getJson<{ sinks: Record<string, { retries: number }> }>(storage, 'processed', `manifests/${key}.json`);
      assert.ok(manifest!.sinks['powerbi-rest'].retries >= 1, 'retries are reported');
      assert.equal(result.status, 'published');
      assert.equal(em.faults.length, 0, 'every injected fault was hit');
    });
  }

  test('push URL with ack-then-fail: the damage is bounded to that request and recorded', async () => {
    const ds = em.state.createDataset({ name: 'push-ack', mode: 'Streaming' });
    await request(`${em.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify({ kind: 'ack-then-fail', count: 1 }) });
    const sink = new PowerBiPushSink({ url: em.state.pushUrl(ds, em.url), maxRequestBytes: 15360, requestsPerSecond: 5, timeoutMs: 5000, maxRetries: 5, log });
    const rows = rowsOf(2000);
    const result = await publish('push-ack.csv', rows, [sink]);
    const dup = (result.sinks['powerbi-push'] as { possibleDuplicates: number }).possibleDuplicates;
    assert.ok(dup > 0 && dup < 400, `one request's rows: ${dup}`);
    assert.equal(ds.rows.length, 2000 + dup);
  });

  test('rows beyond POWERBI_MAX_ROWS_PER_FILE are not pushed, and the manifest says how many', async () => {
    const ds = em.state.createDataset({ name: 'capped', mode: 'Streaming' });
    const sink = new PowerBiPushSink({ url: em.state.pushUrl(ds, em.url), maxRequestBytes: 15360, requestsPerSecond: 5, timeoutMs: 5000, maxRetries: 5, maxRowsPerFile: 150, log });
    const result = await publish('capped.csv', rowsOf(400), [sink]);
    assert.equal(ds.rows.length, 150);
    assert.equal((result.sinks['powerbi-push'] as { rowsNotSent: number }).rowsNotSent, 250);
    const manifest = await getJson<{ stats: { rowsOut: number } }>(storage, 'processed', 'manifests/capped.csv.json');
    assert.equal(manifest!.stats.rowsOut, 400, 'the output bucket has every row');
  });

  test('the checkpoint: one save a request, carrying the acknowledgements before it; what was acknowledged is saved when the rows stop', async () => {
    const ds = em.state.createDataset({ name: 'ack-saves', mode: 'Streaming' });
    const sink = new PowerBiPushSink({ url: em.state.pushUrl(ds, em.url), maxRequestBytes: 2048, requestsPerSecond: 5, timeoutMs: 5000, maxRetries: 0, log });
    const header: DatasetHeader = { type: 'header', version: 1, source: { kind: 'adhoc', name: 'acks' }, dialect: { encoding: 'utf-8', bom: false, delimiter: ',', newline: '\n' }, schema: { columns: ['id', 'city', 'amount', 'day', 'active'].map((name) => ({ name, sourceName: name, type: 'text' as const, nullable: true, origin: 'inferred' as const })) }, startedAt: new Date().toISOString() };
    async function* rows(n: number): AsyncGenerator<Row[]> {
      yield rowsOf(n);
    }
    const saves: { sending?: number; acked?: number; stored: number }[] = [];
    const deliver = (n: number) =>
      sink.deliver({
        header,
        rows: rows(n),
        startAt: 0,
        onSending: async (sentTo, acked) => {
          // Every row of the requests before this one is acknowledged by this save (or was by an earlier one).
          saves.push({ sending: sentTo, acked: acked?.rows, stored: ds.rows.length });
        },
        onAck: async (acked) => void saves.push({ acked, stored: ds.rows.length }),
      });

    const result = await deliver(200);
    const sending = saves.filter((s) => s.sending !== undefined);
    assert.equal(sending.length, result.requests, 'one save before each request');
    assert.ok(result.requests >= 4, `${result.requests} requests`);
    assert.equal(saves.length, result.requests + 1, 'and one after the last answer: no save of its own for each acknowledgement');
    assert.equal(sending[0].acked, undefined);
    for (let i = 1; i < sending.length; i++) assert.deepEqual([sending[i].acked, sending[i].stored], [sending[i - 1].sending, sending[i - 1].sending], `save ${i} carries the rows of the request before it`);
    assert.deepEqual(saves.at(-1), { acked: 200, stored: 200 });

    // The rows stop coming (the cleaned CSV cannot be read) with a request's answer in: no later
    // request carries its acknowledgement, so it is saved on the way out.
    ds.rows.length = 0;
    saves.length = 0;
    async function* broken(): AsyncGenerator<Row[]> {
      yield rowsOf(100);
      await new Promise((r) => setTimeout(r, 300));
      throw new Error('the cleaned CSV could not be read');
    }
    await assert.rejects(sink.deliver({ header, rows: broken(), startAt: 0, onSending: async (sentTo, acked) => void saves.push({ sending: sentTo, acked: acked?.rows, stored: ds.rows.length }), onAck: async (acked) => void saves.push({ acked, stored: ds.rows.length }) }), /could not be read/);
    assert.ok(ds.rows.length > 0 && ds.rows.length < 100, `${ds.rows.length} rows stored`);
    assert.deepEqual(saves.at(-1), { acked: ds.rows.length, stored: ds.rows.length }, 'what was acknowledged is saved after the failure');

    // A save before a request that fails (the store did not answer): the acknowledgements it carried are saved again on the way out.
    ds.rows.length = 0;
    saves.length = 0;
    let sendingSaves = 0;
    const failing = async (sentTo: number, acked?: { rows: number }) => {
      if (++sendingSaves === 3) throw new Error('the store did not answer');
      saves.push({ sending: sentTo, acked: acked?.rows, stored: ds.rows.length });
    };
    await assert.rejects(sink.deliver({ header, rows: rows(200), startAt: 0, onSending: failing, onAck: async (acked) => void saves.push({ acked, stored: ds.rows.length }) }), /did not answer/);
    assert.equal(ds.rows.length, saves[1].sending, 'two requests stored');
    assert.deepEqual(saves.at(-1), { acked: ds.rows.length, stored: ds.rows.length }, 'their acknowledgement, carried by the failed save, is saved after it');
  });

  test('a replay of a published object pushes nothing', async () => {
    const ds = restDataset('replay');
    const rows = rowsOf(1000);
    await publish('replay.csv', rows, [restSink(ds.id)]);
    const again = await publish('replay.csv', rows, [restSink(ds.id)]);
    assert.deepEqual([again.status, again.replay], ['published', true]);
    assert.equal(ds.tables.get('RealTimeData')!.rows.length, 1000);
  });

  test('columns map by name with coercion; values that cannot be coerced are rejects, not a failed batch', async () => {
    const ds = em.rest.createDataset(GROUP, { name: 'mapped', tables: [{ name: 'Sales', columns: [{ name: 'ID', dataType: 'Int64' }, { name: 'amount', dataType: 'Int64' }, { name: 'city', dataType: 'String' }] }] }, null);
    const rows: Row[] = [
      [1, 'a', 10, '2026-01-01', true],
      [2, 'b', 10.5, '2026-01-02', false],
      [3, 'c', 12, '2026-01-03', true],
    ];
    const result = await publish('mapped.csv', rows, [restSink(ds.id, { table: 'Sales', columnMap: { id: 'ID' } })]);
    const sink = result.sinks['powerbi-rest'] as unknown as { rowsSent: number; rowsRejected: number; rejects: { row: number; reason: string }[]; unmappedColumns: string[] };
    assert.equal(sink.rowsSent, 2);
    assert.equal(sink.rowsRejected, 1);
    assert.match(sink.rejects[0].reason, /amount: 10\.5 is not an Int64/);
    assert.deepEqual(sink.unmappedColumns, ['day', 'active']);
    assert.deepEqual(ds.tables.get('Sales')!.rows, [
      { ID: 1, amount: 10, city: 'a' },
      { ID: 3, amount: 12, city: 'c' },
    ]);
  });

  test('bad credentials and a missing table are reported with the setting, without the secret', async () => {
    const ds = restDataset('auth');
    const bad = restSink(ds.id, { tokens: new EntraTokenProvider({ authorityUrl: em.url, tenantId: TENANT, clientId: client.clientId, clientSecret: 'wrong-secret-value' }) });
    const r1 = await publish('auth.csv', rowsOf(10), [bad]);
    const e1 = (r1.sinks['powerbi-rest'] as { error: { detail: string; setting: string } }).error;
    assert.equal(e1.setting, 'POWERBI_CLIENT_SECRET');
    assert.doesNotMatch(JSON.stringify(e1), /wrong-secret-value/);
    const r2 = await publish('table.csv', rowsOf(10), [restSink(ds.id, { table: 'realtimedata' })]);
    assert.match((r2.sinks['powerbi-rest'] as { error: { detail: string } }).error.detail, /no table 'realtimedata'/);
  });

  test('creating the dataset from the schema; FeatureDeprecatedError ends the file partial and names the Eventstream sink', async () => {
    const sink = restSink('', { datasetId: undefined, createDataset: { name: 'created', retention: 'basicFIFO' } });
    const result = await publish('create.csv', rowsOf(100), [sink]);
    const id = (result.sinks['powerbi-rest'] as unknown as { datasetId: string }).datasetId;
    const ds = em.rest.datasets.get(id)!;
    assert.equal(ds.retention, 'basicFIFO');
    assert.deepEqual(ds.tables.get('RealTimeData')!.columns.map((c) => c.type), ['Int64', 'String', 'Double', 'DateTime', 'Boolean']);
    assert.equal(ds.tables.get('RealTimeData')!.rows.length, 100);
    em.rest.blockStreamingCreation = true;
    try {
      const r = await publish('create2.csv', rowsOf(10), [restSink('', { datasetId: undefined, createDataset: { name: 'x', retention: 'basicFIFO' } })]);
      assert.equal(r.status, 'partial');
      const refused = r.sinks['powerbi-rest'] as { error: { type: string; detail: string }; rowsNotSent: number };
      assert.match(refused.error.type, /powerbi-creation-refused/);
      assert.match(refused.error.detail, /FeatureDeprecatedError/);
      assert.match(refused.error.detail, /Eventstream sink: set EVENTSTREAM_CONNECTION_STRING/);
      assert.equal(refused.rowsNotSent, 10);
    } finally {
      em.rest.blockStreamingCreation = false;
    }
  });
});
