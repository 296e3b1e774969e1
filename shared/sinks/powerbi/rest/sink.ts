/**
 * Power BI through the REST push API with a service principal:
 * `POST /v1.0/myorg/groups/{group}/datasets/{id}/tables/{table}/rows` with `{"rows":[…]}`.
 * Built from parts: the encoding (column mapping and coercion), the documented limits, the
 * batching driver and the Power BI service with the project's retry policy. With sequence
 * numbers on (`X-PowerBI-PushData-SequenceNumber`, undocumented), requests go one at a time in
 * order and a batch the service stored but whose answer was lost is not stored twice on retry.
 */
import type { Column } from '../../../dataset/contract.js';
import type { Logger } from '../../../runtime/log.js';
import { Problem } from '../../../runtime/problem.js';
import { deliverInBatches, type SinkRun } from '../../delivery.js';
import type { RowSink, SinkDelivery, SinkResult } from '../../sink.js';
import type { EntraTokenProvider } from '../entra-token.js';
import { powerbiProblems } from '../problems.js';
import { PowerBiService } from '../service.js';
import { encodeRow, mapColumns, pbiType, type TargetType } from './encode.js';
import { HourlyRowBudget, REST_LIMITS, requestLimiters } from './limits.js';

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
  /** Where the created dataset id is remembered (the output bucket's state). */
  rememberDataset?: (id: string) => Promise<void>;
  loadDataset?: () => Promise<string | undefined>;
}

const TYPE_NAMES: Record<string, TargetType> = { int64: 'Int64', double: 'Double', decimal: 'Decimal', boolean: 'Boolean', bool: 'Boolean', datetime: 'DateTime', string: 'String' };

export class PowerBiRestSink implements RowSink {
  readonly name = 'powerbi-rest';
  private readonly service: PowerBiService;
  private readonly hourly = new HourlyRowBudget();

  constructor(private readonly opts: RestOptions) {
    this.service = new PowerBiService({
      sink: this.name,
      describe: `workspace ${opts.groupId}`,
      timeoutMs: opts.timeoutMs,
      policy: { maxRetries: opts.maxRetries, baseMs: 250, maxMs: 10_000 },
      log: opts.log,
      tokens: opts.tokens,
      beforeAttempt: requestLimiters(opts.bigTable),
    });
  }

  private groupUrl() {
    return `${this.opts.apiUrl.replace(/\/$/, '')}/v1.0/myorg/groups/${encodeURIComponent(this.opts.groupId)}`;
  }

  private datasetUrl(datasetId: string) {
    return `${this.groupUrl()}/datasets/${encodeURIComponent(datasetId)}`;
  }

  /** Get Tables on the configured dataset: the credentials, the workspace and the dataset answer. */
  async healthcheck(signal?: AbortSignal): Promise<void> {
    const id = this.opts.datasetId ?? (await this.opts.loadDataset?.());
    if (id) await this.service.send({ method: 'GET', url: `${this.datasetUrl(id)}/tables` }, undefined, signal);
  }

  private async ensureDataset(columns: Column[], signal?: AbortSignal): Promise<string> {
    if (this.opts.datasetId) return this.opts.datasetId;
    const remembered = await this.opts.loadDataset?.();
    if (remembered) return (this.opts.datasetId = remembered);
    const create = this.opts.createDataset;
    if (!create) throw powerbiProblems.noDataset('set POWERBI_DATASET_ID, or POWERBI_CREATE_DATASET=true', { setting: 'POWERBI_DATASET_ID' });
    const body = JSON.stringify({
      name: create.name,
      defaultMode: 'Push',
      tables: [{ name: this.opts.table, columns: [...columns.map((c) => ({ name: this.opts.columnMap[c.name] ?? c.name, dataType: pbiType(c.type) })), ...(this.opts.versionColumn ? [{ name: this.opts.versionColumn, dataType: 'String' }] : [])] }],
    });
    try {
      const res = await this.service.send({ method: 'POST', url: `${this.groupUrl()}/datasets?defaultRetentionPolicy=${create.retention}`, body }, undefined, signal);
      const id = (JSON.parse(res.text) as { id: string }).id;
      this.opts.datasetId = id;
      await this.opts.rememberDataset?.(id);
      this.opts.log.info('powerbi dataset created', { sink: this.name, datasetId: id, retention: create.retention });
      return id;
    } catch (err) {
      if (err instanceof Problem && String(err.detail).includes('FeatureDeprecatedError')) {
        throw powerbiProblems.creationRefused('FeatureDeprecatedError: new real-time semantic models can no longer be created (retired 31 Oct 2027); create it in an existing workspace before then, or move to Fabric Eventstream', { sink: this.name });
      }
      throw err;
    }
  }

