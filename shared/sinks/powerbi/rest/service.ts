/**
 * Power BI through the REST push API with a service principal:
 * `POST /v1.0/myorg/groups/{group}/datasets/{id}/tables/{table}/rows` with `{"rows":[…]}`.
 * One limiter enforces every documented limit before the service has to: ≤ 10,000 rows and
 * ≤ 16 MB a request, ≤ 5 in flight, ≤ 120 requests a minute (≤ 120 an hour for tables of
 * ≥ 250,000 rows), ≤ 1,000,000 rows an hour per dataset. Rows map to the target table's
 * columns by name (case-sensitive; optional mapping) and are coerced to its types; a value
 * that cannot be coerced is a reject, not a 400 for the batch. With sequence numbers on
 * (`X-PowerBI-PushData-SequenceNumber`, undocumented), requests go one at a time in order and
 * a batch the service stored but whose answer was lost is not stored twice on retry.
 */
import { Agent, request } from 'undici';
import type { Column, Row } from '../../../dataset/contract.js';
import type { Logger } from '../../../runtime/log.js';
import { Problem } from '../../../runtime/problem.js';
import { backoff, isConnectionError, sleep } from '../../../runtime/invoke.js';
import { EntraTokenProvider } from '../entra-token.js';
import { parseRetryAfter, powerBiError } from '../push-url.js';
import { MAX_STRING_CHARS } from '../values.js';
import { SlidingWindowLimiter } from '../../rate-limiter.js';
import type { RowSink, SinkDelivery, SinkResult } from '../../sink.js';

export interface RestOptions {
  apiUrl: string;
  groupId: string;
  datasetId?: string;
  table: string;
  tokens: EntraTokenProvider;
  sequenceNumbers: boolean;
  /** Create the dataset from the file's schema when no dataset id is configured. */
  createDataset?: { name: string; retention: 'basicFIFO' | 'None' };
  columnMap: Record<string, string>;
  maxRowsPerFile: number;
  bigTable: boolean;
  timeoutMs: number;
  maxRetries: number;
  log: Logger;
  /** Where the created dataset id is remembered (the output bucket's state). */
  rememberDataset?: (id: string) => Promise<void>;
  loadDataset?: () => Promise<string | undefined>;
}

export const REST_LIMITS = { rowsPerRequest: 10_000, bytesPerRequest: 16 * 1024 * 1024, inFlight: 5, perMinute: 120, perHourBigTable: 120, rowsPerHour: 1_000_000 };

type TargetType = 'Int64' | 'Double' | 'Decimal' | 'Boolean' | 'DateTime' | 'String';
const agent = new Agent({ connections: 8, keepAliveTimeout: 10_000 });

/** Rows sent per dataset in the last hour, shared by every file this process publishes. */
const hourlyRows = new Map<string, { at: number; n: number }[]>();

export function pbiType(t: Column['type']): TargetType {
  return t === 'integer' ? 'Int64' : t === 'decimal' ? 'Double' : t === 'boolean' ? 'Boolean' : t === 'date' || t === 'datetime' ? 'DateTime' : 'String';
}

/** Coerce one value to a Power BI column type; a string says why it cannot be. */
export function coerce(v: Row[number], type: TargetType, sourceType: Column['type']): { ok: true; value: unknown } | { ok: false; why: string } {
  if (v === null) return { ok: true, value: null };
  switch (type) {
    case 'Int64':
      if (typeof v === 'number' && Number.isSafeInteger(v)) return { ok: true, value: v };
      if (typeof v === 'string' && /^-?\d{1,15}$/.test(v)) return { ok: true, value: Number(v) };
      return { ok: false, why: `${JSON.stringify(v)} is not an Int64` };
    case 'Double':
    case 'Decimal': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n) || Math.abs(n) === Number.MAX_VALUE) return { ok: false, why: `${JSON.stringify(v)} is not a number` };
      return { ok: true, value: type === 'Decimal' ? Math.round(n * 1e4) / 1e4 : n };
    }
    case 'Boolean':
      return typeof v === 'boolean' ? { ok: true, value: v } : { ok: false, why: `${JSON.stringify(v)} is not true/false` };
    case 'DateTime':
      if (typeof v === 'string' && sourceType === 'date') return { ok: true, value: `${v}T00:00:00.000Z` };
      if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return { ok: true, value: new Date(Date.parse(v)).toISOString() };
      return { ok: false, why: `${JSON.stringify(v)} is not a date/time` };
    case 'String': {
      const s = typeof v === 'string' ? v : String(v);
      return s.length <= MAX_STRING_CHARS ? { ok: true, value: s } : { ok: false, why: `text longer than ${MAX_STRING_CHARS} characters` };
    }
  }
}

