/**
 * Power BI through the REST push API with a service principal:
 * `POST /v1.0/myorg/groups/{group}/datasets/{id}/tables/{table}/rows` with `{"rows":[…]}`.
 * Built from parts: the encoding (column mapping and coercion), the documented limits, the
 * batching driver and the Power BI service with the project's retry policy. With sequence
 * numbers on (`X-PowerBI-PushData-SequenceNumber`, undocumented), requests go one at a time in
 * order and a batch the service stored but whose answer was lost is not stored twice on retry.
 */
import { createHash } from 'node:crypto';
import type { Column, DatasetHeader } from '../../../dataset/contract.js';
import type { Logger } from '../../../runtime/log.js';
import { Problem } from '../../../runtime/problem.js';
import { deliverInBatches, type SinkRun } from '../../delivery.js';
import { keyOf, longestPrefix } from '../../routes.js';
import type { RowSink, SinkDelivery, SinkResult } from '../../sink.js';
import type { EntraTokenProvider } from '../entra-token.js';
import { powerbiProblems } from '../problems.js';
import { PowerBiService } from '../service.js';
import type { RestRoute } from '../config.js';
import { encodeRow, mapColumns, pbiType, type TargetType } from './encode.js';
import { DatasetLimits, REST_LIMITS } from './limits.js';
import type { PortableLimiter } from '../../shared-budget.js';
import type { Ask, Slot } from '../../rate-limiter.js';

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
  /** A table column that receives the source object's version (etag, or versionId when versioned). */
  versionColumn?: string;
  maxRowsPerFile: number;
  bigTable: boolean;
  timeoutMs: number;
  maxRetries: number;
  log: Logger;
  /** Each dataset's limits shared with the other publish replicas (its windows travel with the dataset's turn). */
  budget?: (target: string, limits: PortableLimiter<number>) => { acquire(ask?: Ask<number>): Promise<Slot> };
  /** Key prefix → dataset and/or table (longest prefix wins). */
  routes?: Record<string, RestRoute>;
  /** Where the datasets created per schema are remembered (the output bucket's state). */
  memory?: SchemaMemory;
}

/** What a refusal to create a push dataset says: the way forward is the Eventstream sink. */
const SUCCESSOR = 'The successor is the Eventstream sink: set EVENTSTREAM_CONNECTION_STRING to a Fabric Eventstream custom endpoint and route it to an Eventhouse (docs/eventstream.md). Every row is in the cleaned CSV.';
export const DEPRECATION_ADVICE = `FeatureDeprecatedError: Power BI no longer creates new real-time semantic models (push and streaming; creation ends 31 Oct 2027). Existing datasets keep working: set POWERBI_DATASET_ID to one. ${SUCCESSOR}`;

/** A push dataset the pipeline created for one schema: its id, table and columns. */
export interface CreatedDataset {
  datasetId: string;
  name: string;
  table: string;
  columns: { name: string; dataType: TargetType }[];
}

export interface SchemaMemory {
  load(schemaId: string): Promise<CreatedDataset | undefined>;
  /**
   * The dataset another replica created (or is creating: wait for it), or 'mine' when this one
   * must create it: one creator per schema across replicas.
   */
  reserve?(schemaId: string, signal?: AbortSignal): Promise<CreatedDataset | 'mine'>;
  save(schemaId: string, dataset: CreatedDataset): Promise<void>;
}

/** Where one file's rows go: the dataset, the table, and the columns when the pipeline knows them. */
interface Target {
  datasetId: string;
  table: string;
  known?: CreatedDataset['columns'];
}

const TYPE_NAMES: Record<string, TargetType> = { int64: 'Int64', double: 'Double', decimal: 'Decimal', boolean: 'Boolean', bool: 'Boolean', datetime: 'DateTime', string: 'String' };

