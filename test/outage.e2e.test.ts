/**
 * Downstream outages: the chain answers 5xx so MinIO (here the bridge, like queue_dir) retries,
 * and a retry after recovery produces the outputs once, with no row pushed twice.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { emulatorRows, objectExists, waitFor, waitForJson, waitForLog, useTestStack } from './helpers.js';

function table(rows: number, offset = 0): Buffer {
  const lines = ['id,city,amount,when'];
  for (let i = 0; i < rows; i++) lines.push(`${offset + i},"São Paulo, SP",${(i * 1.25).toFixed(2)},2026-11-${String((i % 28) + 1).padStart(2, '0')}`);
  return Buffer.from(lines.join('\n') + '\n');
}

describe('outages', () => {
  const stack = useTestStack();

  test('publish down: the event is retried and the outputs appear once after recovery', async () => {
    const t = stack();
    await t.stack.stopFunction('publish');
    const body = table(500);
    await t.s3.putObject('incoming', 'outage/publish-down.csv', body, body.length);
    // The bridge keeps retrying while publish is away (each attempt answers 5xx).
    await waitFor('several failed deliveries', async () => (t.stack.bridge!.attempts >= 3 ? true : undefined), 20_000);
    assert.equal(t.stack.bridge!.pending(), 1, 'the event is still queued');
    assert.equal(await objectExists(t.s3, 'processed', 'manifests/outage/publish-down.csv.json'), false);
    await waitForLog(t, 'webhook answered 502 while publish was down', (l) => l.startsWith('webhook') && l.includes('"status":502'));

    await t.stack.startFunction('publish');
    const manifest = await waitForJson<{ stats: { rowsOut: number } }>(t.s3, 'processed', 'manifests/outage/publish-down.csv.json', 30_000);
    assert.equal(manifest.stats.rowsOut, 500);
    await waitFor('queue drained', async () => (t.stack.bridge!.pending() === 0 ? true : undefined));
    const pbi = await emulatorRows(t);
    assert.equal(pbi.total, 500);
    assert.deepEqual(new Set(pbi.rows.map((r) => r.id)).size, 500);
  });

  test('Power BI failing (5xx, 429, dropped connections) loses and duplicates nothing', async () => {
    const t = stack();
    const em = t.stack.emulator!;
    await request(`${em.url}/_emulator/faults`, {
      method: 'POST',
      body: JSON.stringify([
        { kind: 'status', status: 503, count: 2 },
        { kind: 'status', status: 429, retryAfter: 1, count: 1 },
        { kind: 'drop', count: 1 },
      ]),
    });
    const body = table(2000, 10_000);
    await t.s3.putObject('incoming', 'outage/powerbi-flaky.csv', body, body.length);
    const manifest = await waitForJson<{ sinks: Record<string, { rowsSent: number; retries: number }> }>(t.s3, 'processed', 'manifests/outage/powerbi-flaky.csv.json', 60_000);
    assert.equal(manifest.sinks['powerbi-push'].rowsSent, 2000);
    assert.equal(manifest.sinks['powerbi-push'].retries, 4);
    const ids = (await emulatorRows(t)).rows.map((r) => r.id as number).filter((id) => id >= 10_000);
    assert.equal(ids.length, 2000);
    assert.equal(new Set(ids).size, 2000);
    const refused = em.state.datasets.get(t.stack.emulatorDatasetId!)!.refused;
    assert.equal(refused['429'] ?? 0, 0, 'the client-side limiter never let the emulator throttle it');
  });

  test('one Power BI budget per process: 100 files published at once, 0 requests throttled by Power BI', async () => {
    const t = stack();
    const em = t.stack.emulator!;
    const refusedBefore = em.state.datasets.get(t.stack.emulatorDatasetId!)!.refused['429'] ?? 0;
    const before = (await emulatorRows(t)).total;
    const csv = (n: number) => ['id,city,amount,when', ...Array.from({ length: 150 }, (_, i) => `${100_000 + n * 1000 + i},Recife,${i}.5,2026-11-0${1 + (i % 9)}`)].join('\n') + '\n';
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, n) => {
        const res = await request(`${t.stack.gateway.url}/function/transform?publish=true&name=budget-${n}.csv`, { method: 'POST', body: csv(n), headers: { authorization: `Bearer ${t.stack.env.INTERNAL_TOKEN}` } });
        return { status: res.statusCode, body: (await res.body.json()) as { status: string } };
      }),
    );
    assert.deepEqual(results.map((r) => r.status), Array(100).fill(200));
    assert.equal((await emulatorRows(t)).total, before + 100 * 150);
    assert.equal(em.state.datasets.get(t.stack.emulatorDatasetId!)!.refused['429'] ?? 0, refusedBefore, 'the shared limiter kept every request inside 5 a second');
  });
});
