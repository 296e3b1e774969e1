/**
 * One Power BI budget per destination across publish replicas (REPLICAS=3 behind the gateway's
 * round robin), against the emulator, which refuses what Power BI refuses: a push URL past 5
 * requests a second; a REST dataset past 120 POST rows a minute or 5 pending requests. Files are
 * published at once through every replica; Power BI must not throttle a single request.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { emulatorRows, useTestStack } from './helpers.js';

const csv = (n: number, rows: number) => ['id,city,amount,when', ...Array.from({ length: rows }, (_, i) => `${n * 1000 + i},Recife,${i}.5,2026-11-0${1 + (i % 9)}`)].join('\n') + '\n';

async function publishAtOnce(url: string, token: string, files: number, rows: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: files }, async (_, n) => {
      const res = await request(`${url}/function/transform?publish=true&name=budget-${n}.csv`, { method: 'POST', body: csv(n, rows), headers: { authorization: `Bearer ${token}` }, headersTimeout: 0, bodyTimeout: 0 });
      await res.body.dump();
      return res.statusCode;
    }),
  );
}

describe('one budget per push URL across three publish replicas', () => {
  const stack = useTestStack({ REPLICAS: '3' });

  test('60 files published at once through three replicas: every row stored, 0 requests throttled by Power BI', { timeout: 180_000 }, async () => {
    const t = stack();
    const em = t.stack.emulator!;
    const statuses = await publishAtOnce(t.stack.gateway.url, t.stack.env.INTERNAL_TOKEN, 60, 150);
    assert.deepEqual(statuses, Array(60).fill(200));
    assert.equal((await emulatorRows(t)).total, 60 * 150);
    assert.equal(em.state.datasets.get(t.stack.emulatorDatasetId!)!.refused['429'] ?? 0, 0, 'the shared budget kept every request inside 5 a second');
  });
});

describe('one budget per REST dataset across three publish replicas', () => {
  const stack = useTestStack({ REPLICAS: '3', POWERBI_EMULATOR_ROUTE: 'rest' });

  test('130 one-request files at once through three replicas: past 120 POST rows a minute they wait, and Power BI throttles none', { timeout: 240_000 }, async () => {
    const t = stack();
    const em = t.stack.emulator!;
    const statuses = await publishAtOnce(t.stack.gateway.url, t.stack.env.INTERNAL_TOKEN, 130, 5);
    assert.deepEqual(statuses, Array(130).fill(200));
    const datasets = [...em.rest.datasets.values()];
    const rows = datasets.flatMap((d) => [...d.tables.values()]).reduce((s, tb) => s + tb.rows.length, 0);
    assert.equal(rows, 130 * 5, 'every row stored once');
    const refused = datasets.reduce((n, d) => n + (d.refused['429'] ?? 0), 0);
    assert.equal(refused, 0, 'no request refused for the rate (120 a minute) or for too many pending (5)');
  });
});
