/**
 * The pipeline console (local stack, the page on the emulator's port): one row per file with its
 * journey — received → transforming → writing outputs → Power BI → published, partial or failed —
 * and the time of each step, its rows and rejects, what Power BI did, and links to its outputs;
 * then each Power BI table with a chart that fits its data.
 *
 * The journey is read from the store itself: the embedded store reports every write, and each
 * step leaves one (the input object; the run's claim; the cleaned CSV; the Power BI checkpoint;
 * the outcome). Every status shown comes from the lifecycle's records (shared/lifecycle): a new
 * run of a finished file (a reprocess) starts its journey again, a file finished by a sweep after
 * a restart appears when its outcome is recorded, and after a restart the files are rebuilt from
 * the outcomes in the output bucket; the tables from the emulator's rows kept in DATA_DIR.
 */
import type { ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { decide, goQueryEscape, type S3EventNotification } from '../shared/storage/s3-event.js';
import { Lifecycle, recordOfKey, versionId, type Manifest, type OutcomeRecord } from '../shared/lifecycle/index.js';
import { outputNames, type OutputNames } from '../shared/storage/layout.js';
import { PARQUET_CONTENT_TYPE } from '../shared/parquet/writer.js';
import { getJson, type Storage } from '../shared/storage/s3.js';
import type { S3RecordEvent } from './embedded-s3.js';
import type { EmulatorServer } from './powerbi/server.js';
import type { Autoscaler } from './autoscaler.js';

const PAGE = new URL('./console.html', import.meta.url);


/** Counts as the CLI prints them (10,000). */
const num = (n: number) => n.toLocaleString('en-US');
export type Stage = 'received' | 'transforming' | 'writing' | 'powerbi' | 'published' | 'partial' | 'failed' | 'superseded' | 'ignored';
const TERMINAL = new Set<Stage>(['published', 'partial', 'failed', 'superseded', 'ignored']);

export interface FileJourney {
  id: string;
  key: string;
  stage: Stage;
  /** Each step reached, with its time (ms since the epoch). */
  steps: { stage: Stage; at: number }[];
  rowsIn?: number;
  rowsOut?: number;
  rejected?: number;
  rejectReasons?: string[];
  warnings?: string[];
  powerbi?: string;
  /** Power BI refused rows (partial) or the file failed: the reason in words. */
  problem?: string;
  /** Rows a sink refused one by one, with its words. */
  sinkRejects?: string[];
  links: Record<string, string>;
  totalMs?: number;
}

/**
 * A finished file's links: the outputs its manifest recorded (a Parquet-only file has no cleaned
 * CSV). Manifests without `outputs` (earlier releases) had the cleaned CSV and rejects at their names.
 */
function outputLinks(m: Manifest, manifest: string, names: OutputNames): Record<string, string> {
  const recorded = m.outputs
    ? Object.fromEntries(Object.entries(m.outputs).filter((e): e is [string, string] => e[0] !== 'bucket' && !!e[1]))
    : { cleaned: names.cleaned, ...(m.rejects?.count ? { rejects: names.rejects } : {}) };
  return { ...recorded, manifest };
}

/** The content type an output is downloaded with. */
function contentTypeOf(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  return key.endsWith('.parquet') ? PARQUET_CONTENT_TYPE : 'text/csv; charset=utf-8';
}

export interface ConsoleOptions {
  s3: () => Storage;
  inputBucket: string;
  outputBucket: string;
  prefix: string;
  suffixes: string[];
}

export class PipelineConsole {
  readonly files = new Map<string, FileJourney>();
  private readonly byKey = new Map<string, string>();
  private listeners = new Set<ServerResponse>();

  constructor(private readonly opts: ConsoleOptions) {}

  private lifecycle(): Lifecycle {
    return new Lifecycle(this.opts.s3(), this.opts.outputBucket, { claimMs: 30_000, maxAttempts: 20 });
  }

  /** Rebuild the finished files from the outcomes in the output bucket (after a restart). */
  async rebuild(): Promise<void> {
    const lifecycle = this.lifecycle();
    for await (const id of lifecycle.outcomes.ids()) {
      if (this.files.has(id)) continue;
      const c = await lifecycle.outcomes.read(id);
      if (c) await this.finish(this.journey(id, c.key), c, Date.parse(c.finishedAt));
    }
  }

  /** Every write the embedded store reports. */
  onStoreEvent(ev: S3RecordEvent): void {
    void this.handle(ev).catch(() => undefined);
  }

  private journey(id: string, key: string): FileJourney {
    const f: FileJourney = { id, key, stage: 'received', steps: [], links: {} };
    this.files.set(id, f);
    this.byKey.set(key, id);
    return f;
  }

  private async handle(ev: S3RecordEvent): Promise<void> {
    const at = Date.now();
    for (const r of ev.Records) {
      if (!r.eventName.includes('ObjectCreated')) continue;
      const bucket = r.s3.bucket.name;
      if (bucket === this.opts.inputBucket) {
        // The embedded store reports keys as they are; the webhook's rules read MinIO's escaped form.
        const record = { ...r, s3: { ...r.s3, object: { ...r.s3.object, key: goQueryEscape(r.s3.object.key) } } };
        const [d] = decide({ Records: [record] } as unknown as S3EventNotification, { buckets: [this.opts.inputBucket], prefix: this.opts.prefix, suffixes: this.opts.suffixes });
        if (!d) continue;
        if (d.action === 'ignore') {
          const id = `ignored:${d.key}`;
          this.update({ id, key: d.key ?? '', stage: 'ignored', steps: [{ stage: 'received', at }], problem: d.reason, links: {} });
          continue;
        }
        const id = versionId(d.ref);
        if (this.files.has(id)) continue;
        this.byKey.set(d.ref.key, id);
        this.update({ id, key: d.ref.key, stage: 'received', steps: [{ stage: 'received', at }], links: {} });
        continue;
      }
      if (bucket !== this.opts.outputBucket) continue;
      const key = r.s3.object.key;
      const rec = recordOfKey(key);
      if (rec) await this.follow(rec.id, rec.kind, at);
      else if (key.startsWith('cleaned/')) {
        const f = this.files.get(this.byKey.get(key.slice('cleaned/'.length)) ?? '');
        if (f && !TERMINAL.has(f.stage)) this.step(f, 'writing', at);
      }
    }
  }

  /** A lifecycle record was written: the file's journey follows it. */
  private async follow(id: string, kind: 'claim' | 'checkpoint' | 'outcome', at: number): Promise<void> {
    const lifecycle = this.lifecycle();
    let f = this.files.get(id);
    if (kind === 'outcome') {
      const c = await lifecycle.outcomes.read(id);
      if (c) await this.finish(f ?? this.journey(id, c.key), c, at);
      return;
    }
    if (kind === 'checkpoint') {
      if (f && f.stage === 'writing') this.step(f, 'powerbi', at);
      return;
    }
    const now = await lifecycle.status(id);
    if (now.phase !== 'running' || !now.claim) return;
    if (!f) f = this.journey(id, now.claim.key);
    if (TERMINAL.has(f.stage)) {
      // A new run of a finished version (a reprocess): its journey starts again.
      Object.assign(f, { steps: f.steps.filter((s) => s.stage === 'received'), problem: undefined, sinkRejects: undefined });
    }
    this.step(f, 'transforming', at);
  }

  private step(f: FileJourney, stage: Stage, at: number): void {
    if (f.steps.some((s) => s.stage === stage)) return;
    f.steps.push({ stage, at });
    f.stage = stage;
    this.update(f);
  }

  private async finish(f: FileJourney, c: OutcomeRecord, at: number): Promise<void> {
    const s3 = this.opts.s3();
    const names = outputNames(c.key);
    if (c.outcome === 'failed') {
      const rec = await getJson<{ problem: { title: string; detail?: string }; stats?: Manifest['stats']; rejectsObject?: string }>(s3, this.opts.outputBucket, c.failure ?? names.failure);
      f.problem = rec ? `${rec.problem.title}${rec.problem.detail ? `: ${rec.problem.detail}` : ''}` : (c.reason ?? 'failed');
      if (rec?.stats) Object.assign(f, { rowsIn: rec.stats.rowsIn, rowsOut: rec.stats.rowsOut, rejected: rec.stats.rowsRejected });
      f.links = { failure: c.failure ?? names.failure, ...(rec?.rejectsObject ? { rejects: rec.rejectsObject } : {}) };
      return this.step(f, 'failed', at);
    }
    if (c.outcome === 'superseded') return this.step(f, 'superseded', at);
    const m = await getJson<Manifest>(s3, this.opts.outputBucket, c.manifest ?? names.manifest);
    if (m) {
      f.rowsIn = m.stats.rowsIn;
      f.rowsOut = m.stats.rowsOut;
      f.rejected = m.stats.rowsRejected;
      f.rejectReasons = (m.rejects?.first ?? []).slice(0, 3).map((r) => `line ${r.line}: ${r.reason}`);
      f.warnings = m.stats.warnings;
      f.totalMs = m.timings?.totalMs;
      f.powerbi = Object.entries(m.sinks)
        .map(([name, r]) => (r.skipped ? `skipped: ${r.skipped}` : r.reason ? `${name}: refused, ${num(r.rowsNotSent ?? 0)} rows not sent` : `${name}: ${num(r.rowsSent ?? 0)} rows${r.table ? ` → ${r.table}` : ''}${r.rowsRejected ? `, ${num(r.rowsRejected)} refused` : ''}`))
        .join('; ');
      // Rows a sink refused one by one (e.g. a cell too long for Power BI), with its words.
      f.sinkRejects = Object.entries(m.sinks).flatMap(([name, r]) => (r.rejects ?? []).slice(0, 3).map((x) => `${name} refused row ${x.row}: ${x.reason}`));
      f.problem = m.partial;
      f.links = outputLinks(m, c.manifest ?? names.manifest, names);
    }
    this.step(f, c.outcome, at);
  }

  private update(f: FileJourney): void {
    this.files.set(f.id, f);
    const msg = `event: file\ndata: ${JSON.stringify(f)}\n\n`;
    for (const l of this.listeners) l.write(msg);
  }

  private scaling?: Autoscaler;

  /** AUTOSCALE: each function's processes over time and each held request's cold-start wait, live. */
  followScaling(autoscaler: Autoscaler): void {
    this.scaling = autoscaler;
    autoscaler.onEvent((ev) => {
      for (const l of this.listeners) l.write(`event: scale\ndata: ${JSON.stringify(ev)}\n\n`);
    });
  }

  /** Serve the page, the files, the tables, live events and downloads on the emulator's port. */
  attach(em: EmulatorServer): void {
    em.setPage(({ res }) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(readFileSync(PAGE));
    });
    em.router
      .on('GET', '/_console/files', ({ res }) => json(res, [...this.files.values()].sort((a, b) => (b.steps[0]?.at ?? 0) - (a.steps[0]?.at ?? 0))))
      .on('GET', '/_console/tables', ({ res }) => json(res, tablesOf(em)))
      .on('GET', '/_console/scale', ({ res }) => json(res, { functions: this.scaling?.functions() ?? [], timeline: this.scaling?.timeline ?? [] }))
      .on('GET', '/_console/events', ({ req, res }) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        res.write(': console\n\n');
        this.listeners.add(res);
        em.onRows(res);
        req.on('close', () => this.listeners.delete(res));
      })
      .on('GET', '/_console/object', async ({ res, url }) => {
        const key = url.searchParams.get('key') ?? '';
        if (!/^(cleaned|manifests|rejects|failed)\//.test(key)) return json(res, { error: 'only outputs can be downloaded' }, 400);
        try {
          const body = await this.opts.s3().getObject(this.opts.outputBucket, key);
          res.writeHead(200, { 'content-type': contentTypeOf(key), 'content-disposition': `inline; filename="${key.split('/').pop()!.replace(/"/g, '')}"` });
          body.pipe(res);
        } catch {
          json(res, { error: 'not found' }, 404);
        }
      });
  }

  close(): void {
    for (const l of this.listeners) l.end();
  }
}

