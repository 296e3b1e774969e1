/**
 * The Power BI emulator over HTTP: the push URL route, test endpoints under `/_emulator/`
 * (datasets, rows, reset, faults), server-sent events and the live dashboard page at `/`.
 * Every answer carries a `RequestId` header; errors use Power BI's `{"error":{code,message}}`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EmuError, EmulatorState, type EmuColumn, type EmuMode } from './model.js';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: number; count: number }
  | { kind: 'delay'; ms: number; count: number }
  | { kind: 'drop'; count: number }
  | { kind: 'ack-then-fail'; count: number };

export interface EmulatorServer {
  state: EmulatorState;
  url: string;
  port: number;
  faults: Fault[];
  close(): Promise<void>;
}

const DASHBOARD = new URL('./dashboard.html', import.meta.url);

async function readBody(req: IncomingMessage, limit = 32 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw new EmuError(413, 'RequestTooLarge', 'Request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { RequestId: randomUUID(), ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}), ...headers });
  res.end(text);
}

export async function startEmulator(opts: { port?: number; host?: string; state?: EmulatorState } = {}): Promise<EmulatorServer> {
  const state = opts.state ?? new EmulatorState();
  const faults: Fault[] = [];
  const listeners = new Set<ServerResponse>();
  const broadcast = (event: string, data: unknown) => {
    const msg = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const l of listeners) l.write(msg);
  };
  const takeFault = (): Fault | undefined => {
    const f = faults[0];
    if (!f) return undefined;
    if (--f.count <= 0) faults.shift();
    return f;
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const parts = url.pathname.split('/').filter(Boolean);
    try {
      // Push URL: /beta/{tenant}/datasets/{id}/rows
      if (parts[0] === 'beta' && parts[2] === 'datasets' && parts[4] === 'rows' && parts.length === 5) {
        if (req.method !== 'POST') return send(res, 405, new EmuError(405, 'MethodNotAllowed', 'Only POST is supported').body());
        const body = await readBody(req);
        const fault = takeFault();
        if (fault?.kind === 'drop') return void req.socket.destroy();
        if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
        if (fault?.kind === 'status') {
          return send(res, fault.status, new EmuError(fault.status, fault.status === 429 ? 'TooManyRequests' : 'ServiceError', 'Injected fault').body(), fault.retryAfter !== undefined ? { 'Retry-After': String(fault.retryAfter) } : {});
        }
        const stored = state.pushRows(parts[1], parts[3], url.searchParams.get('key'), body);
        const ds = state.datasets.get(parts[3])!;
        broadcast('rows', { datasetId: ds.id, name: ds.name, total: ds.rows.length, columns: ds.columns, rows: stored.slice(-50) });
        if (fault?.kind === 'ack-then-fail') return void req.socket.destroy();
        return send(res, 200, undefined);
      }
      if (parts[0] === '_emulator') return await emulatorApi(req, res, parts.slice(1), url);
      if (url.pathname === '/' || url.pathname === '/index.html') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        return void res.end(readFileSync(DASHBOARD));
      }
      send(res, 404, new EmuError(404, 'NotFound', 'No such route').body());
    } catch (err) {
      if (err instanceof EmuError) return send(res, err.status, err.body(), err.headers);
      send(res, 500, { error: { code: 'InternalError', message: (err as Error).message } });
    }
  });

  async function emulatorApi(req: IncomingMessage, res: ServerResponse, p: string[], url: URL): Promise<void> {
    const base = `http://${req.headers.host}`;
    if (p[0] === 'events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write(`event: hello\ndata: ${JSON.stringify(summary())}\n\n`);
      listeners.add(res);
      req.on('close', () => listeners.delete(res));
      return;
    }
    if (p[0] === 'datasets' && p.length === 1) {
      if (req.method === 'POST') {
        const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as { name?: string; mode?: EmuMode; columns?: EmuColumn[]; id?: string; key?: string; tenantId?: string };
        const ds = state.createDataset({ name: body.name ?? 'dataset', mode: body.mode, columns: body.columns, id: body.id, key: body.key, tenantId: body.tenantId });
        broadcast('datasets', summary());
        return send(res, 201, { id: ds.id, name: ds.name, mode: ds.mode, pushUrl: state.pushUrl(ds, base) });
      }
      return send(res, 200, { value: summary() });
    }
    if (p[0] === 'datasets' && p[2] === 'rows') {
      const ds = state.datasets.get(p[1]);
      if (!ds) return send(res, 404, new EmuError(404, 'ItemNotFound', 'no such dataset').body());
      const rows = state.visibleRows(ds);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? rows.length);
      return send(res, 200, { total: rows.length, columns: ds.columns ?? [], rows: rows.slice(offset, offset + limit) });
    }
    if (p[0] === 'reset' && req.method === 'POST') {
      for (const ds of state.datasets.values()) {
        ds.rows = [];
        ds.requests = 0;
        ds.requestTimes = [];
        ds.refused = {};
      }
      faults.length = 0;
      broadcast('datasets', summary());
      return send(res, 200, { ok: true });
    }
    if (p[0] === 'faults') {
      if (req.method === 'POST') {
        const body = JSON.parse((await readBody(req)).toString('utf8') || '[]') as Fault | Fault[];
        faults.push(...(Array.isArray(body) ? body : [body]));
      } else if (req.method === 'DELETE') faults.length = 0;
      return send(res, 200, { faults });
    }
    send(res, 404, new EmuError(404, 'NotFound', 'No such emulator route').body());
  }

  function summary() {
    return [...state.datasets.values()].map((d) => ({
      id: d.id,
      name: d.name,
      mode: d.mode,
      columns: d.columns ?? [],
      rowCount: d.rows.length,
      requests: d.requests,
      refused: d.refused,
      streamingTilesFailed: d.streamingTilesFailed,
    }));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    state,
    url: `http://127.0.0.1:${port}`,
    port,
    faults,
    close: () =>
      new Promise<void>((r) => {
        for (const l of listeners) l.end();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
