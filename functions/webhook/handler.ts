/** webhook: MinIO (S3) event notification in, object reference handed to transform. */
import { randomUUID } from 'node:crypto';
import { gatewayConfig, internalConfig } from '../../shared/runtime/config.js';
import { createLogger } from '../../shared/runtime/log.js';
import { defineFunction } from '../../shared/runtime/main.js';
import { storageConfig } from '../../shared/storage/config.js';
import { refusedKeyRecord } from '../../shared/storage/layout.js';
import { claimSettings, lifecycleConfig } from '../../shared/lifecycle/config.js';
import { Lifecycle } from '../../shared/lifecycle/index.js';
import { storageProblems } from '../../shared/storage/problems.js';
import { checkBuckets, createStorage, putJson } from '../../shared/storage/s3.js';
import { webhookConfig } from './config.js';
import { handleNotification, handOff, type WebhookDeps } from './notification.js';
import { startReconciler } from './recovery.js';

export const webhook = defineFunction({
  name: 'webhook',
  maxBodyBytes: 1024 * 1024,
  config: { storage: storageConfig, lifecycle: lifecycleConfig, gateway: gatewayConfig, chain: internalConfig, webhook: webhookConfig },
  create: (config) => {
    const s3 = createStorage(config.storage);
    const lifecycle = new Lifecycle(s3, config.storage.OUTPUT_BUCKET, claimSettings(config.lifecycle));
    const deps: WebhookDeps = {
      token: config.webhook.WEBHOOK_TOKEN,
      filter: { buckets: [config.storage.INPUT_BUCKET], prefix: config.storage.INPUT_PREFIX, suffixes: config.storage.INPUT_SUFFIXES },
      transformUrl: config.webhook.TRANSFORM_URL ?? config.gateway.functionUrl('transform'),
      internalToken: config.chain.INTERNAL_TOKEN,
      lifecycle,
      recordRefusal: async (ref, reason) => {
        const key = refusedKeyRecord(ref.bucket, ref.key);
        await putJson(s3, config.storage.OUTPUT_BUCKET, key, { source: { kind: 'object', ...ref }, failedAt: new Date().toISOString(), retryable: false, problem: storageProblems.invalidKey(reason, { file: ref.key }).toJSON() });
        return key;
      },
    };
    // Every object version in the input bucket ends with an outcome: the sweeps hand on the rest.
    const log = createLogger({ fn: 'webhook' });
    const reconciler = startReconciler({
      s3,
      lifecycle,
      inputBucket: config.storage.INPUT_BUCKET,
      prefix: config.storage.INPUT_PREFIX,
      suffixes: config.storage.INPUT_SUFFIXES,
      everyMs: config.webhook.RECONCILE_SECONDS * 1000,
      log,
      resubmit: async (ref) => {
        const out = await handOff(ref, deps, { fn: 'webhook', callId: randomUUID(), log: createLogger({ fn: 'webhook', reconcile: true }) });
        log.info('recovered', { bucket: ref.bucket, key: ref.key, outcome: out.status });
      },
    });
    return {
      handle: (event, ctx) => handleNotification(event, deps, ctx),
      ready: () => checkBuckets(s3, [config.storage.INPUT_BUCKET, config.storage.OUTPUT_BUCKET]),
      // The sweeps' first run, once ready (at start, after the readiness check, not beside it).
      whenReady: reconciler.sweepNow,
      shutdown: reconciler.stop,
    };
  },
});
