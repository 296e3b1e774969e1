/**
 * The object lifecycle: the one module that reads and writes an object version's state in the
 * output bucket (claims, checkpoints, outcomes), all by conditional writes, so that any number
 * of replicas of each function agree on who runs a version and what became of it. Nothing that
 * decides correctness is kept in a process's memory. The vocabulary is in `records.ts`.
 */
import { randomUUID } from 'node:crypto';
import type { Storage } from '../storage/s3.js';
import { Checkpoints } from './checkpoints.js';
import { Claims, HOLDER, type ClaimSettings } from './claims.js';
import { CLAIMS_PREFIX, recordOfKey, stateKeys, versionId } from './keys.js';
import { Outcomes } from './outcomes.js';
import { recordSchemas, type Claim, type OutcomeRecord, type Phase } from './records.js';
import { ConditionalStore } from '../storage/conditional-store.js';

export { versionId, recordOfKey } from './keys.js';
export { OUTCOMES, PHASES, isOutcome, type Outcome, type Phase, type Claim, type OutcomeRecord, type Manifest, manifestSchema } from './records.js';
export type { HeldClaim, ClaimAttempt, Look } from './claims.js';
export type { RunCheckpoint, Progress } from './checkpoints.js';
export { memoryCheckpoint } from './checkpoints.js';
export { lifecycleProblems } from './problems.js';

export interface VersionStatus {
  phase: Phase;
  claim?: Claim;
  outcome?: OutcomeRecord;
}

export class Lifecycle {
  readonly store: ConditionalStore;
  readonly outcomes: Outcomes;
  readonly claims: Claims;
  readonly checkpoints: Checkpoints;

  constructor(s3: Storage, bucket: string, readonly settings: ClaimSettings) {
    this.store = new ConditionalStore(s3, bucket);
    this.outcomes = new Outcomes(this.store);
    this.claims = new Claims(this.store, this.outcomes, settings);
    this.checkpoints = new Checkpoints(this.store, this.claims);
  }

  /** A fresh run id (the owner of a claim is a run, never a request or a process). */
  static runId(): string {
    return randomUUID();
  }

  /** Where an object version stands now. */
  async status(id: string, now = Date.now()): Promise<VersionStatus> {
    // Both records at once (one round trip): a run records its outcome before it deletes its claim,
    // so a version seen with neither is one whose run ended between the two reads, or that none took.
    const { done: outcome, seen } = await this.claims.look(id);
    if (outcome) return { phase: outcome.outcome, outcome };
    const claim = seen?.value;
    if (!claim) return { phase: 'pending' };
    return { phase: claim.runId && Date.parse(claim.expiresAt) > now ? 'running' : 'waiting', claim };
  }

  /**
   * Unfinished versions whose next attempt is due: claims without a live run (deferred, or left by
   * a run that died). A claim whose version has an outcome (a run died between recording it and
   * deleting its claim) is deleted on the way.
   */
  async *due(now = Date.now()): AsyncGenerator<Claim> {
    for await (const key of this.store.list(CLAIMS_PREFIX)) {
      const rec = recordOfKey(key);
      if (!rec) continue;
      const seen = await this.claims.read(rec.id);
      if (!seen || Date.parse(seen.value.expiresAt) > now) continue;
      if (await this.outcomes.read(rec.id)) {
        await this.store.remove(key, seen.etag);
        continue;
      }
      yield seen.value;
    }
  }

  /**
   * Whether it is this process's turn to run the sweep `name`: one replica at a time takes it for
   * `ms` (create, or take over an expired turn, by conditional writes); the others skip it.
   */
  async sweepTurn(name: string, ms: number): Promise<boolean> {
    const key = stateKeys.sweep(name);
    const seen = await this.store.read(key, recordSchemas().Claim.pick({ expiresAt: true, holder: true }));
    if (seen && Date.parse(seen.value.expiresAt) > Date.now()) return false;
    const turn = { holder: HOLDER, expiresAt: new Date(Date.now() + ms).toISOString() };
    return !!(seen ? await this.store.replace(key, turn, seen.etag) : await this.store.create(key, turn));
  }

  /** The id of an object version (bucket, key, etag, versionId). */
  static idOf = versionId;
}

export type { ClaimSettings };
