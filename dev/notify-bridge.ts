/**
 * Turns the embedded store's change events into MinIO's exact webhook request
 * (`reference/minio.md` §1): `POST`, `{EventName, Key, Records:[one record]}`, the key
 * Go-query-escaped, `Authorization: Bearer <token>`, `Content-Type: application/json`.
 * Like MinIO with `queue_dir`, events are stored on disk and sent one at a time, oldest
 * first, retried every `retryMs` until a 2xx (head-of-line blocking included).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { goQueryEscape } from '../shared/storage/s3-event.js';
import type { Logger } from '../shared/runtime/log.js';
import type { S3RecordEvent } from './embedded-s3.js';

export interface BridgeOptions {
  queueDir: string;
  endpoint: () => string;
  token?: string;
  retryMs?: number;
  buckets: string[];
  accessKey: string;
  log: Logger;
}

const NAMES: Record<string, string> = {
  'ObjectCreated:Put': 's3:ObjectCreated:Put',
  'ObjectCreated:Post': 's3:ObjectCreated:CompleteMultipartUpload',
  'ObjectCreated:Copy': 's3:ObjectCreated:Copy',
  'ObjectRemoved:Delete': 's3:ObjectRemoved:Delete',
};

/** MinIO's body for one s3rver record. */
export function toMinioEvent(rec: S3RecordEvent['Records'][number], principal: string): Record<string, unknown> {
  const name = NAMES[rec.eventName] ?? `s3:${rec.eventName}`;
  const objectName = rec.s3.object.key;
  const removed = name.startsWith('s3:ObjectRemoved');
  const object: Record<string, unknown> = { key: goQueryEscape(objectName) };
  if (!removed) {
    if (rec.s3.object.size) object.size = rec.s3.object.size;
    if (rec.s3.object.eTag) object.eTag = rec.s3.object.eTag;
    object.contentType = objectName.toLowerCase().endsWith('.csv') ? 'text/csv' : 'application/octet-stream';
    object.userMetadata = { 'content-type': object.contentType };
  }
  object.sequencer = rec.s3.object.sequencer;
  const ip = rec.requestParameters?.sourceIPAddress?.replace('::ffff:', '') ?? '127.0.0.1';
  return {
    EventName: name,
    Key: `${rec.s3.bucket.name}/${objectName}`,
    Records: [
      {
        eventVersion: '2.0',
        eventSource: 'minio:s3',
        awsRegion: '',
        eventTime: new Date(rec.eventTime).toISOString(),
        eventName: name,
        userIdentity: { principalId: principal },
        requestParameters: { principalId: principal, region: '', sourceIPAddress: ip },
        responseElements: { 'x-amz-request-id': Date.now().toString(16).toUpperCase(), 'x-minio-origin-endpoint': 'http://127.0.0.1' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'Config',
          bucket: { name: rec.s3.bucket.name, ownerIdentity: { principalId: principal }, arn: `arn:aws:s3:::${rec.s3.bucket.name}` },
          object,
        },
        source: { host: ip, port: '', userAgent: 'MinIO (linux; x64) minio-js/8.0.7' },
      },
    ],
  };
}

export class NotifyBridge {
  private timer?: NodeJS.Timeout;
  private sending = false;
  private stopped = false;
  private seq = 0;
  private readonly signals = new EventEmitter();
  delivered = 0;
  attempts = 0;

  constructor(private readonly opts: BridgeOptions) {
    mkdirSync(opts.queueDir, { recursive: true });
  }

  /** Store an event (like MinIO's queue_dir) and try to send at once. */
  enqueue(ev: S3RecordEvent): void {
    for (const rec of ev.Records) {
      if (!this.opts.buckets.includes(rec.s3.bucket.name)) continue;
      const body = toMinioEvent(rec, this.opts.accessKey);
      const name = `${Date.now().toString().padStart(15, '0')}-${String(this.seq++).padStart(6, '0')}-${randomUUID()}.event`;
      writeFileSync(join(this.opts.queueDir, name + '.tmp'), JSON.stringify(body));
      renameSync(join(this.opts.queueDir, name + '.tmp'), join(this.opts.queueDir, name));
    }
    void this.drain();
  }

  /** Resolves once every stored event was delivered (answered 2xx) and nothing is being sent. */
  async settled(): Promise<void> {
    while (this.sending || this.pending() > 0) await new Promise((r) => this.signals.once('idle', r));
  }

  pending(): number {
    return readdirSync(this.opts.queueDir).filter((f) => f.endsWith('.event')).length;
  }

  start(): void {
    void this.drain();
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.drain(), this.opts.retryMs ?? 3000);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    if (this.sending || this.stopped) return;
    this.sending = true;
    try {
      for (;;) {
        const files = readdirSync(this.opts.queueDir).filter((f) => f.endsWith('.event')).sort();
        if (!files.length) return;
        const file = join(this.opts.queueDir, files[0]);
        const body = readFileSync(file, 'utf8');
        const ok = await this.send(body);
        if (!ok) {
          this.schedule();
          return;
        }
        rmSync(file, { force: true });
        this.delivered++;
      }
    } finally {
      this.sending = false;
      this.signals.emit('idle');
    }
  }

  private async send(body: string): Promise<boolean> {
    this.attempts++;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Go-http-client/1.1' };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    try {
      const res = await request(this.opts.endpoint(), { method: 'POST', headers, body, headersTimeout: 60_000, bodyTimeout: 60_000 });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return true;
      this.opts.log.warn('sending event failed', { status: res.statusCode, retryInMs: this.opts.retryMs ?? 3000 });
      return false;
    } catch (err) {
      this.opts.log.warn('sending event failed', { error: (err as Error).message, retryInMs: this.opts.retryMs ?? 3000 });
      return false;
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
