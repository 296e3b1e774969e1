/**
 * The embedded S3 server for local runs and tests: `@20minutes/s3rver` (pinned), data on disk
 * under DATA_DIR, the configured key pair registered, and the one API it lacks and the minio
 * SDK needs before multipart uploads (ListMultipartUploads) answered here, in the harness,
 * with an empty listing — the product's S3 client stays stock.
 */
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import { EventEmitter } from 'node:events';
import { listenLocal } from './listen.js';

const require = createRequire(import.meta.url);
// CommonJS package without types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('@20minutes/s3rver') as new (opts: Record<string, unknown>) => S3rverApp;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const account = require('@20minutes/s3rver/lib/models/account.js') as { DUMMY_ACCOUNT: { createKeyPair(a: string, s: string): void } };

interface S3rverApp extends EventEmitter {
  callback(): (req: unknown, res: unknown) => void;
  configureBuckets(): Promise<void>;
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
  const handle = app.callback();
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
    handle(req, res);
  });
  const listening = await listenLocal(server, opts.port ?? 0);
  return {
    ...listening,
    events: app,
  };
}
