/**
 * The embedded S3 server for local runs and tests: `@20minutes/s3rver` (pinned), data on disk
 * under DATA_DIR, the configured key pair registered, and the one API it lacks and the minio
 * SDK needs before multipart uploads (ListMultipartUploads) answered here, in the harness,
 * with an empty listing — the product's S3 client stays stock. Writes are atomic, as in S3.
 *
 * Conditional writes as S3 and MinIO answer them (s3rver ignores them): see `conditions.ts`.
 * Every request on one key is ordered by a lock held only for the short part that must be
 * atomic (a read's metadata and open; a write's check and commit), so a read never sees one
 * write's bytes with another's ETag.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createServer, type Server } from 'node:http';
import { EventEmitter } from 'node:events';
import { listenLocal } from './listen.js';
import { conditionOf, ConditionalRequests, evaluate, s3Error, type RequestScope } from './conditions.js';

const require = createRequire(import.meta.url);
// CommonJS package without types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('@20minutes/s3rver') as new (opts: Record<string, unknown>) => S3rverApp;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const account = require('@20minutes/s3rver/lib/models/account.js') as { DUMMY_ACCOUNT: { createKeyPair(a: string, s: string): void } };

// eslint-disable-next-line @typescript-eslint/no-require-imports
const FilesystemStore = require('@20minutes/s3rver/lib/stores/filesystem.js') as {
  prototype: {
    putContent(path: string, content: Buffer | Readable): Promise<[number, string]>;
    existsObject(bucket: string, key: string): Promise<boolean>;
    getSubresource(bucket: string, key: string | undefined, type: string): Promise<unknown>;
    putSubresource(bucket: string, key: string | undefined, resource: { type: string }): Promise<void>;
    deleteSubresource(bucket: string, key: string | undefined, type: string): Promise<void>;
    putBucket(bucket: string): Promise<unknown>;
    getBucket(bucket: string): Promise<unknown>;
    deleteBucket(bucket: string): Promise<unknown>;
    reset(): void;
  };
};
const existsObject = FilesystemStore.prototype.existsObject;

/**
 * s3rver reads a bucket's CORS and website configuration from disk for every request (two opens
 * that fail when there is none, an exception each) and stats the bucket's folder for every
 * request: with 50 files in flight, ~4% of the main thread each, in a process every request
 * queues behind (MinIO keeps its buckets and their configuration in memory). They change only
 * through this store's own writes: kept per store and bucket (a bucket once it is found), dropped
 * when a configuration or the bucket is written or deleted.
 */
type Store = { rootDirectory: string };
const bucketConfigs = new Map<string, Promise<unknown>>();
const configKey = (store: Store, bucket: string, type = '') => `${store.rootDirectory}\0${bucket}\0${type}`;
const forgetBucketConfigs = (store: Store, bucket: string) => {
  for (const k of bucketConfigs.keys()) if (k.startsWith(configKey(store, bucket))) bucketConfigs.delete(k);
};
const { getSubresource, putSubresource, deleteSubresource, putBucket, getBucket, deleteBucket, reset } = FilesystemStore.prototype;
/**
 * The kept answer for k, else load()'s, kept from the start (a write forgets it, even while it is
 * read) and dropped when it fails or `keep` says so of it.
 */
