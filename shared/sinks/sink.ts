/**
 * A row sink receives the published dataset's rows in order and acknowledges them as it
 * goes, so a run that stops half-way can resume after the last acknowledged row.
 */
import type { DatasetHeader, Row } from '../dataset/contract.js';

export interface SinkDelivery {
  header: DatasetHeader;
  /** Rows in dataset order, starting at row `startAt` (earlier ones were acknowledged before). */
  rows: AsyncIterable<Row[]>;
  startAt: number;
  /** The sequence-number base of an interrupted earlier run (REST sink), from the checkpoint. */
  sequenceBase?: number;
  /** From an earlier attempt's checkpoint: one past the last row it had sent (acknowledged or not). */
  sentTo?: number;
  /** Saved before a request goes out, with one past its last row: a resumed run then knows which rows may be stored already. */
  onSending?: (sentTo: number) => Promise<void>;
  /** Called after each acknowledged batch with the total rows acknowledged so far. */
  onAck: (rowsAcked: number, extra?: { sequenceBase?: number }) => Promise<void>;
  signal?: AbortSignal;
  /** Whether the source is still the newest version; checked before each batch (a newer upload stops the push). */
  stillCurrent?: () => Promise<boolean>;
}

export interface SinkResult {
  sink: string;
  rowsSent: number;
  rowsSkippedAsAlreadySent: number;
  rowsRejected: number;
  requests: number;
  retries: number;
  throttledMs: number;
  durationMs: number;
  rejects: { row: number; reason: string }[];
  /**
   * Rows of requests retried after the connection failed once they were sent: the service may
   * have stored them before the answer was lost (push URL: no way to tell, so they may be there twice).
   */
  possibleDuplicates?: number;
  /** Rows beyond POWERBI_MAX_ROWS_PER_FILE: not pushed (they are in the output bucket). */
  rowsNotSent?: number;
  /** Power BI refused part of the file for good (e.g. a 400 that splitting could not isolate): what and why. */
  refused?: { reason: string; rowsNotSent: number };
  /** A newer version of the source appeared: pushing stopped before the next batch. */
  superseded?: boolean;
  /** Sink-specific figures (REST: datasetId, unmappedColumns). */
  [extra: string]: unknown;
}

export interface RowSink {
  readonly name: string;
  deliver(d: SinkDelivery): Promise<SinkResult>;
  /** Whether the destination answers with these credentials (REST: Get Tables). */
  healthcheck?(signal?: AbortSignal): Promise<void>;
}
