/**
 * Answering behind half-duplex proxies. Every Go HTTP/1 hop in front of a function (of-watchdog,
 * the OpenFaaS gateway, Knative's queue-proxy before 1.13) is half duplex: once the answer starts,
 * the unread rest of the request body is dropped. A function that answers from what it reads
 * therefore holds its answer, not the body: it reads the body as it arrives (`holdBody`), writes
 * the answer to a bounded temporary file as it is made (`spoolToFile`), and starts it from that
 * file once the body has been read whole (`answerFrom`), removing the file on every path.
 */
import { randomUUID } from 'node:crypto';
import { close, createWriteStream, open, read, rm } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { problems } from './problem.js';

/**
 * Read back in 1 MiB chunks: the answer is only copied on (to the socket), and 64 KiB reads made
 * the answer's transfer through the gateway 16× as many reads, writes and chunk headers.
 */
const SPOOL_READ_BYTES = 1024 * 1024;

/**
 * How far the spool's writes may run ahead of the disk. At the stream default (16 KiB) every
 * chunk of the answer (a flush of the encoder, ~300 KB) was larger than that, so the transform
 * stopped after each one until its write had come back from libuv's thread pool: the answer was
 * made and written in turns, not side by side. `npm run bench`, through the local gateway, 100 MB,
 * best of 3, ratio to bare papaparse (NDJSON / CSV answer): mixed 0.55× / 0.51× → 0.73× / 0.68×,
 * wide 0.38× / 0.35× → 0.52× / 0.54×; 1 MiB gave less (mixed 0.64× / 0.65×). At most this much
 * (plus one chunk) waits for the disk in memory.
 */
const SPOOL_WRITE_AHEAD_BYTES = 4 * 1024 * 1024;

/** The name every spool file starts with (in the temporary directory). */
export const SPOOL_FILE_PREFIX = 'mini-pipeline-spool-';

export interface Spooled {
  path: string;
  bytes: number;
  /** Remove the file (idempotent). */
  remove(): Promise<void>;
}

/** Write `bytes` to a temporary file, refusing more than `limit` bytes (413; the file is removed). */
export async function spoolToFile(bytes: AsyncIterable<Buffer | string>, limit: number, dir = tmpdir()): Promise<Spooled> {
  const path = join(dir, `${SPOOL_FILE_PREFIX}${randomUUID()}`);
  let written = 0;
  let removed: Promise<void> | undefined;
  // node:fs's rm, not node:fs/promises': that module (and the readline and watcher modules it
  // loads, ~5 ms) would be loaded at every cold start for a file removed after a request.
  const remove = () => (removed ??= new Promise<void>((resolve, reject) => rm(path, { force: true }, (err) => (err ? reject(err) : resolve()))));
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      written += chunk.length;
      cb(written > limit ? problems.bodyTooLarge(limit) : null, chunk);
    },
  });
  try {
    await pipeline(Readable.from(bytes), count, createWriteStream(path, { flags: 'wx', mode: 0o600, highWaterMark: SPOOL_WRITE_AHEAD_BYTES }));
  } catch (err) {
    await remove();
    throw err;
  }
  return { path, bytes: written, remove };
}

/** A spooled file as a response body (see SpooledAnswer). */
export function answerFrom(spool: Spooled): SpooledAnswer {
  return new SpooledAnswer(spool);
}

/**
 * A spooled file as a response body, removed once it has been sent, or abandoned (a client gone
 * mid-answer, or an answer destroyed before its first byte): `_destroy` runs on every path.
 *
 * Read as any Readable, it gives a new 1 MiB buffer a chunk. The function server sends it with
 * `sendTo` instead: through two buffers used in turn, each read into again only once the socket
 * has taken what was last written from it (that write's callback). A new buffer a chunk is freed
 * only by a collection, and copying an answer on makes almost no garbage on V8's heap to start
 * one: its buffers piled up to V8's 32 MB threshold for young backing stores first, and the
 * transform's peak RSS through the gateway rose by ~33 MB while its answer was sent.
 */
export class SpooledAnswer extends Readable {
  private fd?: Promise<number>;
  private at = 0;

  constructor(private readonly spool: Spooled) {
    super({ highWaterMark: SPOOL_READ_BYTES });
  }

