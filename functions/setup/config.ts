/** What only the bucket set-up Job reads. */
import { component, text, variable } from '../../shared/runtime/config.js';

export const setupConfig = component({
  name: 'setup',
  vars: {
    MINIO_NOTIFY_ARN: variable(text('arn:minio:sqs::PIPELINE:webhook'), 'Set-up Job: the MinIO webhook target the input bucket notifies.'),
  },
});
