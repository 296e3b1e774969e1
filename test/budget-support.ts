/**
 * What the shared-budget and rate-share tests both need: records in a real embedded store (each
 * "replica" its own S3 client), and the server's count of starts in its worst second.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startEmbeddedS3, type EmbeddedS3 } from '../dev/embedded-s3.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../shared/storage/config.js';
import { ConditionalStore } from '../shared/storage/conditional-store.js';
import { createStorage } from '../shared/storage/s3.js';

/** An embedded store for the file's tests (started before them, removed after); each call gives a new client of its `processed` bucket. */
export function useRecordStore(): () => ConditionalStore {
  let dir: string;
  let server: EmbeddedS3;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'budget-'));
    server = await startEmbeddedS3({ directory: dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['processed'] });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return () => new ConditionalStore(createStorage({ S3_ENDPOINT: server.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 }), 'processed');
}

/** The most starts in any one second, as a strict push-URL server counts them. */
export function worstSecond(starts: number[]): number {
  const s = [...starts].sort((a, b) => a - b);
  let worst = 0;
  for (let i = 0, j = 0; i < s.length; i++) {
    while (s[i] - s[j] >= 1000) j++;
    worst = Math.max(worst, i - j + 1);
  }
  return worst;
}
