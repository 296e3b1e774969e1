/**
 * The one retry policy of the project: which failures a retry can help (connection errors,
 * timeouts, 429 and 5xx), how long to wait (exponential backoff with jitter, or the server's
 * `Retry-After`), and how many times. Every HTTP client here (function to function, Power BI,
 * the webhook's hand-off) waits through it.
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

/** Run `fn` until it succeeds, retrying any failure with the policy's backoff. */
export async function retrying<T>(fn: () => Promise<T>, policy: RetryPolicy, signal?: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= policy.maxRetries || signal?.aborted) throw err;
      await sleep(backoff(attempt, policy), signal);
    }
  }
}
