/**
 * Conditional requests in the embedded store, answered as S3 and MinIO answer them (s3rver 4.0.4
 * ignores `If-None-Match` and `If-Match` on writes). From the S3 user guide ("conditional writes",
 * "conditional deletes") and MinIO's release notes (reference/next-wave.md):
 * - PUT (and CompleteMultipartUpload) with `If-None-Match: *` writes only if no object has the
 *   key, else 412 PreconditionFailed; `If-None-Match` takes only `*` on a write (else 501).
 * - PUT or DELETE with `If-Match: <etag>` acts only if the current ETag matches, else 412;
 *   `If-Match: *` only if the object exists; `If-Match` on a missing key is 404 NoSuchKey.
 * - Two conditional writes to one key at the same moment: one wins, the other gets 409
 *   ConditionalRequestConflict (retry it). Here "the same moment" is: while another write to the
 *   key is committing or waits to. A read of the key does not conflict with a write: the write
 *   waits for the read's answer to start, then its conditions are checked (a read counted as a
 *   conflict made a claim write 409 whenever the webhook polled the claim, and each retry waited
 *   ~100 ms: harsher than S3 and MinIO, which answer 409 only to concurrent writes).
 * Every request on a key is ordered by a per-key lock held only for what must be atomic.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3Error = require('@20minutes/s3rver/lib/models/error.js') as new (code: string, message: string) => Error & { status: number; expose: boolean };

export interface Condition {
  ifMatch?: string;
  ifNoneMatch?: string;
}

export interface Failure {
  code: 'PreconditionFailed' | 'NoSuchKey' | 'NotImplemented' | 'ConditionalRequestConflict';
  status: number;
  message: string;
}

const unquote = (v: string) => v.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');

export function conditionOf(headers: IncomingHttpHeaders): Condition {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const ifMatch = one(headers['if-match']);
  const ifNoneMatch = one(headers['if-none-match']);
  return { ...(ifMatch !== undefined ? { ifMatch: unquote(ifMatch) } : {}), ...(ifNoneMatch !== undefined ? { ifNoneMatch: unquote(ifNoneMatch) } : {}) };
}

/** Whether a write or delete may go ahead on an object whose ETag is `etag` (undefined: none). */
export function evaluate(c: Condition, etag: string | undefined): Failure | undefined {
  if (c.ifNoneMatch !== undefined) {
    if (c.ifNoneMatch !== '*') return { code: 'NotImplemented', status: 501, message: 'A header you provided implies functionality that is not implemented (If-None-Match takes only * on a write)' };
    if (etag !== undefined) return { code: 'PreconditionFailed', status: 412, message: 'At least one of the pre-conditions you specified did not hold' };
  }
  if (c.ifMatch !== undefined) {
    if (etag === undefined) return { code: 'NoSuchKey', status: 404, message: 'The specified key does not exist.' };
    if (c.ifMatch !== '*' && unquote(c.ifMatch) !== unquote(etag)) return { code: 'PreconditionFailed', status: 412, message: 'At least one of the pre-conditions you specified did not hold' };
  }
  return undefined;
}

export function s3Error(f: Failure): Error {
  const err = new S3Error(f.code, f.message);
  err.status = f.status;
  err.expose = true;
  return err;
}

const conflict: Failure = { code: 'ConditionalRequestConflict', status: 409, message: 'A conflicting operation occurred. If using PutObject you can retry the request.' };

/** One request on one object key, as the lock and the conditions see it. */
export interface RequestScope {
  method: string;
  condition: Condition;
  /** A part of a multipart upload (never conditional, never locked). */
  part: boolean;
  /** Whether this request writes the object (PUT, CompleteMultipartUpload). */
  commits: boolean;
  /** Take the key's lock (a conditional request finding it taken gets 409); held until the answer ends. */
  enter(): Promise<void>;
  /** Before s3rver sees the request: reads take the lock until their answer starts. */
  start(): Promise<void>;
}

/**
 * Release a key's lock when the answer ends, or at once when it has ended already: a client that
 * went away (killed mid-request) before its request took the lock has had its 'close' event, and
 * a lock waiting for it would hold the key for good — every later request on it would hang.
 */
function releaseWhenAnswered(res: ServerResponse, release: () => void): void {
  if (res.closed || res.destroyed || res.writableFinished) return release();
  res.once('close', release);
  res.once('finish', release);
}

export class ConditionalRequests {
  private static readonly storage = new AsyncLocalStorage<RequestScope>();
  private readonly tails = new Map<string, Promise<void>>();

  /** The scope of the request being handled (inside s3rver's store), if any. */
  static current(): RequestScope | undefined {
    return ConditionalRequests.storage.getStore();
  }

  run<T>(scope: RequestScope, fn: () => T): T {
    return ConditionalRequests.storage.run(scope, fn);
  }

  /** Writes (PUT commits, DELETEs) that hold or wait for each key's lock. */
  private readonly writers = new Map<string, number>();

  /** Whether a write holds (or waits for) the key's lock now. */
  private busy(key: string): boolean {
    return (this.writers.get(key) ?? 0) > 0;
  }

  /** Count a write on the key until `done` is called (once). */
  private writing(key: string): () => void {
    this.writers.set(key, (this.writers.get(key) ?? 0) + 1);
    let counted = true;
    return () => {
      if (!counted) return;
      counted = false;
      const left = (this.writers.get(key) ?? 1) - 1;
      if (left) this.writers.set(key, left);
      else this.writers.delete(key);
    };
  }

  /** The key's lock: resolves with its release once every earlier holder has released it. */
  private lock(key: string): { taken: Promise<() => void> } {
    const previous = this.tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = (previous ?? Promise.resolve()).then(() => mine);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return { taken: (previous ?? Promise.resolve()).then(() => release) };
  }

  /** The scope of a request on an object (`/bucket/key…`), or undefined for anything else. */
  scope(req: IncomingMessage, res: ServerResponse, parts: string[], condition: Condition): RequestScope | undefined {
    if (parts.length < 2) return undefined;
    const url = new URL(req.url ?? '/', 'http://s3.local');
    const method = req.method ?? 'GET';
    const key = decodeURIComponent(url.pathname.slice(1));
    const part = url.searchParams.has('partNumber');
    const commits = (method === 'PUT' && !part && !req.headers['x-amz-copy-source']) || (method === 'POST' && url.searchParams.has('uploadId'));
    const conditional = condition.ifMatch !== undefined || condition.ifNoneMatch !== undefined;
    let entered = false;
    const enter = async () => {
      if (entered) return;
      entered = true;
      if (conditional && this.busy(key)) throw s3Error(conflict);
      const done = this.writing(key);
      const release = await this.lock(key).taken;
      releaseWhenAnswered(res, () => {
        done();
        release();
      });
    };
    const start = async () => {
      if (method !== 'GET' && method !== 'HEAD') return;
      const release = await this.lock(key).taken;
      // A client gone while its read waited in line: nothing will be answered, the lock goes on.
      if (res.closed || res.destroyed) return release();
      // Held until the answer starts: the metadata has been read and the file opened by then.
      const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
      res.writeHead = ((...a: unknown[]) => {
        release();
        return writeHead(...a);
      }) as typeof res.writeHead;
      res.once('close', release);
    };
    return { method, condition, part, commits, enter, start };
  }
}
