/**
 * Ad-hoc answers that are files (clean CSV, Parquet): spooled whole before they start, so the
 * answer can begin with what the rows cannot say (the counts, the first reject reasons, the
 * typing warnings) or be the problem if the file failed, never a cut file with a 200. And the
 * NDJSON dataset, spooled behind half-duplex proxies only (its trailer says how the file ended).
 */
import { Readable } from 'node:stream';
import type { DatasetEvent, EncodedCsvRows, EncodedRows } from '../../shared/csv/clean.js';
import { NDJSON, type DatasetHeader, type DatasetTrailer, type Row } from '../../shared/dataset/contract.js';
import { encodeNdjson } from '../../shared/dataset/ndjson.js';
import { csvLine } from '../../shared/csv/writer.js';
import { PARQUET_CONTENT_TYPE, parquetChunks } from '../../shared/parquet/writer.js';
import type { FunctionResult } from '../../shared/runtime/server.js';
import { PROBLEM_CONTENT_TYPE } from '../../shared/runtime/problem.js';
import { answerFrom, spoolToFile } from '../../shared/runtime/spool.js';

/** The headers that sum a file up beside its bytes (non-ASCII escaped: header values are Latin-1). */
export function summaryHeaders(contentType: string, trailer: DatasetTrailer | undefined): Record<string, string> {
  const stats = trailer?.stats;
  const ascii = (v: unknown) => JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return {
    'content-type': contentType,
    'x-rows': String(stats?.rowsOut ?? 0),
    'x-rejected-rows': String(stats?.rowsRejected ?? 0),
    ...(trailer?.rejects.length ? { 'x-reject-reasons': ascii(trailer.rejects.slice(0, 3).map((r) => `line ${r.line}: ${r.reason}`)) } : {}),
    ...(stats?.warnings?.length ? { 'x-typing-warnings': ascii(stats.warnings) } : {}),
  };
}

/** A file's bytes, spooled (at most `limit`), answered with its summary, or the file's problem. */
export async function spooledAnswer(bytes: AsyncIterable<string | Buffer>, contentType: string, trailer: () => DatasetTrailer | undefined, limit: number): Promise<FunctionResult> {
  const out = await spoolToFile(bytes, limit);
  const t = trailer();
  if (t?.error) {
    await out.remove();
    return { status: t.error.status, headers: { 'content-type': PROBLEM_CONTENT_TYPE }, json: { ...t.error, stats: t.stats } };
  }
  return { status: 200, headers: summaryHeaders(contentType, t), body: answerFrom(out) };
}

/** `Accept: application/vnd.apache.parquet`: the typed rows as one Parquet file. */
export function parquetAnswer(header: DatasetHeader, stream: AsyncIterable<DatasetEvent>, limit: number): Promise<FunctionResult> {
  let trailer: DatasetTrailer | undefined;
  async function* rows(): AsyncGenerator<Row[]> {
    for await (const e of stream) {
      if (e.kind === 'rows') yield e.rows;
      else if (e.kind === 'trailer') trailer = e.trailer;
    }
  }
  return spooledAnswer(parquetChunks(header.schema.columns, rows()), PARQUET_CONTENT_TYPE, () => trailer, limit);
}

/**
 * `Accept: text/csv`: the header line, then the rows as clean CSV (written from their bytes,
 * `encoded-csv`; rows typed by the string path, if any, by csvLine), streamed as it is made, or
 * spooled whole first (at most `limit` bytes) so that it can start with what the rows cannot say
 * (the counts, the first reject reasons, the typing warnings), or be the problem if the file failed.
 */
export function csvAnswer(header: DatasetHeader, stream: AsyncIterable<DatasetEvent | EncodedCsvRows>, escapeFormulas: boolean, spool: { limit: number } | undefined): Promise<FunctionResult> | FunctionResult {
  const names = header.schema.columns.map((c) => c.name);
  let trailer: DatasetTrailer | undefined;
  async function* csv(): AsyncGenerator<string | Buffer> {
    yield csvLine(names, false);
    for await (const e of stream) {
      if (e.kind === 'encoded-csv') yield e.csv;
      else if (e.kind === 'rows') {
        let t = '';
        for (const r of e.rows) t += csvLine(r, escapeFormulas);
        yield t;
      } else if (e.kind === 'trailer') trailer = e.trailer;
    }
  }
  const contentType = 'text/csv; charset=utf-8';
  if (!spool) return { status: 200, headers: { 'content-type': contentType }, body: Readable.from(csv()) };
  return spooledAnswer(csv(), contentType, () => trailer, spool.limit);
}

/**
 * The dataset as NDJSON, a 200 whatever its trailer says (a file that fails ends with its
 * problem in the trailer line): streamed as it is made, or spooled whole first (at most `limit`
 * bytes) when the answer must wait for the request body to end.
 */
export async function ndjsonAnswer(events: AsyncIterable<DatasetEvent | EncodedRows>, spool: { limit: number } | undefined): Promise<FunctionResult> {
  const headers = { 'content-type': NDJSON };
  if (!spool) return { status: 200, headers, body: Readable.from(encodeNdjson(events)) };
  return { status: 200, headers, body: answerFrom(await spoolToFile(encodeNdjson(events), spool.limit)) };
}