function kept<T>(k: string, load: () => Promise<T>, keep: (v: T) => boolean = () => true): Promise<T> {
  const known = bucketConfigs.get(k) as Promise<T> | undefined;
  if (known) return known;
  const loaded = load();
  bucketConfigs.set(k, loaded);
  const drop = () => void (bucketConfigs.get(k) === loaded && bucketConfigs.delete(k));
  loaded.then((v) => keep(v) || drop(), drop);
  return loaded;
}
// Only a bucket that exists is kept: one made later is found then.
FilesystemStore.prototype.getBucket = function (this: Store, bucket) {
  return kept(configKey(this, bucket, '\u0001bucket'), () => getBucket.call(this, bucket), (b) => !!b);
};
FilesystemStore.prototype.getSubresource = function (this: Store, bucket, key, type) {
  if (key !== undefined) return getSubresource.call(this, bucket, key, type);
  return kept(configKey(this, bucket, type), () => getSubresource.call(this, bucket, key, type));
};
FilesystemStore.prototype.putSubresource = function (this: Store, bucket, key, resource) {
  forgetBucketConfigs(this, bucket);
  return putSubresource.call(this, bucket, key, resource).finally(() => forgetBucketConfigs(this, bucket));
};
FilesystemStore.prototype.deleteSubresource = function (this: Store, bucket, key, type) {
  forgetBucketConfigs(this, bucket);
  return deleteSubresource.call(this, bucket, key, type).finally(() => forgetBucketConfigs(this, bucket));
};
FilesystemStore.prototype.putBucket = function (this: Store, bucket) {
  forgetBucketConfigs(this, bucket);
  return putBucket.call(this, bucket);
};
FilesystemStore.prototype.reset = function (this: Store) {
  for (const k of bucketConfigs.keys()) if (k.startsWith(`${this.rootDirectory}\0`)) bucketConfigs.delete(k);
  reset.call(this);
};
FilesystemStore.prototype.deleteBucket = function (this: Store, bucket) {
  forgetBucketConfigs(this, bucket);
  return deleteBucket.call(this, bucket).finally(() => forgetBucketConfigs(this, bucket));
};

/**
 * S3 replaces an object atomically: a PUT whose body breaks off leaves the old object (or
 * none), never a truncated one. s3rver writes in place, so a client killed mid-upload would
 * leave a partial object no real store keeps. Write to a temporary file and rename it.
 */
FilesystemStore.prototype.putContent = async function putContentAtomically(objectPath, content) {
  // Beside the object (same file system, so the rename is atomic), with a short name (NAME_MAX).
  const tmp = join(dirname(objectPath), `.partial-${randomUUID()}`);
  const md5 = createHash('md5');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      md5.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    // Up to 1 MiB of the body ahead of the disk: at the stream default (16 KiB) each 64 KiB read of
    // the body paused the socket until its write came back from the thread pool (one 1M-row file
    // through the local stack, `bench/overlap`'s shape: 5.5–6.1 s → 4.8–5.0 s, this process's CPU
    // 4.7–5.6 s → 3.7–3.8 s).
    await pipeline(Buffer.isBuffer(content) ? Readable.from([content]) : content, count, createWriteStream(tmp, { highWaterMark: 1024 * 1024 }));
    // A write of an object (not a part) commits under its key's lock, after its conditions hold.
    const scope = ConditionalRequests.current();
    if (scope?.commits && !scope.part) {
      await scope.enter();
      await checkConditions(scope, objectPath);
    }
    await rename(tmp, objectPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return [size, md5.digest('hex')];
};

/** The current ETag of the object at `objectPath` (s3rver keeps its MD5 beside it), or undefined. */
async function currentEtag(objectPath: string): Promise<string | undefined> {
  try {
    return (await readFile(`${objectPath}.md5`, 'utf8')).trim();
  } catch {
    try {
      return createHash('md5').update(await readFile(objectPath)).digest('hex');
    } catch {
      return undefined;
    }
  }
}

async function checkConditions(scope: RequestScope, objectPath: string): Promise<void> {
  const failed = evaluate(scope.condition, await currentEtag(objectPath));
  if (failed) throw s3Error(failed);
}

/** DELETE: s3rver asks whether the object exists before removing it; the conditions are checked there. */
FilesystemStore.prototype.existsObject = async function existsConditionally(this: { getResourcePath(b: string, k: string, r: string): string }, bucket: string, key: string) {
  const scope = ConditionalRequests.current();
  if (scope?.method === 'DELETE') {
    await scope.enter();
    if (scope.condition.ifMatch !== undefined) await checkConditions(scope, this.getResourcePath(bucket, key, 'object'));
  }
  return existsObject.call(this, bucket, key);
};

interface S3rverApp extends EventEmitter {
  callback(): (req: unknown, res: unknown) => void;
  configureBuckets(): Promise<void>;
  /** Koa's middleware, in order. */
  middleware: { name: string }[];
}

/**
 * s3rver logs every request through koa-logger even when silent: each line is formatted with
 * chalk and handed to winston, which drops it. That was ~7% of this server's CPU per request
 * (a CPU profile of 2,700 small PUT, GET and HEAD requests; per request, client and server in
 * one process: PUT 3.8 → 3.5 ms, GET 2.1 → 1.95 ms). Its warnings still go to its logger.
 */
function dropRequestLog(app: S3rverApp): void {
  const at = app.middleware.findIndex((m) => m.name === 'logger');
  if (at !== -1) app.middleware.splice(at, 1);
}

export interface S3RecordEvent {
  Records: {
    eventName: string;
    eventTime: string;
    s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string; sequencer: string } };
    requestParameters?: { sourceIPAddress?: string };
  }[];
}

