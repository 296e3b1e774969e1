/**
 * A row sink receives the published dataset's rows in order and acknowledges them as it
 * goes, so a run that stops half-way can resume after the last acknowledged row.
 *
 * A sink is one folder under shared/sinks/ (as Vector's sinks are: config → encoder → request
 * builder → service), and its folder exports one `SinkSpec`: the configuration it reads, each
 * variable described, and how its sinks are built from it. publish lists the specs
 * (functions/publish/sinks.ts); the delivery driver (delivery.ts), checkpoints and metrics
 * are the same for every sink.
 */
import type { DatasetHeader, Row } from '../dataset/contract.js';
import type { Component } from '../runtime/config.js';
import type { Logger } from '../runtime/log.js';
import type { Storage } from '../storage/s3.js';
import type { BudgetFactory } from './shared-budget.js';
import type { RateShareFactory } from './rate-shares.js';

/** What a sink saves with its acknowledgements (the REST route's sequence-number base). */
export interface CheckpointExtra {
  sequenceBase?: number;
}

/** Acknowledged rows (a prefix of the dataset) to save with a request's checkpoint. */
export interface Acked {
  rows: number;
  extra?: CheckpointExtra;
}

export interface SinkDelivery {
  header: DatasetHeader;
  /** Rows in dataset order, starting at row `startAt` (earlier ones were acknowledged before). */
  rows: AsyncIterable<Row[]>;
  startAt: number;
  /** The sequence-number base of an interrupted earlier run (REST sink), from the checkpoint. */
  sequenceBase?: number;
  /** From an earlier attempt's checkpoint: one past the last row it had sent (acknowledged or not). */
  sentTo?: number;
  /**
   * Saved before a request goes out, with one past its last row: a resumed run then knows which
   * rows may be stored already. `acked`: acknowledgements not saved yet, saved in the same write
   * (with `onSending`, a batch's acknowledgement goes out with the next request's save: one store
   * write a request, not two, between a file's requests).
   */
  onSending?: (sentTo: number, acked?: Acked) => Promise<void>;
  /** Saves the rows acknowledged so far (a prefix of the dataset) where no request's save carries them: after the last batch, or without `onSending`. */
  onAck: (rowsAcked: number, extra?: CheckpointExtra) => Promise<void>;
  signal?: AbortSignal;
  /** Whether the source is still the newest version; checked before each batch (a newer upload stops the push). */
  stillCurrent?: () => Promise<boolean>;
}

/** What the requests of one delivery cost; it goes into the manifest. */
export interface RequestStats {
  requests: number;
  retries: number;
  throttledMs: number;
  /** Rows of requests whose answer was lost after they were sent: they may be stored twice. */
  possibleDuplicates?: number;
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
  /** Rows beyond the sink's per-file cap: not sent (they are in the output bucket). */
  rowsNotSent?: number;
  /** The destination refused part of the file for good (e.g. a 400 that splitting could not isolate): what and why. */
  refused?: { reason: string; rowsNotSent: number };
  /** A newer version of the source appeared: pushing stopped before the next batch. */
  superseded?: boolean;
  /** Sink-specific figures (Power BI REST: datasetId, unmappedColumns). */
  [extra: string]: unknown;
}

export interface RowSink {
  readonly name: string;
  /** What the destination is called in messages ("rows not sent to Power BI"). */
  readonly title: string;
  deliver(d: SinkDelivery): Promise<SinkResult>;
  /** Whether the destination answers with these credentials (REST: Get Tables). */
  healthcheck?(signal?: AbortSignal): Promise<void>;
  /** Close connections the sink holds open (AMQP), at shutdown. */
  close?(): Promise<void>;
}

/** What a sink's builder gets from publish: its log and the output bucket (for state it keeps there). */
export interface SinkContext {
  log: Logger;
  s3: Storage;
  outputBucket: string;
  /** A destination's request budget shared by every publish replica in turns (shared-budget.ts), for sinks whose destination counts rows per hour (REST). */
  budget?: BudgetFactory;
  /** A destination's request rate split among the publish replicas at once (rate-shares.ts), for sinks limited per second (push URLs). */
  rateShare?: RateShareFactory;
}


/**
 * One sink kind, as publish lists it: its configuration (a component, every variable described,
 * so `npm run docs` and the deploy checks know it) and how its sinks are built from the values.
 * `create` runs once per process (limiters and connections then hold across files) and returns
 * no sink when the configuration names no destination.
 */
export interface SinkSpec<V = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The component's key in the loaded configuration. */
  name: string;
  /** The settings that name a destination for it, for the message when no sink is configured. */
  enabledBy: string;
  config: Component<any, V>; // eslint-disable-line @typescript-eslint/no-explicit-any
  create(config: V, ctx: SinkContext): RowSink[];
}
