/**
 * The Power BI emulator's state and rules (`reference/powerbi.md` §8a): streaming and hybrid
 * datasets fed by a push URL, column and value validation, the 15 KB and 5-a-second limits
 * over rolling windows on an injectable clock, and the 1-hour streaming cache.
 */
import { randomBytes, randomUUID } from 'node:crypto';

export type EmuColumnType = 'Number' | 'Text' | 'DateTime' | 'Int64' | 'Double' | 'Boolean' | 'String' | 'Decimal';
export type EmuMode = 'Streaming' | 'PushStreaming' | 'Push';

export interface EmuColumn {
  name: string;
  type: EmuColumnType;
}

export interface EmuDataset {
  id: string;
  tenantId: string;
  name: string;
  mode: EmuMode;
  key: string;
  /** Undefined until the first accepted request defines them (auto-schema datasets). */
  columns?: EmuColumn[];
  /**
   * Local stack only: each distinct set of columns gets its own table (as Azure Stream Analytics
   * creates one per output) instead of a refusal. A real push URL has one table, and refuses.
   */
  tablePerSchema?: boolean;
  tables: { name: string; columns: EmuColumn[] }[];
  rows: { at: number; row: Record<string, unknown>; table?: string }[];
  requestTimes: number[];
  requests: number;
  refused: Record<string, number>;
  streamingTilesFailed: boolean;
}

export const PUSH_URL_MAX_BYTES = 15360;
export const PUSH_URL_MAX_PER_SECOND = 5;
export const STREAMING_CACHE_MS = 3600_000;
export const MAX_STRING = 4000;

export class EmuError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** A body other than the default `{"error":{code,message}}` (pbi.error and AAD shapes). */
    readonly rawBody?: unknown,
  ) {
    super(message);
  }
  body() {
    return this.rawBody ?? { error: { code: this.code, message: this.message } };
  }
}

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/;
const US_DATE = /^\d{1,2}\/\d{1,2}\/\d{4}$/;

function inferType(v: unknown): EmuColumnType {
  if (typeof v === 'number') return 'Number';
  if (typeof v === 'boolean') return 'Boolean';
  if (typeof v === 'string' && ISO.test(v) && v.length >= 10) return 'DateTime';
  return 'Text';
}

/** Normalise a DateTime to UTC, quantised to 1/300 s; undefined when invalid. */
export function normaliseDateTime(v: string): string | undefined {
  let t: number;
  if (US_DATE.test(v)) {
    const [m, d, y] = v.split('/').map(Number);
    t = Date.UTC(y, m - 1, d);
  } else if (ISO.test(v)) {
    t = Date.parse(v.length === 10 ? v + 'T00:00:00Z' : /[Z+-]\d{0,2}:?\d{0,2}$/.test(v.slice(19)) ? v : v + 'Z');
  } else return undefined;
  if (!Number.isFinite(t)) return undefined;
  const q = Math.round(t / (1000 / 300)) * (1000 / 300);
  return new Date(q).toISOString();
}

export function checkValue(col: EmuColumn, v: unknown): { ok: true; value: unknown } | { ok: false; why: string } {
  if (v === null || v === undefined) return { ok: true, value: null };
  switch (col.type) {
    case 'Number':
    case 'Double':
    case 'Decimal':
      return typeof v === 'number' && Number.isFinite(v) && Math.abs(v) !== Number.MAX_VALUE ? { ok: true, value: v } : { ok: false, why: 'not a finite number' };
    case 'Int64':
      return typeof v === 'number' && Number.isInteger(v) ? { ok: true, value: v } : { ok: false, why: 'not an integer' };
    case 'Boolean':
      return typeof v === 'boolean' ? { ok: true, value: v } : { ok: false, why: 'not true/false' };
    case 'DateTime': {
      const d = typeof v === 'string' ? normaliseDateTime(v) : undefined;
      return d ? { ok: true, value: d } : { ok: false, why: 'not an ISO 8601 or M/D/YYYY date' };
    }
    case 'Text':
    case 'String':
      return typeof v === 'string' && v.length <= MAX_STRING ? { ok: true, value: v } : { ok: false, why: typeof v === 'string' ? `longer than ${MAX_STRING} characters` : 'not a string' };
  }
}

export class EmulatorState {
  readonly datasets = new Map<string, EmuDataset>();
  /** Called with the rows each accepted push stored (the local stack keeps them in DATA_DIR). */
  onStored?: (ds: EmuDataset, rows: EmuDataset['rows']) => void;
  constructor(
    public now: () => number = () => Date.now(),
    public strict = true,
    public blockResourceKeyAuth = false,
  ) {}

  createDataset(opts: { name: string; mode?: EmuMode; columns?: EmuColumn[]; tenantId?: string; id?: string; key?: string; tablePerSchema?: boolean }): EmuDataset {
    const ds: EmuDataset = {
      id: opts.id ?? randomUUID(),
      tenantId: opts.tenantId ?? randomUUID(),
      name: opts.name,
      mode: opts.mode ?? 'Streaming',
      key: opts.key ?? randomBytes(64).toString('base64'),
      columns: opts.columns,
      tablePerSchema: opts.tablePerSchema,
      tables: opts.columns ? [{ name: 'RealTimeData', columns: opts.columns }] : [],
      rows: [],
      requestTimes: [],
      requests: 0,
      refused: {},
      streamingTilesFailed: false,
    };
    this.datasets.set(ds.id, ds);
    return ds;
  }

