/**
 * Nothing stays without a terminal state: an object whose run died (its lease expired, no
 * completion) or whose notification was lost is handed on by the webhook's reconciliation sweep;
 * an object that keeps failing fails for good after MAX_ATTEMPTS, with its record, and the
 * queue moves on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { idempotencyKey } from '../shared/storage/object-state.js';
import { putJson } from '../shared/storage/s3.js';
import { waitForJson, waitForLog, useTestStack } from './helpers.js';

describe('reconciliation', () => {
  const stack = useTestStack();

  test('an expired lease without completion is processed again when the webhook starts', async () => {
    const t = stack();
    t.stack.bridge!.stop(); // the event is never delivered: as if MinIO had been answered 202 and the run died
    const body = Buffer.from('idade,genero,renda_mensal\n30,F,1000\n31,M,2000\n');
    const put = await t.s3.putObject('incoming', 'lost/abandoned.csv', body, body.length);
    const stat = await t.s3.statObject('incoming', 'lost/abandoned.csv');
    const id = idempotencyKey({ bucket: 'incoming', key: 'lost/abandoned.csv', etag: stat.etag });
    assert.equal(put.etag, stat.etag);
    const past = new Date(Date.now() - 60_000).toISOString();
    await putJson(t.s3, 'processed', `_state/${id}.lease.json`, { id, owner: 'dead-run', acquiredAt: past, expiresAt: past, bucket: 'incoming', key: 'lost/abandoned.csv' });
    await t.stack.stopFunction('webhook');
    await t.stack.startFunction('webhook');
    const manifest = await waitForJson<{ stats: { rowsOut: number }; source: { etag: string } }>(t.s3, 'processed', 'manifests/lost/abandoned.csv.json', 30_000);
    assert.equal(manifest.stats.rowsOut, 2);
    assert.equal(manifest.source.etag, stat.etag);
    await waitForLog(t, 'the webhook reconciled the abandoned object', (l) => l.includes('reconciling: an object with no terminal state is handed on'));
  });
});

describe('attempts have a ceiling', () => {
  const stack = useTestStack({ MAX_ATTEMPTS: '2' });

  test('publish down: after MAX_ATTEMPTS the object fails for good with its record, and MinIO is answered 200', async () => {
    const t = stack();
    await t.stack.stopFunction('publish');
    const body = Buffer.from('id\n1\n2\n');
    await t.s3.putObject('incoming', 'ceiling/x.csv', body, body.length);
    const record = await waitForJson<{ retryable: boolean; attempts: number; problem: { status: number } }>(t.s3, 'processed', 'failed/ceiling/x.csv.json', 30_000);
    assert.equal(record.attempts, 2);
    assert.equal(record.retryable, true, 'the record says a retry could help (reprocess by hand)');
    await t.stack.bridge!.settled();
    assert.equal(t.stack.bridge!.pending(), 0, 'the queue moved on');
    // Nothing retries it any more: the reconciliation sweep finds a terminal state.
    const { unfinishedObjects } = await import('../functions/webhook/recovery.js');
    assert.deepEqual(await unfinishedObjects({ s3: t.s3, inputBucket: 'incoming', outputBucket: 'processed', prefix: '', suffixes: ['.csv'] }), []);
    await t.stack.startFunction('publish');
  });
});
