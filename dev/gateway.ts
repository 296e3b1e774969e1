/**
 * A local stand-in for the OpenFaaS gateway on 127.0.0.1:8080: `/function/<name>[/path]`
 * proxies (streaming both ways) to the function's own process, `/async-function/<name>`
 * answers 202 and calls it in the background, `/system/functions` lists what is deployed.
 * Adds `X-Call-Id` and `X-Start-Time` like the real gateway.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { listenLocal } from './listen.js';

export interface GatewayRoute {
  name: string;
  port: number;
}

export interface Gateway {
  url: string;
  port: number;
  setRoute(name: string, port: number): void;
  close(): Promise<void>;
}

const problem = (status: number, title: string, detail: string) =>
  JSON.stringify({ type: 'https://mini-pipeline.dev/problems/gateway', title, status, detail });

export async function startGateway(opts: { port?: number; routes: GatewayRoute[] }): Promise<Gateway> {
  const routes = new Map(opts.routes.map((r) => [r.name, r.port]));
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname === '/healthz') return void res.end('OK');
    if (url.pathname === '/system/functions') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify([...routes.keys()].map((name) => ({ name, replicas: 1, availableReplicas: 1 }))));
    }
    const m = /^\/(function|async-function)\/([a-z0-9-]+)(\/.*)?$/.exec(url.pathname);
    const port = m ? routes.get(m[2]) : undefined;
    if (!m || port === undefined) {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      return void res.end(problem(404, 'No such function', `no function at ${url.pathname}`));
    }
    const callId = String(req.headers['x-call-id'] ?? randomUUID());
    const headers = { ...req.headers, 'x-call-id': callId, 'x-start-time': String(Date.now() * 1e6), 'x-forwarded-host': req.headers.host ?? '' };
    const path = (m[3] ?? '/') + url.search;
    const isAsync = m[1] === 'async-function';
    const up = httpRequest({ host: '127.0.0.1', port, method: req.method, path, headers }, (upRes) => {
      if (isAsync) return void upRes.resume();
      res.writeHead(upRes.statusCode ?? 502, { ...upRes.headers, 'x-call-id': callId });
      upRes.pipe(res);
    });
    up.on('error', (err) => {
      if (isAsync || res.headersSent) return void res.destroy();
      res.writeHead(502, { 'content-type': 'application/problem+json' });
      res.end(problem(502, 'Function unavailable', `${m[2]}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
    req.pipe(up);
    if (isAsync) {
      req.on('end', () => {
        res.writeHead(202, { 'x-call-id': callId });
        res.end();
      });
    }
    res.on('close', () => {
      if (!isAsync && !res.writableFinished) up.destroy();
    });
  });
  server.requestTimeout = 0;
  const listening = await listenLocal(server, opts.port ?? 0);
  return {
    ...listening,
    setRoute: (name, p) => routes.set(name, p),
  };
}
