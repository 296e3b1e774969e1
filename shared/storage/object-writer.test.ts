/**
 * ObjectWriter against the embedded S3 server: what is written is what the object holds, as one
 * PUT or in parts, whatever the write sizes (multi-byte characters across part boundaries too);
 * an abort leaves no object and no parts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmbeddedS3, type EmbeddedS3 } from '../../dev/embedded-s3.js';
import { loadConfig } from '../runtime/config.js';
import { storageConfig } from './config.js';
import { ObjectWriter } from './object-writer.js';
import { createStorage, isNotFound, type Storage } from './s3.js';

const PART = 5 * 1024 * 1024; // S3's smallest part

describe('ObjectWriter', () => {
  let dir: string;
  let s3: EmbeddedS3;
  let storage: Storage;
  const config = loadConfig({ storage: storageConfig }, { OUTPUT_BUCKET: 'processed' }).storage;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'writer-test-'));
    s3 = await startEmbeddedS3({ directory: dir, accessKey: config.S3_ACCESS_KEY, secretKey: config.S3_SECRET_KEY, buckets: ['processed'] });
    storage = createStorage({ ...config, S3_ENDPOINT: s3.url });
  });
  after(async () => {
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function read(key: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const b of await storage.getObject('processed', key)) parts.push(b as Buffer);
    return Buffer.concat(parts);
  }

  test('a small object: one PUT with every byte', async () => {
    const w = new ObjectWriter(storage, 'processed', 'small.csv', 'text/csv', PART);
    await w.write('a,b\n');
    await w.write('ção,€\n');
    await w.end();
    assert.equal((await read('small.csv')).toString(), 'a,b\nção,€\n');
  });

  test('a small object written with its expected size (or past it): one PUT of exactly its bytes, with its type and an MD5 etag', async () => {
    for (const [key, expected] of [['hinted.csv', 40_000], ['past-hint.csv', 1_000]] as const) {
      const w = new ObjectWriter(storage, 'processed', key, 'text/csv; charset=utf-8', PART, expected);
      const lines = Array.from({ length: 2_000 }, (_, i) => `${i},São Paulo ${i},${i / 4}\n`);
      for (const l of lines) await w.write(l);
      await w.end();
      const body = Buffer.from(lines.join(''));
      assert.ok((await read(key)).equals(body), key);
      const stat = await storage.statObject('processed', key);
      assert.equal(stat.metaData['content-type'], 'text/csv; charset=utf-8');
      assert.equal(stat.etag, createHash('md5').update(body).digest('hex'), 'one PUT (a multipart etag is not the MD5 of the bytes)');
    }
  });

  test('a multipart object: writes of every size, characters cut at part boundaries, the same bytes', async () => {
    const w = new ObjectWriter(storage, 'processed', 'big.csv', 'text/csv', PART);
    const pieces: string[] = [];
    let total = 0;
    for (let i = 0; total < 3.3 * PART; i++) {
      // Mostly lines, some large writes, multi-byte characters everywhere.
      const s = i % 97 === 0 ? 'é€😀'.repeat(150_000) : `${i},linha ${i} ção,${'x'.repeat(i % 300)}\n`;
      pieces.push(s);
      total += Buffer.byteLength(s);
      await w.write(s);
    }
    await w.end();
    const got = await read('big.csv');
    assert.equal(got.length, total);
    assert.ok(got.equals(Buffer.from(pieces.join(''))), 'the object holds every byte written, in order');
  });

  test('bytes (a binary object) across part boundaries: the same bytes, in order', async () => {
    const w = new ObjectWriter(storage, 'processed', 'big.bin', 'application/vnd.apache.parquet', PART);
    const pieces: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const b = Buffer.alloc(150_000 + i * 7919, i);
      pieces.push(Buffer.from(b));
      await w.writeBytes(b);
      b.fill(255); // the caller may reuse its buffer once the write resolves
    }
    await w.end();
    assert.ok((await read('big.bin')).equals(Buffer.concat(pieces)));
  });

  test('an aborted multipart upload leaves no object', async () => {
    const w = new ObjectWriter(storage, 'processed', 'aborted.csv', 'text/csv', PART);
    await w.write('y'.repeat(PART + 10));
    await w.abort();
    await assert.rejects(storage.statObject('processed', 'aborted.csv'), (err) => isNotFound(err));
    await assert.rejects(w.write('more'), /aborted/);
  });
});
