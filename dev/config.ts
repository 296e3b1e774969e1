/** What only the local stack reads (never a function). */
import { bool, component, int, num, oneOf, text, variable } from '../shared/runtime/config.js';

export const devConfig = component({
  name: 'local stack',
  vars: {
    GATEWAY_PORT: variable(int(8080, 0, 65535), 'Local stack: the gateway’s port (`/function/<name>`).'),
    S3_PORT: variable(int(9000, 0, 65535), 'Local stack: the embedded S3 store’s port (unless S3_ENDPOINT points elsewhere).'),
    POWERBI_EMULATOR_PORT: variable(int(8090, 0, 65535), 'Local stack: the port of the console and the Power BI emulator.'),
    POWERBI_EMULATOR_ROUTE: variable(oneOf(['push-url', 'rest', 'both'], 'push-url'), 'Local stack: which Power BI route publish uses against the emulator.'),
    EVENTSTREAM_LOCAL: variable(bool(false), 'Local stack: without EVENTSTREAM_CONNECTION_STRING, start the local Event Hubs-compatible endpoint (dev/eventstream/) and send every file there too; the terminal shows each batch it receives.'),
    EVENTSTREAM_LOCAL_PORT: variable(int(5672, 0, 65535), 'Local stack: the local Eventstream endpoint’s AMQP port (plain TCP, as UseDevelopmentEmulator=true makes the client use).'),
    BRIDGE_RETRY_MS: variable(int(3000, 10), 'Local stack: how often the notification bridge retries an undelivered event (MinIO: queue_dir).'),
    REPLICAS: variable(int(1, 1, 16), 'Local stack: processes of every function behind the gateway, round robin (as a Service with N pods): race them on purpose.'),
    AUTOSCALE: variable(oneOf(['off', 'knative', 'openfaas'], 'off'), 'Local stack: `knative` scales each function as Knative’s activator and KPA would from `knative/*.yaml` (to zero when idle, requests held while a process starts); `openfaas` keeps `stack.yml`’s `com.openfaas.scale.min`…`max` processes (CE: never zero); `off`: REPLICAS processes for ever.'),
    AUTOSCALE_WINDOW_SECONDS: variable(num(0, 0, 3600), 'Local stack, AUTOSCALE: the stable window in seconds (0: the manifest’s, Knative’s default 60 s); retention and the scale-to-zero grace shrink in proportion (demos, tests).'),
    AUTOSCALE_HOLD_SECONDS: variable(num(0, 0, 3600), 'Local stack, AUTOSCALE: how long the gateway holds a request for a process before it answers 504 (0: the revision’s responseStartTimeoutSeconds).'),
    DATA_DIR: variable(text('.data'), 'Local stack: where the store, the event queue and the emulator keep their data.'),
  },
});
