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
  outcome: 'published' | 'failed';
  sinks: Record<string, unknown>;
}

export interface Progress {
  id: string;
  /** Rows acknowledged by each sink, in dataset order. */
  acked: Record<string, number>;
  /** Per sink: the sequence-number base of the run (REST sink with sequence numbers). */
  sequenceBase?: Record<string, number>;
  updatedAt: string;
}

export class ObjectState {
  constructor(
    private readonly s3: Storage,
    private readonly bucket: string,
  ) {}

  private key(id: string, kind: 'lease' | 'done' | 'progress') {
    return `_state/${id}.${kind}.json`;
  }

  completion(id: string): Promise<Completion | undefined> {
    return getJson<Completion>(this.s3, this.bucket, this.key(id, 'done'));
  }

  async complete(c: Completion): Promise<void> {
    await putJson(this.s3, this.bucket, this.key(c.id, 'done'), c);
    await removeQuietly(this.s3, this.bucket, this.key(c.id, 'progress'));
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

  release(id: string): Promise<void> {
    return removeQuietly(this.s3, this.bucket, this.key(id, 'lease'));
  }

  progress(id: string): Promise<Progress | undefined> {
    return getJson<Progress>(this.s3, this.bucket, this.key(id, 'progress'));
  }

  saveProgress(p: Progress): Promise<void> {
    return putJson(this.s3, this.bucket, this.key(p.id, 'progress'), p);
  }
}
