/**
 * Bounded body readers: the one way to read a whole (small) body, a request's or an upstream
 * answer's. Past the limit they stop reading and fail with 413; malformed JSON is a 400 that
 * says where.
 */
import { problems } from './problem.js';

/** Read a body to its end as UTF-8 text, refusing more than `limit` bytes. */
export async function readText(body: AsyncIterable<Buffer | string>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    size += b.length;
    if (size > limit) throw problems.bodyTooLarge(limit);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Where a JSON.parse error points, as line and column. */
export function jsonErrorPosition(text: string, err: Error): { line?: number; column?: number } {
  const m = /position (\d+)/.exec(err.message);
  if (!m) return {};
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  return { line: before.split('\n').length, column: pos - before.lastIndexOf('\n') };
}

/** Parse JSON text, or fail with a 400 saying what was expected and where it broke. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw problems.invalidJson(`${what} was expected: ${(err as Error).message}`, jsonErrorPosition(text, err as Error));
  }
}

/** Read a bounded body and parse it as JSON (an empty body is `null`). */
export async function readJson(body: AsyncIterable<Buffer | string>, limit: number, what: string): Promise<unknown> {
  const text = await readText(body, limit);
  return text.trim() ? parseJson(text, what) : null;
}
