/**
 * Power BI through a push URL (streaming or hybrid model created in the UI):
 * `POST …/rows?key=…` with a bare JSON array, each request ≤ 15 KB, ≤ 5 requests a second.
 * Built from parts: the encoding (Power BI's value rules), the batching driver, and the Power BI
 * service with the project's retry policy. The URL is a secret: it never appears in logs,
 * errors or manifests. Built once per process, so its rate limit holds across requests.
 */
import type { Logger } from '../../runtime/log.js';
import { deliverInBatches, type SinkRun } from '../delivery.js';
import { SlidingWindowLimiter } from '../rate-limiter.js';
import type { RateShareFactory } from '../rate-shares.js';
import { keyOf, longestPrefix } from '../routes.js';
import type { RowSink, SinkDelivery, SinkResult } from '../sink.js';
import { PowerBiService } from './service.js';
import { toPowerBiRow } from './values.js';

export interface PushUrlOptions {
  url: string;
  maxRequestBytes: number;
  requestsPerSecond: number;
  timeoutMs: number;
  maxRetries: number;
  /** Rows pushed per file at most; the rest stay in the output bucket, counted as rowsNotSent. */
  maxRowsPerFile?: number;
  log: Logger;
  /** The URL's rate, split with the other publish replicas (the limiter holds this process's share). */
  rateShare?: RateShareFactory;
}

export function describePushUrl(url: string): string {
  try {
    const u = new URL(url);
    const m = /\/datasets\/([^/]+)\//.exec(u.pathname);
    return `${u.host} dataset ${m?.[1] ?? '?'}`;
  } catch {
    return 'push URL';
  }
}

/** A limiter for `perSecond` requests a second (fractions allowed), its starts spread over the second while requests compete. */
export function perSecondLimiter(perSecond: number): SlidingWindowLimiter {
  const perWindow = Math.max(1, Math.floor(perSecond));
  return new SlidingWindowLimiter(perWindow, perSecond >= 1 ? (1000 * perWindow) / perSecond : 1000 / perSecond, { spread: true });
}

export class PowerBiPushSink implements RowSink {
  readonly name = 'powerbi-push';
  readonly title = 'Power BI';
  private readonly service: PowerBiService;
  /** This replica's share of the URL's rate (with other replicas), given back at shutdown. */
  private readonly share?: ReturnType<RateShareFactory>;

  constructor(private readonly opts: PushUrlOptions) {
    const limiter = perSecondLimiter(opts.requestsPerSecond);
    this.share = opts.rateShare?.(`push:${opts.url}`, limiter);
    const budget = this.share ?? limiter;
    this.service = new PowerBiService({
      sink: this.name,
      describe: describePushUrl(opts.url),
      timeoutMs: opts.timeoutMs,
      policy: { maxRetries: opts.maxRetries, baseMs: 250, maxMs: 10_000 },
      log: opts.log,
      beforeAttempt: (req, signal) => budget.acquire({ signal, rank: req.rank }),
    });
  }

  async close(): Promise<void> {
    await this.share?.release();
  }

  deliver(d: SinkDelivery): Promise<SinkResult> {
    return deliverInBatches({ name: this.name, title: this.title, maxRowsPerFile: this.opts.maxRowsPerFile ?? Infinity, prepare: async () => this.run(d) }, d);
  }

  private run(d: SinkDelivery): SinkRun {
    const cols = d.header.schema.columns;
    return {
      encode: (row) => {
        const mapped = toPowerBiRow(cols, row);
        return typeof mapped === 'string' ? { reject: mapped } : JSON.stringify(mapped);
      },
      send: async (batch, stats, signal) => {
        await this.service.send({ method: 'POST', url: this.opts.url, body: '[' + batch.rows.join(',') + ']', rows: batch.rows.length, rank: batch.rank }, stats, signal);
      },
      limits: { maxRows: Infinity, maxBytes: this.opts.maxRequestBytes, wrapperBytes: 2, inFlight: 1 },
      // The push URL has no way to drop a row it already stored.
      resendsMayDuplicate: true,
    };
  }
}

/**
 * The push URL route with POWERBI_ROUTES: each file goes to the push URL of the longest key
 * prefix that names one, else to the default (POWERBI_PUSH_URL). One sink per URL, built once,
 * each with its own 5-a-second budget (Power BI counts per dataset).
 */
export class RoutedPushSink implements RowSink {
  readonly name = 'powerbi-push';
  readonly title = 'Power BI';
  private readonly byPrefix: Record<string, PowerBiPushSink>;

  constructor(
    routes: Record<string, string>,
    private readonly fallback: PowerBiPushSink | undefined,
    make: (url: string) => PowerBiPushSink,
  ) {
    const made = new Map<string, PowerBiPushSink>();
    this.byPrefix = Object.fromEntries(Object.entries(routes).map(([prefix, url]) => [prefix, made.get(url) ?? made.set(url, make(url)).get(url)!]));
  }

  async close(): Promise<void> {
    await Promise.all([...new Set([...Object.values(this.byPrefix), this.fallback])].map((s) => s?.close()));
  }

  private sinkFor(d: SinkDelivery): PowerBiPushSink | undefined {
    return longestPrefix(this.byPrefix, keyOf(d.header)) ?? this.fallback;
  }

  async deliver(d: SinkDelivery): Promise<SinkResult> {
    const sink = this.sinkFor(d);
    if (sink) return sink.deliver(d);
    return { sink: this.name, rowsSent: 0, rowsSkippedAsAlreadySent: 0, rowsRejected: 0, requests: 0, retries: 0, throttledMs: 0, durationMs: 0, rejects: [], note: 'no push URL for this key (no POWERBI_ROUTES prefix matches, and POWERBI_PUSH_URL is unset)' };
  }
}
