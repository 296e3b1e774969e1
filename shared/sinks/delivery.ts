/**
 * The one delivery driver every row sink runs on. It owns what all sinks share: skipping the
 * rows an earlier attempt had acknowledged, the per-file row cap (counted over all attempts),
 * reject bookkeeping, batching under the sink's row and byte limits (bytes are UTF-8 bytes of
 * the exact body), requests in flight, and acknowledgements as a contiguous prefix of the
 * dataset. A sink supplies only its parts: how a row is encoded and how a batch is sent.
 */
import type { Row } from '../dataset/contract.js';
import type { RequestStats } from './powerbi/service.js';
import type { SinkDelivery, SinkResult } from './sink.js';

export interface Batch {
  /** Dataset row index of the batch's first row, and one past its last (rejected rows included). */
  start: number;
  end: number;
  /** Encoded rows (JSON text each). */
  rows: string[];
  /** UTF-8 bytes of the rows joined with commas. */
  bytes: number;
}

/** What a sink prepares for one delivery, from the dataset's header. */
export interface SinkRun {
  /** A row's JSON text, or why the row cannot go to this sink. */
  encode(row: Row): string | { reject: string };
  /** Send one batch; resolves once the destination acknowledged it. */
  send(batch: Batch, stats: RequestStats, signal?: AbortSignal): Promise<void>;
  limits: {
    maxRows: number;
    /** Largest request body in bytes, including the wrapper around the rows. */
    maxBytes: number;
    /** Bytes the body adds around the joined rows (`[` `]`, `{"rows":[` `]}`). */
    wrapperBytes: number;
    inFlight: number;
  };
  /** Saved with every checkpoint (the REST route's sequence-number base). */
  checkpointExtra?: { sequenceBase?: number };
  /** Sink-specific figures for the manifest. */
  extra?: Record<string, unknown>;
}

export interface BatchingSinkParts {
  name: string;
  maxRowsPerFile: number;
  prepare(d: SinkDelivery): Promise<SinkRun>;
}

const MAX_REJECTS_LISTED = 100;

export async function deliverInBatches(parts: BatchingSinkParts, d: SinkDelivery): Promise<SinkResult> {
  const started = performance.now();
  const run = await parts.prepare(d);
  const result: SinkResult = {
    sink: parts.name,
    rowsSent: 0,
    rowsSkippedAsAlreadySent: 0,
    rowsRejected: 0,
    requests: 0,
    retries: 0,
    throttledMs: 0,
    durationMs: 0,
    rejects: [],
    rowsNotSent: 0,
    ...run.extra,
  };
  const budget = run.limits.maxBytes - run.limits.wrapperBytes;
  const reject = (row: number, reason: string) => {
    result.rowsRejected++;
    if (result.rejects.length < MAX_REJECTS_LISTED) result.rejects.push({ row, reason });
  };

  // Acknowledgements are checkpointed as a contiguous prefix of the dataset's rows.
  const done = new Map<number, number>(); // batch start → batch end
  let ackedTo = d.startAt;
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  const acknowledge = async (b: Batch) => {
    done.set(b.start, b.end);
    let moved = false;
    while (done.has(ackedTo)) {
      const next = done.get(ackedTo)!;
      done.delete(ackedTo);
      ackedTo = next;
      moved = true;
    }
    if (moved) await d.onAck(ackedTo, run.checkpointExtra);
  };
  let stopped = false;
  const launch = async (b: Batch) => {
    while (inflight.size >= run.limits.inFlight) await Promise.race(inflight);
    if (failure || stopped) return;
    // A newer version of the source stops the push before its next batch.
    if (b.rows.length && d.stillCurrent && !(await d.stillCurrent())) {
      stopped = true;
      result.superseded = true;
      result.rowsNotSent = (result.rowsNotSent ?? 0) + b.rows.length;
      return;
    }
    const p: Promise<void> = (async () => {
      if (b.rows.length) {
        await run.send(b, result, d.signal);
        result.rowsSent += b.rows.length;
      }
      await acknowledge(b);
    })()
      .catch((err) => {
        failure ??= err;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  let index = 0;
  let batch: Batch = { start: d.startAt, end: d.startAt, rows: [], bytes: 0 };
  for await (const rows of d.rows) {
    for (const row of rows) {
      const i = index++;
      if (i < d.startAt) {
        result.rowsSkippedAsAlreadySent++;
        continue;
      }
      if (stopped) {
        result.rowsNotSent = (result.rowsNotSent ?? 0) + 1;
        continue;
      }
      batch.end = i + 1;
      if (i >= parts.maxRowsPerFile) {
        result.rowsNotSent = (result.rowsNotSent ?? 0) + 1;
        continue;
      }
      const encoded = run.encode(row);
      if (typeof encoded !== 'string') {
        reject(i + 1, encoded.reject);
        continue;
      }
      const size = Buffer.byteLength(encoded);
      if (size > budget) {
        reject(i + 1, `row is ${size} bytes; one request holds at most ${run.limits.maxBytes}`);
        continue;
      }
      const joined = batch.bytes + size + (batch.rows.length ? 1 : 0);
      if (batch.rows.length >= run.limits.maxRows || joined > budget) {
        batch.end = i;
        await launch(batch);
        batch = { start: i, end: i + 1, rows: [], bytes: 0 };
      }
      batch.bytes += size + (batch.rows.length ? 1 : 0);
      batch.rows.push(encoded);
    }
    if (failure) break;
  }
  if (!failure && batch.end > batch.start) await launch(batch);
  await Promise.all(inflight);
  if (failure) throw failure;
  result.durationMs = Math.round(performance.now() - started);
  return result;
}
