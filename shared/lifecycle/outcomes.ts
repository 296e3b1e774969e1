/**
 * An object version's outcome: recorded once (`If-None-Match: *`), with the failure record under
 * `failed/<key>.json` first when it failed. A second run that reaches the end finds the first
 * outcome in place and keeps it.
 */
import type { Source } from '../dataset/contract.js';
import type { Problem } from '../runtime/problem.js';
import { outputsOf } from '../storage/layout.js';
import { putJson } from '../storage/s3.js';
import { recordOfKey, STATE_PREFIX, stateKeys } from './keys.js';
import { recordSchemas, type OutcomeRecord, type Outcome } from './records.js';
import type { ConditionalStore } from '../storage/conditional-store.js';

export interface OutcomeInput {
  id: string;
  source: Source;
  outcome: Outcome;
  runId?: string;
  attempts?: number;
  manifest?: string;
  failure?: string;
  reason?: string;
  sinks?: Record<string, unknown>;
}

export class Outcomes {
  constructor(private readonly store: ConditionalStore) {}

  async read(id: string): Promise<OutcomeRecord | undefined> {
    return (await this.store.read(stateKeys.outcome(id), recordSchemas().OutcomeRecord))?.value;
  }

  /** Record the outcome unless one is there already; returns the one that stands. */
  async record(input: OutcomeInput): Promise<OutcomeRecord> {
    const s = input.source;
    const where = s.kind === 'object' ? { bucket: s.bucket, key: s.key, etag: s.etag, versionId: s.versionId, size: s.size } : { bucket: '', key: s.name };
    const rec: OutcomeRecord = { id: input.id, ...where, outcome: input.outcome, finishedAt: new Date().toISOString(), runId: input.runId, attempts: input.attempts, manifest: input.manifest, failure: input.failure, reason: input.reason, sinks: input.sinks ?? {} };
    if (s.kind !== 'object') return rec; // an ad-hoc file has no lifecycle: nothing retries it
    if (await this.store.create(stateKeys.outcome(input.id), rec)) return rec;
    return (await this.read(input.id)) ?? rec;
  }

  /** A file that failed for good: its failure record (the reason, whether a retry could help), then its outcome. */
  async fail(input: Omit<OutcomeInput, 'outcome' | 'failure' | 'reason'> & { problem: Problem; extra?: Record<string, unknown> }): Promise<OutcomeRecord> {
    const failure = outputsOf(input.source, input.id).failure;
    const p = input.problem;
    await putJson(this.store.s3, this.store.bucket, failure, { source: input.source, failedAt: new Date().toISOString(), retryable: p.retryable, ...(input.attempts ? { attempts: input.attempts } : {}), problem: p.toJSON(), ...input.extra });
    return this.record({ ...input, outcome: 'failed', failure, reason: `${p.title}${p.detail ? `: ${p.detail}` : ''}` });
  }

  /** Forget a version's outcome and checkpoint, so that it runs again from its first row (a reprocess on purpose). */
  async forget(id: string): Promise<void> {
    await this.store.remove(stateKeys.outcome(id));
    await this.store.remove(stateKeys.checkpoint(id));
  }

  /** Every recorded outcome's id (the console's rebuild). */
  async *ids(): AsyncGenerator<string> {
    for await (const key of this.store.list(STATE_PREFIX)) {
      const rec = recordOfKey(key);
      if (rec?.kind === 'outcome') yield rec.id;
    }
  }
}
