/**
 * The one delivery driver every row sink runs on; it knows no sink. It owns what all sinks share:
 * skipping the rows an earlier attempt had acknowledged, the per-file row cap (counted over all
 * attempts), reject bookkeeping, batching under the sink's row and byte limits (bytes are UTF-8
 * bytes of the encoded rows), requests in flight, and acknowledgements as a contiguous prefix of
 * the dataset (the checkpoints). A sink supplies only its parts: how a row is encoded and how a
 * batch is sent (its request builder and service).
 *
 * Duplicates: before a request goes out its end is checkpointed (`onSending`, in the same write as
 * the acknowledgements since the last save), so a resumed run counts every row it resends that an
 * earlier attempt had sent: with the lost answers the service counts, `possibleDuplicates` is exact. A batch refused as too large is split in halves and
 * retried; a batch whose rows are refused is split the same way, within a budget, to isolate the
 * rows the destination refuses (each becomes a reject with its words). What still cannot be sent
 * ends the file partial.
 */
import type { Row } from '../dataset/contract.js';
import { Problem } from '../runtime/problem.js';
import type { Acked, CheckpointExtra, RequestStats, SinkDelivery, SinkResult } from './sink.js';

/**
 * How a sink's service marks a refusal the driver can work around: `too-large` (HTTP 413, AMQP
 * message-size-exceeded: split the batch) or `rows-refused` (HTTP 400: split to find the rows).
 * Set as the Problem's `refusal` extension.
 */
export type Refusal = 'too-large' | 'rows-refused';

export interface Batch {
  /** Dataset row index of the batch's first row, and one past its last (rejected rows included). */
  start: number;
  end: number;
  /** Encoded rows (JSON text each), and the dataset row index of each. */
  rows: string[];
  index: number[];
  /** UTF-8 bytes of the rows joined with commas (and each row's overhead). */
  bytes: number;
  /**
   * Its file's place in the target's line as it goes out (rate-limiter.ts HEAD_START): the file's
   * size in requests, the larger of those it has sent and those its whole source is expected to need.
   */
  rank?: number;
}

/** Bytes of a row's JSON for one byte of CSV, about (names repeated, quotes): to guess a file's requests from its size. */
const JSON_PER_CSV_BYTE = 2;

/** The requests a file's whole source is expected to need at this sink's limits (undefined when its size is unknown). */
export function expectedRequests(d: SinkDelivery, limits: SinkRun['limits']): number | undefined {
  const size = d.header.source.kind === 'object' ? d.header.source.size : undefined;
  if (size === undefined) return undefined;
  const byBytes = Math.ceil((size * JSON_PER_CSV_BYTE) / Math.max(1, limits.maxBytes - limits.wrapperBytes));
  const byRows = Number.isFinite(limits.maxRows) ? Math.ceil(size / 20 / limits.maxRows) : 0; // a CSV row is 20 bytes or more
  return Math.max(1, byBytes, byRows);
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
    /** Bytes each row costs beyond its encoding, at most (an event's framing and properties); default 0. */
    rowOverheadBytes?: number;
    inFlight: number;
  };
  /**
   * Whether a row sent again after an earlier attempt may be stored twice (push URL: always;
   * REST: unless sequence numbers let the service drop it).
   */
  resendsMayDuplicate: boolean;
  /** Saved with every checkpoint (the REST route's sequence-number base). */
  checkpointExtra?: CheckpointExtra;
  /** Sink-specific figures for the manifest. */
  extra?: Record<string, unknown>;
}

export interface BatchingSinkParts {
  name: string;
  /** What the destination is called in reject reasons ("Power BI refused the row: …"). */
  title: string;
  maxRowsPerFile: number;
  prepare(d: SinkDelivery): Promise<SinkRun>;
}

const MAX_REJECTS_LISTED = 100;
/** Extra requests a file may spend splitting batches whose rows were refused. */
const SPLIT_BUDGET_REFUSED = 32;
/** Single rows refused in a row, with nothing accepted between: the table, not the rows, is the problem. */
const SYSTEMIC_REFUSED_ROWS = 5;

function refusal(err: unknown): { kind: Refusal; reason: string } | undefined {
  if (!(err instanceof Problem) || err.retryable) return undefined;
  const kind = err.extensions.refusal;
  return kind === 'too-large' || kind === 'rows-refused' ? { kind, reason: err.detail ?? err.title } : undefined;
}

