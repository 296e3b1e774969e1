/**
 * Calling the next function over HTTP with undici: pooled connections, timeouts, retries
 * with backoff and jitter for connection failures (only before any body was sent), and
 * `X-Call-Id` propagation. Answers come back as status + headers + streaming body.
 */
import type { Dispatcher } from 'undici';
import { lazyAgent, undici } from './http-client.js';
import type { Readable } from 'node:stream';
import { readText } from './body.js';
import { problems } from './problem.js';
import { backoff, isConnectionError, sleep, errorCode } from './retry.js';

// No cap on connections: a call lasts as long as its file (the webhook's call to transform, transform's
// stream to publish), so a cap queued the 17th file's call behind files that take minutes; with one
// process of each function, a 1,000-row file behind 20 large ones was handed off only after three
// attempts and published with the last of them. What runs at once is the platform's to bound
// (containerConcurrency, max_inflight) before a request reaches a function.
const agent = lazyAgent({ headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 10_000 });

export interface InvokeOptions {
  method?: 'POST' | 'GET';
  headers?: Record<string, string>;
  body?: string | Buffer | Readable | AsyncIterable<string | Buffer>;
  callId?: string;
  /** Retries for connection errors when the body is replayable (string/Buffer). */
  retries?: number;
  signal?: AbortSignal;
  /** What to call the target in errors (never the URL, which may carry secrets). */
  target: string;
}

export interface InvokeResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

export async function invoke(url: string, opts: InvokeOptions): Promise<InvokeResult> {
  const replayable = opts.body === undefined || typeof opts.body === 'string' || Buffer.isBuffer(opts.body);
  const retries = replayable ? (opts.retries ?? 3) : 0;
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.callId) headers['x-call-id'] = opts.callId;
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await (await undici()).request(url, {
        method: opts.method ?? 'POST',
        headers,
        body: opts.body as Dispatcher.RequestOptions['body'],
        dispatcher: await agent(),
        signal: opts.signal,
      });
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      if (attempt < retries && isConnectionError(err) && !opts.signal?.aborted) {
        await sleep(backoff(attempt), opts.signal);
        continue;
      }
      const code = errorCode(err) ?? 'error';
      throw problems.downstreamUnreachable(opts.target, `${code} after ${attempt + 1} attempt(s); retry later`);
    }
  }
}

/** Largest answer read whole from another function (a result document, a problem). */
const ANSWER_MAX_BYTES = 4 * 1024 * 1024;

/** Read a whole (small) answer as JSON, or `{detail}` when it is not JSON. */
export async function readAnswer(body: InvokeResult['body']): Promise<unknown> {
  const text = await readText(body, ANSWER_MAX_BYTES);
  try {
    return JSON.parse(text);
  } catch {
    return text ? { detail: text.slice(0, 500) } : undefined;
  }
}
