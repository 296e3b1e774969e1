/**
 * The function server: one implementation for the three functions, locally and in the image.
 * Streaming request bodies with a per-function byte limit, `/_/health` and `/_/ready`,
 * problem+json errors, `X-Call-Id` propagation, and SIGTERM draining.
 */
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createLogger, type Logger } from './log.js';
import { metrics, registry, startProcessMetrics } from './metrics.js';
import { Problem, PROBLEM_CONTENT_TYPE, problems, toProblem } from './problem.js';
import { SpooledAnswer } from './spool.js';

export interface FunctionEvent {
  method: string;
  /** Path after `/function/<name>` (the gateway strips that prefix). */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The request body as a stream; reading past the function's limit fails with 413. */
  body: Readable;
  callId: string;
  /** Aborted when the client goes away before the answer is complete, or at the handler deadline. */
  signal: AbortSignal;
  /** Aborted at the handler deadline only (work that outlives its caller stops there). */
  deadline?: AbortSignal;
}

export interface FunctionContext {
  fn: string;
  callId: string;
  log: Logger;
}

export type ResponseBody = string | Uint8Array | Readable | AsyncIterable<string | Uint8Array>;

export interface FunctionResult {
  status?: number;
  headers?: Record<string, string>;
  /** Sent as `application/json` unless a content type is given. */
  json?: unknown;
  body?: ResponseBody;
}

export type FunctionHandler = (event: FunctionEvent, context: FunctionContext) => Promise<FunctionResult>;

export interface ServeOptions {
  name: string;
  handler: FunctionHandler;
  port?: number;
  host?: string;
  /** Largest request body accepted, in bytes (Infinity for streamed uploads). */
  maxBodyBytes?: number;
  /**
   * After SIGTERM: seconds the function keeps serving new requests with `/_/ready` failing (the
   * platform still routes to it until it sees that: of-watchdog for `healthcheck_interval`,
   * Kubernetes until the endpoint is removed). Then it stops listening and finishes what is in flight.
   */
  drainSeconds?: number;
  /**
   * A file written once the server listens and removed on SIGTERM: with of-watchdog's
   * `suppress_lock=true`, its `/_/health` and `-run-healthcheck` then pass only while Node listens.
   */
  lockFile?: string;
  /**
   * What must hold before the function reports ready (e.g. its object store answers with its
   * credentials and its buckets exist). Tried until it passes; until then /_/ready fails with the
   * reason, which is logged. The lock file is written once it passes.
   */
  readiness?: () => Promise<void>;
  /** Called once the function is ready (the process entry prints its ready line). */
  onReady?: (port: number) => void;
  /** Seconds without a request body byte before the request ends with 408 (0: never). */
  bodyIdleSeconds?: number;
  /** Handler deadline in seconds: past it the request is aborted and answered 504 (if nothing was sent yet). */
  timeoutSeconds?: number;
  log?: Logger;
  /** Install SIGTERM/SIGINT handlers that drain and exit (the process entry does this). */
  handleSignals?: boolean;
  /** Called after draining, before the process exits (stop timers, sweepers). */
  onShutdown?: () => Promise<void> | void;
}

export interface RunningFunction {
  server: Server;
  port: number;
  url: string;
  /** Stop accepting work, wait for in-flight requests (up to the handler deadline), then close. */
  close(): Promise<void>;
}

const DRAIN_LIMIT = 64 * 1024 * 1024;