export interface EmbeddedS3 {
  url: string;
  port: number;
  events: EventEmitter;
  /**
   * Fault switch: the next `count` writes (PUT) whose object path matches `path` are stored, then
   * the connection is cut instead of answering — the answer lost on the way back, as in an outage.
   */
  loseAnswers(path: RegExp, count?: number): void;
  close(): Promise<void>;
}

export async function startEmbeddedS3(opts: { directory: string; port?: number; accessKey: string; secretKey: string; buckets: string[] }): Promise<EmbeddedS3> {
  account.DUMMY_ACCOUNT.createKeyPair(opts.accessKey, opts.secretKey);
  const app = new S3rver({
    directory: opts.directory,
    silent: true,
    configureBuckets: opts.buckets.map((name) => ({ name })),
  });
  await app.configureBuckets();
  dropRequestLog(app);
  const handle = app.callback();
  const conditional = new ConditionalRequests();
  const lost: { path: RegExp; left: number }[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://s3.local');
    const parts = url.pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && parts.length === 1 && url.searchParams.has('uploads')) {
      const bucket = parts[0].replace(/[<>&]/g, '');
      const xml =
        '<?xml version="1.0" encoding="UTF-8"?>\n' +
        `<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${bucket}</Bucket>` +
        '<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker>' +
        '<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>';
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(xml);
      return;
    }
    // MinIO refuses object names with "." or ".." segments (XMinioInvalidObjectName); so does this store.
    const raw = decodeURIComponent((req.url ?? '/').split('?')[0]).split('/').filter(Boolean);
    if (raw.length > 1 && raw.slice(1).some((p) => p === '.' || p === '..')) {
      res.writeHead(400, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>XMinioInvalidObjectName</Code><Message>Object name contains unsupported characters.</Message></Error>');
      return;
    }
    const fault = req.method === 'PUT' ? lost.find((f) => f.left > 0 && f.path.test(decodeURIComponent(url.pathname))) : undefined;
    if (fault) {
      fault.left--;
      // Stored (s3rver writes before it answers), but the answer never arrives.
      res.writeHead = (() => {
        req.socket.destroy();
        return res;
      }) as typeof res.writeHead;
    }
    const scope = conditional.scope(req, res, parts, conditionOf(req.headers));
    if (!scope) return void handle(req, res);
    void scope.start().then(
      () => conditional.run(scope, () => handle(req, res)),
      (err: Error & { code?: string; status?: number }) => {
        res.writeHead(err.status ?? 500, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${err.code}</Code><Message>${err.message}</Message></Error>`);
      },
    );
  });
  // Idle connections are kept for a minute, as a real store's idle timeout does: Node's 5 s default
  // races the S3 client's reuse of an idle socket, a reset (ECONNRESET) a real store rarely causes.
  server.keepAliveTimeout = 60_000;
  const listening = await listenLocal(server, opts.port ?? 0);
  return {
    ...listening,
    events: app,
    loseAnswers: (path, count = 1) => void lost.push({ path, left: count }),
  };
}