export class PowerBiRestSink implements RowSink {
  readonly name = 'powerbi-rest';
  private readonly perMinute = new SlidingWindowLimiter(REST_LIMITS.perMinute, 60_000, 50);
  private readonly perHour = new SlidingWindowLimiter(REST_LIMITS.perHourBigTable, 3_600_000, 50);

  constructor(private readonly opts: RestOptions) {}

  private base(datasetId: string) {
    return `${this.opts.apiUrl.replace(/\/$/, '')}/v1.0/myorg/groups/${encodeURIComponent(this.opts.groupId)}/datasets/${encodeURIComponent(datasetId)}`;
  }

  private async call(method: 'GET' | 'POST', url: string, body: string | undefined, headers: Record<string, string>, result: SinkResult | undefined, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    for (let attempt = 0; ; attempt++) {
      let status = 0;
      let text = '';
      let retryAfterMs = 0;
      try {
        const token = await this.opts.tokens.get();
        const timeout = AbortSignal.timeout(this.opts.timeoutMs);
        const res = await request(url, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
          body,
          dispatcher: agent,
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        status = res.statusCode;
        text = await res.body.text();
        retryAfterMs = parseRetryAfter(res.headers['retry-after']);
        if (status < 300) return { status, text };
        if (status === 403 && text.includes('TokenExpired')) {
          this.opts.tokens.invalidate();
          if (attempt < this.opts.maxRetries) continue;
        }
      } catch (err) {
        if (err instanceof Problem) throw err;
        if (signal?.aborted) throw err;
        const timeout = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
        if (!timeout && !isConnectionError(err)) throw err;
        text = timeout ? 'timed out' : ((err as { code?: string }).code ?? 'connection error');
      }
      const retryable = status === 0 || status === 429 || status >= 500;
      if (!retryable) {
        throw new Problem(422, 'powerbi-rejected', 'Power BI refused the request', `HTTP ${status} ${powerBiError(text)}`.trim(), { sink: this.name, upstreamStatus: status });
      }
      if (attempt >= this.opts.maxRetries) {
        throw new Problem(503, 'powerbi-unavailable', 'Power BI did not accept the rows', `gave up after ${attempt + 1} attempts (last: ${status || text})`, { sink: this.name, upstreamStatus: status || undefined });
      }
      const wait = status === 429 ? Math.max(retryAfterMs, 1000) : backoff(attempt, 250, 10_000);
      if (result) {
        result.retries++;
        if (status === 429) result.throttledMs += wait;
      }
      this.opts.log.warn('powerbi retry', { sink: this.name, status, detail: status ? powerBiError(text) : text, waitMs: Math.round(wait), attempt: attempt + 1 });
      await sleep(wait, signal);
    }
  }

  private async ensureDataset(columns: Column[], signal?: AbortSignal): Promise<string> {
    if (this.opts.datasetId) return this.opts.datasetId;
    const remembered = await this.opts.loadDataset?.();
    if (remembered) return (this.opts.datasetId = remembered);
    const create = this.opts.createDataset;
    if (!create) throw new Problem(422, 'powerbi-config', 'No Power BI dataset', 'set POWERBI_DATASET_ID, or POWERBI_CREATE_DATASET=true', { setting: 'POWERBI_DATASET_ID' });
    const body = JSON.stringify({
      name: create.name,
      defaultMode: 'Push',
      tables: [{ name: this.opts.table, columns: columns.map((c) => ({ name: this.opts.columnMap[c.name] ?? c.name, dataType: pbiType(c.type) })) }],
    });
    const url = `${this.opts.apiUrl.replace(/\/$/, '')}/v1.0/myorg/groups/${encodeURIComponent(this.opts.groupId)}/datasets?defaultRetentionPolicy=${create.retention}`;
    try {
      const res = await this.call('POST', url, body, {}, undefined, signal);
      const id = (JSON.parse(res.text) as { id: string }).id;
      this.opts.datasetId = id;
      await this.opts.rememberDataset?.(id);
      this.opts.log.info('powerbi dataset created', { sink: this.name, datasetId: id, retention: create.retention });
      return id;
    } catch (err) {
      if (err instanceof Problem && String(err.detail).includes('FeatureDeprecatedError')) {
        throw new Problem(422, 'powerbi-creation-refused', 'Power BI refused to create the push dataset', 'FeatureDeprecatedError: new real-time semantic models can no longer be created (retired 31 Oct 2027); create it in an existing workspace before then, or move to Fabric Eventstream', { sink: this.name });
      }
      throw err;
    }
  }

  /** The target table's columns by name and type (Get Tables). */
  private async targetColumns(datasetId: string, signal?: AbortSignal): Promise<Map<string, TargetType>> {
    const res = await this.call('GET', `${this.base(datasetId)}/tables`, undefined, {}, undefined, signal);
    const tables = (JSON.parse(res.text) as { value: { name: string; columns?: { name: string; dataType: string }[] }[] }).value;
    const table = tables.find((t) => t.name === this.opts.table);
    if (!table) throw new Problem(422, 'powerbi-rejected', 'The Power BI table does not exist', `dataset has no table '${this.opts.table}' (names are case-sensitive; set POWERBI_TABLE)`, { sink: this.name, setting: 'POWERBI_TABLE' });
    const norm: Record<string, TargetType> = { int64: 'Int64', double: 'Double', decimal: 'Decimal', boolean: 'Boolean', bool: 'Boolean', datetime: 'DateTime', string: 'String' };
    return new Map((table.columns ?? []).map((c) => [c.name, norm[c.dataType.toLowerCase()] ?? 'String']));
  }

  async deliver(d: SinkDelivery): Promise<SinkResult & { unmappedColumns: string[]; rowsNotSent: number; datasetId: string }> {
    const started = performance.now();
    const cols = d.header.schema.columns;
    const datasetId = await this.ensureDataset(cols, d.signal);
    const target = await this.targetColumns(datasetId, d.signal);
    const mapped = cols.map((c) => {
      const name = this.opts.columnMap[c.name] ?? c.name;
      const type = target.get(name);
      return type ? { name, type, source: c } : undefined;
    });
    const unmappedColumns = cols.filter((_, i) => !mapped[i]).map((c) => c.name);
    if (!mapped.some(Boolean)) {
      throw new Problem(422, 'powerbi-rejected', 'No column of the file matches the Power BI table', `table '${this.opts.table}' has ${[...target.keys()].join(', ')}; the file has ${cols.map((c) => c.name).join(', ')} (set POWERBI_COLUMN_MAP)`, { sink: this.name });
    }
    const result = { sink: this.name, rowsSent: 0, rowsSkippedAsAlreadySent: 0, rowsRejected: 0, requests: 0, retries: 0, throttledMs: 0, durationMs: 0, rejects: [] as { row: number; reason: string }[], unmappedColumns, rowsNotSent: 0, datasetId };
    const url = `${this.base(datasetId)}/tables/${encodeURIComponent(this.opts.table)}/rows`;
    const seqBase = d.sequenceBase ?? Math.floor(Date.now() / 1000) * 1_000_000;
    const inFlightMax = this.opts.sequenceNumbers ? 1 : REST_LIMITS.inFlight;
    // The sequence base is checkpointed before the first request: a run that dies after the
    // service stored a batch but before its checkpoint resends it with the same number.
    if (this.opts.sequenceNumbers && d.sequenceBase === undefined) await d.onAck(d.startAt, { sequenceBase: seqBase });
    const hourly = hourlyRows.get(datasetId) ?? [];
    hourlyRows.set(datasetId, hourly);

    // Acknowledgements are checkpointed as a contiguous prefix of the dataset's rows.
    const done = new Map<number, number>(); // batch start → batch end
    let ackedTo = d.startAt;
    const inflight = new Set<Promise<void>>();
    let failure: unknown;

    const send = async (start: number, end: number, rowsJson: string[]) => {
      if (!rowsJson.length) {
        done.set(start, end);
        while (done.has(ackedTo)) {
          const next = done.get(ackedTo)!;
          done.delete(ackedTo);
          ackedTo = next;
        }
        await d.onAck(ackedTo, { sequenceBase: seqBase });
        return;
      }
      const body = '{"rows":[' + rowsJson.join(',') + ']}';
      const hourWait = async () => {
        for (;;) {
          const now = Date.now();
          while (hourly.length && now - hourly[0].at >= 3_600_000) hourly.shift();
          const used = hourly.reduce((s, r) => s + r.n, 0);
          if (used + rowsJson.length <= REST_LIMITS.rowsPerHour) return;
          let freed = 0;
          let until = now;
          for (const r of hourly) {
            freed += r.n;
            until = r.at + 3_600_000;
            if (used - freed + rowsJson.length <= REST_LIMITS.rowsPerHour) break;
          }
          result.throttledMs += until - now;
          await sleep(until - now + 50, d.signal);
        }
      };
      await hourWait();
      result.throttledMs += await this.perMinute.acquire();
      if (this.opts.bigTable) result.throttledMs += await this.perHour.acquire();
      hourly.push({ at: Date.now(), n: rowsJson.length });
      result.requests++;
      const headers: Record<string, string> = this.opts.sequenceNumbers ? { 'X-PowerBI-PushData-SequenceNumber': String(seqBase + start) } : {};
      await this.call('POST', url, body, headers, result, d.signal);
      result.rowsSent += rowsJson.length;
      done.set(start, end);
      let moved = false;
      while (done.has(ackedTo)) {
        const next = done.get(ackedTo)!;
        done.delete(ackedTo);
        ackedTo = next;
        moved = true;
      }
      if (moved) await d.onAck(ackedTo, { sequenceBase: seqBase });
    };

    const launch = async (start: number, end: number, rowsJson: string[]) => {
      while (inflight.size >= inFlightMax) await Promise.race(inflight);
      if (failure) throw failure;
      const p: Promise<void> = send(start, end, rowsJson)
        .catch((err) => {
          failure ??= err;
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    };

    let index = 0;
    let batch: string[] = [];
    let batchBytes = 0;
    let batchStart = d.startAt;
    for await (const rows of d.rows) {
      for (const row of rows) {
        const i = index++;
        if (i < d.startAt) {
          result.rowsSkippedAsAlreadySent++;
          continue;
        }
        if (i - d.startAt >= this.opts.maxRowsPerFile) {
          result.rowsNotSent++;
          continue;
        }
        const out: Record<string, unknown> = {};
        let why: string | undefined;
        for (let c = 0; c < mapped.length; c++) {
          const m = mapped[c];
          if (!m) continue;
          const v = coerce(row[c], m.type, m.source.type);
          if (!v.ok) {
            why = `column ${m.source.name}: ${v.why}`;
            break;
          }
          out[m.name] = v.value;
        }
        if (why) {
          result.rowsRejected++;
          if (result.rejects.length < 100) result.rejects.push({ row: i + 1, reason: why });
          continue;
        }
        const json = JSON.stringify(out);
        if (batch.length >= REST_LIMITS.rowsPerRequest || batchBytes + json.length + 16 > REST_LIMITS.bytesPerRequest) {
          await launch(batchStart, i, batch);
          batch = [];
          batchBytes = 0;
          batchStart = i;
        }
        batch.push(json);
        batchBytes += json.length + 1;
      }
      if (failure) break;
    }
    if (!failure && (batch.length || batchStart < index)) await launch(batchStart, index, batch);
    await Promise.all(inflight);
    if (failure) throw failure;
    result.durationMs = Math.round(performance.now() - started);
    return result;
  }
}