export class PowerBiRestSink implements RowSink {
  readonly name = 'powerbi-rest';
  readonly title = 'Power BI';
  private readonly service: PowerBiService;
  /** Each dataset's limits (shared with the other replicas when a budget is given). */
  private readonly limits = new Map<string, { acquire(ask?: Ask<number>): Promise<Slot> }>();

  constructor(private readonly opts: RestOptions) {
    this.service = new PowerBiService({
      sink: this.name,
      describe: `workspace ${opts.groupId}`,
      timeoutMs: opts.timeoutMs,
      policy: { maxRetries: opts.maxRetries, baseMs: 250, maxMs: 10_000 },
      log: opts.log,
      tokens: opts.tokens,
      beforeAttempt: (req, signal) => this.slotFor(req.url, req.rows, req.rank, signal),
    });
  }

  /** A row push waits for its dataset's limits (pending, per minute, per hour, rows per hour); other calls do not count. */
  private slotFor(url: string, rows: number | undefined, rank: number | undefined, signal?: AbortSignal): Promise<Slot> {
    const dataset = /\/datasets\/([^/]+)\//.exec(url)?.[1];
    if (!rows || !dataset) return Promise.resolve({ waited: 0, done: () => undefined });
    let limits = this.limits.get(dataset);
    if (!limits) {
      const local = new DatasetLimits(this.opts.bigTable);
      limits = this.opts.budget ? this.opts.budget(`rest:${this.opts.apiUrl}:${dataset}`, local) : local;
      this.limits.set(dataset, limits);
    }
    return limits.acquire({ cost: rows, rank, signal });
  }

  private groupUrl() {
    return `${this.opts.apiUrl.replace(/\/$/, '')}/v1.0/myorg/groups/${encodeURIComponent(this.opts.groupId)}`;
  }

  private datasetUrl(datasetId: string) {
    return `${this.groupUrl()}/datasets/${encodeURIComponent(datasetId)}`;
  }

  /** The credentials and, with a fixed dataset, the dataset answer (Get Tables). */
  async healthcheck(signal?: AbortSignal): Promise<void> {
    if (this.opts.datasetId) await this.service.send({ method: 'GET', url: `${this.datasetUrl(this.opts.datasetId)}/tables` }, undefined, signal);
    else await this.opts.tokens.get();
  }

  /** The route of a file: the longest POWERBI_ROUTES prefix of its key, else the defaults. */
  private route(header: DatasetHeader): RestRoute {
    return longestPrefix(this.opts.routes ?? {}, keyOf(header), (r) => !!(r.datasetId || r.table)) ?? {};
  }

  /**
   * Where a file's rows go. A fixed dataset (its route's, or POWERBI_DATASET_ID) takes every file
   * of its route. Otherwise, with POWERBI_CREATE_DATASET, each distinct schema (column names and
   * types as sent) has its own push dataset, created on first use and remembered with its columns.
   */
  private async target(header: DatasetHeader, signal?: AbortSignal): Promise<Target> {
    const route = this.route(header);
    const table = route.table ?? this.opts.table;
    const fixed = route.datasetId ?? this.opts.datasetId;
    if (fixed) return { datasetId: fixed, table };
    const create = this.opts.createDataset;
    if (!create) throw powerbiProblems.noDataset('set POWERBI_DATASET_ID, a datasetId in POWERBI_ROUTES, or POWERBI_CREATE_DATASET=true', { setting: 'POWERBI_DATASET_ID' });
    const columns = [...header.schema.columns.map((c) => ({ name: this.opts.columnMap[c.name] ?? c.name, dataType: pbiType(c.type) })), ...(this.opts.versionColumn ? [{ name: this.opts.versionColumn, dataType: 'String' as const }] : [])];
    const schemaId = createHash('sha256').update(JSON.stringify([table, columns])).digest('hex').slice(0, 16);
    let pending = this.creating.get(schemaId);
    if (!pending) {
      pending = this.createFor(schemaId, header, table, columns, create, signal);
      this.creating.set(schemaId, pending);
      pending.catch(() => this.creating.delete(schemaId));
    }
    const ds = await pending;
    return { datasetId: ds.datasetId, table: ds.table, known: ds.columns };
  }

