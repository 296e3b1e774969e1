/**
 * Spooling a request body to a bounded temporary file before answering. Every Go HTTP/1 hop in
 * front of a function (of-watchdog, the OpenFaaS gateway, Knative's queue-proxy before 1.13) is
 * half duplex: once the answer starts, the unread rest of the request body is dropped. A
 * function that answers while it still reads must therefore read to the end first.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, rm } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { problems } from './problem.js';

export interface Spooled {
  path: string;
  bytes: number;
  /** The spooled body, read back in 64 KiB chunks. */
  stream(): Readable;
  /** Remove the file (idempotent). */
  remove(): Promise<void>;
}

/** Write `body` to a temporary file, refusing more than `limit` bytes (413; the file is removed). */
export async function spoolBody(body: AsyncIterable<Buffer | string>, limit: number, dir = tmpdir()): Promise<Spooled> {
  const path = join(dir, `mini-pipeline-spool-${randomUUID()}`);
  let bytes = 0;
  let removed: Promise<void> | undefined;
  // node:fs's rm, not node:fs/promises': that module (and the readline and watcher modules it
  // loads, ~5 ms) would be loaded at every cold start for a file removed after a request.
  const remove = () => (removed ??= new Promise<void>((resolve, reject) => rm(path, { force: true }, (err) => (err ? reject(err) : resolve()))));
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb(bytes > limit ? problems.bodyTooLarge(limit) : null, chunk);
    },
  });
  try {
    await pipeline(Readable.from(body), count, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    await remove();
    throw err;
  }
  return { path, bytes, stream: () => createReadStream(path, { highWaterMark: 64 * 1024 }), remove };
}

/** A response body that removes the spooled file once it has been sent, or abandoned. */
export function removingAfter(body: AsyncIterable<string | Uint8Array>, remove: () => Promise<void>): Readable {
  return Readable.from(
    (async function* () {
      try {
        yield* body;
      } finally {
        await remove();
      }
    })(),
  );
}
