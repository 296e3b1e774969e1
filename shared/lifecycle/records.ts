/**
 * The lifecycle's records and its one vocabulary.
 *
 * An object version is `pending` (no record yet), `running` (a live run holds its claim),
 * `waiting` (its claim has no live run: the next attempt is due at `expiresAt`, after a failure a
 * retry can help, or because the run holding it stopped renewing), or it has ended in exactly one
 * outcome: `published`, `partial` (in the output bucket whole, but a sink refused rows),
 * `failed` (with its failure record) or `superseded` (a newer upload of the key replaced it).
 * Every answer (webhook, transform, publish), the manifest, `npm run upload`, the console, logs
 * and metric labels speak these words; `replay: true` says the outcome was reached before.
 */
import * as z from 'zod';
import { datasetSchemas } from '../dataset/contract.js';

export const OUTCOMES = ['published', 'partial', 'failed', 'superseded'] as const;
export type Outcome = (typeof OUTCOMES)[number];
export const PHASES = ['pending', 'running', 'waiting', ...OUTCOMES] as const;
export type Phase = (typeof PHASES)[number];

export function isOutcome(s: unknown): s is Outcome {
  return typeof s === 'string' && (OUTCOMES as readonly string[]).includes(s);
}

function recordParts() {
  const iso = z.string();
  const Problem = z.looseObject({ type: z.string(), title: z.string(), status: z.number(), detail: z.string().optional() });

  /** Which object version a record is about. */
  const Version = {
    id: z.string(),
    bucket: z.string(),
    key: z.string(),
    etag: z.string().optional(),
    versionId: z.string().optional(),
    size: z.number().optional(),
  };
  return { iso, Problem, Version };
}

/** The records of a version while it runs. */
function buildRunRecords({ iso, Problem, Version }: ReturnType<typeof recordParts>) {
  /**
   * `_state/claims/<id>.json`: who holds an unfinished version, until when, and how many runs it
   * has had. Created with If-None-Match: *, renewed and taken over only with If-Match on the ETag
   * read; deleted (If-Match) once an outcome is recorded.
   */
  const Claim = z.object({
    ...Version,
    /** The run holding it; absent while the version waits for its next attempt. */
    runId: z.string().optional(),
    /** Which process holds it (for people: logs, the console). */
    holder: z.string().optional(),
    claimedAt: iso,
    renewedAt: iso,
    /** A claim is live until then; an expired one may be taken over. */
    expiresAt: iso,
    /** Runs started for this version, this one included. */
    attempts: z.number().int().nonnegative(),
    /** Why the previous attempt ended without an outcome. */
    last: Problem.optional(),
    /** Set when the last attempt was refused by a throttle (never a failure). */
    throttled: z.boolean().optional(),
    writeId: z.string().optional(),
  });

  /**
   * `_state/<id>.progress.json`: what each sink has acknowledged, written by publish, each write
   * conditional on the one before (a run that did not adopt it cannot write it).
   */
  const Checkpoint = z.object({
    id: z.string(),
    runId: z.string(),
    /** Rows acknowledged by each sink, in dataset order. */
    acked: z.record(z.string(), z.number().int()),
    /** Per sink: one past the last row of every request sent (saved before sending). */
    sentTo: z.record(z.string(), z.number().int()).optional(),
    /** Per sink: the sequence-number base of the run (REST route with sequence numbers). */
    sequenceBase: z.record(z.string(), z.number()).optional(),
    updatedAt: iso,
    writeId: z.string().optional(),
  });
  return { Claim, Checkpoint };
}

