/**
 * Only the pipeline writes its outputs, and input keys cannot reach reserved or colliding names.
 * Each probe ends in a refusal with nothing written, or in outputs that stay apart.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { getJson, type Storage } from '../shared/storage/s3.js';
import { outputNames, refusedKeyRecord } from '../shared/storage/layout.js';
import { fixturePath } from './kit.js';
import { lifecycleOf, objectExists, postJson, readObject, useTestStack, waitFor, waitForJson } from './helpers.js';
import { versionId } from '../shared/lifecycle/index.js';

async function names(s3: Storage, bucket: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of s3.listObjectsV2(bucket, '', true) as AsyncIterable<{ name: string }>) out.push(o.name);
  return out.sort();
}

/**
 * What the bucket holds apart from the pipeline's own bookkeeping: budget and sweep turns are
 * written on the replicas' timers (a sweep's turn can appear at any moment), so they are left out.
 */
async function outputsIn(s3: Storage, bucket: string): Promise<string[]> {
  return (await names(s3, bucket)).filter((n) => !n.startsWith('_state/budgets/') && !n.startsWith('_state/sweeps/'));
}

const dataset = (key: string) =>
  [
    JSON.stringify({ type: 'header', version: 1, source: { kind: 'object', bucket: 'incoming', key, etag: 'forged' }, dialect: { encoding: 'utf-8', bom: false, delimiter: ',', newline: '\n' }, schema: { columns: [{ name: 'x', sourceName: 'x', type: 'integer', nullable: true, origin: 'inferred' }] }, startedAt: new Date().toISOString() }),
    '[666]',
    JSON.stringify({ type: 'trailer', stats: { rowsIn: 1, rowsOut: 1, rowsRejected: 0, blankLines: 0, bytesIn: 4, durationMs: 1, columns: {}, rejectReasons: {} }, rejects: [], rejectsTruncated: false }),
  ].join('\n') + '\n';

describe('security probes', () => {
  const stack = useTestStack();

  test('a forged dataset to publish is refused (401) and nothing is written', async () => {
    const t = stack();
    const before = await outputsIn(t.s3, 'processed');
    for (const authorization of [undefined, 'Bearer not-the-internal-token-000', t.stack.env.INTERNAL_TOKEN]) {
      const res = await request(`${t.stack.gateway.url}/function/publish`, { method: 'POST', body: dataset('victim.csv'), headers: { 'content-type': 'application/x-ndjson', ...(authorization ? { authorization } : {}) } });
      assert.equal(res.statusCode, 401);
      await res.body.dump();
    }
    assert.deepEqual(await outputsIn(t.s3, 'processed'), before, 'nothing written');
  });

  test('forged references to transform: no credential 401, another bucket 403, another version 409', async () => {
    const t = stack();
    const body = Buffer.from('id\n1\n2\n');
    await t.s3.putObject('incoming', 'refs/real.csv', body, body.length);
    const manifest = await waitForJson<{ source: { etag: string } }>(t.s3, 'processed', outputNames('refs/real.csv').manifest);
    // The run is over (its claim record deleted, which follows the outcome) before the probes start:
    // status() answers from the outcome alone once there is one, so the record itself is looked for.
    const id = versionId({ bucket: 'incoming', key: 'refs/real.csv', etag: manifest.source.etag });
    await waitFor('the outcome', async () => (await lifecycleOf(t.s3).status(id)).outcome);
    const outputs = () => outputsIn(t.s3, 'processed');
    await waitFor('the claim released', async () => ((await outputs()).some((n) => n.startsWith('_state/claims/') && n.includes(id)) ? undefined : true));
    const before = await outputs();
    const url = `${t.stack.gateway.url}/function/transform`;
    const internal = { authorization: `Bearer ${t.stack.env.INTERNAL_TOKEN}` };
    assert.equal((await postJson(url, { bucket: 'incoming', key: 'refs/real.csv', etag: 'x' })).status, 401);
    const other = await postJson(url, { bucket: 'processed', key: 'cleaned/refs/real.csv' }, internal);
    assert.equal(other.status, 403);
    assert.equal(other.headers['content-type'], 'application/problem+json');
    const forged = await postJson(url, { bucket: 'incoming', key: 'refs/real.csv', etag: '0123456789abcdef0123456789abcdef' }, internal);
    assert.equal(forged.status, 409);
    assert.notEqual(manifest.source.etag, '0123456789abcdef0123456789abcdef');
    assert.deepEqual(await outputs(), before, 'nothing written');
  });

  test('keys that differ only in case, or look like outputs, or sit under reserved prefixes, stay apart', async () => {
    const t = stack();
    const files: Record<string, string> = { 'c/a.csv': 'v\n1\n', 'c/a.CSV': 'v\n2\n', 'c/x.csv': 'v\n3\n', 'c/x.rejects.csv': 'v\n4\n', '_state/s.csv': 'v\n5\n', 'failed/f.csv': 'v\n6\n' };
    for (const [key, text] of Object.entries(files)) await t.s3.putObject('incoming', key, Buffer.from(text), text.length);
    for (const [key, text] of Object.entries(files)) {
      const m = await waitForJson<{ source: { key: string } }>(t.s3, 'processed', outputNames(key).manifest);
      assert.equal(m.source.key, key);
      assert.equal((await readObject(t.s3, 'processed', outputNames(key).cleaned)).toString(), text);
    }
    const all = await names(t.s3, 'processed');
    assert.ok(!all.some((n) => n.startsWith('_state/s.csv')), 'an input never lands in _state/');
    assert.ok(!all.includes('failed/f.csv'));
  });

  test('traversal and control characters: the store refuses "..", the webhook refuses such keys for good', async () => {
    const t = stack();
    await assert.rejects(t.s3.putObject('incoming', '../processed/evil.csv', Buffer.from('a\n1\n'), 4));
    const before = await outputsIn(t.s3, 'processed');
    const event = JSON.parse(readFileSync(fixturePath('minio-events/put-simple.json'), 'utf8'));
    const hook = `${t.stack.gateway.url}/function/webhook`;
    const auth = { authorization: 'Bearer test-webhook-token-123' };
    for (const key of ['../processed/evil.csv', 'a/\u0000.csv', '/abs.csv']) {
      event.Key = `incoming/${key}`;
      event.Records[0].s3.object.key = encodeURIComponent(key);
      const res = await postJson(hook, event, auth);
      assert.equal(res.status, 200, 'answered 200: MinIO must not retry it');
      const result = (res.json as { results: { status: string; record: string }[] }).results[0];
      assert.equal(result.status, 'failed', 'a key that can never name outputs fails for good, at once');
      assert.equal(result.record, refusedKeyRecord('incoming', key));
      const record = await getJson<{ retryable: boolean; problem: { status: number } }>(t.s3, 'processed', result.record);
      assert.equal(record?.retryable, false);
      assert.equal(record?.problem.status, 400);
    }
    const after = (await outputsIn(t.s3, 'processed')).filter((n) => !before.includes(n));
    assert.ok(after.every((n) => n.startsWith('failed/_refused/')), `only refusal records were written: ${after.join(', ')}`);
    assert.equal(await objectExists(t.s3, 'processed', 'cleaned/../processed/evil.csv'), false);
  });

  test('a raw token without "Bearer " is refused by the webhook', async () => {
    const t = stack();
    const res = await postJson(`${t.stack.gateway.url}/function/webhook`, { Records: [] }, { authorization: 'test-webhook-token-123' });
    assert.equal(res.status, 401);
  });
});
