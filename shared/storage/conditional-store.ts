/**
 * Small JSON records in the output bucket, read with their ETag and written conditionally:
 * create only if absent (`If-None-Match: *`), replace or delete only if unchanged (`If-Match`).
 * S3 (since 2024) and MinIO (since RELEASE.2024-05-07T06-41-25Z) answer a failed condition with
 * 412, and two conditional writes at the same moment with 409 for one of them (retried here).
 *
 * A write whose answer was lost and that is retried finds its own earlier write in place (412 on
 * create, or an ETag it no longer knows): every write carries a random `writeId`, and a refused
 * retry reads the record back — if it holds our writeId, the write was ours and it succeeded.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type * as z from 'zod';
import { isCode, isNotFound, type Storage } from './s3.js';
import { withRetries, type RetryPolicy } from '../runtime/retry.js';

export interface Versioned<T> {
  value: T;
  etag: string;
}

/** Store calls: retried through the one policy (connection errors, 5xx, 409 conflicts), about half a minute in all. */
export const STATE_POLICY: RetryPolicy = { maxRetries: 8, baseMs: 100, maxMs: 8_000 };

const refused = (err: unknown) => isCode(err, 'PreconditionFailed') || isNotFound(err) || (err as { code?: string })?.code === 'NoSuchKey';
const strip = (etag: string | undefined) => (etag ?? '').replace(/^W\//, '').replace(/"/g, '');

export class ConditionalStore {
  constructor(
    readonly s3: Storage,
    readonly bucket: string,
    private readonly policy: RetryPolicy = STATE_POLICY,
  ) {}

  /** The record and its ETag, or undefined when there is none (a record that fails its schema is an error). */
  async read<S extends z.ZodType>(key: string, schema: S): Promise<Versioned<z.infer<S>> | undefined> {
    return withRetries(async () => {
      let stream: IncomingMessage;
      try {
        stream = (await this.s3.getObject(this.bucket, key)) as unknown as IncomingMessage;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return { value: schema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8'))), etag: strip(stream.headers.etag) };
    }, this.policy);
  }

  /** Create the record if the key is free; its ETag, or undefined when another record is there. */
  create<T extends object>(key: string, value: T): Promise<string | undefined> {
    return this.write(key, value, { 'If-None-Match': '*' });
  }

  /** Replace the record if it is still the one read (`etag`); its new ETag, or undefined when it changed or went. */
  replace<T extends object>(key: string, value: T, etag: string): Promise<string | undefined> {
    return this.write(key, value, { 'If-Match': `"${etag}"` });
  }

  /** Delete the record if it is still the one read (with `etag`), or whatever is there (without). */
  async remove(key: string, etag?: string): Promise<boolean> {
    return withRetries(async () => {
      try {
        if (etag === undefined) await this.s3.removeObject(this.bucket, key);
        else await deleteIfMatch(this.s3, this.bucket, key, etag);
        return true;
      } catch (err) {
        if (refused(err)) return false;
        throw err;
      }
    }, this.policy);
  }

  private async write<T extends object>(key: string, value: T, condition: Record<string, string>): Promise<string | undefined> {
    const writeId = randomUUID();
    const body = Buffer.from(JSON.stringify({ ...value, writeId }, null, 2) + '\n');
    return withRetries(async (attempt) => {
      try {
        const put = await this.s3.putObject(this.bucket, key, body, body.length, { 'Content-Type': 'application/json', ...condition });
        return strip(put.etag);
      } catch (err) {
        if (!refused(err)) throw err;
        if (attempt === 0) return undefined;
        // Refused on a retry: perhaps by our own earlier write, whose answer was lost.
        const now = await this.readRaw(key);
        return now && now.writeId === writeId ? now.etag : undefined;
      }
    }, this.policy);
  }

  private async readRaw(key: string): Promise<{ writeId?: string; etag: string } | undefined> {
    try {
      const stream = (await this.s3.getObject(this.bucket, key)) as unknown as IncomingMessage;
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { writeId?: string };
      return { writeId: parsed.writeId, etag: strip(stream.headers.etag) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Keys under a prefix (a listing: eventually complete, never a basis for a decision alone). */
  async *list(prefix: string): AsyncGenerator<string> {
    const listing = this.s3.listObjectsV2(this.bucket, prefix, true) as AsyncIterable<{ name?: string }>;
    for await (const o of listing) if (o.name) yield o.name;
  }
}

/**
 * DELETE with If-Match (S3 since 2025; the minio SDK's removeObject sends no conditions, so the
 * request goes through the SDK's own signed request). A store that ignores the header deletes
 * anyway: the lifecycle deletes a claim only after the version's outcome is recorded, so that
 * is harmless (a run that took the claim over finds the outcome and stops).
 */
async function deleteIfMatch(s3: Storage, bucket: string, key: string, etag: string): Promise<void> {
  const client = s3 as unknown as { makeRequestAsyncOmit(o: Record<string, unknown>, payload: string, codes: number[]): Promise<unknown> };
  await client.makeRequestAsyncOmit({ method: 'DELETE', bucketName: bucket, objectName: key, headers: { 'If-Match': `"${etag}"` } }, '', [200, 204]);
}
