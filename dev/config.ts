/** What only the local stack reads (never a function). */
import * as z from 'zod';
import { bool, component, int, variable } from '../shared/runtime/config.js';

export const devConfig = component({
  name: 'local stack',
  vars: {
    GATEWAY_PORT: variable(int(8080, 0, 65535), 'Local stack: the gateway’s port (`/function/<name>`).'),
    S3_PORT: variable(int(9000, 0, 65535), 'Local stack: the embedded S3 store’s port (unless S3_ENDPOINT points elsewhere).'),
    POWERBI_EMULATOR_PORT: variable(int(8090, 0, 65535), 'Local stack: the port of the console and the Power BI emulator.'),
    POWERBI_EMULATOR_ROUTE: variable(z.enum(['push-url', 'rest', 'both']).default('push-url'), 'Local stack: which Power BI route publish uses against the emulator.'),
    EVENTSTREAM_LOCAL: variable(bool(false), 'Local stack: without EVENTSTREAM_CONNECTION_STRING, start the local Event Hubs-compatible endpoint (dev/eventstream/) and send every file there too; the terminal shows each batch it receives.'),
    EVENTSTREAM_LOCAL_PORT: variable(int(5672, 0, 65535), 'Local stack: the local Eventstream endpoint’s AMQP port (plain TCP, as UseDevelopmentEmulator=true makes the client use).'),
    BRIDGE_RETRY_MS: variable(int(3000, 10), 'Local stack: how often the notification bridge retries an undelivered event (MinIO: queue_dir).'),
    DATA_DIR: variable(z.string().default('.data'), 'Local stack: where the store, the event queue and the emulator keep their data.'),
  },
});
