/** What only the bucket set-up Job reads. */
import * as z from 'zod';
import { component, variable } from '../../shared/runtime/config.js';

export const setupConfig = component({
  name: 'setup',
  vars: {
    MINIO_NOTIFY_ARN: variable(z.string().default('arn:minio:sqs::PIPELINE:webhook'), 'Set-up Job: the MinIO webhook target the input bucket notifies.'),
  },
});
