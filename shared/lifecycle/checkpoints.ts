/**
 * Publish's checkpoint of an object version: what each sink acknowledged, and how far requests
 * went out. A run adopts it first — only while its claim is live and names it — by a conditional
 * write that puts its run id in; every later save is conditional on the write before. So once a
 * newer run has adopted the checkpoint, an older run's next save is refused (claim-lost), and
 * since a save goes before every request to a sink, the older run stops before its next request.
 */
import { stateKeys } from './keys.js';
import { recordSchemas, type Checkpoint, type Claim } from './records.js';
import type { ConditionalStore, Versioned } from '../storage/conditional-store.js';
import type { Claims } from './claims.js';
import { lifecycleProblems } from './problems.js';

export type Progress = Omit<Checkpoint, 'id' | 'runId' | 'updatedAt' | 'writeId'>;

/** A checkpoint a run writes: persisted and fenced for an object version, in memory for an ad-hoc file. */
export interface RunCheckpoint {
  readonly progress: Progress;
  /** Save the progress now (one save at a time, each of the newest state); throws claim-lost when another run has adopted it. */
  save(): Promise<void>;
  /** The version's outputs are final: the checkpoint goes. */
  clear(): Promise<void>;
}

export class Checkpoints {
  constructor(
    private readonly store: ConditionalStore,
    private readonly claims: Claims,
  ) {}

  /**
   * Adopt the version's checkpoint for run `runId` (which must hold the live claim: `claim` is its
   * record as read just before, else it is read here). A first run finds no checkpoint: it is
   * created at once (`If-None-Match: *`), without a read before; a retry's run finds the one
   * before it (the create is refused), reads the claim again and then that checkpoint, to carry
   * its progress on.
   */
  async adopt(id: string, runId: string, claim?: Versioned<Claim>): Promise<RunCheckpoint> {
    for (let round = 0; round < 12; round++) {
      const holder = round === 0 && claim ? claim.value : (await this.claims.read(id))?.value;
      if (!holder || holder.runId !== runId || Date.parse(holder.expiresAt) <= Date.now()) {
        throw lifecycleProblems.noClaim(`run ${runId} does not hold ${id}${holder?.runId ? ' (another run does)' : ''}`);
      }
      if (round === 0) {
        const created = await this.store.create(stateKeys.checkpoint(id), { id, runId, acked: {}, updatedAt: new Date().toISOString() });
        if (created) return new StoredCheckpoint(this.store, id, runId, created, { acked: {} });
        continue; // one is there: the claim is read again, right before the one it is taken over from
      }
      const seen = await this.store.read(stateKeys.checkpoint(id), recordSchemas().Checkpoint);
      const progress: Progress = seen ? { acked: seen.value.acked, sentTo: seen.value.sentTo, sequenceBase: seen.value.sequenceBase } : { acked: {} };
      const record = { id, runId, ...progress, updatedAt: new Date().toISOString() };
      const etag = seen ? await this.store.replace(stateKeys.checkpoint(id), record, seen.etag) : await this.store.create(stateKeys.checkpoint(id), record);
      if (etag) return new StoredCheckpoint(this.store, id, runId, etag, progress);
    }
    throw lifecycleProblems.contended(`the checkpoint of ${id} kept changing while it was adopted`);
  }
}

class StoredCheckpoint implements RunCheckpoint {
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ConditionalStore,
    private readonly id: string,
    private readonly runId: string,
    private etag: string,
    readonly progress: Progress,
  ) {}

  save(): Promise<void> {
    const next = this.saving.then(async () => {
      const record = { id: this.id, runId: this.runId, ...this.progress, updatedAt: new Date().toISOString() };
      const etag = await this.store.replace(stateKeys.checkpoint(this.id), record, this.etag);
      if (!etag) throw lifecycleProblems.claimLost(`run ${this.runId} no longer holds ${this.id}: a newer run adopted its checkpoint`);
      this.etag = etag;
    });
    this.saving = next.catch(() => undefined);
    return next;
  }

  async clear(): Promise<void> {
    await this.saving;
    await this.store.remove(stateKeys.checkpoint(this.id), this.etag);
  }
}

/** An ad-hoc file's progress: nothing retries it, so nothing is stored. */
export function memoryCheckpoint(): RunCheckpoint {
  return { progress: { acked: {} }, save: async () => undefined, clear: async () => undefined };
}
