/**
 * The embedded store answers conditional writes and deletes as S3 and MinIO do. The expectations
 * come from the S3 user guide ("How to prevent object overwrites with conditional writes", "How to
 * perform conditional deletes"), the PutObject/DeleteObject API reference, and MinIO's release
 * notes (RELEASE.2024-05-07T06-41-25Z: `*` as an ETag); they are sent by the project's own S3
 * client (`minio` 8, which passes If-Match / If-None-Match through as headers).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startEmbeddedS3, type EmbeddedS3 } from './embedded-s3.js';
import { ConditionalRequests, conditionOf } from './conditions.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../shared/storage/config.js';
import { createStorage, type Storage } from '../shared/storage/s3.js';

let dir: string;
let server: EmbeddedS3;
let s3: Storage;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conditions-'));
  server = await startEmbeddedS3({ directory: dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['cond'] });
  s3 = createStorage({ S3_ENDPOINT: server.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 5 });
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const put = (key: string, body: string, headers: Record<string, string> = {}) => s3.putObject('cond', key, Buffer.from(body), body.length, headers);
const read = async (key: string) => {
  const chunks: Buffer[] = [];
  for await (const c of await s3.getObject('cond', key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
};
const code = (err: unknown) => (err as { code?: string }).code;
const status = async (p: Promise<unknown>) => p.then(() => 200, (err: unknown) => code(err));
const del = (key: string, ifMatch: string) =>
  (s3 as unknown as { makeRequestAsyncOmit(o: Record<string, unknown>, p: string, c: number[]): Promise<unknown> }).makeRequestAsyncOmit({ method: 'DELETE', bucketName: 'cond', objectName: key, headers: { 'If-Match': ifMatch } }, '', [200, 204]);

describe('conditional PUT', () => {
  test('If-None-Match: * creates a missing key, and refuses an existing one with 412 (the object is kept)', async () => {
    await put('create.json', 'first', { 'If-None-Match': '*' });
    assert.equal(await status(put('create.json', 'second', { 'If-None-Match': '*' })), 'PreconditionFailed');
    assert.equal(await read('create.json'), 'first');
  });

  test('If-Match with the current ETag replaces; with another ETag it is 412 and nothing changes', async () => {
    const first = await put('cas.json', 'v1');
    const second = await put('cas.json', 'v2', { 'If-Match': `"${first.etag}"` });
    assert.notEqual(second.etag, first.etag);
    assert.equal(await status(put('cas.json', 'v3', { 'If-Match': `"${first.etag}"` })), 'PreconditionFailed');
    assert.equal(await read('cas.json'), 'v2');
    assert.equal((await s3.statObject('cond', 'cas.json')).etag, second.etag, 'the ETag a write answers is the one a read sees');
  });

  test('If-Match on a missing key is 404 NoSuchKey (AWS), and creates nothing', async () => {
    assert.equal(await status(put('missing.json', 'x', { 'If-Match': '"0123456789abcdef0123456789abcdef"' })), 'NoSuchKey');
    assert.equal(await status(s3.statObject('cond', 'missing.json')), 'NotFound');
  });

  test('If-Match: * writes only over an existing object', async () => {
    assert.equal(await status(put('star.json', 'x', { 'If-Match': '*' })), 'NoSuchKey');
    await put('star.json', 'a');
    await put('star.json', 'b', { 'If-Match': '*' });
    assert.equal(await read('star.json'), 'b');
  });

  test('a write without conditions still overwrites (S3 semantics unchanged)', async () => {
    await put('plain.json', 'a');
    await put('plain.json', 'b');
    assert.equal(await read('plain.json'), 'b');
  });

  test('many conditional creates of one key at once: exactly one wins; the rest get 412 or 409 ConditionalRequestConflict', async () => {
    for (let round = 0; round < 20; round++) {
      const key = `race/${round}.json`;
      const outcomes = await Promise.all(Array.from({ length: 5 }, (_, i) => status(put(key, `writer ${i}`, { 'If-None-Match': '*' }))));
      assert.equal(outcomes.filter((o) => o === 200).length, 1, `round ${round}: ${outcomes.join(',')}`);
      assert.ok(outcomes.every((o) => o === 200 || o === 'PreconditionFailed' || o === 'ConditionalRequestConflict'), outcomes.join(','));
    }
  });

  test('many compare-and-swaps on one ETag at once: exactly one wins', async () => {
    for (let round = 0; round < 20; round++) {
      const key = `swap/${round}.json`;
      const { etag } = await put(key, 'base');
      const outcomes = await Promise.all(Array.from({ length: 5 }, (_, i) => status(put(key, `writer ${i}`, { 'If-Match': `"${etag}"` }))));
      assert.equal(outcomes.filter((o) => o === 200).length, 1, `round ${round}: ${outcomes.join(',')}`);
    }
  });
});

describe('conditional DELETE', () => {
  test('If-Match with the current ETag deletes; with another ETag it is 412 and the object stays', async () => {
    const { etag } = await put('del.json', 'v1');
    assert.equal(await status(del('del.json', '"ffffffffffffffffffffffffffffffff"')), 'PreconditionFailed');
    assert.equal(await read('del.json'), 'v1');
    await del('del.json', `"${etag}"`);
    assert.equal(await status(s3.statObject('cond', 'del.json')), 'NotFound');
  });

  test('If-Match on a missing key is 404 NoSuchKey', async () => {
    assert.equal(await status(del('never.json', '*')), 'NoSuchKey');
  });
});

describe('a client that goes away mid-request (SIGKILL)', () => {
  // A request whose client died after sending its body goes on in the store (a PUT still commits);
  // the answer's 'close' has been emitted by the time it takes its key's lock. The lock must not wait
  // for that 'close' again: a key held for good hung every later read of it (a publish killed while
  // saving its checkpoint left the next run's adopt waiting forever).
  const fake = (method: string, headers: Record<string, string> = {}) => {
    const req = Object.assign(new EventEmitter(), { method, url: '/cond/held.json', headers }) as unknown as IncomingMessage;
    const res = Object.assign(new EventEmitter(), { closed: false, destroyed: false, writableFinished: false, writeHead: () => res }) as unknown as ServerResponse & { closed: boolean; destroyed: boolean };
    return { req, res };
  };
  const within = <T>(p: Promise<T>, ms: number, what: string) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms).unref())]);

  for (const [what, method, headers] of [
    ['a conditional PUT', 'PUT', { 'if-match': '"abc"' }],
    ['a PUT without conditions', 'PUT', {}],
    ['a conditional DELETE', 'DELETE', { 'if-match': '"abc"' }],
  ] as const) {
    test(`${what} whose client closed before it took the lock: the next read of the key is answered`, async () => {
      const requests = new ConditionalRequests();
      const gone = fake(method, headers);
      const scope = requests.scope(gone.req, gone.res, ['cond', 'held.json'], conditionOf(gone.req.headers))!;
      gone.res.closed = gone.res.destroyed = true;
      gone.res.emit('close');
      await scope.enter();
      const next = fake('GET');
      await within(requests.scope(next.req, next.res, ['cond', 'held.json'], {})!.start(), 1000, 'the read after it');
    });
  }

  test('a conditional write while a read of the key is in line waits for it (no 409); while a write is, it gets 409', async () => {
    const requests = new ConditionalRequests();
    const reader = fake('GET');
    await requests.scope(reader.req, reader.res, ['cond', 'held.json'], {})!.start();
    const put = fake('PUT', { 'if-match': '"abc"' });
    let entered = false;
    const writing = requests.scope(put.req, put.res, ['cond', 'held.json'], conditionOf(put.req.headers))!.enter().then(() => (entered = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(entered, false, 'the write waits for the read to answer');
    reader.res.writeHead(200);
    await within(writing, 1000, 'the write after the read');
    const second = fake('PUT', { 'if-match': '"abc"' });
    await assert.rejects(requests.scope(second.req, second.res, ['cond', 'held.json'], conditionOf(second.req.headers))!.enter(), (err: Error & { status?: number }) => err.status === 409);
    put.res.emit('finish');
    const third = fake('PUT', { 'if-match': '"abc"' });
    await within(requests.scope(third.req, third.res, ['cond', 'held.json'], conditionOf(third.req.headers))!.enter(), 1000, 'a write after the last one answered');
  });

  test('a read whose client closed while it waited in line does not hold the key', async () => {
    const requests = new ConditionalRequests();
    const writer = fake('PUT');
    const writing = requests.scope(writer.req, writer.res, ['cond', 'held.json'], {})!;
    await writing.enter();
    const gone = fake('GET');
    const waiting = requests.scope(gone.req, gone.res, ['cond', 'held.json'], {})!.start();
    gone.res.closed = gone.res.destroyed = true;
    gone.res.emit('close');
    writer.res.emit('finish');
    await waiting;
    const next = fake('GET');
    await within(requests.scope(next.req, next.res, ['cond', 'held.json'], {})!.start(), 1000, 'the read after it');
  });
});

describe('a bucket\'s configuration, kept in memory by the store', () => {
  // s3rver read it from disk for every request; the store keeps it, and must drop it when it is written.
  const preflight = async () => {
    const res = await fetch(`${server.url}/cond/cors.txt`, { method: 'OPTIONS', headers: { origin: 'http://a.example', 'access-control-request-method': 'GET' } });
    return [res.status, res.headers.get('access-control-allow-origin')];
  };
  const cors = (method: 'PUT' | 'DELETE', xml = '') =>
    (s3 as unknown as { makeRequestAsyncOmit(o: object, p: string, codes: number[]): Promise<unknown> }).makeRequestAsyncOmit(
      { method, bucketName: 'cond', query: 'cors', headers: xml ? { 'Content-MD5': createHash('md5').update(xml).digest('base64') } : {} },
      xml,
      [200, 204],
    );

  test('a CORS configuration put or deleted through the API is what the next request meets', async () => {
    await put('cors.txt', 'hi');
    assert.deepEqual([await preflight(), await preflight()], [[403, null], [403, null]], 'none yet (and the answer kept)');
    await cors('PUT', '<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>');
    assert.deepEqual(await preflight(), [200, '*']);
    await cors('DELETE');
    assert.deepEqual(await preflight(), [403, null]);
  });

  test('a bucket made or removed through the API is what the next request meets', async () => {
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);
    const putIn = () => code(s3.putObject('later', 'a.txt', Buffer.from('a'), 1));
    assert.equal(await putIn(), 'NoSuchBucket', 'not made yet (and not kept as missing)');
    await s3.makeBucket('later');
    assert.equal(await putIn(), 'ok');
    assert.equal(await code(s3.statObject('later', 'a.txt')), 'ok', 'found again (the bucket kept)');
    await s3.removeObject('later', 'a.txt');
    await s3.removeBucket('later');
    assert.equal(await putIn(), 'NoSuchBucket', 'removed: not found any more');
    assert.equal(await s3.bucketExists('later'), false);
  });
});
