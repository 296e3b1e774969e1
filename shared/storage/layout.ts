/**
 * The output bucket's layout: where the outputs of a source object go (cleaned CSV, manifest,
 * rejects), where a failure is recorded, and the id that names an object version's state.
 */
import { randomUUID } from 'node:crypto';
import type { Source } from '../dataset/contract.js';
import type { Problem } from '../runtime/problem.js';
import { idempotencyKey } from './object-state.js';
import { putJson, type Storage } from './s3.js';

/** Output object names for a source key: cleaned CSV, manifest and rejects beside it; failures under `failed/`. */
export function outputNames(sourceKey: string) {
  const base = sourceKey.replace(/\.csv$/i, '');
  return {
    cleaned: `${base}.csv`,
    manifest: `${base}.manifest.json`,
    rejects: `${base}.rejects.csv`,
    failure: `failed/${sourceKey}.error.json`,
  };
}

/** The key a source's outputs are named after (ad-hoc files go under `adhoc/`). */
export function sourceKey(source: Source): string {
  return source.kind === 'object' ? source.key : `adhoc/${source.name.replace(/^\/+/, '')}`;
}

/** The id of a source's state: the object version's idempotency key, or a fresh one for ad-hoc files. */
export function sourceId(source: Source): string {
  return source.kind === 'object' ? idempotencyKey(source) : randomUUID().replace(/-/g, '');
}

/** Record a file that could not be processed under `failed/<key>.error.json`. */
export async function recordFailure(s3: Storage, bucket: string, source: Source, problem: Problem, extra: Record<string, unknown> = {}): Promise<string> {
  const key = outputNames(sourceKey(source)).failure;
  await putJson(s3, bucket, key, { source, failedAt: new Date().toISOString(), problem: problem.toJSON(), ...extra });
  return key;
}
