/**
 * The output bucket's layout. Each kind of output has its own top-level prefix, and an object's
 * key is kept exactly (case, dots, unicode) after it:
 *
 *   cleaned/<key>            the cleaned CSV
 *   cleaned/<key>.parquet    the same rows as Parquet (OUTPUT_FORMATS with `parquet`)
 *   manifests/<key>.json     the manifest
 *   rejects/<key>            the rejected rows (CSV)
 *   failed/<key>.json        why a file failed
 *   superseded/<key>/<id>.json   the manifest of a version a newer upload replaced mid-run
 *   adhoc/<id>/…             the same four for an ad-hoc file published by hand
 *   _state/…                 the lifecycle's records (claims, checkpoints, outcomes: shared/lifecycle/)
 *
 * so the mapping from input keys to output names is one-to-one (`a.csv` and `a.CSV` stay apart,
 * an input named `x.rejects.csv` is just another key), and no input key can reach `_state/` or
 * another kind's prefix. A property test checks both.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Source } from '../dataset/contract.js';
import { STATE_PREFIX, versionId } from '../lifecycle/keys.js';

/** S3's limit on a key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
export { STATE_PREFIX };
const KINDS = ['cleaned/', 'manifests/', 'rejects/', 'failed/', 'superseded/'] as const;

export interface OutputNames {
  cleaned: string;
  parquet: string;
  manifest: string;
  rejects: string;
  failure: string;
}

function namesUnder(base: string, key: string): OutputNames {
  return { cleaned: `${base}cleaned/${key}`, parquet: `${base}cleaned/${key}.parquet`, manifest: `${base}manifests/${key}.json`, rejects: `${base}rejects/${key}`, failure: `${base}failed/${key}.json` };
}

/** Where the manifest of a superseded object version goes (its key's outputs belong to the newer one). */
export function supersededManifest(key: string, id: string): string {
  return `superseded/${key}/${id}.json`;
}

/** Output names of an object key. */
export function outputNames(key: string): OutputNames {
  return namesUnder('', key);
}

/** Output names of a source: an object's by its key; an ad-hoc file's under `adhoc/<id>/`. */
export function outputsOf(source: Source, id: string): OutputNames {
  return source.kind === 'object' ? outputNames(source.key) : namesUnder(`adhoc/${id}/`, source.name.replace(/^\/+/, '') || 'adhoc.csv');
}

/** The longest name an object key maps to, in UTF-8 bytes (it must fit S3's 1,024). */
export function longestOutputBytes(key: string): number {
  return Math.max(...Object.values(outputNames(key)).map((n) => Buffer.byteLength(n)));
}

/** Whether a name belongs to the pipeline's own bookkeeping. */
export function isReserved(name: string): boolean {
  return name.startsWith(STATE_PREFIX);
}

/** Every prefix an output can start with. */
export const OUTPUT_PREFIXES = [...KINDS, 'adhoc/', STATE_PREFIX];

/** The id of a source's state: the object version's idempotency key, or a fresh one for ad-hoc files. */
export function sourceId(source: Source): string {
  return source.kind === 'object' ? versionId(source) : randomUUID().replace(/-/g, '');
}

/** Where a key that cannot name outputs (refused at the edge) has its failure recorded. */
export function refusedKeyRecord(bucket: string, key: string): string {
  return `failed/_refused/${createHash('sha256').update(`${bucket}/${key}`).digest('hex')}.json`;
}

/**
 * Why an object key cannot be processed, or undefined when it can: checked once, at the edge
 * (the webhook), and again by transform. MinIO refuses `.`/`..` segments too; a control
 * character or a key whose outputs would pass S3's 1,024 bytes can never succeed.
 */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'the key is empty';
  if (key.startsWith('/')) return 'the key starts with "/"';
  // `cleaned/<key>.parquet` is the Parquet output of `<key>`: such a key's cleaned CSV would take its name (and a Parquet file is no CSV).
  if (key.endsWith('.parquet')) return 'the key ends with ".parquet" (the name of another key\'s Parquet output; a Parquet file is not a CSV)';
  if (key.split('/').some((s) => s === '..' || s === '.')) return 'the key has a "." or ".." segment';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'the key has a control character';
  const longest = longestOutputBytes(key);
  if (longest > MAX_KEY_BYTES) return `the key's output names would be ${longest} bytes; S3 allows ${MAX_KEY_BYTES}`;
  return undefined;
}
