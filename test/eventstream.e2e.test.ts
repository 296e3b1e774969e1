/**
 * The whole pipeline with EVENTSTREAM_CONNECTION_STRING pointing at the in-repo Event
 * Hubs-compatible endpoint, beside the Power BI emulator: the seed file arrives as 10,000
 * events with its columns (and in Power BI), and a 20,000-row file under injected server-busy
 * faults arrives whole, with no more duplicates than the manifest reports.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { examplePath } from './kit.js';
import { emulatorRows, startTestStack, waitForJson, type TestStack } from './helpers.js';
import { startEventstreamEndpoint, type EventstreamEndpoint } from '../dev/eventstream/endpoint.js';

interface Manifest {
  status: string;
  stats: { rowsOut: number };
  sinks: Record<string, { rowsSent: number; retries: number; possibleDuplicates?: number }>;
}

const seed = readFileSync(examplePath('mock_10000_linhas.csv'));

describe('Eventstream end to end', () => {
  let ep: EventstreamEndpoint;
  let t: TestStack;
  before(async () => {
    ep = await startEventstreamEndpoint({ port: 0 });
    t = await startTestStack({ EVENTSTREAM_CONNECTION_STRING: ep.connectionString, EVENTSTREAM_MAX_BATCH_BYTES: String(64 * 1024) });
  });
  after(async () => {
    await t?.stop();
    await ep?.close();
  });

  test('the seed file arrives as 10,000 events with its columns, and in Power BI beside it', async () => {
    await t.s3.putObject('incoming', 'mock_10000_linhas.csv', seed, seed.length, { 'Content-Type': 'text/csv' });
    const manifest = await waitForJson<Manifest>(t.s3, 'processed', 'manifests/mock_10000_linhas.csv.json', 90_000);
    assert.equal(manifest.status, 'published');
    assert.equal(manifest.sinks.eventstream.rowsSent, 10_000);
    assert.equal(manifest.sinks['powerbi-push'].rowsSent, 10_000);
    const events = ep.events.filter((e) => e.properties.objectKey === 'mock_10000_linhas.csv');
    assert.equal(events.length, 10_000);
    assert.deepEqual(events[0].body, { idade: 67, genero: 'M', renda_mensal: 17546 });
    const lines = seed.toString('utf8').trim().split('\n').slice(1);
    assert.equal(events.reduce((s, e) => s + (e.body as { renda_mensal: number }).renda_mensal, 0), lines.reduce((s, l) => s + Number(l.split(',')[2]), 0), 'every value arrived once');
    assert.ok(events.every((e) => Object.keys(e.body as object).join() === 'idade,genero,renda_mensal'));
    assert.equal((await emulatorRows(t)).total, 10_000);
    // The connection string (its key) never reaches a log line.
    assert.equal(t.logs.filter((l) => l.includes('local-eventstream-key')).length, 0);
  });

  test('20,000 rows under server-busy faults: every row arrives, duplicates ≤ those the manifest reports', async () => {
    Object.assign(ep.faults, { busyEvery: 4, busyWaitSeconds: 0.1 });
    const busyBefore = ep.stats.busy;
    try {
      const rows = Array.from({ length: 20_000 }, (_, i) => `${i},cidade ${i % 97},${(i * 0.37).toFixed(2)}`);
      const body = Buffer.from(`id,cidade,valor\n${rows.join('\n')}\n`);
      await t.s3.putObject('incoming', 'busy/twenty.csv', body, body.length, { 'Content-Type': 'text/csv' });
      const manifest = await waitForJson<Manifest>(t.s3, 'processed', 'manifests/busy/twenty.csv.json', 180_000);
      assert.equal(manifest.status, 'published');
      const events = ep.events.filter((e) => e.properties.objectKey === 'busy/twenty.csv');
      const unique = new Set(events.map((e) => e.properties.row));
      assert.equal(unique.size, 20_000, 'every row arrived');
      assert.ok(ep.stats.busy > busyBefore, 'the endpoint answered busy');
      const duplicates = events.length - unique.size;
      assert.ok(duplicates <= (manifest.sinks.eventstream.possibleDuplicates ?? 0), `${duplicates} duplicates, ${manifest.sinks.eventstream.possibleDuplicates ?? 0} reported`);
      assert.ok(manifest.sinks.eventstream.retries > 0);
    } finally {
      Object.assign(ep.faults, { busyEvery: 0, busyWaitSeconds: 4 });
    }
  });
});