  private readonly creating = new Map<string, Promise<CreatedDataset>>();

  private async createFor(schemaId: string, header: DatasetHeader, table: string, columns: CreatedDataset['columns'], create: NonNullable<RestOptions['createDataset']>, signal?: AbortSignal): Promise<CreatedDataset> {
    const remembered = (await this.opts.memory?.reserve?.(schemaId, signal)) ?? (await this.opts.memory?.load(schemaId));
    if (remembered && remembered !== 'mine') return remembered;
    const key = header.source.kind === 'object' ? header.source.key : '';
    const folder = key.includes('/') ? key.slice(0, key.indexOf('/')).replace(/[^\p{L}\p{N}_-]/gu, '_').slice(0, 40) : '';
    const name = [create.name, folder, schemaId.slice(0, 8)].filter(Boolean).join('-');
    const body = JSON.stringify({ name, defaultMode: 'Push', tables: [{ name: table, columns }] });
    try {
      const res = await this.service.send({ method: 'POST', url: `${this.groupUrl()}/datasets?defaultRetentionPolicy=${create.retention}`, body }, undefined, signal);
      const ds: CreatedDataset = { datasetId: (JSON.parse(res.text) as { id: string }).id, name, table, columns };
      await this.opts.memory?.save(schemaId, ds);
      this.opts.log.info('powerbi dataset created', { sink: this.name, datasetId: ds.datasetId, name, retention: create.retention, columns: columns.length });
      return ds;
    } catch (err) {
      // Any refusal to create it (FeatureDeprecatedError above all) ends the file partial and names the successor.
      if (err instanceof Problem && !err.retryable) {
        throw powerbiProblems.creationRefused(String(err.detail).includes('FeatureDeprecatedError') ? DEPRECATION_ADVICE : `${err.detail}. ${SUCCESSOR}`, { sink: this.name });
      }
      throw err;
    }
  }

  /**
   * The target table's columns by name and type. Get Tables may list names only (field reports:
   * microsoft/powerbi-powershell#397): then the columns the pipeline created the table with, or,
   * for a table made elsewhere, the file's own columns by name (Power BI refuses a column the
   * table lacks with a 400, and the file ends partial, in words).
   */
  private async targetColumns(target: Target, cols: Column[], signal?: AbortSignal): Promise<{ columns: Map<string, TargetType>; from: 'get-tables' | 'created' | 'file' }> {
    const res = await this.service.send({ method: 'GET', url: `${this.datasetUrl(target.datasetId)}/tables` }, undefined, signal);
    const tables = (JSON.parse(res.text) as { value: { name: string; columns?: { name: string; dataType: string }[] }[] }).value;
    const table = tables.find((t) => t.name === target.table);
    if (!table) throw powerbiProblems.tableMissing(`dataset ${target.datasetId} has no table '${target.table}' (names are case-sensitive; set POWERBI_TABLE or a table in POWERBI_ROUTES)`, { sink: this.name, setting: 'POWERBI_TABLE' });
    if (table.columns?.length) return { columns: new Map(table.columns.map((c) => [c.name, TYPE_NAMES[c.dataType.toLowerCase()] ?? 'String'])), from: 'get-tables' };
    if (target.known) return { columns: new Map(target.known.map((c) => [c.name, c.dataType])), from: 'created' };
    const own = cols.map((c) => [this.opts.columnMap[c.name] ?? c.name, pbiType(c.type)] as [string, TargetType]);
    if (this.opts.versionColumn) own.push([this.opts.versionColumn, 'String']);
    return { columns: new Map(own), from: 'file' };
  }

  /**
   * With sequence numbers the service keeps, per table, the highest number it has seen and drops
   * anything at or below it: numbers must only grow, so one file at a time writes the table
   * (files queue here; publish runs as one replica), each from a base above everything sent before.
   */
  private tableTurn: Promise<unknown> = Promise.resolve();
  private lastSequence = 0;