  pushUrl(ds: EmuDataset, base: string): string {
    return `${base}/beta/${ds.tenantId}/datasets/${ds.id}/rows?experience=power-bi&key=${encodeURIComponent(ds.key)}`;
  }

  /** Rows still visible (streaming rows expire after an hour). */
  visibleRows(ds: EmuDataset): Record<string, unknown>[] {
    const t = this.now();
    if (ds.mode === 'Streaming') ds.rows = ds.rows.filter((r) => t - r.at < STREAMING_CACHE_MS);
    return ds.rows.map((r) => r.row);
  }

  private refuse(ds: EmuDataset | undefined, err: EmuError): never {
    if (ds) ds.refused[String(err.status)] = (ds.refused[String(err.status)] ?? 0) + 1;
    throw err;
  }

  /** Rule (a): a push URL request. Returns the rows stored. */
  pushRows(tenantId: string, datasetId: string, key: string | null, bodyBytes: Buffer): Record<string, unknown>[] {
    const ds = this.datasets.get(datasetId);
    if (!ds || ds.tenantId !== tenantId) this.refuse(undefined, new EmuError(404, 'ItemNotFound', `Dataset ${datasetId} not found`));
    if (this.blockResourceKeyAuth || !key || key !== ds.key) this.refuse(ds, new EmuError(403, 'Unauthorized', 'Invalid key'));
    const t = this.now();
    ds.requestTimes = ds.requestTimes.filter((x) => t - x < 1000);
    if (ds.requestTimes.length >= PUSH_URL_MAX_PER_SECOND) {
      this.refuse(ds, new EmuError(429, 'TooManyRequests', 'You have exceeded the amount of requests allowed in the current time frame and further requests will fail.', { 'Retry-After': '1' }));
    }
    ds.requestTimes.push(t);
    ds.requests++;
    if (bodyBytes.length > PUSH_URL_MAX_BYTES) {
      if (ds.mode === 'Streaming') this.refuse(ds, new EmuError(400, 'RequestTooLarge', `Request body is ${bodyBytes.length} bytes; streaming datasets accept at most ${PUSH_URL_MAX_BYTES}`));
      ds.streamingTilesFailed = true;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(bodyBytes.toString('utf8'));
    } catch {
      this.refuse(ds, new EmuError(400, 'InvalidRequest', 'Request body is not valid JSON'));
    }
    const rows = Array.isArray(parsed) ? parsed : parsed && typeof parsed === 'object' && Array.isArray((parsed as { rows?: unknown }).rows) ? (parsed as { rows: unknown[] }).rows : undefined;
    if (!rows || rows.some((r) => !r || typeof r !== 'object' || Array.isArray(r))) {
      this.refuse(ds, new EmuError(400, 'InvalidRequest', 'Did not encounter start array token or start object token for rowset'));
    }
    let columns = ds.columns;
    let table = ds.tables[0]?.name;
    const first = (rows[0] ?? {}) as Record<string, unknown>;
    if (ds.tablePerSchema && rows.length) {
      // The table whose columns are exactly this request's, or a new one.
      const names = Object.keys(first).sort().join('\u0000');
      const found = ds.tables.find((tb) => tb.columns.map((c) => c.name).sort().join('\u0000') === names);
      if (found) ({ columns, name: table } = found);
      else {
        columns = Object.entries(first).map(([name, v]) => ({ name, type: inferType(v) }));
        table = `table ${ds.tables.length + 1} (${columns.map((c) => c.name).slice(0, 3).join(', ')}${columns.length > 3 ? ', …' : ''})`;
        ds.tables.push({ name: table, columns });
      }
    } else if (!columns) {
      columns = Object.entries(first).map(([name, v]) => ({ name, type: inferType(v) }));
    }
    const byName = new Map(columns.map((c) => [c.name, c]));
    const stored: Record<string, unknown>[] = [];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(r)) {
        const col = byName.get(k);
        if (!col) {
          if (this.strict) this.refuse(ds, new EmuError(400, 'InvalidRequest', `Column '${k}' not found`));
          continue;
        }
        const c = checkValue(col, v);
        if (!c.ok) this.refuse(ds, new EmuError(400, 'InvalidRequest', `Row ${i}: value of column '${k}' is ${c.why}`));
        out[k] = c.value;
      }
      for (const c of columns) if (!(c.name in out)) out[c.name] = null;
      stored.push(out);
    }
    if (!ds.tablePerSchema) {
      ds.columns = columns;
      if (!ds.tables.length) ds.tables.push({ name: 'RealTimeData', columns });
      table = ds.tables[0].name;
    } else ds.columns ??= columns;
    const entries = stored.map((row) => ({ at: t, row, table }));
    for (const e of entries) ds.rows.push(e);
    this.onStored?.(ds, entries);
    return stored;
  }
}