  /** The target table's columns by name and type (Get Tables). */
  private async targetColumns(datasetId: string, signal?: AbortSignal): Promise<Map<string, TargetType>> {
    const res = await this.service.send({ method: 'GET', url: `${this.datasetUrl(datasetId)}/tables` }, undefined, signal);
    const tables = (JSON.parse(res.text) as { value: { name: string; columns?: { name: string; dataType: string }[] }[] }).value;
    const table = tables.find((t) => t.name === this.opts.table);
    if (!table) throw powerbiProblems.tableMissing(`dataset has no table '${this.opts.table}' (names are case-sensitive; set POWERBI_TABLE)`, { sink: this.name, setting: 'POWERBI_TABLE' });
    return new Map((table.columns ?? []).map((c) => [c.name, TYPE_NAMES[c.dataType.toLowerCase()] ?? 'String']));
  }

  /**
   * With sequence numbers the service keeps, per table, the highest number it has seen and drops
   * anything at or below it: numbers must only grow, so one file at a time writes the table
   * (files queue here; publish runs as one replica), each from a base above everything sent before.
   */
  private tableTurn: Promise<unknown> = Promise.resolve();
  private lastSequence = 0;

  deliver(d: SinkDelivery): Promise<SinkResult> {
    const run = () => deliverInBatches({ name: this.name, maxRowsPerFile: this.opts.maxRowsPerFile, prepare: () => this.run(d) }, d);
    if (!this.opts.sequenceNumbers) return run();
    const turn = this.tableTurn.then(run, run);
    this.tableTurn = turn.catch(() => undefined);
    return turn;
  }

  private async run(d: SinkDelivery): Promise<SinkRun> {
    const cols = d.header.schema.columns;
    const datasetId = await this.ensureDataset(cols, d.signal);
    const target = await this.targetColumns(datasetId, d.signal);
    const mapped = mapColumns(cols, target, this.opts.columnMap);
    if (!mapped.some(Boolean)) {
      throw powerbiProblems.noMatchingColumn(`table '${this.opts.table}' has ${[...target.keys()].join(', ')}; the file has ${cols.map((c) => c.name).join(', ')} (set POWERBI_COLUMN_MAP)`, { sink: this.name });
    }
    const url = `${this.datasetUrl(datasetId)}/tables/${encodeURIComponent(this.opts.table)}/rows`;
    // Each row can carry its source version, so a report can keep only the newest version's rows.
    const src = d.header.source;
    const vc = this.opts.versionColumn;
    const version = vc && target.has(vc) && src.kind === 'object' ? { [vc]: src.versionId ?? src.etag ?? '' } : undefined;
    // A resumed file keeps its base, so a batch the service stored before the run died is resent
    // with the same number and dropped. A new file starts above everything this process sent and
    // above the clock (in µs), so numbers only grow. If other files wrote the table since the
    // resumed file's checkpoint, its old numbers would be dropped as old: it takes a new base, and
    // the one batch that may have been stored unacknowledged is counted as possible duplicates.
    const fresh = () => Math.max(Date.now() * 1000, this.lastSequence + 1);
    let sequenceBase = d.sequenceBase ?? fresh();
    let uncertainRows = false;
    if (this.opts.sequenceNumbers && d.sequenceBase !== undefined && d.sequenceBase + d.startAt <= this.lastSequence) {
      sequenceBase = fresh() - d.startAt;
      uncertainRows = true;
    }
    // The sequence base is checkpointed before the first request: a run that dies after the
    // service stored a batch but before its checkpoint resends it with the same number.
    if (this.opts.sequenceNumbers && sequenceBase !== d.sequenceBase) await d.onAck(d.startAt, { sequenceBase });
    return {
      encode: (row) => encodeRow(mapped, row, version),
      send: async (batch, stats, signal) => {
        stats.throttledMs += await this.hourly.take(datasetId, batch.rows.length, signal);
        const sequence = sequenceBase + batch.start;
        if (uncertainRows) {
          stats.possibleDuplicates = (stats.possibleDuplicates ?? 0) + batch.rows.length;
          uncertainRows = false;
        }
        this.lastSequence = Math.max(this.lastSequence, sequenceBase + batch.end);
        const headers: Record<string, string> = this.opts.sequenceNumbers ? { 'X-PowerBI-PushData-SequenceNumber': String(sequence) } : {};
        await this.service.send({ method: 'POST', url, body: '{"rows":[' + batch.rows.join(',') + ']}', headers, rows: batch.rows.length }, stats, signal);
      },
      limits: { maxRows: REST_LIMITS.rowsPerRequest, maxBytes: REST_LIMITS.bytesPerRequest, wrapperBytes: 11, inFlight: this.opts.sequenceNumbers ? 1 : REST_LIMITS.inFlight },
      checkpointExtra: { sequenceBase },
      extra: { unmappedColumns: cols.filter((_, i) => !mapped[i]).map((c) => c.name), datasetId },
    };
  }
}
