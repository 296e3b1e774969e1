/**
 * Idempotency state in the output bucket, under `_state/`: a lease while a run is going
 * (a redelivery during it is a no-op), per-sink progress checkpoints, and a completion
 * marker (a replay of a finished object version does nothing).
 */
import { createHash } from 'node:crypto';
import type { ObjectRef } from './s3-event.js';
import { getJson, putJson, removeQuietly, type Storage } from './s3.js';

export function idempotencyKey(ref: Pick<ObjectRef, 'bucket' | 'key' | 'etag' | 'versionId'>): string {
  return createHash('sha256')
    .update(`${ref.bucket}/${ref.key}#${ref.etag ?? ''}#${ref.versionId ?? ''}`)
    .digest('hex')
    .slice(0, 32);
}

export interface Lease {
  id: string;
  owner: string;
  acquiredAt: string;
  expiresAt: string;
  bucket: string;
  key: string;
}

export interface Completion {
  id: string;
  bucket: string;
  key: string;
  etag?: string;
  finishedAt: string;
  outcome: 'published' | 'failed' | 'superseded';
  sinks: Record<string, unknown>;
  /** For a failure: its record in the output bucket. */
  failure?: string;
}

export interface Progress {
  id: string;
  /** Rows acknowledged by each sink, in dataset order. */
  acked: Record<string, number>;
  /** Per sink: the sequence-number base of the run (REST sink with sequence numbers). */
  sequenceBase?: Record<string, number>;
  /** Per sink: one past the last row of every request sent (saved before sending; rows below it may be stored unacknowledged). */
  sentTo?: Record<string, number>;
  updatedAt: string;
}

export class ObjectState {
  constructor(
    private readonly s3: Storage,
    private readonly bucket: string,
  ) {}

  private key(id: string, kind: 'lease' | 'done' | 'progress' | 'attempts') {
    return `_state/${id}.${kind}.json`;
  }

  completion(id: string): Promise<Completion | undefined> {
    return getJson<Completion>(this.s3, this.bucket, this.key(id, 'done'));
  }

  /** The terminal state of an object version: published, or failed for good (with its record). */
  async complete(c: Completion): Promise<void> {
    await putJson(this.s3, this.bucket, this.key(c.id, 'done'), c);
    await removeQuietly(this.s3, this.bucket, this.key(c.id, 'progress'));
    await removeQuietly(this.s3, this.bucket, this.key(c.id, 'attempts'));
  }

  /**
   * Forget an object version's outcome and progress, so that it runs again from its first row
   * (a reprocess on purpose). Its outputs are replaced by the new run.
   */
  async forget(id: string): Promise<void> {
    for (const kind of ['done', 'progress', 'attempts'] as const) await removeQuietly(this.s3, this.bucket, this.key(id, kind));
  }

  /** Take the lease unless another live run holds it; returns the holder when refused. */
  async acquire(id: string, ref: ObjectRef, owner: string, seconds: number, now = Date.now()): Promise<{ ok: true; lease: Lease } | { ok: false; holder: Lease }> {
    const existing = await getJson<Lease>(this.s3, this.bucket, this.key(id, 'lease'));
    if (existing && Date.parse(existing.expiresAt) > now && existing.owner !== owner) return { ok: false, holder: existing };
    const lease: Lease = {
      id,
      owner,
      acquiredAt: new Date(now).toISOString(),
      expiresAt: new Date(now + seconds * 1000).toISOString(),
      bucket: ref.bucket,
      key: ref.key,
    };
    await putJson(this.s3, this.bucket, this.key(id, 'lease'), lease);
    return { ok: true, lease };
  }

  /** Give the lease up; with `owner`, only if that run holds it (never another run's lease). */
  async release(id: string, owner?: string): Promise<void> {
    if (owner !== undefined) {
      const held = await getJson<Lease>(this.s3, this.bucket, this.key(id, 'lease'));
      if (!held || held.owner !== owner) return;
    }
    await removeQuietly(this.s3, this.bucket, this.key(id, 'lease'));
  }

  /** Count one more failed attempt at an object version (a retry could help); returns the count. */
  async attempt(id: string, problem: unknown): Promise<number> {
    const prev = await getJson<{ count: number }>(this.s3, this.bucket, this.key(id, 'attempts'));
    const count = (prev?.count ?? 0) + 1;
    await putJson(this.s3, this.bucket, this.key(id, 'attempts'), { id, count, last: problem, at: new Date().toISOString() });
    return count;
  }

  /** Whether a live run holds the object version. */
  async leased(id: string, now = Date.now()): Promise<boolean> {
    const lease = await getJson<Lease>(this.s3, this.bucket, this.key(id, 'lease'));
    return !!lease && Date.parse(lease.expiresAt) > now;
  }

  progress(id: string): Promise<Progress | undefined> {
    return getJson<Progress>(this.s3, this.bucket, this.key(id, 'progress'));
  }

  saveProgress(p: Progress): Promise<void> {
    return putJson(this.s3, this.bucket, this.key(p.id, 'progress'), p);
  }
}
