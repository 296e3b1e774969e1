/**
 * Scale to zero leaves nobody to run the webhook's sweeps (they hand on the versions whose next
 * attempt is due: a run that died, a failure a retry can help). On a cluster that is a job for a
 * Knative PingSource or a CronJob calling the webhook, or KEDA scaling on pending work; here the
 * local stack does it: while webhook has no process, every half claim lifetime it asks the
 * lifecycle whether a version is due and, if one is, starts a webhook process (its start-up sweep
 * hands the version on). Idle with nothing due, everything stays at zero.
 */
import { Lifecycle } from '../shared/lifecycle/index.js';
import { claimSettings, lifecycleConfig } from '../shared/lifecycle/config.js';
import { loadConfig } from '../shared/runtime/config.js';
import type { Storage } from '../shared/storage/s3.js';
import type { FunctionScaler } from './autoscaler.js';

export function wakeWhenDue(opts: { s3: Storage; outputBucket: string; env: Record<string, string | undefined>; webhook: FunctionScaler }): () => void {
  const settings = claimSettings(loadConfig({ lifecycle: lifecycleConfig }, opts.env).lifecycle);
  const lifecycle = new Lifecycle(opts.s3, opts.outputBucket, settings);
  let busy = false;
  const check = async () => {
    if (busy || opts.webhook.counts().replicas > 0) return;
    busy = true;
    try {
      for await (const c of lifecycle.due()) {
        opts.webhook.wake(`${c.key}: its next attempt is due`);
        break;
      }
    } catch {
      /* the store is away: the next check tries again */
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void check(), Math.max(500, settings.claimMs / 2));
  timer.unref();
  return () => clearInterval(timer);
}
