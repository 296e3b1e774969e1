/**
 * Recovery: nothing stays without an outcome. Two sweeps, each run by one webhook replica at a
 * time (a turn taken by a conditional write in the output bucket; the others skip it):
 * - every half claim time-to-live, the versions whose next attempt is due — claims left by a run
 *   that died (no heartbeat since) or deferred after a failure a retry can help — are handed on;
 * - at start and every RECONCILE_SECONDS, the input bucket is listed and every object version
 *   with no record at all is handed on: lost notifications (MinIO without queue_dir, the webhook
 *   down past MinIO's retries, objects uploaded before the notification was wired).
 * Handing on is harmless when it races another replica: a run must win the version's claim.
 */
import type { Logger } from '../../shared/runtime/log.js';
import type { ObjectRef } from '../../shared/storage/s3-event.js';
import { isOutcome, versionId, type Lifecycle } from '../../shared/lifecycle/index.js';
import type { Storage } from '../../shared/storage/s3.js';
import { keyProblem } from '../../shared/storage/layout.js';

export interface ReconcileOptions {
  s3: Storage;
  lifecycle: Lifecycle;
  inputBucket: string;
  prefix: string;
  suffixes: string[];
  /** How often the input bucket is listed. */
  everyMs: number;
  log: Logger;
  resubmit: (ref: ObjectRef) => Promise<void>;
}

/** Object versions in the input bucket that the lifecycle has no record of (with `withoutOutcome`: every one without an outcome). */
export async function unfinishedObjects(opts: Pick<ReconcileOptions, 's3' | 'lifecycle' | 'inputBucket' | 'prefix' | 'suffixes'> & { withoutOutcome?: boolean }): Promise<ObjectRef[]> {
  const out: ObjectRef[] = [];
  const listing = opts.s3.listObjectsV2(opts.inputBucket, opts.prefix, true) as AsyncIterable<{ name?: string; etag?: string; size?: number }>;
  for await (const item of listing) {
    if (!item.name || !opts.suffixes.some((s) => item.name!.toLowerCase().endsWith(s.toLowerCase()))) continue;
    if (keyProblem(item.name)) continue; // refused at the edge for good, with its record
    const ref: ObjectRef = { bucket: opts.inputBucket, key: item.name, etag: item.etag?.replace(/"/g, ''), size: item.size ?? 0 };
    const { phase } = await opts.lifecycle.status(versionId(ref));
    if (phase === 'pending' || (opts.withoutOutcome && !isOutcome(phase))) out.push(ref);
  }
  return out;
}

/** The claims sweep: versions whose next attempt is due. */
async function sweepDue(opts: ReconcileOptions): Promise<void> {
  for await (const c of opts.lifecycle.due()) {
    opts.log.warn('recovering: the next attempt is due', { bucket: c.bucket, key: c.key, attempts: c.attempts, since: c.renewedAt, last: c.last?.title });
    await opts.resubmit({ bucket: c.bucket, key: c.key, etag: c.etag, size: c.size, ...(c.versionId ? { versionId: c.versionId } : {}) });
  }
}

async function sweepInput(opts: ReconcileOptions): Promise<void> {
  for (const ref of await unfinishedObjects(opts)) {
    opts.log.warn('reconciling: an object with no record is handed on', { bucket: ref.bucket, key: ref.key });
    await opts.resubmit(ref);
  }
}

/**
 * The sweeps on their timers, and `sweepNow`: both at once, which the webhook calls as soon as it
 * is ready (the first listing of the input bucket then does not compete with its start and its
 * readiness check for the store). `stop` clears the timers (on shutdown).
 */
export function startReconciler(opts: ReconcileOptions): { sweepNow: () => void; stop: () => void } {
  const dueEvery = Math.max(500, opts.lifecycle.settings.claimMs / 2);
  const running = new Set<string>();
  const sweep = (name: string, ms: number, fn: () => Promise<void>, always = false) => async () => {
    if (running.has(name)) return;
    running.add(name);
    try {
      if (always || (await opts.lifecycle.sweepTurn(name, ms))) await fn();
    } catch (err) {
      opts.log.warn('sweep failed', { sweep: name, error: err });
    } finally {
      running.delete(name);
    }
  };
  const due = sweep('due', dueEvery, () => sweepDue(opts));
  const input = sweep('input', opts.everyMs, () => sweepInput(opts));
  const timers = [setInterval(due, dueEvery), setInterval(input, opts.everyMs)];
  for (const t of timers) t.unref();
  return {
    sweepNow: () => void sweep('input', opts.everyMs, () => sweepInput(opts), true)().then(due),
    stop: () => timers.forEach(clearInterval),
  };
}
