/**
 * Prometheus metrics (prom-client), served on `/metrics` by every function: requests in flight
 * and their durations from the server, files, rows and bytes from the pipeline, requests,
 * retries and throttling from the sinks (Power BI, Eventstream), and Node's own process metrics.
 */
// prom-client's index also loads its Pushgateway (http, https, url), Summary and cluster
// aggregation, which no function uses: its modules are imported one by one (types from the
// index; prom-client-parts.d.ts), a few milliseconds less of every cold start.
import Counter from 'prom-client/lib/counter.js';
import Gauge from 'prom-client/lib/gauge.js';
import Histogram from 'prom-client/lib/histogram.js';
import Registry from 'prom-client/lib/registry.js';

export const registry = new Registry();

let processMetrics: Promise<void> | undefined;
/**
 * Node's own process metrics (CPU, memory, event loop lag, GC: prom-client's defaults). Their
 * modules load node:v8 and node:perf_hooks, ~20 ms that a cold request does not need, so they
 * are registered after the start: a second after the function is ready, or at the first scrape
 * if it comes sooner (server.ts). Their CPU and GC counters count from then.
 */
export function startProcessMetrics(): Promise<void> {
  processMetrics ??= import('prom-client/lib/defaultMetrics.js').then(({ default: collectDefaultMetrics }) => collectDefaultMetrics({ register: registry, prefix: 'minipipeline_' }));
  return processMetrics;
}

const durations = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export const metrics = {
  requestsInFlight: new Gauge({ name: 'minipipeline_requests_in_flight', help: 'Requests being handled.', labelNames: ['fn'], registers: [registry] }),
  requestDuration: new Histogram({ name: 'minipipeline_request_duration_seconds', help: 'Time to answer a request, by status.', labelNames: ['fn', 'status'], buckets: durations, registers: [registry] }),
  files: new Counter({ name: 'minipipeline_files_total', help: 'Files by outcome (published, partial, failed, superseded; ignored: an event the webhook does not process).', labelNames: ['outcome'], registers: [registry] }),
  replays: new Counter({ name: 'minipipeline_replays_total', help: 'Deliveries of object versions that already had their outcome (nothing was done again), by that outcome.', labelNames: ['outcome'], registers: [registry] }),
  rows: new Counter({ name: 'minipipeline_rows_total', help: 'Rows read (in), written (out) and rejected.', labelNames: ['kind'], registers: [registry] }),
  bytesIn: new Counter({ name: 'minipipeline_bytes_in_total', help: 'CSV bytes read.', registers: [registry] }),
  fileDuration: new Histogram({ name: 'minipipeline_file_duration_seconds', help: 'Time per file, by stage (transform, publish).', labelNames: ['stage'], buckets: durations, registers: [registry] }),
  sinkRequests: new Counter({ name: 'minipipeline_sink_requests_total', help: 'Requests (batches) sent to a sink, every attempt.', labelNames: ['sink'], registers: [registry] }),
  sinkRetries: new Counter({ name: 'minipipeline_sink_retries_total', help: 'Sink requests retried (throttled, busy, 5xx, timeouts, resets).', labelNames: ['sink'], registers: [registry] }),
  sinkThrottled: new Counter({ name: 'minipipeline_sink_throttled_seconds_total', help: 'Time spent waiting for a sink’s limits (own limiter, Retry-After, server busy).', labelNames: ['sink'], registers: [registry] }),
  sinkRows: new Counter({ name: 'minipipeline_sink_rows_total', help: 'Rows for a sink by outcome (sent, rejected, not_sent, possible_duplicate).', labelNames: ['sink', 'outcome'], registers: [registry] }),
};
