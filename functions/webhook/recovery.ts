/**
 * Reconciliation: nothing in the input bucket stays without a terminal state. At start and every
 * RECONCILE_SECONDS the webhook lists the input bucket and hands on every object version that is
 * neither completed nor failed for good and that no live run holds: lost notifications (MinIO
 * without queue_dir, the webhook down past MinIO's retries, objects uploaded before the
 * notification was wired), runs that died after MinIO was answered, outages that outlasted the
 * retries. Expired leases need nothing special: their object simply has no terminal state.
 */
import type { Logger } from '../../shared/runtime/log.js';
import type { ObjectRef } from '../../shared/storage/s3-event.js';
import { idempotencyKey, ObjectState } from '../../shared/storage/object-state.js';
import type { Storage } from '../../shared/storage/s3.js';
import { keyProblem } from '../../shared/storage/layout.js';

export interface ReconcileOptions {
  s3: Storage;
  inputBucket: string;
  outputBucket: string;
  prefix: string;
  suffixes: string[];
  everyMs: number;
  log: Logger;
  resubmit: (ref: ObjectRef) => Promise<void>;
}

/** Object versions in the input bucket that have no terminal state and (unless `includeRunning`) no live run. */
export async function unfinishedObjects(opts: Pick<ReconcileOptions, 's3' | 'inputBucket' | 'outputBucket' | 'prefix' | 'suffixes'> & { includeRunning?: boolean }, now = Date.now()): Promise<ObjectRef[]> {
  const state = new ObjectState(opts.s3, opts.outputBucket);
  const out: ObjectRef[] = [];
  const listing = opts.s3.listObjectsV2(opts.inputBucket, opts.prefix, true) as AsyncIterable<{ name?: string; etag?: string; size?: number }>;
  for await (const item of listing) {
    if (!item.name || !opts.suffixes.some((s) => item.name!.toLowerCase().endsWith(s.toLowerCase()))) continue;
    if (keyProblem(item.name)) continue; // refused at the edge for good, with its record
    const ref: ObjectRef = { bucket: opts.inputBucket, key: item.name, etag: item.etag?.replace(/"/g, ''), size: item.size ?? 0 };
    const id = idempotencyKey(ref);
    if (await state.completion(id)) continue;
    if (!opts.includeRunning && (await state.leased(id, now))) continue;
    out.push(ref);
  }
  return out;
}

/** Sweep at start and every `everyMs`; returns a stop function (called on shutdown). */
export function startReconciler(opts: ReconcileOptions): () => void {
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      for (const ref of await unfinishedObjects(opts)) {
        opts.log.warn('reconciling: an object with no terminal state is handed on', { bucket: ref.bucket, key: ref.key });
        await opts.resubmit(ref);
      }
    } catch (err) {
      opts.log.warn('reconciliation sweep failed', { error: err });
    } finally {
      running = false;
    }
  };
  void sweep();
  const timer = setInterval(() => void sweep(), opts.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
