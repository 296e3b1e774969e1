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
import { Router, type RouteContext, type RouteHandler } from './router.js';

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
  /** More routes on the emulator's port (the local stack's console). */
  router: Router;
  /** Serve another page at `/` (the local stack's console) instead of the dashboard. */
  setPage(handler: RouteHandler): void;
  /** Also send the emulator's live `rows` events to this event stream. */
  onRows(res: ServerResponse): void;
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

  const injected = (res: ServerResponse, fault: Fault & { kind: 'status' }) =>
    send(res, fault.status, new EmuError(fault.status, fault.status === 429 ? 'TooManyRequests' : 'ServiceError', 'Injected fault').body(), fault.retryAfter !== undefined ? { 'Retry-After': String(fault.retryAfter) } : {});
  const jsonBody = async <T>(req: IncomingMessage, empty: string): Promise<T> => JSON.parse((await readBody(req)).toString('utf8') || empty) as T;

  // Push URL: POST /beta/{tenant}/datasets/{id}/rows?key=…
  async function pushRows({ req, res, url, params }: RouteContext): Promise<void> {
    const body = await readBody(req);
    const fault = takeFault();
    if (fault?.kind === 'drop') return void req.socket.destroy();
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
    if (fault?.kind === 'status') return injected(res, fault);
    const stored = state.pushRows(params.tenant, params.id, url.searchParams.get('key'), body);
    const ds = state.datasets.get(params.id)!;
    broadcast('rows', { datasetId: ds.id, name: ds.name, total: ds.rows.length, columns: ds.columns, rows: stored.slice(-50) });
    if (fault?.kind === 'ack-then-fail') return void req.socket.destroy();
    send(res, 200, undefined);
  }

  // Entra ID token endpoint: POST /{tenant}/oauth2/v2.0/token
  async function token({ req, res, params }: RouteContext): Promise<void> {
    send(res, 200, rest.token(params.tenant, new URLSearchParams((await readBody(req)).toString('utf8'))));
  }

  /** REST routes need a service-principal token for the workspace (My workspace: 401). */
  const inWorkspace = (handler: (ctx: RouteContext, group: string) => Promise<void> | void): RouteHandler => (ctx) => {
    rest.authorize(ctx.req.headers.authorization, ctx.params.group);
    return handler(ctx, ctx.params.group);
  };
  const myWorkspace: RouteHandler = (ctx) => {
    rest.authorize(ctx.req.headers.authorization, undefined); // always refuses: 401
    throw new EmuError(401, 'Unauthorized', 'My workspace is not supported for service principals');
  };

  async function createRestDataset({ req, res, url }: RouteContext, g: string): Promise<void> {
    const ds = rest.createDataset(g, await jsonBody(req, 'null'), url.searchParams.get('defaultRetentionPolicy'));
    broadcast('datasets', summary());
    send(res, 201, { id: ds.id, name: ds.name, defaultRetentionPolicy: ds.retention, addRowsAPIEnabled: true });
  }

  function listRestDatasets({ res }: RouteContext, g: string): void {
    send(res, 200, { value: [...rest.datasets.values()].filter((d) => d.groupId === g).map((d) => ({ id: d.id, name: d.name, addRowsAPIEnabled: true, defaultRetentionPolicy: d.retention })) });
  }

  function getTables({ res, url, params }: RouteContext, g: string): void {
    const ds = rest.dataset(g, params.dataset);
    send(res, 200, { 'odata.context': `${url.origin}/v1.0/myorg/groups/${g}/$metadata#tables`, value: [...ds.tables.values()].map((t) => (rest.namesOnlyTables ? { name: t.name } : { name: t.name, columns: t.columns.map((c) => ({ name: c.name, dataType: c.type })) })) });
  }

  // Put Table: replace the columns of an existing table; the name in the body must match.
  async function putTable({ req, res, params }: RouteContext, g: string): Promise<void> {
    const ds = rest.dataset(g, params.dataset);
    const table = rest.table(ds, params.table);
    const body = await jsonBody<{ name?: string; columns?: { name: string; dataType: string }[] }>(req, '{}');
    if (body.name !== table.name) throw new EmuError(400, 'InvalidRequest', `Table name in the body (${String(body.name)}) must equal '${table.name}'`);
    const replaced = rest.createDataset(ds.groupId, { name: '_put', tables: [{ name: table.name, columns: body.columns ?? [] }] }, null);
    rest.datasets.delete(replaced.id);
    table.columns = replaced.tables.get(table.name)!.columns;
    send(res, 200, { name: table.name });
  }

  function deleteRows({ res, params }: RouteContext, g: string): void {
    const ds = rest.dataset(g, params.dataset);
    const table = rest.table(ds, params.table);
    if (ds.mode === 'Streaming') throw new EmuError(400, 'InvalidRequest', 'Rows of a streaming dataset cannot be deleted');
    table.rows = [];
    send(res, 200, undefined);
  }

  async function postRows({ req, res, params }: RouteContext, g: string): Promise<void> {
    const ds = rest.dataset(g, params.dataset);
    const table = rest.table(ds, params.table);
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
    if (fault?.kind === 'status') return injected(res, fault);
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
    send(res, 200, undefined);
  }

  // Test endpoints under /_emulator/.
  function events({ req, res }: RouteContext): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(`event: hello\ndata: ${JSON.stringify(summary())}\n\n`);
    listeners.add(res);
    req.on('close', () => listeners.delete(res));
  }

  async function createPushDataset({ req, res }: RouteContext): Promise<void> {
    const body = await jsonBody<{ name?: string; mode?: EmuMode; columns?: EmuColumn[]; id?: string; key?: string; tenantId?: string }>(req, '{}');
    const ds = state.createDataset({ name: body.name ?? 'dataset', mode: body.mode, columns: body.columns, id: body.id, key: body.key, tenantId: body.tenantId });
    broadcast('datasets', summary());
    send(res, 201, { id: ds.id, name: ds.name, mode: ds.mode, pushUrl: state.pushUrl(ds, `http://${req.headers.host}`) });
  }

  function datasetRows({ res, url, params }: RouteContext): void {
    const ds = state.datasets.get(params.id);
    if (!ds) return send(res, 404, new EmuError(404, 'ItemNotFound', 'no such dataset').body());
    const rows = state.visibleRows(ds);
    const offset = Number(url.searchParams.get('offset') ?? 0);
    const limit = Number(url.searchParams.get('limit') ?? rows.length);
    send(res, 200, { total: rows.length, columns: ds.columns ?? [], rows: rows.slice(offset, offset + limit) });
  }

  function reset({ res }: RouteContext): void {
    for (const ds of state.datasets.values()) {
      ds.rows = [];
      ds.requests = 0;
      ds.requestTimes = [];
      ds.refused = {};
    }
    faults.length = 0;
    broadcast('datasets', summary());
    send(res, 200, { ok: true });
  }

  async function registerClient({ req, res }: RouteContext): Promise<void> {
    const c = rest.registerClient(await jsonBody<{ tenantId: string; groups: string[]; clientId?: string; secret?: string }>(req, '{}'));
    send(res, 201, { tenantId: c.tenantId, clientId: c.clientId, secret: c.secret });
  }

  async function settings({ req, res }: RouteContext): Promise<void> {
    const body = await jsonBody<Record<string, unknown>>(req, '{}');
    if (typeof body.spTenantSettingEnabled === 'boolean') rest.spTenantSettingEnabled = body.spTenantSettingEnabled;
    if (typeof body.sequenceNumbers === 'boolean') rest.sequenceNumbers = body.sequenceNumbers;
    if (typeof body.blockStreamingCreation === 'boolean') rest.blockStreamingCreation = body.blockStreamingCreation;
    if (typeof body.holdMs === 'number') rest.holdMs = body.holdMs;
    if (typeof body.creationCutoff === 'string') rest.creationCutoff = Date.parse(body.creationCutoff);
    if (typeof body.blockResourceKeyAuth === 'boolean') state.blockResourceKeyAuth = body.blockResourceKeyAuth;
    send(res, 200, { ok: true });
  }

  async function clock({ req, res }: RouteContext): Promise<void> {
    clockOffset += (await jsonBody<{ advanceMs?: number }>(req, '{}')).advanceMs ?? 0;
    send(res, 200, { now: new Date(state.now()).toISOString() });
  }

  function restDataset({ res, url, params }: RouteContext): void {
    const ds = rest.datasets.get(params.id);
    if (!ds) return send(res, 404, new EmuError(404, 'ItemNotFound', 'no such dataset').body());
    send(res, 200, { id: ds.id, name: ds.name, refused: ds.refused, posts: ds.posts.length, tables: [...ds.tables.values()].map((t) => ({ name: t.name, columns: t.columns, total: t.rows.length, rows: url.searchParams.get('rows') === 'false' ? [] : t.rows })) });
  }

  async function setFaults({ req, res }: RouteContext): Promise<void> {
    if (req.method === 'POST') {
      const body = await jsonBody<Fault | Fault[]>(req, '[]');
      faults.push(...(Array.isArray(body) ? body : [body]));
    } else if (req.method === 'DELETE') faults.length = 0;
    send(res, 200, { faults });
  }

  let page: RouteHandler | undefined;
  function dashboard(ctx: RouteContext): void | Promise<void> {
    if (page) return page(ctx);
    ctx.res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    ctx.res.end(readFileSync(DASHBOARD));
  }

  const router = new Router()
    .on('POST', '/beta/:tenant/datasets/:id/rows', pushRows)
    .on('POST', '/:tenant/oauth2/v2.0/token', token)
    .on('*', '/v1.0/myorg/datasets', myWorkspace)
    .on('*', '/v1.0/myorg/datasets/:dataset/tables', myWorkspace)
    .on('*', '/v1.0/myorg/datasets/:dataset/tables/:table/rows', myWorkspace)
    .on('POST', '/v1.0/myorg/groups/:group/datasets', inWorkspace(createRestDataset))
    .on('GET', '/v1.0/myorg/groups/:group/datasets', inWorkspace(listRestDatasets))
    .on('GET', '/v1.0/myorg/groups/:group/datasets/:dataset/tables', inWorkspace(getTables))
    .on('PUT', '/v1.0/myorg/groups/:group/datasets/:dataset/tables/:table', inWorkspace(putTable))
    .on('POST', '/v1.0/myorg/groups/:group/datasets/:dataset/tables/:table/rows', inWorkspace(postRows))
    .on('DELETE', '/v1.0/myorg/groups/:group/datasets/:dataset/tables/:table/rows', inWorkspace(deleteRows))
    .on('GET', '/_emulator/events', events)
    .on('POST', '/_emulator/datasets', createPushDataset)
    .on('GET', '/_emulator/datasets', ({ res }) => send(res, 200, { value: summary() }))
    .on('GET', '/_emulator/datasets/:id/rows', datasetRows)
    .on('POST', '/_emulator/reset', reset)
    .on('POST', '/_emulator/clients', registerClient)
    .on('POST', '/_emulator/settings', settings)
    .on('POST', '/_emulator/clock', clock)
    .on('GET', '/_emulator/rest/datasets/:id', restDataset)
    .on('*', '/_emulator/faults', setFaults)
    .on('GET', '/', dashboard)
    .on('GET', '/index.html', dashboard);

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    try {
      const m = router.match(req.method ?? 'GET', url.pathname);
      if ('status' in m) {
        const rows = /^\/beta\/[^/]+\/datasets\/[^/]+\/rows$/.test(url.pathname);
        if (m.status === 405) throw new EmuError(405, 'MethodNotAllowed', rows ? 'Only POST is supported' : 'Method not allowed');
        throw new EmuError(404, 'NotFound', 'No such route');
      }
      await m.handler({ req, res, url, params: m.params });
    } catch (err) {
      if (err instanceof EmuError) return send(res, err.status, err.body(), err.headers);
      send(res, 500, { error: { code: 'InternalError', message: (err as Error).message } });
    }
  });

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
    router,
    setPage: (h) => {
      page = h;
    },
    onRows: (res) => {
      listeners.add(res);
      res.on('close', () => listeners.delete(res));
    },
    close: () =>
      new Promise<void>((r) => {
        for (const l of listeners) l.end();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