  deliver(d: SinkDelivery): Promise<SinkResult> {
    const run = () => deliverInBatches({ name: this.name, title: this.title, maxRowsPerFile: this.opts.maxRowsPerFile, prepare: () => this.run(d) }, d);
    if (!this.opts.sequenceNumbers) return run();
    const turn = this.tableTurn.then(run, run);
    this.tableTurn = turn.catch(() => undefined);
    return turn;
  }

  private async run(d: SinkDelivery): Promise<SinkRun> {
    const cols = d.header.schema.columns;
    const where = await this.target(d.header, d.signal);
    const datasetId = where.datasetId;
    const { columns: target, from: columnsFrom } = await this.targetColumns(where, cols, d.signal);
    const mapped = mapColumns(cols, target, this.opts.columnMap);
    if (!mapped.some(Boolean)) {
      throw powerbiProblems.noMatchingColumn(`table '${where.table}' of dataset ${datasetId} has ${[...target.keys()].join(', ')}; the file has ${cols.map((c) => c.name).join(', ')} (route it elsewhere with POWERBI_ROUTES, map columns with POWERBI_COLUMN_MAP, or let POWERBI_CREATE_DATASET give each schema its own dataset)`, { sink: this.name });
    }
    const url = `${this.datasetUrl(datasetId)}/tables/${encodeURIComponent(where.table)}/rows`;
    // Each row can carry its source version, so a report can keep only the newest version's rows.
    const src = d.header.source;
    const vc = this.opts.versionColumn;
    const version = vc && target.has(vc) && src.kind === 'object' ? { [vc]: src.versionId ?? src.etag ?? '' } : undefined;
    // A resumed file keeps its base, so a batch the service stored before the run died is resent
    // with the same number and dropped. A new file starts above everything this process sent and
    // above the clock (in µs), so numbers only grow. If other files wrote the table since the
    // resumed file's checkpoint, its old numbers would be dropped as old: it takes a new base, and
    // the rows an earlier attempt had sent count as possible duplicates (the driver counts them).
    const fresh = () => Math.max(Date.now() * 1000, this.lastSequence + 1);
    let sequenceBase = d.sequenceBase ?? fresh();
    let rebased = false;
    if (this.opts.sequenceNumbers && d.sequenceBase !== undefined && d.sequenceBase + d.startAt <= this.lastSequence) {
      sequenceBase = fresh() - d.startAt;
      rebased = true;
    }
    // The sequence base is checkpointed before the first request: a run that dies after the
    // service stored a batch but before its checkpoint resends it with the same number.
    if (this.opts.sequenceNumbers && sequenceBase !== d.sequenceBase) await d.onAck(d.startAt, { sequenceBase });
    return {
      encode: (row) => encodeRow(mapped, row, version),
      send: async (batch, stats, signal) => {
        const sequence = sequenceBase + batch.start;
        this.lastSequence = Math.max(this.lastSequence, sequenceBase + batch.end);
        const headers: Record<string, string> = this.opts.sequenceNumbers ? { 'X-PowerBI-PushData-SequenceNumber': String(sequence) } : {};
        await this.service.send({ method: 'POST', url, body: '{"rows":[' + batch.rows.join(',') + ']}', headers, rows: batch.rows.length }, stats, signal);
      },
      // One request at a time: a lost answer or a crash can then duplicate at most that one
      // request (counted). The hourly row cap, not concurrency, bounds throughput.
      limits: { maxRows: REST_LIMITS.rowsPerRequest, maxBytes: REST_LIMITS.bytesPerRequest, wrapperBytes: 11, inFlight: 1 },
      resendsMayDuplicate: !this.opts.sequenceNumbers || rebased,
      checkpointExtra: { sequenceBase },
      extra: { unmappedColumns: cols.filter((_, i) => !mapped[i]).map((c) => c.name), datasetId, table: where.table, columnsFrom },
    };
  }
}
