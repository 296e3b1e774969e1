/** Calling a function's handler directly, as knative/func's unit tests call `handle`: an event, a context, no server. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { loadConfig, type Components, type Env, type Loaded } from '../shared/runtime/config.js';
import type { FunctionModule } from '../shared/runtime/main.js';
import type { FunctionContext, FunctionEvent } from '../shared/runtime/server.js';

export const quietLog = { debug() {}, info() {}, warn() {}, error() {}, child() { return quietLog; } };

export function eventOf(opts: { method?: string; body?: string | Buffer; headers?: IncomingHttpHeaders; query?: string } = {}): FunctionEvent {
  return {
    method: opts.method ?? 'POST',
    path: '/',
    query: new URLSearchParams(opts.query ?? ''),
    headers: opts.headers ?? {},
    body: Readable.from(opts.body === undefined ? [] : [Buffer.from(opts.body)]),
    callId: 'unit-call',
    signal: new AbortController().signal,
  };
}

export const contextOf = (fn: string): FunctionContext => ({ fn, callId: 'unit-call', log: quietLog });

/** Create a function module from an environment, as its process entry would. */
export function create<C extends Components>(mod: FunctionModule<C>, env: Env) {
  const config: Loaded<C> = loadConfig(mod.config, env);
  return mod.create(config);
}

/** A real HTTP server that records what it receives and answers with `answer`. */
export async function recorder(answer: (body: string) => { status: number; json: unknown }): Promise<{ url: string; bodies: string[]; headers: IncomingHttpHeaders[]; server: Server; close(): Promise<void> }> {
  const bodies: string[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      bodies.push(body);
      headers.push(req.headers);
      const a = answer(body);
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(a.json));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, bodies, headers, server, close: () => new Promise((r) => server.close(() => r())) };
}

/** id, city, amount, day; a row `badAt` carries a field longer than the record limit (the file fails there). */
export function csvTable(rows: number, badAt = -1): string {
  const lines = ['id,city,amount,day'];
  for (let i = 0; i < rows; i++) lines.push(`${i},${i === badAt ? 'x'.repeat(4096) : `São Paulo ${i % 97}`},${(i % 1000) / 4},2026-11-${String(1 + (i % 28)).padStart(2, '0')}`);
  return lines.join('\n') + '\n';
}

/** The body in many small chunks, each sent after the previous one was taken (a slow client). */
export function slowly(text: string, parts: number): Readable {
  const buf = Buffer.from(text);
  const size = Math.ceil(buf.length / parts);
  return Readable.from(
    (async function* () {
      for (let i = 0; i < buf.length; i += size) {
        yield buf.subarray(i, i + size);
        await new Promise((r) => setImmediate(r));
      }
    })(),
  );
}
