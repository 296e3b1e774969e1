/**
 * Eventstream encoding: one cleaned row is one event whose body is a JSON object keyed by the
 * dataset's column names, each value as the file typed it (numbers, booleans, text, dates as
 * yyyy-mm-dd, null). An Eventhouse table maps these names to its columns (docs/eventstream.md).
 */
import type { Column, Row } from '../../dataset/contract.js';

/** A row encoder for these columns: the `"name":` parts are built once per file. */
export function rowEncoder(columns: Column[]): (row: Row) => string {
  const names = columns.map((c, i) => (i ? ',' : '{') + JSON.stringify(c.name) + ':');
  return (row) => {
    let out = '';
    for (let i = 0; i < names.length; i++) out += names[i] + JSON.stringify(row[i] ?? null);
    return names.length ? out + '}' : '{}';
  };
}

/** What travels beside each body so that a consumer can de-duplicate: the object, its version, the row. */
export interface EventProperties {
  objectKey: string;
  version: string;
  /** The row's number in the dataset, from 1. */
  row: number;
}

/**
 * Bytes an event costs in a batch beyond its body, at most: the AMQP framing of the message
 * (header, annotations, content type, data section: under 100 bytes) and its properties.
 */
export function eventOverheadBytes(objectKey: string, version: string): number {
  return 160 + Buffer.byteLength(objectKey) + Buffer.byteLength(version);
}
