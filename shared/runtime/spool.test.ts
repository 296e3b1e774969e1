/** A spooled answer sent through reused buffers: never one overwritten before its writer is done with it. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { answerFrom, spoolToFile } from './spool.js';

const dir = mkdtempSync(join(tmpdir(), 'spool-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** 5.5 MiB of random bytes spooled in 64 KiB pieces: six reads of the answer, the last one short. */
async function spooled() {
  const bytes = randomBytes(5.5 * 1024 * 1024);
  async function* pieces() {
    for (let at = 0; at < bytes.length; at += 65536) yield bytes.subarray(at, at + 65536);
  }
  return { bytes, spool: await spoolToFile(pieces(), bytes.length, dir) };
}

/**
 * A writer that takes its time over each chunk, as a socket does, and reads the chunk when it is
 * done with it (just before its callback: what a socket has sent by then); after `closeAfter`
 * chunks it closes.
 */
function slowWriter(closeAfter = Infinity) {
  const kept: Buffer[] = [];
  let given = 0;
  const writer = new Writable({
    highWaterMark: 4 * 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      if (++given >= closeAfter) return void writer.destroy();
      setTimeout(() => {
        kept.push(Buffer.from(chunk));
        cb();
      }, 15);
    },
  });
  return { writer, kept };
}

describe('SpooledAnswer', () => {
  test('sent: each buffer is read into again only after the writer is done with it, so every chunk still holds its bytes when it is sent; the file is removed', async () => {
    const { bytes, spool } = await spooled();
    const { writer, kept } = slowWriter();
    await answerFrom(spool).sendTo(writer);
    assert.ok(writer.writableFinished, 'ended');
    assert.equal(kept.length, 6);
    assert.ok(Buffer.concat(kept).equals(bytes), 'the bytes the writer sent are the file');
    assert.equal(existsSync(spool.path), false);
  });

  test('a writer closed before the end (a client gone): sendTo fails as a premature close, and the file is removed', async () => {
    const { spool } = await spooled();
    const { writer } = slowWriter(2);
    await assert.rejects(answerFrom(spool).sendTo(writer), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    for (let i = 0; i < 50 && existsSync(spool.path); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(existsSync(spool.path), false);
  });

  test('read as any Readable: the same bytes in chunks of their own, and the file removed at the end', async () => {
    const { bytes, spool } = await spooled();
    const chunks: Buffer[] = [];
    for await (const chunk of answerFrom(spool)) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(bytes));
    assert.equal(new Set(chunks.map((c) => c.buffer)).size, chunks.length, 'no buffer is shared between chunks');
    for (let i = 0; i < 50 && existsSync(spool.path); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(existsSync(spool.path), false);
  });
});
