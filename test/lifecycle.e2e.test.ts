/**
 * Lifecycle as the platforms run it. Cold start: with of-watchdog's suppress_lock, the function
 * writes the lock file the watchdog's /_/health checks only once it is ready (listening, its
 * store answering, its buckets there), so the first request after health goes green is served. Rolling restart: the old process keeps serving
 * while it is still routed to after SIGTERM, so a steady load sees no failed request.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { bundle } from '../dev/build.js';
import { startEmbeddedS3 } from '../dev/embedded-s3.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../shared/storage/config.js';
import { NODE_RUNTIME_FLAGS } from '../shared/runtime/flags.js';
import { useTestStack } from './helpers.js';

describe('lifecycle', () => {
  test('cold start: the lock file appears only once Node listens, and the first request then succeeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cold-'));
    const s3 = await startEmbeddedS3({ directory: join(dir, 's3'), accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
    try {
      const { file } = await bundle('transform', dir);
      const lock = join(dir, '.lock');
      const appeared = new Promise<void>((resolve) => {
        const w = watch(dir, () => {
          if (existsSync(lock)) {
            w.close();
            resolve();
          }
        });
      });
      const child = spawn(process.execPath, [...NODE_RUNTIME_FLAGS, file], { env: { PATH: process.env.PATH, PORT: '0', DRAIN_SECONDS: '0', INTERNAL_TOKEN: 'lifecycle-internal-token-01', READY_LOCK_FILE: lock, S3_ENDPOINT: s3.url, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
      const port = new Promise<number>((resolve) =>
        createInterface({ input: child.stdout! }).on('line', (l) => {
          const rec = JSON.parse(l) as { msg?: string; port?: number };
          if (rec.msg === 'ready') resolve(rec.port!);
        }),
      );
      await appeared;
      // The watchdog's /_/health is green from here on: the first request must be served.
      const res = await request(`http://127.0.0.1:${await port}/`, { method: 'POST', body: 'a,b\n1,2\n', headers: { accept: 'application/json' } });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      assert.ok(!existsSync(lock), 'the lock is gone after SIGTERM');
    } finally {
      await s3.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('rolling restart under load', () => {
    const stack = useTestStack();

    test('0 failed requests while transform and publish are restarted twice', async () => {
      const t = stack();
      let restarting = true;
      const outcomes: number[] = [];
      const worker = async () => {
        let after = 0;
        while (restarting || after++ < 3) {
          const res = await request(`${t.stack.gateway.url}/function/transform`, { method: 'POST', body: 'id,amount\n1,2.5\n2,3\n', headers: { accept: 'application/json' } }).catch(() => undefined);
          outcomes.push(res?.statusCode ?? 0);
          await res?.body.dump();
        }
      };
      const workers = Array.from({ length: 4 }, worker);
      for (let i = 0; i < 2; i++) {
        await t.stack.restartFunction('transform');
        await t.stack.restartFunction('publish');
      }
      restarting = false;
      await Promise.all(workers);
      const failed = outcomes.filter((s) => s < 200 || s >= 300);
      assert.ok(outcomes.length > 20, `steady load (${outcomes.length} requests)`);
      assert.deepEqual(failed, [], `${failed.length} of ${outcomes.length} requests failed`);
    });
  });
});
