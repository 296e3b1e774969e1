/** webhook: MinIO (S3) event notification in, object reference handed to transform. */
import type { FunctionModule } from '../../shared/http/main.js';
import { handleNotification } from '../../shared/webhook.js';

export const webhook: FunctionModule = {
  name: 'webhook',
  maxBodyBytes: 1024 * 1024,
  validate: (c) => (c.WEBHOOK_TOKEN ? [] : ['WEBHOOK_TOKEN: required (the bearer token MinIO sends as auth_token)']),
  create: (config) => (event, ctx) => handleNotification(event, { config }, ctx),
};
