/**
 * The local gateway passes a function's own status through, as the OpenFaaS gateway does. The
 * webhook refuses an oversized notification with 413 while the body is still arriving; that 413
 * reaches the caller (MinIO) as a 413, never as `502 Function unavailable`: a 502 would make
 * MinIO retry an event that can never succeed.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { useTestStack } from './helpers.js';

/** A MinIO-shaped notification with `records` records (each about 260 bytes). */
function notification(records: number): Buffer {
  const record = (i: number) => ({ eventVersion: '2.0', eventSource: 'minio:s3', eventName: 's3:ObjectCreated:Put', s3: { bucket: { name: 'incoming' }, object: { key: `batch/file-${String(i).padStart(6, '0')}.csv`, size: 1024, eTag: 'd41d8cd98f00b204e9800998ecf8427e', sequencer: '17A0' } } });
  return Buffer.from(JSON.stringify({ EventName: 's3:ObjectCreated:Put', Key: 'incoming/batch', Records: Array.from({ length: records }, (_, i) => record(i)) }));
}

/** The body in 64 KiB pieces, without a content-length (chunked), as a streaming client sends it. */
const chunked = (buf: Buffer) =>
  Readable.from(
    (function* () {
      for (let i = 0; i < buf.length; i += 65536) yield buf.subarray(i, i + 65536);
    })(),
  );

describe('the local gateway passes the function status through', () => {
  const stack = useTestStack();

  test("the webhook's 413 for an oversized notification reaches the caller as 413", async () => {
    const t = stack();
    const bodies = { '10,000 records (2.6 MB)': notification(10_000), '50 MB': Buffer.alloc(50 * 1024 * 1024, 0x20) };
    assert.ok(bodies['10,000 records (2.6 MB)'].length > 2_000_000);
    // Several times over: whether the answer or the rest of the body wins the race differs per run.
    for (let round = 0; round < 3; round++) {
      for (const [what, body] of Object.entries(bodies)) {
        for (const framing of ['content-length', 'chunked'] as const) {
          const res = await request(`${t.stack.gateway.url}/function/webhook`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${t.stack.env.WEBHOOK_TOKEN}` },
            body: framing === 'chunked' ? chunked(body) : body,
          });
          const text = await res.body.text();
          assert.equal(res.statusCode, 413, `${what}, ${framing}, round ${round + 1}: ${text}`);
          assert.match(String(res.headers['content-type']), /application\/problem\+json/);
          const problem = JSON.parse(text) as { status: number; type: string; detail: string };
          assert.equal(problem.status, 413);
          assert.match(problem.type, /body-too-large/);
          assert.match(problem.detail, /1048576 bytes/, 'the problem names the limit');
        }
      }
    }
  });

  test('a refusal by the function keeps its status (401 without the token)', async () => {
    const t = stack();
    const res = await request(`${t.stack.gateway.url}/function/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: notification(1) });
    assert.equal(res.statusCode, 401);
    assert.match(String(res.headers['content-type']), /application\/problem\+json/);
    await res.body.dump();
  });
});
