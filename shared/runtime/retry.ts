/**
 * The one retry policy of the project: which failures a retry can help (`classifyError`,
 * `classifyStatus`: retryable, throttled with the server's wait, or permanent), how long to wait
 * (exponential backoff with jitter, or the server's `Retry-After`), and how many times
 * (`RetryPolicy`). Every loop that retries — S3 state writes, function invocations, Power BI
 * requests, an object version's next attempt — asks the same classification and waits through
 * `delayFor` (`withRetries` is the loop itself).
 */

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

export function errorCode(err: unknown): string | undefined {
  return (err as { code?: string })?.code ?? (err as { cause?: { code?: string } })?.cause?.code;
}

/** A failure to connect or a connection broken before the answer: a retry can help. */
export function isConnectionError(err: unknown): boolean {
  const code = errorCode(err);
  return !!code && CONNECT_ERRORS.has(code);
}

export function isTimeout(err: unknown): boolean {
  const name = (err as Error)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

/** HTTP statuses a retry can help: 429 and 5xx (0 stands for no answer at all). */
export function isRetryableStatus(status: number): boolean {
  return status === 0 || status === 429 || status >= 500;
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/** `Retry-After` as milliseconds (seconds or an HTTP date); 0 when absent. */
export function parseRetryAfter(v: string | string[] | undefined): number {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return 0;
  const secs = Number(s);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const date = Date.parse(s);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : 0;
}

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** First backoff; it doubles each attempt up to maxMs, with jitter in its upper half. */
  baseMs: number;
  maxMs: number;
  /** Least wait after a 429 without Retry-After. */
  throttleMs?: number;
}

export const DEFAULT_POLICY: RetryPolicy = { maxRetries: 3, baseMs: 200, maxMs: 10_000 };

export function backoff(attempt: number, policy: Pick<RetryPolicy, 'baseMs' | 'maxMs'> = DEFAULT_POLICY): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
  return exp / 2 + Math.random() * (exp / 2);
}

/** How long to wait before retry `attempt` (0-based) after an answer with `status`. */
export function retryDelay(policy: RetryPolicy, attempt: number, status = 0, retryAfterMs = 0): number {
  if (status === 429) return Math.max(retryAfterMs, policy.throttleMs ?? 1000);
  return Math.max(retryAfterMs, backoff(attempt, policy));
}

/**
 * The one classification of a failure: a retry can help (`retryable`), the other side asks us to
 * slow down (`throttled`, with how long it asked for: never a failure, only a wait), or no retry
 * can help (`permanent`). Every retry loop of the project asks it, and waits with `delayFor`.
 */
export type Verdict = { kind: 'retryable'; reason: string } | { kind: 'throttled'; retryAfterMs: number; reason: string } | { kind: 'permanent'; reason: string };

/** An HTTP answer's verdict (0: no answer at all). */
export function classifyStatus(status: number, retryAfter?: string | string[]): Verdict {
  if (status === 429 || (status === 503 && retryAfter !== undefined)) return { kind: 'throttled', retryAfterMs: parseRetryAfter(retryAfter), reason: `HTTP ${status}` };
  if (isRetryableStatus(status) || status === 408) return { kind: 'retryable', reason: status ? `HTTP ${status}` : 'no answer' };
  return { kind: 'permanent', reason: `HTTP ${status}` };
}

/** S3 error codes that ask the client to slow down, and those a plain retry can help. */
const S3_THROTTLED = new Set(['SlowDown', 'RequestLimitExceeded', 'TooManyRequests', 'XMinioServerNotInitialized']);
const S3_RETRYABLE = new Set(['InternalError', 'ServiceUnavailable', 'RequestTimeout', 'ConditionalRequestConflict', 'OperationAborted', 'XMinioStorageFull']);

/** A thrown error's verdict: connection failures and timeouts, S3 error codes, problems by their status. */
export function classifyError(err: unknown): Verdict {
  if (isConnectionError(err)) return { kind: 'retryable', reason: errorCode(err) ?? 'connection error' };
  if (isTimeout(err)) return { kind: 'retryable', reason: 'timed out' };
  const e = err as { code?: string; status?: number; retryable?: boolean; retryAfterMs?: number; title?: string } | undefined;
  if (e?.code && S3_THROTTLED.has(e.code)) return { kind: 'throttled', retryAfterMs: 0, reason: e.code };
  if (e?.code && S3_RETRYABLE.has(e.code)) return { kind: 'retryable', reason: e.code };
  if (typeof e?.status === 'number' && typeof e.retryable === 'boolean') {
    // A Problem: its own word on whether a retry can help.
    if (e.status === 429) return { kind: 'throttled', retryAfterMs: e.retryAfterMs ?? 0, reason: e.title ?? 'HTTP 429' };
    return e.retryable ? { kind: 'retryable', reason: e.title ?? `HTTP ${e.status}` } : { kind: 'permanent', reason: e.title ?? `HTTP ${e.status}` };
  }
  return { kind: 'permanent', reason: (err as Error)?.message ?? String(err) };
}

/** How long to wait before retry `attempt` (0-based) after a verdict: the server's word for a throttle, else backoff. */
export function delayFor(verdict: Verdict, attempt: number, policy: RetryPolicy): number {
  if (verdict.kind === 'throttled') return Math.max(verdict.retryAfterMs, policy.throttleMs ?? 1000);
  return backoff(attempt, policy);
}

export interface RetryOptions {
  signal?: AbortSignal;
  /** Which failures to retry (default: `classifyError`). */
  classify?: (err: unknown) => Verdict;
  /** Told before each wait (a log line, a counter). */
  onRetry?: (verdict: Verdict, attempt: number, waitMs: number) => void;
}

/**
 * Run `fn` until it succeeds: failures the classification calls retryable or throttled are retried
 * with the policy's backoff (or the server's wait) up to `maxRetries`; a permanent one is thrown at once.
 */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, opts: RetryOptions = {}): Promise<T> {
  const classify = opts.classify ?? classifyError;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const verdict = classify(err);
      if (verdict.kind === 'permanent' || attempt >= policy.maxRetries || opts.signal?.aborted) throw err;
      const wait = delayFor(verdict, attempt, policy);
      opts.onRetry?.(verdict, attempt, wait);
      await sleep(wait, opts.signal);
    }
  }
}
