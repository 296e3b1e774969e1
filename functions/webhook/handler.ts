/** webhook: MinIO (S3) event notification in, object reference handed to transform. */
import { randomUUID } from 'node:crypto';
import { gatewayConfig, internalConfig } from '../../shared/runtime/config.js';
import { createLogger } from '../../shared/runtime/log.js';
import { defineFunction, leaseOutlastsHandler } from '../../shared/runtime/main.js';
import { leaseConfig, storageConfig } from '../../shared/storage/config.js';
import { recordFailure, refusedKeyRecord } from '../../shared/storage/layout.js';
import { idempotencyKey, ObjectState } from '../../shared/storage/object-state.js';
import { problems } from '../../shared/runtime/problem.js';
import { storageProblems } from '../../shared/storage/problems.js';
import { checkBuckets, createStorage, putJson } from '../../shared/storage/s3.js';
import { webhookConfig } from './config.js';
import { handleNotification, handOff, type WebhookDeps } from './notification.js';
import { startReconciler } from './recovery.js';

export const webhook = defineFunction({
  name: 'webhook',
  maxBodyBytes: 1024 * 1024,
  config: { storage: storageConfig, lease: leaseConfig, gateway: gatewayConfig, chain: internalConfig, webhook: webhookConfig },
  validate: leaseOutlastsHandler,
  create: (config) => {
    const s3 = createStorage(config.storage);
    const state = new ObjectState(s3, config.storage.OUTPUT_BUCKET);
    const deps: WebhookDeps = {
      token: config.webhook.WEBHOOK_TOKEN,
      filter: { buckets: [config.storage.INPUT_BUCKET], prefix: config.storage.INPUT_PREFIX, suffixes: config.storage.INPUT_SUFFIXES },
      waitSeconds: config.webhook.WEBHOOK_WAIT_SECONDS,
      transformUrl: config.webhook.TRANSFORM_URL ?? config.gateway.functionUrl('transform'),
      internalToken: config.chain.INTERNAL_TOKEN,
      recordAttempt: async (ref, last) => {
        const id = idempotencyKey(ref);
        const attempts = await state.attempt(id, last);
        if (attempts < config.webhook.MAX_ATTEMPTS) return { attempts };
        const problem = problems.downstreamFailed(`gave up after ${attempts} attempts; the last answer is in "last"`, { last });
        const failure = await recordFailure(s3, config.storage.OUTPUT_BUCKET, { kind: 'object', ...ref }, id, problem, { attempts });
        return { attempts, failure };
      },
      recordRefusal: async (ref, reason) => {
        const key = refusedKeyRecord(ref.bucket, ref.key);
        await putJson(s3, config.storage.OUTPUT_BUCKET, key, { source: { kind: 'object', ...ref }, failedAt: new Date().toISOString(), retryable: false, problem: storageProblems.invalidKey(reason, { file: ref.key }).toJSON() });
        return key;
      },
    };
    // Every object version in the input bucket ends done or failed: the sweep hands on the rest.
    const stopReconciler = startReconciler({
      s3,
      inputBucket: config.storage.INPUT_BUCKET,
      outputBucket: config.storage.OUTPUT_BUCKET,
      prefix: config.storage.INPUT_PREFIX,
      suffixes: config.storage.INPUT_SUFFIXES,
      everyMs: config.webhook.RECONCILE_SECONDS * 1000,
      log: createLogger({ fn: 'webhook' }),
      resubmit: async (ref) => {
        const run = handOff(ref, deps, { fn: 'webhook', callId: randomUUID(), log: createLogger({ fn: 'webhook', reconcile: true }) });
        run.answered = true; // nobody waits: this process owns the retries
        await run.outcome;
      },
    });
    return { handle: (event, ctx) => handleNotification(event, deps, ctx), ready: () => checkBuckets(s3, [config.storage.INPUT_BUCKET, config.storage.OUTPUT_BUCKET]), shutdown: stopReconciler };
  },
});
