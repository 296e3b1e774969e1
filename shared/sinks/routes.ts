/** Key-prefix routes (POWERBI_ROUTES, EVENTSTREAM_ROUTES): a file goes where the longest prefix of its key says. */
import type { DatasetHeader } from '../dataset/contract.js';

/** The object key of a file (its name when it was posted directly). */
export function keyOf(header: DatasetHeader): string {
  const src = header.source;
  return src.kind === 'object' ? src.key : (src.name ?? '');
}

/** The route of the longest prefix of `key` that `accept` takes, if any. */
export function longestPrefix<R>(routes: Record<string, R>, key: string, accept: (r: R) => boolean = () => true): R | undefined {
  let best: string | undefined;
  for (const p of Object.keys(routes)) if (key.startsWith(p) && accept(routes[p]) && (best === undefined || p.length > best.length)) best = p;
  return best === undefined ? undefined : routes[best];
}

/** The source version a consumer can de-duplicate by: the version id when the bucket keeps versions, else the ETag. */
export function versionOf(header: DatasetHeader): string {
  const src = header.source;
  return src.kind === 'object' ? (src.versionId ?? src.etag ?? '') : '';
}
