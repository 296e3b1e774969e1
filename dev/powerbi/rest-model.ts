/**
 * The Power BI REST push API in the emulator (`reference/powerbi.md` §8b): client-credentials
 * tokens, service-principal auth rules, Post Dataset (with the retirement cut-off), Get Tables,
 * Post Rows with every documented limit over rolling windows on the injectable clock, Delete
 * Rows, basicFIFO trimming, and the undocumented sequence-number header (switchable).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { checkValue, EmuError, type EmuColumn, type EmuColumnType } from './model.js';

export const REST_LIMITS = {
  rowsPerRequest: 10_000,
  requestBytes: 16 * 1024 * 1024,
  inFlight: 5,
  requestsPerMinute: 120,
  requestsPerHourBigTable: 120,
  bigTableRows: 250_000,
  rowsPerHour: 1_000_000,
  fifoHigh: 210_000,
  fifoLow: 200_000,
  noneMax: 5_000_000,
  tokenSeconds: 3599,
};

const TABLE_NAME = /^[\t\n\r #\-0-9@A-Z^_a-z~\u0080-\uffff]{1,100}$/;
const TYPES = new Map<string, EmuColumnType>([
  ['int64', 'Int64'],
  ['double', 'Double'],
  ['decimal', 'Decimal'],
  ['boolean', 'Boolean'],
  ['bool', 'Boolean'],
  ['datetime', 'DateTime'],
  ['string', 'String'],
]);
const DATASET_KEYS = new Set(['name', 'tables', 'relationships', 'datasources', 'defaultMode']);

export interface RestTable {
  name: string;
  columns: EmuColumn[];
  rows: Record<string, unknown>[];
  lastSequence?: number;
}

export interface RestDataset {
  id: string;
  groupId: string;
  name: string;
  mode: 'Push' | 'Streaming' | 'PushStreaming';
  retention: 'None' | 'basicFIFO';
  tables: Map<string, RestTable>;
  posts: number[];
  rowLog: { at: number; n: number }[];
  inFlight: number;
  refused: Record<string, number>;
}

export interface Client {
  tenantId: string;
  clientId: string;
  secret: string;
  groups: Set<string>;
}

export class RestState {
  readonly clients = new Map<string, Client>();
  readonly tokens = new Map<string, { clientId: string; expiresAt: number }>();
  readonly datasets = new Map<string, RestDataset>();
  spTenantSettingEnabled = true;
  creationCutoff = Date.parse('2027-10-31T00:00:00Z');
  blockStreamingCreation = false;
  sequenceNumbers = true;
  /**
   * Get Tables answers table names only, as field reports say the service can
   * (microsoft/powerbi-powershell#397): a client must not depend on columns being listed.
   */
  namesOnlyTables = false;
  /** Milliseconds the emulator holds each Post Rows (to make concurrency observable). */
  holdMs = 0;

  constructor(public now: () => number) {}

  registerClient(c: { tenantId: string; clientId?: string; secret?: string; groups: string[] }): Client {
    const client: Client = { tenantId: c.tenantId, clientId: c.clientId ?? randomUUID(), secret: c.secret ?? randomBytes(24).toString('base64url'), groups: new Set(c.groups) };
    this.clients.set(client.clientId, client);
    return client;
  }

  token(tenantId: string, form: URLSearchParams): { token_type: string; expires_in: number; access_token: string } {
    const aad = (status: number, error: string, description: string, code: number) =>
      new EmuError(status, error, description, {}, { error, error_description: `AADSTS${code}: ${description}`, error_codes: [code], timestamp: new Date(this.now()).toISOString(), trace_id: randomUUID(), correlation_id: randomUUID() });
    if (form.get('grant_type') !== 'client_credentials') throw aad(400, 'unsupported_grant_type', 'The grant type is not supported.', 70003);
    if (form.get('scope') !== 'https://analysis.windows.net/powerbi/api/.default') throw aad(400, 'invalid_scope', 'The provided scope is not valid.', 70011);
    const client = this.clients.get(form.get('client_id') ?? '');
    if (!client || client.tenantId !== tenantId) throw aad(400, 'unauthorized_client', `Application with identifier '${form.get('client_id')}' was not found in the directory.`, 700016);
    if (form.get('client_secret') !== client.secret) throw aad(401, 'invalid_client', 'Invalid client secret provided.', 7000215);
    const access = randomBytes(32).toString('base64url');
    this.tokens.set(access, { clientId: client.clientId, expiresAt: this.now() + REST_LIMITS.tokenSeconds * 1000 });
    return { token_type: 'Bearer', expires_in: REST_LIMITS.tokenSeconds, access_token: access };
  }

  private notAuthorized(): EmuError {
    return new EmuError(401, 'PowerBINotAuthorizedException', '', {}, { error: { code: 'PowerBINotAuthorizedException', 'pbi.error': { code: 'PowerBINotAuthorizedException', parameters: {}, details: [], exceptionCulprit: 1 } } });
  }

  /** Auth rules 1–2: returns the client, or throws 401/403. */
  authorize(header: string | undefined, groupId: string | undefined): Client {
    const m = /^Bearer (\S+)$/.exec(header ?? '');
    if (!m) throw this.notAuthorized();
    const t = this.tokens.get(m[1]);
    if (!t) throw this.notAuthorized();
    if (t.expiresAt <= this.now()) throw new EmuError(403, 'TokenExpired', 'Access token has expired, resubmit with a new access token');
    const client = this.clients.get(t.clientId)!;
    if (!groupId || !client.groups.has(groupId) || !this.spTenantSettingEnabled) throw this.notAuthorized();
    return client;
  }

  createDataset(groupId: string, body: unknown, retention: string | null): RestDataset {
    if (retention !== null && retention !== 'None' && retention !== 'basicFIFO') throw new EmuError(400, 'InvalidRequest', `Invalid defaultRetentionPolicy '${retention}'`);
    const b = body as Record<string, unknown>;
    if (!b || typeof b !== 'object') throw new EmuError(400, 'BadRequest', 'Bad Request');
    for (const k of Object.keys(b)) {
      if (!DATASET_KEYS.has(k)) {
        throw new EmuError(400, 'BadRequest', 'Bad Request', {}, { error: { code: 'BadRequest', message: 'Bad Request', details: [{ message: `The property '${k}' does not exist on type 'Microsoft.PowerBI.ServiceContracts.Api.Dataset'. Make sure to only use property names that are defined by the type.`, target: 'dataset' }] } });
      }
    }
    if (typeof b.name !== 'string' || !Array.isArray(b.tables)) throw new EmuError(400, 'BadRequest', 'name and tables are required');
    const mode = (b.defaultMode ?? 'Push') as RestDataset['mode'];
    if (!['Push', 'Streaming', 'PushStreaming'].includes(mode)) throw new EmuError(400, 'InvalidRequest', `Invalid defaultMode '${String(b.defaultMode)}'`);
    if (this.blockStreamingCreation || this.now() >= this.creationCutoff) {
      throw new EmuError(400, 'FeatureDeprecatedError', '', {}, { error: { code: 'FeatureDeprecatedError', 'pbi.error': { code: 'FeatureDeprecatedError', parameters: {}, details: [{ code: 'Message', detail: { type: 1, value: 'Creation of streaming dataset is deprecated. Use Real-Time Intelligence in Microsoft Fabric.' } }] } } });
    }
    if (b.tables.length > 75) throw new EmuError(400, 'InvalidRequest', 'A dataset holds at most 75 tables');
    const tables = new Map<string, RestTable>();
    for (const t of b.tables as { name?: unknown; columns?: unknown }[]) {
      if (typeof t.name !== 'string' || !TABLE_NAME.test(t.name)) throw new EmuError(400, 'InvalidRequest', `Invalid table name ${JSON.stringify(t.name)}`);
      if (!Array.isArray(t.columns) || t.columns.length > 75) throw new EmuError(400, 'InvalidRequest', 'A table needs 1 to 75 columns');
      const columns = (t.columns as Record<string, unknown>[]).map((c) => {
        const type = TYPES.get(String(c.dataType ?? '').toLowerCase());
        if (typeof c.name !== 'string' || !type) throw new EmuError(400, 'InvalidRequest', `Invalid column ${JSON.stringify(c)}`);
        if (mode !== 'Push' && Object.keys(c).some((k) => k !== 'name' && k !== 'dataType')) {
          throw new EmuError(400, 'InvalidRequest', 'This dataset or endpoint does not support column properties other than name and dataType.');
        }
        return { name: c.name, type };
      });
      tables.set(t.name, { name: t.name, columns, rows: [] });
    }
    const ds: RestDataset = { id: randomUUID(), groupId, name: b.name, mode, retention: retention === 'basicFIFO' ? 'basicFIFO' : 'None', tables, posts: [], rowLog: [], inFlight: 0, refused: {} };
    this.datasets.set(ds.id, ds);
    return ds;
  }

  dataset(groupId: string, id: string): RestDataset {
    const ds = this.datasets.get(id);
    if (!ds || ds.groupId !== groupId) throw new EmuError(404, 'ItemNotFound', `Dataset ${id} not found`);
    return ds;
  }

  table(ds: RestDataset, name: string): RestTable {
    const t = ds.tables.get(name);
    if (!t) throw new EmuError(404, 'ItemNotFound', `Table '<pi>${name}</pi>' not found in dataset '<pi>${ds.name}</pi>'.`);
    return t;
  }

  private refuse(ds: RestDataset, err: EmuError): never {
    ds.refused[String(err.status)] = (ds.refused[String(err.status)] ?? 0) + 1;
    throw err;
  }

  /** Rule 8 (rate limits) on arrival; returns a release function for the in-flight slot. */
  admit(ds: RestDataset, rowsInRequest: number): () => void {
    const t = this.now();
    if (ds.inFlight >= REST_LIMITS.inFlight) this.refuse(ds, new EmuError(429, 'TooManyRequests', 'Too many pending requests for this dataset', { 'Retry-After': '1' }));
    ds.posts = ds.posts.filter((x) => t - x < 3_600_000);
    const lastMinute = ds.posts.filter((x) => t - x < 60_000);
    if (lastMinute.length >= REST_LIMITS.requestsPerMinute) {
      this.refuse(ds, new EmuError(429, 'TooManyRequests', 'You have exceeded the amount of requests allowed in the current time frame and further requests will fail.', { 'Retry-After': String(Math.ceil((lastMinute[0] + 60_000 - t) / 1000)) }));
    }
    const bigTable = [...ds.tables.values()].some((tb) => tb.rows.length >= REST_LIMITS.bigTableRows);
    if (bigTable && ds.posts.length >= REST_LIMITS.requestsPerHourBigTable) {
      this.refuse(ds, new EmuError(429, 'TooManyRequests', 'You have exceeded the amount of requests allowed in the current time frame and further requests will fail.', { 'Retry-After': String(Math.ceil((ds.posts[0] + 3_600_000 - t) / 1000)) }));
    }
    ds.rowLog = ds.rowLog.filter((r) => t - r.at < 3_600_000);
    const rowsLastHour = ds.rowLog.reduce((s, r) => s + r.n, 0);
    if (rowsLastHour + rowsInRequest > REST_LIMITS.rowsPerHour) {
      let freed = 0;
      let at = t;
      for (const r of ds.rowLog) {
        freed += r.n;
        at = r.at;
        if (rowsLastHour - freed + rowsInRequest <= REST_LIMITS.rowsPerHour) break;
      }
      this.refuse(ds, new EmuError(429, 'TooManyRequests', 'You are over your rows per hour limit for this dataset. To push more rows per hour, upgrade your account to Power BI Pro or retry your push later.', { 'Retry-After': String(Math.max(1, Math.ceil((at + 3_600_000 - t) / 1000))) }));
    }
    ds.posts.push(t);
    ds.inFlight++;
    return () => {
      ds.inFlight--;
    };
  }

  /** Rules 7 and 9: validate and store rows atomically. Returns how many were stored (0 for a replayed sequence number). */
  postRows(ds: RestDataset, table: RestTable, body: unknown, bytes: number, sequence: number | undefined): number {
    if (bytes > REST_LIMITS.requestBytes) this.refuse(ds, new EmuError(400, 'RequestTooLarge', `Request body is ${bytes} bytes; the limit is 16 MB`));
    const rows = (body as { rows?: unknown })?.rows;
    if (!Array.isArray(rows) || rows.some((r) => !r || typeof r !== 'object' || Array.isArray(r))) {
      this.refuse(ds, new EmuError(400, 'InvalidRequest', 'Did not encounter start array token or start object token for rowset'));
    }
    if (rows.length > REST_LIMITS.rowsPerRequest) this.refuse(ds, new EmuError(400, 'InvalidRequest', `A request holds at most ${REST_LIMITS.rowsPerRequest} rows; got ${rows.length}`));
    if (this.sequenceNumbers && sequence !== undefined && table.lastSequence !== undefined && sequence <= table.lastSequence) return 0;
    const byName = new Map(table.columns.map((c) => [c.name, c]));
    const stored: Record<string, unknown>[] = [];
    for (let i = 0; i < rows.length; i++) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(rows[i] as Record<string, unknown>)) {
        const col = byName.get(k);
        if (!col) this.refuse(ds, new EmuError(400, 'InvalidRequest', `Column '${k}' not found in table '${table.name}'`));
        const c = checkValue(col, v);
        if (!c.ok) this.refuse(ds, new EmuError(400, 'InvalidRequest', `Row ${i}: value of column '${k}' is ${c.why}`));
        if (col.type === 'Int64' && Math.abs(v as number) >= 2 ** 63 - 1) this.refuse(ds, new EmuError(400, 'InvalidRequest', `Row ${i}: Int64 out of range`));
        out[k] = col.type === 'Decimal' && typeof c.value === 'number' ? Math.round(c.value * 1e4) / 1e4 : c.value;
      }
      for (const c of table.columns) if (!(c.name in out)) out[c.name] = null;
      stored.push(out);
    }
    if (ds.retention === 'None' && table.rows.length + stored.length > REST_LIMITS.noneMax) this.refuse(ds, new EmuError(400, 'InvalidRequest', 'The table would exceed 5,000,000 rows'));
    table.rows.push(...stored);
    if (ds.retention === 'basicFIFO' && table.rows.length > REST_LIMITS.fifoHigh) table.rows.splice(0, table.rows.length - REST_LIMITS.fifoLow);
    ds.rowLog.push({ at: this.now(), n: stored.length });
    if (sequence !== undefined) table.lastSequence = sequence;
    return stored.length;
  }
}
