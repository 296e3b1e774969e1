/** Fabric Eventstream as publish lists it: the EVENTSTREAM_* configuration and the sink it makes. */
import type { SinkSpec } from '../sink.js';
import { eventstreamConfig, type EventstreamConfig } from './config.js';
import { EventstreamService } from './service.js';
import { EventstreamSink } from './sink.js';

export const eventstreamSinks: SinkSpec<EventstreamConfig> = {
  name: 'eventstream',
  enabledBy: 'EVENTSTREAM_CONNECTION_STRING (or EVENTSTREAM_ROUTES)',
  config: eventstreamConfig,
  create(config, ctx) {
    const made = new Map<string, EventstreamService>();
    const service = (connectionString: string) => {
      let s = made.get(connectionString);
      if (!s) {
        s = new EventstreamService({
          sink: 'eventstream',
          connectionString,
          maxBatchBytes: config.EVENTSTREAM_MAX_BATCH_BYTES,
          timeoutMs: config.EVENTSTREAM_TIMEOUT_SECONDS * 1000,
          // The server names its wait when busy ("wait 4 seconds"): no least wait of our own beyond a moment.
          policy: { maxRetries: config.EVENTSTREAM_MAX_RETRIES, baseMs: 250, maxMs: 10_000, throttleMs: 100 },
          log: ctx.log,
        });
        made.set(connectionString, s);
      }
      return s;
    };
    const routes = Object.fromEntries(Object.entries(config.EVENTSTREAM_ROUTES).map(([prefix, cs]) => [prefix, service(cs)]));
    const fallback = config.EVENTSTREAM_CONNECTION_STRING ? service(config.EVENTSTREAM_CONNECTION_STRING) : undefined;
    if (!fallback && !Object.keys(routes).length) return [];
    return [new EventstreamSink(routes, fallback, config.EVENTSTREAM_MAX_BATCH_BYTES)];
  },
};
