/**
 * Abandoned work is recovered: an object whose run died (its lease expired, no completion
 * marker) and that nobody will redeliver is picked up by the webhook's recovery sweep.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { idempotencyKey } from '../shared/storage/object-state.js';
import { putJson } from '../shared/storage/s3.js';
import { waitForJson, useTestStack } from './helpers.js';

describe('recovery sweep', () => {
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
    assert.ok(t.logs.some((l) => l.includes('recovering an abandoned run')));
  });
});
