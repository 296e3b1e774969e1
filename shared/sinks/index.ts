/** The row sinks chosen by configuration. */
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { PowerBiPushSink } from './powerbi-push.js';
import type { RowSink } from './sink.js';

export function createSinks(config: Config, log: Logger): RowSink[] {
  const sinks: RowSink[] = [];
  if (config.POWERBI_ENABLED && config.POWERBI_PUSH_URL) {
    sinks.push(
      new PowerBiPushSink({
        url: config.POWERBI_PUSH_URL,
        maxRequestBytes: config.POWERBI_MAX_REQUEST_BYTES,
        requestsPerSecond: config.POWERBI_MAX_REQUESTS_PER_SECOND,
        timeoutMs: config.POWERBI_TIMEOUT_SECONDS * 1000,
        maxRetries: config.POWERBI_MAX_RETRIES,
        log,
      }),
    );
  }
  return sinks;
}
