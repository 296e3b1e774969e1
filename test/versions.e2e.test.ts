/**
 * Versions: a newer upload of a key stops a running older one before its next Power BI batch.
 * The older version's manifest goes aside (status superseded) and never overwrites the newer
 * outputs; the key's outputs are the newer version's.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { versionId as idempotencyKey } from '../shared/lifecycle/index.js';
import { outputNames, supersededManifest } from '../shared/storage/layout.js';
import { emulatorRows, readObject, useTestStack, waitFor, waitForJson } from './helpers.js';

const table = (from: number, n: number) => Buffer.from(['id,city,amount', ...Array.from({ length: n }, (_, i) => `${from + i},Natal,${i}.25`)].join('\n') + '\n');

describe('versions', () => {
  const stack = useTestStack();

  test('a newer upload stops the older push; the older manifest says superseded; outputs are the newer', async () => {
    const t = stack();
    const key = 'versions/sales.csv';
    // Big enough that its push lasts many seconds at Power BI's rate: the newer upload lands well
    // before the older push could end on its own, however slow the machine.
    const v1 = table(0, 30_000);
    const put1 = await t.s3.putObject('incoming', key, v1, v1.length);
    // Once the first version's rows reach Power BI, the second version is uploaded.
    await waitFor('v1 pushing', async () => ((await emulatorRows(t)).rows.some((r) => (r.id as number) < 30_000) ? true : undefined), 60_000, 20);
    const v2 = table(900_000, 200);
    const put2 = await t.s3.putObject('incoming', key, v2, v2.length);
    const id1 = idempotencyKey({ bucket: 'incoming', key, etag: put1.etag });
    const old = await waitForJson<{ status: string; sinks: Record<string, { rowsSent: number; rowsNotSent: number; superseded: boolean }> }>(t.s3, 'processed', supersededManifest(key, id1), 60_000);
    assert.equal(old.status, 'superseded');
    assert.equal(old.sinks['powerbi-push'].superseded, true);
    assert.ok(old.sinks['powerbi-push'].rowsNotSent > 0, 'the older version stopped before its last batch');
    const current = await waitFor('the newer manifest', async () => {
      const m = await waitForJson<{ source: { etag: string }; stats: { rowsOut: number } }>(t.s3, 'processed', outputNames(key).manifest, 60_000);
      return m.source.etag === put2.etag ? m : undefined;
    }, 60_000);
    assert.equal(current.stats.rowsOut, 200);
    assert.equal((await readObject(t.s3, 'processed', outputNames(key).cleaned)).toString(), v2.toString(), 'the key’s cleaned CSV is the newer version');
    const ids = (await emulatorRows(t)).rows.map((r) => r.id as number);
    assert.equal(ids.filter((id) => id >= 900_000).length, 200, 'the newer version arrived whole, once');
    assert.ok(ids.filter((id) => id < 30_000).length < 30_000, 'the older version stopped pushing');
  });
});
