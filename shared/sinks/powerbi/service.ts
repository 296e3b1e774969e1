/**
 * The Power BI request service, shared by the push URL and the REST route (as Vector's sinks
 * share one HTTP service): one request at a time through the project's retry policy, the
 * rate limit taken before every attempt, a bearer token when the route has one, Power BI's
 * error body made readable, and the rows of a request whose answer was lost counted as possible
 * duplicates. The target's URL may be a secret: only `describe` ever reaches a log or an error.
 */
import { lazyAgent, undici } from '../../runtime/http-client.js';
import type { Logger } from '../../runtime/log.js';
import { Problem } from '../../runtime/problem.js';
import { errorCode, isConnectionError, isRetryableStatus, isTimeout, parseRetryAfter, retryDelay, sleep, type RetryPolicy } from '../../runtime/retry.js';
import type { EntraTokenProvider } from './entra-token.js';
import type { Slot } from '../rate-limiter.js';
import type { RequestStats } from '../sink.js';
import { powerbiProblems } from './problems.js';

export interface PowerBiServiceOptions {
  sink: string;
  /** What to call the target in logs and errors (never the URL). */
  describe: string;
  timeoutMs: number;
  policy: RetryPolicy;
  log: Logger;
  tokens?: EntraTokenProvider;
  /** Taken before every attempt (the rate limits, shared by the replicas); the slot is released when the attempt ends. */
  beforeAttempt?: (req: PowerBiRequest, signal?: AbortSignal) => Promise<Slot>;
}

export interface PowerBiRequest {
  method: 'GET' | 'POST';
  url: string;
  body?: string;
  headers?: Record<string, string>;
  /** Rows the body carries (for the duplicate count). */
  rows?: number;
  /** Its file's place in the target's line (Batch.rank). */
  rank?: number;
}

const agent = lazyAgent({ connections: 8, keepAliveTimeout: 10_000 });

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

export class PowerBiService {
  constructor(private readonly opts: PowerBiServiceOptions) {}

  /** Send one request until it is accepted; a refusal or exhausted retries is a Problem. */
  async send(req: PowerBiRequest, stats?: RequestStats, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    const { policy } = this.opts;
    for (let attempt = 0; ; attempt++) {
      const slot = await this.opts.beforeAttempt?.(req, signal);
      if (stats && slot) stats.throttledMs += slot.waited;
      if (stats) stats.requests++;
      let status = 0;
      let text = '';
      let retryAfterMs = 0;
      let maybeStored = false;
      try {
        const headers: Record<string, string> = { ...(req.body ? { 'content-type': 'application/json' } : {}), ...req.headers };
        if (this.opts.tokens) headers.authorization = `Bearer ${await this.opts.tokens.get()}`;
        const timeout = AbortSignal.timeout(this.opts.timeoutMs);
        const res = await (await undici()).request(req.url, { method: req.method, headers, body: req.body, dispatcher: await agent(), signal: signal ? AbortSignal.any([signal, timeout]) : timeout }).finally(() => slot?.done());
        status = res.statusCode;
        text = await res.body.text();
        if (status < 300) return { status, text };
        retryAfterMs = parseRetryAfter(res.headers['retry-after']);
        if (status === 403 && this.opts.tokens && text.includes('TokenExpired')) {
          this.opts.tokens.invalidate();
          status = 503; // retry at once with a new token
          retryAfterMs = 0;
        }
      } catch (err) {
        slot?.done();
        if (err instanceof Problem || signal?.aborted) throw err;
        if (!isTimeout(err) && !isConnectionError(err)) throw err;
        text = isTimeout(err) ? 'timed out' : (errorCode(err) ?? 'connection error');
        // The body was sent and the answer lost: the rows may be stored already.
        maybeStored = req.method === 'POST' && errorCode(err) !== 'ECONNREFUSED';
      }
      if (maybeStored && stats && req.rows) stats.possibleDuplicates = (stats.possibleDuplicates ?? 0) + req.rows;
      const detail = status ? powerBiError(text) : text;
      if (!isRetryableStatus(status)) {
        // 413 and 400 are refusals the driver works around by splitting the batch.
        const refusal = status === 413 ? 'too-large' : status === 400 ? 'rows-refused' : undefined;
        throw powerbiProblems.refused(`HTTP ${status} ${detail}`.trim(), { sink: this.opts.sink, upstreamStatus: status, ...(refusal ? { refusal } : {}) });
      }
      if (attempt >= policy.maxRetries) {
        throw powerbiProblems.unavailable(`gave up after ${attempt + 1} attempts (last: ${status || text})`, { sink: this.opts.sink, upstreamStatus: status || undefined });
      }
      const wait = retryDelay(policy, attempt, status, retryAfterMs);
      if (stats) {
        stats.retries++;
        if (status === 429) stats.throttledMs += wait;
      }
      this.opts.log.warn('powerbi retry', { sink: this.opts.sink, target: this.opts.describe, status, detail, waitMs: Math.round(wait), attempt: attempt + 1 });
      await sleep(wait, signal);
    }
  }
}