  override _read(): void {
    this.readInto(Buffer.allocUnsafe(SPOOL_READ_BYTES)).then(
      (chunk) => this.push(chunk),
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    const fd = this.fd;
    this.fd = undefined;
    const closed = fd?.then((d) => new Promise<void>((resolve) => close(d, () => resolve())), () => undefined);
    void Promise.resolve(closed)
      .then(() => this.spool.remove())
      .then(
        () => cb(err),
        () => cb(err),
      );
  }

  /** Write the file to `to` and end it, through two buffers in turn (see above); destroyed either way. */
  async sendTo(to: Writable): Promise<void> {
    const buffers = [Buffer.allocUnsafe(SPOOL_READ_BYTES), Buffer.allocUnsafe(SPOOL_READ_BYTES)];
    const taken = [Promise.resolve(), Promise.resolve()];
    // A response closed before its end (a client gone) takes no more, and calls no more callbacks.
    let onClose!: () => void;
    const closed = new Promise<'closed'>((resolve) => to.once('close', (onClose = () => resolve('closed'))));
    const unlessClosed = async <T>(p: Promise<T>): Promise<T> => {
      if ((await Promise.race([p, closed])) === 'closed') throw Object.assign(new Error('the answer was closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
      return p;
    };
    try {
      for (let turn = 0; ; turn ^= 1) {
        await unlessClosed(taken[turn]);
        const chunk = await this.readInto(buffers[turn]);
        if (!chunk) break;
        taken[turn] = new Promise((resolve, reject) => to.write(chunk, (err) => (err ? reject(err) : resolve())));
        taken[turn].catch(() => {}); // awaited in its turn; a failure after the answer's own is not another
      }
      await unlessClosed(Promise.all(taken));
      await unlessClosed(new Promise<void>((resolve) => to.end(resolve)));
    } catch (err) {
      to.destroy(err as Error);
      throw err;
    } finally {
      to.off('close', onClose);
      // Its file closed and removed before this ends.
      if (!this.closed) await new Promise<void>((resolve) => this.once('close', resolve).destroy());
    }
  }

  /** The file's next bytes read into `into`: a view of them, or null at its end. */
  private async readInto(into: Buffer): Promise<Buffer | null> {
    this.fd ??= new Promise<number>((resolve, reject) => open(this.spool.path, 'r', (err, fd) => (err ? reject(err) : resolve(fd))));
    const fd = await this.fd;
    const n = await new Promise<number>((resolve, reject) => read(fd, into, 0, into.length, this.at, (err, bytes) => (err ? reject(err) : resolve(bytes))));
    this.at += n;
    return n ? into.subarray(0, n) : null;
  }
}

/**
 * Why a request body stopped (too large, the client gone): carried through a transform as an
 * error of its own (a transform ends the file with a problem in its trailer instead).
 */
export class BodyFailed extends Error {
  constructor(readonly reason: unknown) {
    super('the request body failed', { cause: reason });
  }
}

/** A request body read once, as it arrives, with what is left of it read to the end before the answer. */
export interface HeldBody {
  /** The chunks, at most `limit` bytes (past it, and on a body error, `BodyFailed`). Leaving early does not close the body. */
  chunks: AsyncIterable<Buffer>;
  /** The body's whole length when it is at most `max` bytes (read ahead, and still in `chunks`), else undefined. */
  lengthUpTo(max: number): Promise<number | undefined>;
  /** Read (and drop) what nobody read; fails with the body's own problem if it failed. */
  readToEnd(): Promise<void>;
}

/** `signal`: stop reading (the handler deadline passed, the client is gone); the body then fails with its reason. */
export function holdBody(body: AsyncIterable<Buffer | string>, limit: number, signal?: AbortSignal): HeldBody {
  const source = body[Symbol.asyncIterator]();
  const ahead: Buffer[] = [];
  let bytes = 0;
  let ended = false;
  let failure: { reason: unknown } | undefined;
  const fail = (reason: unknown) => {
    failure ??= { reason };
    // Nothing more is read of it: a Readable is destroyed (which ends a read that waits).
    if (body instanceof Readable) body.destroy();
    else source.return?.()?.catch(() => {});
  };
  signal?.addEventListener('abort', () => fail(signal.reason), { once: true });
  const pull = async (): Promise<Buffer | undefined> => {
    if (!failure && !ended) {
      try {
        const n = await source.next();
        if (n.done) ended = !failure;
        else if (!failure) {
          const chunk = typeof n.value === 'string' ? Buffer.from(n.value) : n.value;
          bytes += chunk.length;
          if (bytes <= limit) return chunk;
          fail(problems.bodyTooLarge(limit));
        }
      } catch (err) {
        fail(err);
      }
    }
    if (failure) throw new BodyFailed(failure.reason);
    return undefined;
  };
  const next = async (): Promise<IteratorResult<Buffer>> => {
    const chunk = ahead.shift() ?? (await pull());
    return chunk ? { done: false, value: chunk } : { done: true, value: undefined };
  };
  return {
    chunks: { [Symbol.asyncIterator]: () => ({ next, return: async () => ({ done: true, value: undefined }) }) },
    async lengthUpTo(max) {
      while (!ended && bytes <= max) {
        const chunk = await pull();
        if (chunk) ahead.push(chunk);
      }
      return ended && bytes <= max ? bytes : undefined;
    },
    async readToEnd() {
      try {
        while (!(await next()).done);
      } catch (err) {
        throw err instanceof BodyFailed ? err.reason : err;
      }
    },
  };
}
