/** A small dataset stream as transform hands it to publish (header, rows, trailer), for the sink tests. */
import { createHash } from 'node:crypto';
import type { DatasetEvent } from '../shared/csv/clean.js';
import type { DatasetHeader, Row } from '../shared/dataset/contract.js';

/** id, city, amount, day, active. */
export const SINK_TEST_COLUMNS = [
  { name: 'id', type: 'integer' },
  { name: 'city', type: 'text' },
  { name: 'amount', type: 'decimal' },
  { name: 'day', type: 'date' },
  { name: 'active', type: 'boolean' },
] as const;

export function datasetHeader(key: string): DatasetHeader {
  return {
    type: 'header',
    version: 1,
    source: { kind: 'object', bucket: 'incoming', key, etag: createHash('md5').update(key).digest('hex') },
    dialect: { encoding: 'utf-8', bom: false, delimiter: ',', newline: '\n' },
    schema: { columns: SINK_TEST_COLUMNS.map((c) => ({ name: c.name, sourceName: c.name, type: c.type, nullable: true, origin: 'inferred' as const })) },
    startedAt: new Date().toISOString(),
  };
}

/** The dataset of `rows` under object `key`, in batches of 5,000, nothing rejected. */
export async function* datasetOf(key: string, rows: Row[]): AsyncGenerator<DatasetEvent> {
  yield { kind: 'header', header: datasetHeader(key) };
  for (let i = 0; i < rows.length; i += 5000) yield { kind: 'rows', rows: rows.slice(i, i + 5000) };
  yield { kind: 'trailer', trailer: { type: 'trailer', stats: { rowsIn: rows.length, rowsOut: rows.length, rowsRejected: 0, blankLines: 0, bytesIn: 0, durationMs: 1, columns: {}, rejectReasons: {} }, rejects: [], rejectsTruncated: false } };
}
