/**
 * Downstream outages: a version whose run fails in a way a retry can help waits for its next
 * attempt in the lifecycle's records (counted; MinIO's one-at-a-time queue is answered and moves
 * on), and the attempt after recovery produces the outputs once, with no row pushed twice.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { versionId } from '../shared/lifecycle/index.js';
import { emulatorRows, lifecycleOf, objectExists, waitFor, waitForJson, waitForLog, useTestStack } from './helpers.js';

function table(rows: number, offset = 0): Buffer {
  const lines = ['id,city,amount,when'];
  for (let i = 0; i < rows; i++) lines.push(`${offset + i},"São Paulo, SP",${(i * 1.25).toFixed(2)},2026-11-${String((i % 28) + 1).padStart(2, '0')}`);
  return Buffer.from(lines.join('\n') + '\n');
}

describe('outages', () => {
  const stack = useTestStack({ CLAIM_SECONDS: '4' });

  test('publish down: the version waits for its next attempt, MinIO\'s queue moves on, and the outputs appear once after recovery', async () => {
    const t = stack();
    await t.stack.stopFunction('publish');
    const body = table(500);
    const put = await t.s3.putObject('incoming', 'outage/publish-down.csv', body, body.length);
    const id = versionId({ bucket: 'incoming', key: 'outage/publish-down.csv', etag: put.etag });
    // Each attempt fails (publish is away): the version waits for the next, counted, with the reason.
    const waiting = await waitFor('two attempts', async () => {
      const s = await lifecycleOf(t.s3).status(id);
      return s.phase === 'waiting' && s.claim!.attempts >= 2 ? s : undefined;
    }, 30_000);
    assert.match(waiting.claim!.last!.title, /unreachable|unavailable/, 'the reason: publish could not be reached');
    await t.stack.bridge!.settled();
    assert.equal(t.stack.bridge!.pending(), 0, 'MinIO was answered: its queue is not blocked by the outage');
    assert.equal(await objectExists(t.s3, 'processed', 'manifests/outage/publish-down.csv.json'), false);
    await waitForLog(t, 'transform said the next attempt waits', (l) => l.startsWith('transform') && l.includes('the next attempt waits'));

    await t.stack.startFunction('publish');
    const manifest = await waitForJson<{ stats: { rowsOut: number } }>(t.s3, 'processed', 'manifests/outage/publish-down.csv.json', 30_000);
    assert.equal(manifest.stats.rowsOut, 500);
    assert.equal((await lifecycleOf(t.s3).status(id)).phase, 'published');
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
