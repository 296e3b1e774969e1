/** The lifecycle's settings: what every function that takes part in it reads. */
import { component, int, num, variable } from '../runtime/config.js';

export const lifecycleConfig = component({
  name: 'lifecycle',
  vars: {
    CLAIM_SECONDS: variable(int(30, 2, 3600), "How long a run's claim on an object version lives without a renewal (its heartbeat renews it every third of that). A run that dies is taken over once its claim expires."),
    MAX_ATTEMPTS: variable(num(20, 1, 10_000), 'Runs of one object version (after failures a retry can help, or runs that died) before it fails for good, with a record under failed/.'),
  },
});

export type LifecycleConfig = { CLAIM_SECONDS: number; MAX_ATTEMPTS: number };

/** The claim settings of a loaded configuration. */
export function claimSettings(c: LifecycleConfig) {
  return { claimMs: c.CLAIM_SECONDS * 1000, maxAttempts: c.MAX_ATTEMPTS };
}
