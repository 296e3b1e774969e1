/**
 * The Eventstream service: one batch of events to one event hub through `@azure/event-hubs`
 * (`createBatch` + `tryAdd` keep a batch under the endpoint's size limit), with the project's
 * retry policy (shared/runtime/retry.ts) instead of the client's: its retries are off, because
 * they wait a fixed 30 s and resend without telling, so every resend here is counted. A batch
 * whose answer was lost after it went out (timeout, dropped connection) may be stored twice:
 * its events count as possible duplicates. Server busy means not stored: it waits (as told) and
 * resends. The limiter (`beforeAttempt`) is a part of its own, so a shared one can replace it.
 *
 * The client library is loaded on first use, so a publish without Eventstream never loads it.
 */
import type { EventData, EventHubProducerClient } from '@azure/event-hubs';
import type { Logger } from '../../runtime/log.js';
import { Problem } from '../../runtime/problem.js';
import { retryDelay, sleep, type RetryPolicy } from '../../runtime/retry.js';
import type { Slot } from '../rate-limiter.js';
import type { RequestStats } from '../sink.js';
import { describeConnection } from './config.js';
import { eventstreamProblems } from './problems.js';

export interface EventstreamServiceOptions {
  sink: string;
  connectionString: string;
  maxBatchBytes: number;
  timeoutMs: number;
  policy: RetryPolicy;
  log: Logger;
  /** Taken before every attempt; the slot is released when the attempt ends. */
  beforeAttempt?: () => Promise<Slot>;
}

/** How a failure is handled: given up for good, or retried (after a wait the server may name). */
type Failure = { permanent: Problem } | { throttled: boolean; retryAfterMs: number; why: string };

/** "Please wait 4 seconds and try again" (Event Hubs' server-busy text) → 4000. */
function waitNamed(message: string): number {
  const m = /wait (\d+(?:\.\d+)?) seconds?/i.exec(message);
  return m ? Math.min(60_000, Number(m[1]) * 1000) : 0;
}

export class EventstreamService {
  readonly target: string;
  private client?: Promise<EventHubProducerClient>;
  private maxLinkBytes?: number;

  constructor(private readonly opts: EventstreamServiceOptions) {
    this.target = describeConnection(opts.connectionString);
  }

  private producer(): Promise<EventHubProducerClient> {
    this.client ??= import('@azure/event-hubs').then(({ EventHubProducerClient }) => new EventHubProducerClient(this.opts.connectionString, { retryOptions: { maxRetries: 0, timeoutInMs: this.opts.timeoutMs } }));
    return this.client;
  }

  /** The hub's properties through `$management` (a READ): the connection string works. */
  async healthcheck(signal?: AbortSignal): Promise<void> {
    try {
      await (await this.producer()).getEventHubProperties({ abortSignal: signal });
    } catch (err) {
      const f = this.classify(err, 0);
      throw 'permanent' in f ? f.permanent : eventstreamProblems.unavailable(f.why, { sink: this.opts.sink });
    }
  }

  /** What the failure means; the text names the hub, never the connection string. */
  private classify(err: unknown, rows: number): Failure {
    const e = err as { code?: string; name?: string; message?: string; retryable?: boolean };
    const why = `${e.code ?? e.name ?? 'error'}: ${String(e.message ?? err).slice(0, 300)}`;
    const ext = { sink: this.opts.sink, target: this.target };
    switch (e.code) {
      case 'ServerBusyError':
        return { throttled: true, retryAfterMs: waitNamed(e.message ?? ''), why };
      case 'MessageTooLargeError':
        return { permanent: eventstreamProblems.tooLarge(`${rows} events: ${why}`, { ...ext, refusal: 'too-large' }) };
      case 'UnauthorizedError':
        return { permanent: eventstreamProblems.authFailed(`${why} (check the SharedAccessKey of EVENTSTREAM_CONNECTION_STRING or the route's)`, { ...ext, setting: 'EVENTSTREAM_CONNECTION_STRING' }) };
      case 'MessagingEntityNotFoundError':
        return { permanent: eventstreamProblems.notFound(`${why} (check EntityPath)`, { ...ext, setting: 'EVENTSTREAM_CONNECTION_STRING' }) };
    }
    if (e.retryable === false || e.name === 'TypeError' || e.name === 'RangeError') return { permanent: eventstreamProblems.refused(why, ext) };
    return { throttled: false, retryAfterMs: 0, why };
  }

  /** Send the events as one batch, with `partitionKey`, until the endpoint takes them; a refusal or exhausted retries is a Problem. */
  async send(events: EventData[], partitionKey: string, stats: RequestStats, signal?: AbortSignal): Promise<void> {
    const { policy } = this.opts;
    for (let attempt = 0; ; attempt++) {
      const slot = await this.opts.beforeAttempt?.();
      if (slot) stats.throttledMs += slot.waited;
      stats.requests++;
      let sent = false;
      try {
        const client = await this.producer();
        this.maxLinkBytes ??= Math.min(this.opts.maxBatchBytes, (await client.createBatch({ partitionKey })).maxSizeInBytes);
        const batch = await client.createBatch({ partitionKey, maxSizeInBytes: this.maxLinkBytes });
        for (const ev of events) {
          // The driver's estimate was short: nothing went out, and the driver splits the batch.
          if (!batch.tryAdd(ev)) throw eventstreamProblems.tooLarge(`${events.length} events do not fit in ${this.maxLinkBytes} bytes`, { sink: this.opts.sink, refusal: 'too-large' });
        }
        sent = true;
        await client.sendBatch(batch, { abortSignal: signal });
        slot?.done();
        return;
      } catch (err) {
        slot?.done();
        if (err instanceof Problem || signal?.aborted) throw err;
        const f = this.classify(err, events.length);
        if ('permanent' in f) throw f.permanent;
        // Sent, and the answer lost (not a busy server, which stores nothing): the events may be stored already.
        if (sent && !f.throttled) stats.possibleDuplicates = (stats.possibleDuplicates ?? 0) + events.length;
        if (attempt >= policy.maxRetries) throw eventstreamProblems.unavailable(`gave up after ${attempt + 1} attempts (last: ${f.why})`, { sink: this.opts.sink, target: this.target });
        const wait = retryDelay(policy, attempt, f.throttled ? 429 : 0, f.retryAfterMs);
        stats.retries++;
        if (f.throttled) stats.throttledMs += wait;
        this.opts.log.warn('eventstream retry', { sink: this.opts.sink, target: this.target, detail: f.why, waitMs: Math.round(wait), attempt: attempt + 1 });
        await sleep(wait, signal);
      }
    }
  }

  /** Close the connection; a shutdown waits at most 2 s for it (a broken connection may never answer). */
  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    const closing = client.then((c) => c.close()).catch(() => undefined);
    await Promise.race([closing, new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
