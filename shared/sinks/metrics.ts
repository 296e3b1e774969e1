/** What a delivery cost, into the process's Prometheus metrics. */
import { metrics } from '../runtime/metrics.js';
import type { SinkResult } from './sink.js';

export function recordDelivery(r: SinkResult): void {
  const sink = r.sink;
  metrics.powerbiRequests.inc({ sink }, r.requests);
  metrics.powerbiRetries.inc({ sink }, r.retries);
  metrics.powerbiThrottled.inc({ sink }, r.throttledMs / 1000);
  metrics.powerbiRows.inc({ sink, outcome: 'sent' }, r.rowsSent);
  metrics.powerbiRows.inc({ sink, outcome: 'rejected' }, r.rowsRejected);
  metrics.powerbiRows.inc({ sink, outcome: 'not_sent' }, r.rowsNotSent ?? 0);
  metrics.powerbiRows.inc({ sink, outcome: 'possible_duplicate' }, r.possibleDuplicates ?? 0);
}
