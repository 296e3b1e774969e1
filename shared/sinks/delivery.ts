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
 * earlier attempt had sent: with the lost answers the service counts, `possibleDuplicates` is
 * exact. A batch refused as too large is split in halves and retried; a batch whose rows are refused is split the same way, within a budget, to isolate the
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
  const delivery = new Delivery(parts, d, await parts.prepare(d));
  await delivery.run();
  delivery.result.durationMs = Math.round(performance.now() - started);
  return delivery.result;
}

/** One delivery: its batch being filled, its requests in flight, and its acknowledgements. */
class Delivery {
  readonly result: SinkResult;
  /** Bytes a batch's rows may take (the request's limit less its wrapper), and each row's overhead. */
  private readonly budget: number;
  private readonly overhead: number;
  private readonly expected?: number;
  private index = 0;
  private batch: Batch;
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown;
  private stopped = false;
  private splitBudget = SPLIT_BUDGET_REFUSED;
  private refusedInARow = 0;
  /** One past the last row sent (acknowledged or not), as the checkpoint has it. */
  private sentTo: number;
  // Acknowledgements are checkpointed as a contiguous prefix of the dataset's rows: with the next
  // request's save (onSending) when there is one, else at once (no onSending) or at the end.
  private readonly done = new Map<number, number>(); // batch start → batch end
  private ackedTo: number;
  private ackSaved: number;

  constructor(
    private readonly parts: BatchingSinkParts,
    private readonly d: SinkDelivery,
    private readonly sink: SinkRun,
  ) {
    this.result = { sink: parts.name, rowsSent: 0, rowsSkippedAsAlreadySent: 0, rowsRejected: 0, requests: 0, retries: 0, throttledMs: 0, durationMs: 0, rejects: [], rowsNotSent: 0, ...sink.extra };
    this.budget = sink.limits.maxBytes - sink.limits.wrapperBytes;
    this.overhead = sink.limits.rowOverheadBytes ?? 0;
    this.expected = expectedRequests(d, sink.limits);
    this.batch = { start: d.startAt, end: d.startAt, rows: [], index: [], bytes: 0 };
    this.sentTo = d.sentTo ?? 0;
    this.ackedTo = this.ackSaved = d.startAt;
  }

  /** Every row, in batches; then what was acknowledged is saved (on a failure too, which is then thrown). */
  async run(): Promise<void> {
    try {
      for await (const rows of this.d.rows) {
        for (const row of rows) {
          const full = this.add(row);
          if (full) await this.launch(full);
        }
        if (this.failure) break;
      }
      if (!this.failure && this.batch.end > this.batch.start) await this.launch(this.batch);
      await Promise.all(this.inflight);
    } catch (err) {
      this.failure ??= err; // the rows could not be read, or a save before a request was refused
      await Promise.allSettled(this.inflight);
    }
    if (this.failure) {
      // What was acknowledged stays acknowledged for the next attempt (unless the save is refused too: the claim is lost).
      await this.saveAcks().catch(() => undefined);
      throw this.failure;
    }
    await this.saveAcks();
  }

  /** One row: skipped (sent before), not sent (stopped, past the cap), rejected, or batched; a batch it fills is returned, to go out. */
  private add(row: Row): Batch | undefined {
    const { result, batch } = this;
    const i = this.index++;
    if (i < this.d.startAt) return void result.rowsSkippedAsAlreadySent++;
    if (this.stopped) return void (result.rowsNotSent = (result.rowsNotSent ?? 0) + 1);
    batch.end = i + 1;
    if (i >= this.parts.maxRowsPerFile) return void (result.rowsNotSent = (result.rowsNotSent ?? 0) + 1);
    const encoded = this.sink.encode(row);
    if (typeof encoded !== 'string') return void this.reject(i + 1, encoded.reject);
    const size = Buffer.byteLength(encoded) + this.overhead;
    if (size > this.budget) return void this.reject(i + 1, `row is ${size} bytes; one request holds at most ${this.sink.limits.maxBytes}`);
    let full: Batch | undefined;
    if (batch.rows.length >= this.sink.limits.maxRows || batch.bytes + size + (batch.rows.length ? 1 : 0) > this.budget) {
      batch.end = i;
      full = batch;
      this.batch = { start: i, end: i + 1, rows: [], index: [], bytes: 0 };
    }
    const into = this.batch;
    into.bytes += size + (into.rows.length ? 1 : 0);
    into.rows.push(encoded);
    into.index.push(i);
    return full;
  }

