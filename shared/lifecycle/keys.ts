/**
 * Where the lifecycle keeps its records in the output bucket (under `_state/`, which no input key
 * can reach: see storage/layout.ts). Only the lifecycle module names these keys.
 *
 *   _state/claims/<id>.json     the claim of an unfinished version (listing it lists the unfinished)
 *   _state/<id>.progress.json   publish's checkpoint: what each sink acknowledged
 *   _state/<id>.done.json       the version's outcome (created once)
 *   _state/sweeps/<name>.json   whose turn it is to sweep (one replica at a time)
 *   _state/budgets/<hash>.json  whose turn it is to send to a destination (its shared request budget)
 */
import { createHash } from 'node:crypto';

/** The output bucket's prefix of the pipeline's own bookkeeping. */
export const STATE_PREFIX = '_state/';

export const CLAIMS_PREFIX = `${STATE_PREFIX}claims/`;

export const stateKeys = {
  claim: (id: string) => `${CLAIMS_PREFIX}${id}.json`,
  checkpoint: (id: string) => `${STATE_PREFIX}${id}.progress.json`,
  outcome: (id: string) => `${STATE_PREFIX}${id}.done.json`,
  sweep: (name: string) => `${STATE_PREFIX}sweeps/${name}.json`,
  /** The turn of a destination's request budget (the target is hashed: a push URL is a secret). */
  /** The REST route's dataset created for a schema, per workspace (shared by every replica and restart). */
  createdDataset: (workspace: string, schemaId: string) => `${STATE_PREFIX}powerbi/${workspace.replace(/[^\w-]/g, '_')}/${schemaId}.json`,
  budget: (target: string) => `${STATE_PREFIX}budgets/${createHash('sha256').update(target).digest('hex').slice(0, 32)}.json`,
};

export type RecordKind = 'claim' | 'checkpoint' | 'outcome';

/** Which record a key of the output bucket is, if it is one (the console follows them). */
export function recordOfKey(key: string): { id: string; kind: RecordKind } | undefined {
  let m = /^_state\/claims\/([0-9a-f]+)\.json$/.exec(key);
  if (m) return { id: m[1], kind: 'claim' };
  m = /^_state\/([0-9a-f]+)\.(progress|done)\.json$/.exec(key);
  if (m) return { id: m[1], kind: m[2] === 'done' ? 'outcome' : 'checkpoint' };
  return undefined;
}

/** An object version's id: `sha256(bucket/key#etag#versionId)`, 32 hex digits. */
export function versionId(ref: { bucket: string; key: string; etag?: string; versionId?: string }): string {
  return createHash('sha256')
    .update(`${ref.bucket}/${ref.key}#${ref.etag ?? ''}#${ref.versionId ?? ''}`)
    .digest('hex')
    .slice(0, 32);
}