/** The records of how a version ended. */
function buildEndRecords({ iso, Problem, Version }: ReturnType<typeof recordParts>) {
  /**
   * `_state/<id>.done.json`: the version's one outcome, created once (If-None-Match: *). Records
   * of earlier releases (`outcome`, `sinks`, `failure`) read as they are.
   */
  const OutcomeRecord = z.looseObject({
    ...Version,
    outcome: z.enum(OUTCOMES),
    finishedAt: iso,
    runId: z.string().optional(),
    attempts: z.number().int().optional(),
    /** Where the manifest is (published, partial, superseded). */
    manifest: z.string().optional(),
    /** Where the failure record is (failed). */
    failure: z.string().optional(),
    /** In words, for partial and failed. */
    reason: z.string().optional(),
    sinks: z.record(z.string(), z.unknown()).default({}),
    writeId: z.string().optional(),
  });

  /** `failed/<key>.json`: why a file failed for good. */
  const FailureRecord = z.looseObject({
    source: z.unknown(),
    failedAt: iso,
    retryable: z.boolean(),
    attempts: z.number().int().optional(),
    problem: Problem,
  });
  return { OutcomeRecord, FailureRecord };
}

/**
 * The records' schemas, built on first use: a cold start reads no record before it is ready, and
 * zod schemas are costly to build (a few KiB of closures each, and the collections they cause).
 */
function buildRecords() {
  const parts = recordParts();
  return { iso: parts.iso, ...buildRunRecords(parts), ...buildEndRecords(parts) };
}
let records: ReturnType<typeof buildRecords> | undefined;
export const recordSchemas = () => (records ??= buildRecords());
type Records = ReturnType<typeof recordSchemas>;
export type Claim = z.infer<Records['Claim']>;
export type Checkpoint = z.infer<Records['Checkpoint']>;
export type OutcomeRecord = z.infer<Records['OutcomeRecord']>;
export type FailureRecord = z.infer<Records['FailureRecord']>;

/** What a sink received, as the manifest tells it (its figures, or why it was skipped or refused). */
function buildSinkReport() {
  return z.looseObject({
    sink: z.string().optional(),
    rowsSent: z.number().int().optional(),
    rowsSkippedAsAlreadySent: z.number().int().optional(),
    rowsRejected: z.number().int().optional(),
    rowsNotSent: z.number().int().optional(),
    requests: z.number().int().optional(),
    retries: z.number().int().optional(),
    throttledMs: z.number().optional(),
    possibleDuplicates: z.number().int().optional(),
    /** Rows the sink refused one by one, with its words (the first 100). */
    rejects: z.array(z.object({ row: z.number().int(), reason: z.string() })).optional(),
    /** The sink refused the file (partial): why. */
    reason: z.string().optional(),
    skipped: z.string().optional(),
  });
}

function buildManifest() {
  const d = datasetSchemas();
  const { iso } = recordSchemas();
  const SinkReport = buildSinkReport();
  return z.object({
    manifestVersion: z.literal(1),
    id: z.string(),
    status: z.enum(['published', 'partial', 'superseded']),
    /** partial: what a sink did not take and why (every row is in the cleaned CSV). */
    partial: z.string().optional(),
    detail: z.string().optional(),
    callId: z.string().optional(),
    runId: z.string().optional(),
    source: d.Source,
    publishedAt: iso.optional(),
    finishedAt: iso.optional(),
    dialect: d.Dialect.optional(),
    schema: z.object({ columns: z.array(d.Column) }).optional(),
    stats: d.DatasetTrailer.shape.stats,
    rejects: z.object({ count: z.number().int(), object: z.string().optional(), first: z.array(d.Reject.omit({ type: true })) }).optional(),
    outputs: z.record(z.string(), z.string().optional()).optional(),
    sinks: z.record(z.string(), SinkReport),
    timings: z.record(z.string(), z.number()).optional(),
  });
}
let manifest: ReturnType<typeof buildManifest> | undefined;
/** `manifests/<key>.json`: a finished file's last output (built on first use: cold start). */
export const manifestSchema = () => (manifest ??= buildManifest());
export type Manifest = z.infer<ReturnType<typeof buildManifest>>;

/** JSON Schema of the manifest, for users (`npm run schema`: docs/manifest.schema.json). */
export function manifestJsonSchema(): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(manifestSchema(), { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  void _drop;
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'mini-pipeline manifest (manifests/<key>.json)', ...rest };
}
