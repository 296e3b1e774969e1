/**
 * Recovery of abandoned work. A lease that expired without a completion marker means a run
 * died (and, if the webhook had already answered MinIO 202, nobody else will retry it). The
 * webhook sweeps `_state/` at start and then every half lease: for each expired lease whose
 * object still has the same version, it hands the object to transform again.
 */
import type { Logger } from '../../shared/runtime/log.js';
import type { ObjectRef } from '../../shared/storage/s3-event.js';
import { idempotencyKey, type Lease } from '../../shared/storage/object-state.js';
import { getJson, isNotFound, type Storage } from '../../shared/storage/s3.js';

export interface AbandonedRun {
  lease: Lease;
  ref: ObjectRef;
}

export async function findAbandonedRuns(s3: Storage, outputBucket: string, now = Date.now()): Promise<AbandonedRun[]> {
  const leaseKeys: string[] = [];
  const listing = s3.listObjectsV2(outputBucket, '_state/', true);
  for await (const item of listing as AsyncIterable<{ name?: string }>) {
    if (item.name?.endsWith('.lease.json')) leaseKeys.push(item.name);
  }
  const out: AbandonedRun[] = [];
  for (const key of leaseKeys) {
    const lease = await getJson<Lease>(s3, outputBucket, key);
    if (!lease || Date.parse(lease.expiresAt) > now) continue;
    if (await getJson(s3, outputBucket, `_state/${lease.id}.done.json`)) continue;
    try {
      const stat = await s3.statObject(lease.bucket, lease.key);
      const ref: ObjectRef = { bucket: lease.bucket, key: lease.key, etag: stat.etag, size: stat.size };
      // Only the same object version: a newer one has its own event.
      if (idempotencyKey(ref) === lease.id) out.push({ lease, ref });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return out;
}

export function startRecoverySweeper(opts: { s3: Storage; outputBucket: string; everyMs: number; log: Logger; resubmit: (ref: ObjectRef) => Promise<void> }): () => void {
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      for (const run of await findAbandonedRuns(opts.s3, opts.outputBucket)) {
        opts.log.warn('recovering an abandoned run', { bucket: run.ref.bucket, key: run.ref.key, leaseExpiredAt: run.lease.expiresAt });
        await opts.resubmit(run.ref);
      }
    } catch (err) {
      opts.log.warn('recovery sweep failed', { error: err });
    } finally {
      running = false;
    }
  };
  void sweep();
  const timer = setInterval(() => void sweep(), opts.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