export function sendProblem(res: ServerResponse, problem: Problem, callId?: string): void {
  if (res.headersSent) {
    res.destroy(problem);
    return;
  }
  const body = JSON.stringify({ ...problem.toJSON(), ...(callId ? { callId } : {}) });
  res.writeHead(problem.status, { 'content-type': PROBLEM_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * The request body as the handler sees it: refused past the byte limit (413), and cut off with
 * 408 when the client sends nothing for `idleMs` (a body shorter than its Content-Length, a
 * stalled upload) instead of holding the request until the handler deadline.
 */
class GuardedBody extends Transform {
  private seen = 0;
  private idle?: NodeJS.Timeout;
  constructor(
    private readonly limit: number,
    private readonly idleMs: number,
  ) {
    super();
    this.arm();
  }
  private arm(): void {
    if (!this.idleMs) return;
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.destroy(problems.bodyIdle(`no request body bytes for ${this.idleMs / 1000}s`)), this.idleMs);
    this.idle.unref();
  }
  override _flush(cb: () => void): void {
    clearTimeout(this.idle);
    cb();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    clearTimeout(this.idle);
    cb(err);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.arm();
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      cb(problems.bodyTooLarge(this.limit));
      return;
    }
    cb(null, chunk);
  }
}

export async function serveFunction(opts: ServeOptions): Promise<RunningFunction> {
  const log = opts.log ?? createLogger({ fn: opts.name });
  const maxBody = opts.maxBodyBytes ?? Infinity;
  const drainMs = (opts.drainSeconds ?? 30) * 1000;
  /** How long in-flight requests may take to finish once the listener is closed. */
  const finishMs = (opts.timeoutSeconds ?? 30) * 1000 + 1000;
  let ready = false;
  let notReady = 'starting';
  let draining = false;
  let closed = false;
  let inFlight = 0;
  let idle: (() => void) | null = null;

  const bodyIdleMs = (opts.bodyIdleSeconds ?? 30) * 1000;
  // Slow headers are cut off within a minute (headers timeout + the check interval); the body has
  // its own idle timeout; a whole request may stream for as long as the handler deadline allows.
  const server = createServer({ requestTimeout: 0, headersTimeout: 55_000, connectionsCheckingInterval: 5_000, keepAliveTimeout: 65_000 }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://function.local');
    if (url.pathname === '/_/health') return plain(res, 200, 'OK');
    if (url.pathname === '/metrics' && req.method === 'GET') return void serveMetrics(res);
    if (url.pathname === '/_/ready') return ready && !draining ? plain(res, 200, 'OK') : plain(res, 503, draining ? 'draining' : `not ready: ${notReady}`);
    if (closed) {
      res.setHeader('connection', 'close');
      return sendProblem(res, problems.draining('retry shortly'));
    }
    // While draining, requests are still served (the platform may route here until it sees
    // /_/ready fail), but connections are not kept alive past the answer.
    if (draining) res.setHeader('connection', 'close');
    inFlight++;
    metrics.requestsInFlight.inc({ fn: opts.name });
    void handle(req, res, url).finally(() => {
      inFlight--;
      metrics.requestsInFlight.dec({ fn: opts.name });
      if (inFlight === 0 && idle) idle();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const started = performance.now();
    const callId = headerValue(req.headers['x-call-id']) || randomUUID();
    res.setHeader('x-call-id', callId);
    const reqLog = log.child({ callId });
    const abort = new AbortController();
    const pastDeadline = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client closed the connection'));
    });
    const deadline = opts.timeoutSeconds
      ? setTimeout(() => {
          const p = problems.timeout(`no answer within ${opts.timeoutSeconds}s`);
          reqLog.error('handler deadline passed', { status: 504, timeoutSeconds: opts.timeoutSeconds });
          abort.abort(p);
          pastDeadline.abort(p);
          if (!res.headersSent) sendProblem(res, p, callId);
          else res.destroy(p);
        }, opts.timeoutSeconds * 1000)
      : undefined;
    deadline?.unref();
    const declared = Number(req.headers['content-length'] ?? NaN);
    let status = 500;
    try {
      if (Number.isFinite(declared) && declared > maxBody) {
        throw problems.bodyTooLarge(maxBody);
      }
      const body = req.pipe(new GuardedBody(maxBody, bodyIdleMs));
      req.on('error', (e) => body.destroy(e));
      req.on('aborted', () => body.destroy(problems.clientClosed('the client closed the connection before the body ended')));
      const event: FunctionEvent = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        callId,
        signal: abort.signal,
        deadline: pastDeadline.signal,
      };
      const result = await opts.handler(event, { fn: opts.name, callId, log: reqLog });
      status = result.status ?? 200;
      await writeResult(res, status, result);
    } catch (err) {
      const problem = toProblem(err, callId);
      status = problem.status;
      if (problem.status >= 500) reqLog.error('request failed', { error: err, status });
      // Drain what is left of the body so the client sees the answer, not a reset; but stop
      // reading a hostile upload (say, a 1 GB line) after DRAIN_LIMIT bytes and close. No
      // `connection: close` here: Node would close the socket as soon as the answer is written,
      // with the body still arriving, and the kernel then resets the connection; a proxy that
      // is still sending the body (the local gateway, a Go hop) may lose the answer with it.
      if (!req.readableEnded) {
        let drained = 0;
        req.on('data', (c: Buffer) => {
          drained += c.length;
          if (drained > DRAIN_LIMIT) req.destroy();
        });
        req.resume();
      }
      if (!res.writableEnded) sendProblem(res, problem, callId);
    } finally {
      clearTimeout(deadline);
      metrics.requestDuration.observe({ fn: opts.name, status: String(status) }, (performance.now() - started) / 1000);
      reqLog.info('request', {
        method: req.method,
        path: url.pathname,
        status,
        durationMs: Math.round(performance.now() - started),
      });
    }
  }

  // The first readiness check starts before the listener, so that its round trips to the store
  // overlap the listen instead of following it; a check that fails is retried below.
  const firstCheck = opts.readiness?.().then(
    () => undefined,
    (err: unknown) => err as Error,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const becomeReady = () => {
    if (draining) return;
    ready = true;
    if (opts.lockFile) writeFileSync(opts.lockFile, `${process.pid}\n`);
    opts.onReady?.(port);
    setTimeout(() => void startProcessMetrics(), 1000).unref();
  };
  if (!opts.readiness) becomeReady();
  else {
    // Checked until it passes (every second at first, then up to every 10 s), reason logged once per change.
    void (async () => {
      for (let attempt = 0; !draining; attempt++) {
        try {
          if (attempt === 0) {
            const failed = await firstCheck;
            if (failed) throw failed;
          } else await opts.readiness!();
          becomeReady();
          return;
        } catch (err) {
          const reason = (err as Error).message || String(err);
          if (reason !== notReady) log.warn('not ready', { reason });
          notReady = reason;
          await new Promise((r) => setTimeout(r, Math.min(10_000, 1000 * 2 ** Math.min(attempt, 4))).unref());
        }
      }
    })();
  }
  const removeLock = () => {
    if (opts.lockFile) rmSync(opts.lockFile, { force: true });
  };

  /** Stop listening, then wait for in-flight requests (up to the handler deadline). */
  const close = async () => {
    if (closed) return;
    draining = true;
    closed = true;
    ready = false;
    removeLock();
    server.close();
    if (inFlight > 0) {
      await Promise.race([
        new Promise<void>((r) => (idle = r)),
        new Promise<void>((r) => setTimeout(r, finishMs).unref()),
      ]);
    }
    server.closeAllConnections();
  };

  /** SIGTERM: fail readiness and drop the lock at once, keep serving for drainSeconds, then close. */
  const beginDrain = () => {
    draining = true;
    ready = false;
    removeLock();
  };
  const drainThenClose = async () => {
    if (drainMs > 0) await new Promise<void>((r) => setTimeout(r, drainMs).unref());
    await close();
  };

  if (opts.handleSignals) {
    const onSignal = (sig: string) => {
      if (draining) return;
      beginDrain();
      log.info('draining', { signal: sig, inFlight, serveSeconds: drainMs / 1000 });
      void drainThenClose()
        .then(() => opts.onShutdown?.())
        .catch((err) => log.warn('shutdown hook failed', { error: err }))
        .then(() => {
        log.info('stopped', { signal: sig });
        process.exit(0);
      });
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  }
  return { server, port, url: `http://127.0.0.1:${port}`, close };
}

async function writeResult(res: ServerResponse, status: number, result: FunctionResult): Promise<void> {
  const headers: Record<string, string> = { ...(result.headers ?? {}) };
  const has = (name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name);
  if (result.json !== undefined) {
    const text = JSON.stringify(result.json);
    if (!has('content-type')) headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(text));
    res.writeHead(status, headers);
    res.end(text);
    return;
  }
  const body = result.body;
  if (body === undefined || typeof body === 'string' || body instanceof Uint8Array) {
    if (body !== undefined && !has('content-type')) headers['content-type'] = 'text/plain; charset=utf-8';
    res.writeHead(status, headers);
    res.end(body);
    return;
  }
  res.writeHead(status, headers);
  res.flushHeaders();
  if (body instanceof SpooledAnswer) return body.sendTo(res);
  const source = body instanceof Readable ? body : Readable.from(body);
  await pipeline(source, res);
}

async function serveMetrics(res: ServerResponse): Promise<void> {
  await startProcessMetrics();
  const text = await registry.metrics();
  res.writeHead(200, { 'content-type': registry.contentType });
  res.end(text);
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(text);
}

export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
