/**
 * Nothing stays without an outcome: an object whose run died (its claim expired, no outcome) is
 * taken over by the webhook's sweep of due claims, one whose notification was lost is handed on
 * by the input sweep; an object that keeps failing fails for good after MAX_ATTEMPTS, with its
 * record, and the queue moves on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Lifecycle, versionId } from '../shared/lifecycle/index.js';
import { lifecycleOf, waitForJson, waitForLog, useTestStack } from './helpers.js';

describe('reconciliation', () => {
  const stack = useTestStack({ CLAIM_SECONDS: '4' });

  test('a claim left by a run that died is taken over once it expires', async () => {
    const t = stack();
    t.stack.bridge!.stop(); // the event is never delivered: as if MinIO had been answered 202 and the run died
    const body = Buffer.from('idade,genero,renda_mensal\n30,F,1000\n31,M,2000\n');
    const put = await t.s3.putObject('incoming', 'lost/abandoned.csv', body, body.length);
    const source = { kind: 'object' as const, bucket: 'incoming', key: 'lost/abandoned.csv', etag: put.etag, size: body.length };
    // A run claimed it and died: its 1 s claim is never renewed.
    const dead = await new Lifecycle(t.s3, 'processed', { claimMs: 1000, maxAttempts: 20 }).claims.take(versionId(source), source, 'dead-run');
    assert.equal(dead.kind, 'claimed');
    const manifest = await waitForJson<{ stats: { rowsOut: number }; source: { etag: string }; runId: string }>(t.s3, 'processed', 'manifests/lost/abandoned.csv.json', 30_000);
    assert.equal(manifest.stats.rowsOut, 2);
    assert.equal(manifest.source.etag, put.etag);
    assert.notEqual(manifest.runId, 'dead-run');
    await waitForLog(t, 'the webhook recovered the abandoned object', (l) => l.includes('recovering: the next attempt is due'));
    const status = await lifecycleOf(t.s3).status(versionId(source));
    assert.equal(status.phase, 'published');
    assert.equal(status.claim, undefined, 'the claim is gone with the outcome');
  });

  test('an object with no record (a lost notification) is handed on when the webhook starts', async () => {
    const t = stack();
    t.stack.bridge!.stop();
    const body = Buffer.from('a,b\n1,2\n');
    await t.s3.putObject('incoming', 'lost/never-notified.csv', body, body.length);
    await t.stack.stopFunction('webhook');
    await t.stack.startFunction('webhook');
    const manifest = await waitForJson<{ stats: { rowsOut: number } }>(t.s3, 'processed', 'manifests/lost/never-notified.csv.json', 30_000);
    assert.equal(manifest.stats.rowsOut, 1);
    await waitForLog(t, 'the webhook reconciled the object', (l) => l.includes('reconciling: an object with no record is handed on'));
  });
});

describe('attempts have a ceiling', () => {
  const stack = useTestStack({ MAX_ATTEMPTS: '2', CLAIM_SECONDS: '4' });

  test('publish down: after MAX_ATTEMPTS the object fails for good with its record, and MinIO’s queue moves on', async () => {
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
    assert.deepEqual(await unfinishedObjects({ s3: t.s3, lifecycle: lifecycleOf(t.s3), inputBucket: 'incoming', prefix: '', suffixes: ['.csv'], withoutOutcome: true }), []);
    await t.stack.startFunction('publish');
  });
});
