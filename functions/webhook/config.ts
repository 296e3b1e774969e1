/** What only the webhook reads. */
import { component, num, optionalUrl, token, variable } from '../../shared/runtime/config.js';

export const webhookConfig = component({
  name: 'webhook',
  vars: {
    WEBHOOK_TOKEN: variable(token, 'Bearer token MinIO sends (its `auth_token`). Required by the webhook.', { secret: 'webhook-token' }),
    RECONCILE_SECONDS: variable(num(300, 1, 86_400), 'How often the input bucket is listed for object versions the pipeline has no record of (also at start).'),
    TRANSFORM_URL: variable(optionalUrl, 'Where transform is called (default: `<GATEWAY_URL>/function/transform`).'),
  },
  finish: (c, problem) => {
    if (!c.WEBHOOK_TOKEN) problem('WEBHOOK_TOKEN', 'required (the bearer token MinIO sends as auth_token)');
    return { ...c, WEBHOOK_TOKEN: c.WEBHOOK_TOKEN as string };
  },
});

export type WebhookConfig = ReturnType<NonNullable<typeof webhookConfig.finish>>;
