/** What a delivery cost, into the process's Prometheus metrics. */
import { metrics } from '../runtime/metrics.js';
import type { SinkResult } from './sink.js';

export function recordDelivery(r: SinkResult): void {
  const sink = r.sink;
  metrics.sinkRequests.inc({ sink }, r.requests);
  metrics.sinkRetries.inc({ sink }, r.retries);
  metrics.sinkThrottled.inc({ sink }, r.throttledMs / 1000);
  metrics.sinkRows.inc({ sink, outcome: 'sent' }, r.rowsSent);
  metrics.sinkRows.inc({ sink, outcome: 'rejected' }, r.rowsRejected);
  metrics.sinkRows.inc({ sink, outcome: 'not_sent' }, r.rowsNotSent ?? 0);
  metrics.sinkRows.inc({ sink, outcome: 'possible_duplicate' }, r.possibleDuplicates ?? 0);
}