  private reject(row: number, reason: string): void {
    this.result.rowsRejected++;
    if (this.result.rejects.length < MAX_REJECTS_LISTED) this.result.rejects.push({ row, reason });
  }

  /** A batch goes out once a request is free, the source is still current and its end is checkpointed. */
  private async launch(b: Batch): Promise<void> {
    while (this.inflight.size >= this.sink.limits.inFlight) await Promise.race(this.inflight);
    if (this.failure || this.stopped) return;
    // Before the request goes out, at once (one round trip between a file's requests, not two):
    // whether a newer version of the source stops the push, and its end checkpointed (a run that
    // dies now knows these rows may be stored; a push stopped here sends nothing, nor resumes).
    const d = this.d;
    const saving = b.rows.length && b.end > this.sentTo && d.onSending ? this.saved(this.unsavedAcks(), (acked) => d.onSending!((this.sentTo = b.end), acked)) : undefined;
    const [current] = await Promise.all([b.rows.length && d.stillCurrent ? d.stillCurrent() : true, saving]);
    if (!current) {
      this.stopped = true;
      this.result.superseded = true;
      this.result.rowsNotSent = (this.result.rowsNotSent ?? 0) + b.rows.length;
      return;
    }
    const p: Promise<void> = (async () => {
      if (b.rows.length) await this.sendOrSplit(b);
      await this.acknowledge(b);
    })()
      .catch((err) => {
        this.failure ??= err;
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Send a batch; too large (or, within budget, rows refused) splits it, and a single refused row becomes a reject. */
  private async sendOrSplit(b: Batch): Promise<void> {
    const { result, d } = this;
    const resent = this.sink.resendsMayDuplicate && d.sentTo ? b.index.filter((i) => i < d.sentTo!).length : 0;
    b.rank = Math.max(result.requests, this.expected ?? 0);
    try {
      await this.sink.send(b, result, d.signal);
      this.refusedInARow = 0;
      result.rowsSent += b.rows.length;
      if (resent) result.possibleDuplicates = (result.possibleDuplicates ?? 0) + resent;
    } catch (err) {
      const refused = refusal(err);
      if (!refused) throw err;
      if (b.rows.length === 1) {
        if (refused.kind === 'rows-refused' && ++this.refusedInARow >= SYSTEMIC_REFUSED_ROWS) throw err;
        this.reject(b.index[0] + 1, `${this.parts.title} refused the row: ${refused.reason}`);
        return;
      }
      if (refused.kind === 'rows-refused' && (this.splitBudget -= 2) < 0) throw err;
      const half = b.rows.length >> 1;
      await this.sendOrSplit(slice(b, 0, half, this.overhead));
      await this.sendOrSplit(slice(b, half, b.rows.length, this.overhead));
    }
  }

  private async acknowledge(b: Batch): Promise<void> {
    this.done.set(b.start, b.end);
    while (this.done.has(this.ackedTo)) {
      const next = this.done.get(this.ackedTo)!;
      this.done.delete(this.ackedTo);
      this.ackedTo = next;
    }
    if (!this.d.onSending) await this.saveAcks();
  }

  /** The acknowledgements no save has carried yet. */
  private unsavedAcks(): Acked | undefined {
    return this.ackedTo > this.ackSaved ? { rows: this.ackedTo, extra: this.sink.checkpointExtra } : undefined;
  }

  /** Run a save that carries `acked`; they count as saved once it succeeded (a failed one leaves them for the next). */
  private async saved(acked: Acked | undefined, save: (acked?: Acked) => Promise<void>): Promise<void> {
    await save(acked);
    if (acked) this.ackSaved = Math.max(this.ackSaved, acked.rows);
  }

  private async saveAcks(): Promise<void> {
    const acked = this.unsavedAcks();
    if (acked) await this.saved(acked, () => this.d.onAck(acked.rows, acked.extra));
  }
}
