/**
 * Power BI through a push URL (streaming or hybrid model created in the UI):
 * `POST …/rows?key=…` with a bare JSON array, each request ≤ 15 KB, ≤ 5 requests a second.
 * 429 waits for `Retry-After`; 5xx, timeouts and resets are retried with backoff and jitter;
 * other 4xx stop the run with Power BI's error code. The URL is a secret: it never appears
 * in logs, errors or manifests.
 */
import { Agent, request } from 'undici';
import type { Logger } from '../../runtime/log.js';
import { Problem } from '../../runtime/problem.js';
import { backoff, isConnectionError, sleep } from '../../runtime/invoke.js';
import { SlidingWindowLimiter } from '../rate-limiter.js';
import { toPowerBiRow } from './values.js';
import type { RowSink, SinkDelivery, SinkResult } from '../sink.js';

export interface PushUrlOptions {
  url: string;
  maxRequestBytes: number;
  requestsPerSecond: number;
  timeoutMs: number;
  maxRetries: number;
  /** Rows pushed per file at most; the rest stay in the output bucket, counted as rowsNotSent. */
  maxRowsPerFile?: number;
  log: Logger;
}

const agent = new Agent({ connections: 8, keepAliveTimeout: 10_000 });

export function describePushUrl(url: string): string {
  try {
    const u = new URL(url);
    const m = /\/datasets\/([^/]+)\//.exec(u.pathname);
    return `${u.host} dataset ${m?.[1] ?? '?'}`;
  } catch {
    return 'push URL';
  }
}

export class PowerBiPushSink implements RowSink {
  readonly name = 'powerbi-push';
  private readonly limiter: SlidingWindowLimiter;

  constructor(private readonly opts: PushUrlOptions) {
    const perWindow = Math.max(1, Math.floor(opts.requestsPerSecond));
    const windowMs = opts.requestsPerSecond >= 1 ? (1000 * perWindow) / opts.requestsPerSecond : 1000 / opts.requestsPerSecond;
    this.limiter = new SlidingWindowLimiter(perWindow, windowMs);
  }

  async deliver(d: SinkDelivery): Promise<SinkResult> {
    const started = performance.now();
    const cols = d.header.schema.columns;
    const budget = this.opts.maxRequestBytes - 2; // the enclosing [ ]
    const result: SinkResult = {
      sink: this.name,
      rowsSent: 0,
      rowsSkippedAsAlreadySent: 0,
      rowsRejected: 0,
      requests: 0,
      retries: 0,
      throttledMs: 0,
      durationMs: 0,
      rejects: [],
      rowsNotSent: 0,
    };
    const cap = this.opts.maxRowsPerFile ?? Infinity;
    let index = 0; // dataset row index
    let acked = d.startAt;
    let batch: string[] = [];
    let batchBytes = 0;
    let batchRows = 0; // rows (incl. rejected ones) covered by the batch

    const flush = async () => {
      if (!batch.length && !batchRows) return;
      if (batch.length) await this.post('[' + batch.join(',') + ']', batch.length, result, d.signal);
      result.rowsSent += batch.length;
      acked += batchRows;
      batch = [];
      batchBytes = 0;
      batchRows = 0;
      await d.onAck(acked);
    };

    for await (const rows of d.rows) {
      for (const row of rows) {
        if (index++ < d.startAt) {
          result.rowsSkippedAsAlreadySent++;
          continue;
        }
        if (index - 1 - d.startAt >= cap) {
          result.rowsNotSent = (result.rowsNotSent ?? 0) + 1;
          batchRows++;
          continue;
        }
        const mapped = toPowerBiRow(cols, row);
        if (typeof mapped === 'string') {
          result.rowsRejected++;
          if (result.rejects.length < 100) result.rejects.push({ row: index, reason: mapped });
          batchRows++;
          continue;
        }
        const json = JSON.stringify(mapped);
        const size = Buffer.byteLength(json);
        if (size > budget) {
          result.rowsRejected++;
          if (result.rejects.length < 100) result.rejects.push({ row: index, reason: `row is ${size} bytes; a push URL request holds at most ${this.opts.maxRequestBytes}` });
          batchRows++;
          continue;
        }
        if (batchBytes + size + (batch.length ? 1 : 0) > budget) await flush();
        batch.push(json);
        batchBytes += size + (batch.length > 1 ? 1 : 0);
        batchRows++;
      }
    }
    await flush();
    result.durationMs = Math.round(performance.now() - started);
    return result;
  }

  private async post(body: string, rows: number, result: SinkResult, signal?: AbortSignal): Promise<void> {
    let maybeStored = false;
    for (let attempt = 0; ; attempt++) {
      if (maybeStored) result.possibleDuplicates = (result.possibleDuplicates ?? 0) + rows;
      maybeStored = false;
      result.throttledMs += await this.limiter.acquire();
      result.requests++;
      let status = 0;
      let retryAfterMs = 0;
      let detail = '';
      try {
        const res = await request(this.opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          dispatcher: agent,
          signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(this.opts.timeoutMs)]) : AbortSignal.timeout(this.opts.timeoutMs),
        });
        status = res.statusCode;
        const text = await res.body.text();
        if (status >= 200 && status < 300) return;
        retryAfterMs = parseRetryAfter(res.headers['retry-after']);
        detail = powerBiError(text);
      } catch (err) {
        if (signal?.aborted) throw err;
        const timeout = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
        if (!timeout && !isConnectionError(err)) throw err;
        detail = timeout ? 'timed out' : ((err as { code?: string }).code ?? 'connection error');
        // The whole body was sent; the answer was lost. The rows may be stored already.
        maybeStored = (err as { code?: string }).code !== 'ECONNREFUSED';
      }
      const retryable = status === 0 || status === 429 || status >= 500;
      if (!retryable) {
        throw new Problem(422, 'powerbi-rejected', 'Power BI refused the rows', `HTTP ${status} ${detail}`.trim(), { sink: this.name, upstreamStatus: status });
      }
      if (attempt >= this.opts.maxRetries) {
        if (maybeStored) result.possibleDuplicates = (result.possibleDuplicates ?? 0) + rows;
        throw new Problem(503, 'powerbi-unavailable', 'Power BI did not accept the rows', `gave up after ${attempt + 1} attempts (last: ${status || detail})`, { sink: this.name, upstreamStatus: status || undefined });
      }
      result.retries++;
      const wait = status === 429 ? Math.max(retryAfterMs, 1000) : backoff(attempt, 250, 10_000);
      if (status === 429) result.throttledMs += wait;
      this.opts.log.warn('powerbi retry', { sink: this.name, target: describePushUrl(this.opts.url), status, detail, waitMs: Math.round(wait), attempt: attempt + 1 });
      await sleep(wait, signal);
    }
  }
}

export function parseRetryAfter(v: string | string[] | undefined): number {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return 0;
  const secs = Number(s);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const date = Date.parse(s);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : 0;
}

/** `{"error":{"code","message"}}` → "code: message" (Power BI's error body), trimmed. */
export function powerBiError(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { code?: string; message?: string } | string; message?: string };
    if (typeof j.error === 'object' && j.error) return [j.error.code, j.error.message].filter(Boolean).join(': ');
    if (typeof j.error === 'string') return j.error;
    if (j.message) return j.message;
  } catch {
    /* not JSON */
  }
  return text.slice(0, 200);
}
