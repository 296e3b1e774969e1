/**
 * A local stand-in for the OpenFaaS gateway on 127.0.0.1:8080: `/function/<name>[/path]`
 * proxies to the function's own process, `/async-function/<name>` answers 202 and calls it in
 * the background, `/system/functions` lists what is deployed. Adds `X-Call-Id` and
 * `X-Start-Time` like the real gateway.
 *
 * It is no kinder than the platforms: like every Go HTTP/1 hop (the OpenFaaS gateway,
 * of-watchdog, Knative's activator and queue-proxy), it is half duplex. Once the function starts
 * its answer, at most 256 KiB more of the request body reach it; the rest is dropped, and the
 * connection is closed after the answer (golang/go #15527). `fullDuplex` turns that off, as
 * Knative ≥ 1.13's `features.knative.dev/http-full-duplex` does.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenLocal } from './listen.js';

export interface GatewayRoute {
  name: string;
  port: number;
}

/**
 * Who picks a function's process when the local stack autoscales (dev/autoscaler.ts, the
 * activator): `admit` resolves with a port once a process has a free slot, holding the request
 * meanwhile; undefined when the function is unknown.
 */
export interface Admission {
  admit(name: string): Promise<{ port: number; release(): void }> | undefined;
  functions(): { name: string; replicas: number; availableReplicas: number }[];
}

export interface Gateway {
  url: string;
  port: number;
  /** Route a function to one process, or round robin over several (its replicas, as a Service with N pods). */
  setRoute(name: string, port: number | number[]): void;
  close(): Promise<void>;
}

const problem = (status: number, title: string, detail: string) =>
  JSON.stringify({ type: 'https://mini-pipeline.dev/problems/gateway', title, status, detail });

/** What Go's HTTP/1 server still reads of a request body once the answer has started. */
export const HALF_DUPLEX_DRAIN_BYTES = 256 * 1024;

export async function startGateway(opts: { port?: number; routes: GatewayRoute[]; fullDuplex?: boolean; admission?: Admission }): Promise<Gateway> {
  const routes = new Map(opts.routes.map((r) => [r.name, [r.port]]));
  const turn = new Map<string, number>();
  /** The next replica of a function, round robin (as a Kubernetes Service spreads connections). */
  const pick = (name: string): number | undefined => {
    const ports = routes.get(name);
    if (!ports?.length) return undefined;
    const i = (turn.get(name) ?? 0) % ports.length;
    turn.set(name, i + 1);
    return ports[i];
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname === '/healthz') return void res.end('OK');
    if (url.pathname === '/' && req.method === 'GET') {
      // What a newcomer sees at the gateway's root: the functions and how to call them.
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      const base = `http://${req.headers.host ?? '127.0.0.1'}`;
      return void res.end(
        ['mini-pipeline local gateway (a stand-in for the OpenFaaS gateway)', '', ...(opts.admission?.functions().map((f) => f.name) ?? [...routes.keys()]).map((name) => `  ${base}/function/${name}`), '', `  curl --data-binary @examples/mock.csv ${base}/function/transform   # ad-hoc: the typed dataset back`, `  ${base}/system/functions   (JSON)`, ''].join('\n'),
      );
    }
    if (url.pathname === '/system/functions') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(opts.admission?.functions() ?? [...routes.entries()].map(([name, ports]) => ({ name, replicas: ports.length, availableReplicas: ports.length }))));
    }
    const m = /^\/(function|async-function)\/([a-z0-9-]+)(\/.*)?$/.exec(url.pathname);
    const admitted = m && opts.admission ? opts.admission.admit(m[2]) : undefined;
    const port = m && !opts.admission ? pick(m[2]) : undefined;
    if (!m || (port === undefined && !admitted)) {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      return void res.end(problem(404, 'No such function', `no function at ${url.pathname}`));
    }
    if (admitted) {
      // Held until a process of the function can take it (the activator), or 504 when none comes.
      admitted.then(
        (lease) => {
          if (res.destroyed) return lease.release(); // the caller left while held
          if (m[1] === 'function') res.once('close', lease.release); // a caller gone frees the slot
          forward(req, res, m, lease.port, lease.release);
        },
        (err: Error & { status?: number }) => {
          res.writeHead(err.status ?? 503, { 'content-type': 'application/problem+json' });
          res.end(problem(err.status ?? 503, 'Function not ready', `${m[2]}: ${err.message}`));
        },
      );
      return;
    }
    forward(req, res, m, port!);
  });

  /** Proxy one call to a function's process (half duplex unless `fullDuplex`). */
  const forward = (req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, port: number, done?: () => void) => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const callId = String(req.headers['x-call-id'] ?? randomUUID());
    const headers: Record<string, string | string[] | undefined> = { ...req.headers, 'x-call-id': callId, 'x-start-time': String(Date.now() * 1e6), 'x-forwarded-host': req.headers.host ?? '' };
    const path = (m[3] ?? '/') + url.search;
    const isAsync = m[1] === 'async-function';
    const halfDuplex = !opts.fullDuplex && !isAsync;
    if (halfDuplex && headers['content-length'] !== undefined) {
      // A body cut short must reach the function as an early end, as it does behind Go's proxies.
      delete headers['content-length'];
      headers['transfer-encoding'] = 'chunked';
    }
    let answering = false;
    let afterAnswer = 0;
    let dropped = false;
    let answered = false;
    const up = httpRequest({ host: '127.0.0.1', port, method: req.method, path, headers }, (upRes) => {
      if (done) upRes.once('close', done);
      if (isAsync) return void upRes.resume();
      answering = true;
      upRes.once('end', () => (answered = true));
      res.writeHead(upRes.statusCode ?? 502, { ...upRes.headers, 'x-call-id': callId });
      upRes.pipe(res);
    });
    up.on('error', (err) => {
      done?.();
      // The function's own answer, once whole, is passed on as it is (a 413 that closes the
      // connection while the body is still being sent is a 413, as through OpenFaaS, not a 502).
      if (answered) return;
      if (isAsync || res.headersSent) return void res.destroy();
      res.writeHead(502, { 'content-type': 'application/problem+json' });
      res.end(problem(502, 'Function unavailable', `${m[2]}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
    req.on('data', (chunk: Buffer) => {
      if (dropped) return;
      if (halfDuplex && answering) {
        afterAnswer += chunk.length;
        if (afterAnswer > HALF_DUPLEX_DRAIN_BYTES) {
          // Half duplex: the rest of the body never reaches the function.
          dropped = true;
          req.pause();
          up.end();
          return;
        }
      }
      if (!up.write(chunk)) req.pause();
    });
    up.on('drain', () => {
      if (!dropped) req.resume();
    });
    req.on('end', () => {
      if (!dropped) up.end();
    });
    res.on('finish', () => {
      // Go closes a connection whose request body was not read to the end: it half-closes it
      // first and waits (net/http's rstAvoidanceDelay, 500 ms), so the caller reads the answer
      // before the reset that an unread body brings.
      if (!req.readableEnded) {
        req.socket.end();
        setTimeout(() => req.socket.destroy(), 500).unref();
      }
    });
    if (isAsync) {
      req.on('end', () => {
        res.writeHead(202, { 'x-call-id': callId });
        res.end();
      });
    }
    res.on('close', () => {
      if (!isAsync && !res.writableFinished) up.destroy();
    });
  };
  server.requestTimeout = 0;
  const listening = await listenLocal(server, opts.port ?? 0);
  return {
    ...listening,
    setRoute: (name, p) => void routes.set(name, Array.isArray(p) ? p : [p]),
  };
}
