/** webhook: MinIO (S3) event notification in, object reference handed to transform. */
import { randomUUID } from 'node:crypto';
import { gatewayConfig, internalConfig } from '../../shared/runtime/config.js';
import { createLogger } from '../../shared/runtime/log.js';
import { defineFunction, leaseOutlastsHandler } from '../../shared/runtime/main.js';
import { leaseConfig, storageConfig } from '../../shared/storage/config.js';
import { refusedKeyRecord } from '../../shared/storage/layout.js';
import { storageProblems } from '../../shared/storage/problems.js';
import { createStorage, putJson } from '../../shared/storage/s3.js';
import { webhookConfig } from './config.js';
import { handleNotification, handOff, type WebhookDeps } from './notification.js';
import { startRecoverySweeper } from './recovery.js';

export const webhook = defineFunction({
  name: 'webhook',
  maxBodyBytes: 1024 * 1024,
  config: { storage: storageConfig, lease: leaseConfig, gateway: gatewayConfig, chain: internalConfig, webhook: webhookConfig },
  validate: leaseOutlastsHandler,
  create: (config) => {
    const s3 = createStorage(config.storage);
    const deps: WebhookDeps = {
      token: config.webhook.WEBHOOK_TOKEN,
      filter: { buckets: [config.storage.INPUT_BUCKET], prefix: config.storage.INPUT_PREFIX, suffixes: config.storage.INPUT_SUFFIXES },
      waitSeconds: config.webhook.WEBHOOK_WAIT_SECONDS,
      transformUrl: config.webhook.TRANSFORM_URL ?? config.gateway.functionUrl('transform'),
      internalToken: config.chain.INTERNAL_TOKEN,
      recordRefusal: async (ref, reason) => {
        const key = refusedKeyRecord(ref.bucket, ref.key);
        await putJson(s3, config.storage.OUTPUT_BUCKET, key, { source: { kind: 'object', ...ref }, failedAt: new Date().toISOString(), retryable: false, problem: storageProblems.invalidKey(reason, { file: ref.key }).toJSON() });
        return key;
      },
    };
    // Abandoned runs (a lease expired without completion) are handed to transform again.
    const stopSweeper = startRecoverySweeper({
      s3,
      outputBucket: config.storage.OUTPUT_BUCKET,
      everyMs: (config.lease.LEASE_SECONDS * 1000) / 2,
      log: createLogger({ fn: 'webhook' }),
      resubmit: async (ref) => {
        const run = handOff(ref, deps, { fn: 'webhook', callId: randomUUID(), log: createLogger({ fn: 'webhook', recovery: true }) });
        run.answered = true; // nobody waits: this process owns the retries
        await run.outcome;
      },
    });
    return { handle: (event, ctx) => handleNotification(event, deps, ctx), shutdown: stopSweeper };
  },
});
