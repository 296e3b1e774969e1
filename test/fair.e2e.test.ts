/**
 * Fair under load: a small file uploaded while large files are being published to the same push
 * URL (5 requests a second, as Power BI allows) is not served behind them. Its requests go first
 * (it is small: its size in requests is under the head start), so the large files' rows that
 * Power BI stores between its first row and its last are few; in arrival order each of its
 * requests would wait for one request of every large file. Read from the order in which the
 * emulator stored the rows, not from a clock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { versionId } from '../shared/lifecycle/index.js';
import { lifecycleOf, useTestStack, waitFor } from './helpers.js';

const SMALL_FROM = 900_000_000;
const csv = (first: number, rows: number) => ['id,city,amount,when', ...Array.from({ length: rows }, (_, i) => `${first + i},São Paulo ${i % 13},${(i % 997) / 4},2026-11-${String((i % 28) + 1).padStart(2, '0')}`)].join('\n') + '\n';

describe('fair under load on one push URL', () => {
  const stack = useTestStack();

  test('a 1,000-row file uploaded while six large files are sending goes before them: few of their rows between its first and its last', { timeout: 240_000 }, async () => {
    const t = stack();
    const ds = t.stack.emulator!.state.datasets.get(t.stack.emulatorDatasetId!)!;
    const etags: Record<string, string> = {};
    const put = async (key: string, body: string) => (etags[key] = (await t.s3.putObject('incoming', key, Buffer.from(body), Buffer.byteLength(body))).etag);
    await Promise.all(Array.from({ length: 6 }, (_, f) => put(`fair/large-${f}.csv`, csv(f * 1_000_000, 3_000))));
    // Every large file is sending (each has rows stored), and they have far more to send.
    await waitFor('the large files sending', async () => new Set(ds.rows.map((r) => Math.floor(Number(r.row.id) / 1_000_000))).size >= 6 || undefined, 120_000, 50);
    await put('fair/small.csv', csv(SMALL_FROM, 1_000));

    const lifecycle = lifecycleOf(t.s3);
    for (const key of Object.keys(etags)) {
      const done = await waitFor(key, async () => (await lifecycle.status(versionId({ bucket: 'incoming', key, etag: etags[key] }))).outcome, 200_000, 250);
      assert.equal(done.outcome, 'published', key);
    }
    const ids = ds.rows.map((r) => Number(r.row.id));
    assert.equal(ids.length, 6 * 3_000 + 1_000, 'every row stored once');
    const small = ids.map((id, i) => (id >= SMALL_FROM ? i : -1)).filter((i) => i >= 0);
    assert.equal(small.length, 1_000);
    const between = small[small.length - 1] - small[0] + 1 - small.length;
    // Power BI takes about 170 of these rows a request; the small file needs 6 requests. Going
    // first, at most one other request is stored beside each of its own; in turns, 6 × 6. (With
    // the second's 5 starts granted as a burst, 4 of each burst went to the large files: 2,700
    // rows here. While requests compete, the push URL's starts are spread: rate-limiter.ts.)
    assert.ok(between <= 6 * 2 * 200, `${between} rows of the large files were stored between the small file's first row and its last`);
    const lastOf = (file: number) => ids.reduce((last, id, i) => (Math.floor(id / 1_000_000) === file ? i : last), -1);
    for (let f = 0; f < 6; f++) assert.ok(small[small.length - 1] < lastOf(f), `the small file was done after large file ${f}`);
    assert.equal(ds.refused['429'] ?? 0, 0, 'none throttled');
  });
});