function slice(b: Batch, from: number, to: number, overhead: number): Batch {
  const rows = b.rows.slice(from, to);
  const index = b.index.slice(from, to);
  return { start: index[0], end: to < b.rows.length ? b.index[to] : b.end, rows, index, bytes: rows.reduce((n, r) => n + Buffer.byteLength(r) + overhead, 0) + Math.max(0, rows.length - 1) };
}

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
  const overhead = run.limits.rowOverheadBytes ?? 0;
  const expected = expectedRequests(d, run.limits);
  const reject = (row: number, reason: string) => {
    result.rowsRejected++;
    if (result.rejects.length < MAX_REJECTS_LISTED) result.rejects.push({ row, reason });
  };

  // Acknowledgements are checkpointed as a contiguous prefix of the dataset's rows: with the next
  // request's save (onSending) when there is one, else at once (no onSending) or at the end.
  const done = new Map<number, number>(); // batch start → batch end
  let ackedTo = d.startAt;
  let ackSaved = d.startAt;
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  const acknowledge = async (b: Batch) => {
    done.set(b.start, b.end);
    while (done.has(ackedTo)) {
      const next = done.get(ackedTo)!;
      done.delete(ackedTo);
      ackedTo = next;
    }
    if (!d.onSending) await saveAcks();
  };
  /** The acknowledgements no save has carried yet (taken: the caller saves them). */
  const unsavedAcks = (): Acked | undefined => {
    if (ackedTo <= ackSaved) return undefined;
    ackSaved = ackedTo;
    return { rows: ackedTo, extra: run.checkpointExtra };
  };
  const saveAcks = async () => {
    const acked = unsavedAcks();
    if (acked) await d.onAck(acked.rows, acked.extra);
  };
  let stopped = false;
  let splitBudget = SPLIT_BUDGET_REFUSED;
  let refusedInARow = 0;
  let sentTo = d.sentTo ?? 0;
  /** Send a batch; too large (or, within budget, rows refused) splits it, and a single refused row becomes a reject. */
  const sendOrSplit = async (b: Batch): Promise<void> => {
    const resent = run.resendsMayDuplicate && d.sentTo ? b.index.filter((i) => i < d.sentTo!).length : 0;
    b.rank = Math.max(result.requests, expected ?? 0);
    try {
      await run.send(b, result, d.signal);
      refusedInARow = 0;
      result.rowsSent += b.rows.length;
      if (resent) result.possibleDuplicates = (result.possibleDuplicates ?? 0) + resent;
    } catch (err) {
      const refused = refusal(err);
      if (!refused) throw err;
      if (b.rows.length === 1) {
        if (refused.kind === 'rows-refused' && ++refusedInARow >= SYSTEMIC_REFUSED_ROWS) throw err;
        reject(b.index[0] + 1, `${parts.title} refused the row: ${refused.reason}`);
        return;
      }
      if (refused.kind === 'rows-refused' && (splitBudget -= 2) < 0) throw err;
      const half = b.rows.length >> 1;
      await sendOrSplit(slice(b, 0, half, overhead));
      await sendOrSplit(slice(b, half, b.rows.length, overhead));
    }
  };
  const launch = async (b: Batch) => {
    while (inflight.size >= run.limits.inFlight) await Promise.race(inflight);
    if (failure || stopped) return;
    // Before the request goes out, at once (one round trip between a file's requests, not two):
    // whether a newer version of the source stops the push, and its end checkpointed (a run that
    // dies now knows these rows may be stored; a push stopped here sends nothing, nor resumes).
    const saving = b.rows.length && b.end > sentTo && d.onSending ? d.onSending((sentTo = b.end), unsavedAcks()) : undefined;
    const [current] = await Promise.all([b.rows.length && d.stillCurrent ? d.stillCurrent() : true, saving]);
    if (!current) {
      stopped = true;
      result.superseded = true;
      result.rowsNotSent = (result.rowsNotSent ?? 0) + b.rows.length;
      return;
    }
    const p: Promise<void> = (async () => {
      if (b.rows.length) await sendOrSplit(b);
      await acknowledge(b);
    })()
      .catch((err) => {
        failure ??= err;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  let index = 0;
  let batch: Batch = { start: d.startAt, end: d.startAt, rows: [], index: [], bytes: 0 };
  try {
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
        const size = Buffer.byteLength(encoded) + overhead;
        if (size > budget) {
          reject(i + 1, `row is ${size} bytes; one request holds at most ${run.limits.maxBytes}`);
          continue;
        }
        const joined = batch.bytes + size + (batch.rows.length ? 1 : 0);
        if (batch.rows.length >= run.limits.maxRows || joined > budget) {
          batch.end = i;
          await launch(batch);
          batch = { start: i, end: i + 1, rows: [], index: [], bytes: 0 };
        }
        batch.bytes += size + (batch.rows.length ? 1 : 0);
        batch.rows.push(encoded);
        batch.index.push(i);
      }
      if (failure) break;
    }
    if (!failure && batch.end > batch.start) await launch(batch);
    await Promise.all(inflight);
  } catch (err) {
    failure ??= err; // the rows could not be read, or a save before a request was refused
    await Promise.allSettled(inflight);
  }
  if (failure) {
    // What was acknowledged stays acknowledged for the next attempt (unless the save is refused too: the claim is lost).
    await saveAcks().catch(() => undefined);
    throw failure;
  }
  await saveAcks();
  result.durationMs = Math.round(performance.now() - started);
  return result;
}
