/**
 * One-shot set-up for a real MinIO (the Knative Job runs it): create the input and output
 * buckets and subscribe the input bucket to `s3:ObjectCreated:Put` and
 * `s3:ObjectCreated:CompleteMultipartUpload` for each suffix, sent to the webhook target
 * configured on MinIO by `MINIO_NOTIFY_WEBHOOK_*_<ID>` (ARN `arn:minio:sqs::<ID>:webhook`).
 * Idempotent: `setBucketNotification` replaces the bucket's configuration.
 */
import { NotificationConfig, QueueConfig, ObjectCreatedPut, ObjectCreatedCompleteMultipartUpload } from 'minio';
import { ConfigError, loadConfig } from '../../shared/runtime/config.js';
import { setupConfig } from './config.js';
import { createLogger } from '../../shared/runtime/log.js';
import { storageConfig } from '../../shared/storage/config.js';
import { createStorage, ensureBucket } from '../../shared/storage/s3.js';

const log = createLogger({ fn: 'setup' });
let loaded;
try {
  loaded = loadConfig({ storage: storageConfig, setup: setupConfig });
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(err.message + '\n');
    process.exit(1);
  }
  throw err;
}
const config = loaded.storage;
const arn = loaded.setup.MINIO_NOTIFY_ARN;
const s3 = createStorage(config);

// No top-level await: bundled as CommonJS like the functions.
async function main(): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureBucket(s3, config.INPUT_BUCKET, config.S3_REGION);
      await ensureBucket(s3, config.OUTPUT_BUCKET, config.S3_REGION);
      const notification = new NotificationConfig();
      for (const suffix of config.INPUT_SUFFIXES) {
        const queue = new QueueConfig(arn);
        queue.setId(`mini-pipeline${suffix.replace(/[^a-z0-9]/gi, '-')}`);
        queue.addEvent(ObjectCreatedPut);
        queue.addEvent(ObjectCreatedCompleteMultipartUpload);
        if (config.INPUT_PREFIX) queue.addFilterPrefix(config.INPUT_PREFIX);
        queue.addFilterSuffix(suffix);
        notification.add(queue);
      }
      await s3.setBucketNotification(config.INPUT_BUCKET, notification);
      log.info('ready', { input: config.INPUT_BUCKET, output: config.OUTPUT_BUCKET, arn, suffixes: config.INPUT_SUFFIXES });
      process.exit(0);
    } catch (err) {
      if (attempt >= 30) {
        log.error('set-up failed', { error: err });
        process.exit(1);
      }
      log.warn('waiting for MinIO', { attempt, error: (err as Error).message });
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

void main();