function json(res: ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

export interface Chart {
  kind: 'line' | 'bars' | 'histogram' | 'none';
  title: string;
  points: { label: string; y: number }[];
}

/** Every Power BI table the emulator holds, with a chart that fits its data. */
export function tablesOf(em: EmulatorServer): { name: string; rowCount: number; columns: string[]; chart: Chart }[] {
  const out: { name: string; rowCount: number; columns: string[]; chart: Chart }[] = [];
  for (const ds of em.state.datasets.values()) {
    const tables = ds.tables.length ? ds.tables : ds.columns ? [{ name: 'RealTimeData', columns: ds.columns }] : [];
    for (const t of tables) {
      const rows = ds.rows.filter((r) => (r.table ?? 'RealTimeData') === t.name || ds.tables.length <= 1).map((r) => r.row);
      out.push({ name: `${ds.name} / ${t.name}`, rowCount: rows.length, columns: t.columns.map((c) => c.name), chart: chartFor(rows, t.columns.map((c) => c.name)) });
    }
  }
  for (const ds of em.rest.datasets.values()) {
    for (const t of ds.tables.values()) out.push({ name: `${ds.name} / ${t.name}`, rowCount: t.rows.length, columns: t.columns.map((c) => c.name), chart: chartFor(t.rows, t.columns.map((c) => c.name)) });
  }
  return out;
}

const ISO_DAY = /^(\d{4}-\d{2}-\d{2})/;

/**
 * A line over time when a date column exists (rows per day, or the sum of the first numeric
 * column per day); bars for a text column of few values; otherwise a histogram of the first
 * numeric column.
 */
export function chartFor(rows: Record<string, unknown>[], columns: string[]): Chart {
  if (!rows.length) return { kind: 'none', title: 'no rows yet', points: [] };
  const sample = rows.slice(0, 200);
  const isNum = (c: string) => sample.every((r) => r[c] === null || typeof r[c] === 'number') && sample.some((r) => typeof r[c] === 'number');
  const isDate = (c: string) => sample.every((r) => r[c] === null || (typeof r[c] === 'string' && ISO_DAY.test(r[c] as string))) && sample.some((r) => typeof r[c] === 'string');
  const dateCol = columns.find(isDate);
  const numCols = columns.filter(isNum).filter((c) => !/^(id|c[oó]digo|code)$/i.test(c));
  if (dateCol) {
    const byDay = new Map<string, number>();
    const measure = numCols[0];
    for (const r of rows) {
      const day = typeof r[dateCol] === 'string' ? (r[dateCol] as string).slice(0, 10) : undefined;
      if (!day) continue;
      byDay.set(day, (byDay.get(day) ?? 0) + (measure ? Number(r[measure] ?? 0) : 1));
    }
    const points = [...byDay.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([label, y]) => ({ label, y: Math.round(y * 100) / 100 }));
    return { kind: 'line', title: measure ? `${measure} per day (${dateCol})` : `rows per day (${dateCol})`, points };
  }
  const textCol = columns.find((c) => !isNum(c) && new Set(rows.slice(0, 5000).map((r) => r[c])).size <= 12);
  if (textCol) {
    const counts = new Map<string, number>();
    for (const r of rows) counts.set(String(r[textCol] ?? '(empty)'), (counts.get(String(r[textCol] ?? '(empty)')) ?? 0) + 1);
    return { kind: 'bars', title: `rows by ${textCol}`, points: [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([label, y]) => ({ label, y })) };
  }
  const measure = numCols[0] ?? columns.find(isNum);
  if (!measure) return { kind: 'none', title: 'no numeric, date or low-cardinality column', points: [] };
  const values = rows.map((r) => r[measure]).filter((v): v is number => typeof v === 'number');
  const min = Math.min(...values);
  const max = Math.max(...values);
  const bins = 12;
  const width = (max - min) / bins || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v - min) / width))]++;
  return { kind: 'histogram', title: `distribution of ${measure}`, points: counts.map((y, i) => ({ label: `${+(min + i * width).toFixed(2)}`, y })) };
}
