/** webhook: MinIO (S3) event notification in, object reference handed to transform. */
import type { FunctionModule } from '../../shared/runtime/main.js';
import { randomUUID } from 'node:crypto';
import { createLogger } from '../../shared/runtime/log.js';
import { startRecoverySweeper } from './recovery.js';
import { createStorage } from '../../shared/storage/s3.js';
import { handleNotification, handOff } from './notification.js';

export const webhook: FunctionModule = {
  name: 'webhook',
  maxBodyBytes: 1024 * 1024,
  validate: (c) => (c.WEBHOOK_TOKEN ? [] : ['WEBHOOK_TOKEN: required (the bearer token MinIO sends as auth_token)']),
  create: (config) => {
    const deps = { config };
    // Abandoned runs (a lease expired without completion) are handed to transform again.
    startRecoverySweeper({
      s3: createStorage(config),
      outputBucket: config.OUTPUT_BUCKET,
      everyMs: (config.LEASE_SECONDS * 1000) / 2,
      log: createLogger({ fn: 'webhook' }),
      resubmit: async (ref) => {
        const run = handOff(ref, deps, { fn: 'webhook', callId: randomUUID(), log: createLogger({ fn: 'webhook', recovery: true }) });
        run.answered = true; // nobody waits: this process owns the retries
        await run.outcome;
      },
    });
    return (event, ctx) => handleNotification(event, deps, ctx);
  },
};
