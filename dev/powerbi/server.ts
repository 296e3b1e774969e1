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
import { RestState } from './rest-model.js';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: number; count: number }
  | { kind: 'delay'; ms: number; count: number }
  | { kind: 'drop'; count: number }
  | { kind: 'ack-then-fail'; count: number };

export interface EmulatorServer {
  state: EmulatorState;
  rest: RestState;
  /** Move the emulator clock (rolling windows, token expiry) forward. */
  advanceClock(ms: number): void;
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
  let clockOffset = 0;
  state.now = () => Date.now() + clockOffset;
  const rest = new RestState(() => state.now());
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
      // Entra ID token endpoint: /{tenant}/oauth2/v2.0/token
      if (parts[1] === 'oauth2' && parts[2] === 'v2.0' && parts[3] === 'token' && req.method === 'POST') {
        const form = new URLSearchParams((await readBody(req)).toString('utf8'));
        return send(res, 200, rest.token(parts[0], form));
      }
      // REST: /v1.0/myorg[/groups/{g}]/datasets…
      if (parts[0] === 'v1.0' && parts[1] === 'myorg') return await restApi(req, res, parts.slice(2), url);
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

  async function restApi(req: IncomingMessage, res: ServerResponse, p: string[], url: URL): Promise<void> {
    const inGroup = p[0] === 'groups';
    const groupId = inGroup ? p[1] : undefined;
    const q = inGroup ? p.slice(2) : p;
    // Service principals are not supported on My workspace (no group): 401.
    rest.authorize(req.headers.authorization, groupId);
    const g = groupId!;
    if (q[0] !== 'datasets') throw new EmuError(404, 'NotFound', 'No such route');
    if (q.length === 1) {
      if (req.method === 'POST') {
        const body = JSON.parse((await readBody(req)).toString('utf8') || 'null');
        const ds = rest.createDataset(g, body, url.searchParams.get('defaultRetentionPolicy'));
        broadcast('datasets', summary());
        return send(res, 201, { id: ds.id, name: ds.name, defaultRetentionPolicy: ds.retention, addRowsAPIEnabled: true });
      }
      return send(res, 200, { value: [...rest.datasets.values()].filter((d) => d.groupId === g).map((d) => ({ id: d.id, name: d.name, addRowsAPIEnabled: true, defaultRetentionPolicy: d.retention })) });
    }
    const ds = rest.dataset(g, q[1]);
    if (q[2] === 'tables' && q.length === 3) {
      return send(res, 200, { 'odata.context': `${url.origin}/v1.0/myorg/groups/${g}/$metadata#tables`, value: [...ds.tables.values()].map((t) => ({ name: t.name, columns: t.columns.map((c) => ({ name: c.name, dataType: c.type })) })) });
    }
    if (q[2] === 'tables' && q.length === 4 && req.method === 'PUT') {
      // Put Table: replace the columns of an existing table; the name in the body must match.
      const table = rest.table(ds, decodeURIComponent(q[3]));
      const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as { name?: string; columns?: { name: string; dataType: string }[] };
      if (body.name !== table.name) throw new EmuError(400, 'InvalidRequest', `Table name in the body (${String(body.name)}) must equal '${table.name}'`);
      const replaced = rest.createDataset(ds.groupId, { name: '_put', tables: [{ name: table.name, columns: body.columns ?? [] }] }, null);
      rest.datasets.delete(replaced.id);
      table.columns = replaced.tables.get(table.name)!.columns;
      return send(res, 200, { name: table.name });
    }
    if (q[2] === 'tables' && q[4] === 'rows' && q.length === 5) {
      const table = rest.table(ds, decodeURIComponent(q[3]));
      if (req.method === 'DELETE') {
        if (ds.mode === 'Streaming') throw new EmuError(400, 'InvalidRequest', 'Rows of a streaming dataset cannot be deleted');
        table.rows = [];
        return send(res, 200, undefined);
      }
      if (req.method !== 'POST') throw new EmuError(405, 'MethodNotAllowed', 'Use POST or DELETE');
      const raw = await readBody(req);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new EmuError(400, 'InvalidRequest', 'Request body is not valid JSON');
      }
      const count = Array.isArray((body as { rows?: unknown[] })?.rows) ? (body as { rows: unknown[] }).rows.length : 0;
      const fault = takeFault();
      if (fault?.kind === 'drop') return void req.socket.destroy();
      if (fault?.kind === 'status') {
        return send(res, fault.status, new EmuError(fault.status, fault.status === 429 ? 'TooManyRequests' : 'ServiceError', 'Injected fault').body(), fault.retryAfter !== undefined ? { 'Retry-After': String(fault.retryAfter) } : {});
      }
      const release = rest.admit(ds, count);
      try {
        const hold = fault?.kind === 'delay' ? fault.ms : rest.holdMs;
        if (hold) await new Promise((r) => setTimeout(r, hold));
        const seqHeader = req.headers['x-powerbi-pushdata-sequencenumber'];
        const seq = seqHeader === undefined ? undefined : Number(seqHeader);
        const stored = rest.postRows(ds, table, body, raw.length, Number.isFinite(seq) ? seq : undefined);
        if (stored) broadcast('rows', { datasetId: ds.id, name: `${ds.name}/${table.name}`, total: table.rows.length, columns: table.columns, rows: table.rows.slice(-50) });
      } finally {
        release();
      }
      if (fault?.kind === 'ack-then-fail') return void req.socket.destroy();
      return send(res, 200, undefined);
    }
    throw new EmuError(404, 'NotFound', 'No such route');
  }

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
    if (p[0] === 'clients' && req.method === 'POST') {
      const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as { tenantId: string; groups: string[]; clientId?: string; secret?: string };
      const c = rest.registerClient(body);
      return send(res, 201, { tenantId: c.tenantId, clientId: c.clientId, secret: c.secret });
    }
    if (p[0] === 'settings' && req.method === 'POST') {
      const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as Record<string, unknown>;
      if (typeof body.spTenantSettingEnabled === 'boolean') rest.spTenantSettingEnabled = body.spTenantSettingEnabled;
      if (typeof body.sequenceNumbers === 'boolean') rest.sequenceNumbers = body.sequenceNumbers;
      if (typeof body.blockStreamingCreation === 'boolean') rest.blockStreamingCreation = body.blockStreamingCreation;
      if (typeof body.holdMs === 'number') rest.holdMs = body.holdMs;
      if (typeof body.creationCutoff === 'string') rest.creationCutoff = Date.parse(body.creationCutoff);
      if (typeof body.blockResourceKeyAuth === 'boolean') state.blockResourceKeyAuth = body.blockResourceKeyAuth;
      return send(res, 200, { ok: true });
    }
    if (p[0] === 'clock' && req.method === 'POST') {
      const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as { advanceMs?: number };
      clockOffset += body.advanceMs ?? 0;
      return send(res, 200, { now: new Date(state.now()).toISOString() });
    }
    if (p[0] === 'rest' && p[1] === 'datasets' && p[2]) {
      const ds = rest.datasets.get(p[2]);
      if (!ds) return send(res, 404, new EmuError(404, 'ItemNotFound', 'no such dataset').body());
      return send(res, 200, { id: ds.id, name: ds.name, refused: ds.refused, posts: ds.posts.length, tables: [...ds.tables.values()].map((t) => ({ name: t.name, columns: t.columns, total: t.rows.length, rows: url.searchParams.get('rows') === 'false' ? [] : t.rows })) });
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
    const restSummary = [...rest.datasets.values()].flatMap((d) =>
      [...d.tables.values()].map((t) => ({ id: d.id, name: `${d.name}/${t.name}`, mode: d.mode, columns: t.columns, rowCount: t.rows.length, requests: d.posts.length, refused: d.refused, streamingTilesFailed: false })),
    );
    return [...restSummary, ...[...state.datasets.values()].map((d) => ({
      id: d.id,
      name: d.name,
      mode: d.mode,
      columns: d.columns ?? [],
      rowCount: d.rows.length,
      requests: d.requests,
      refused: d.refused,
      streamingTilesFailed: d.streamingTilesFailed,
    }))];
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    state,
    rest,
    advanceClock: (ms) => {
      clockOffset += ms;
    },
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
