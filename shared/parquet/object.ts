/**
 * Parquet in an object store: a dataset's rows written into an object as row groups fill
 * (multipart upload of 5 MiB parts, one in flight), and read back, a row group at a time, by range reads.
 */
import { parquetMetadataAsync, parquetRead, type AsyncBuffer } from 'hyparquet';
import type { Cell, Column, Row } from '../dataset/contract.js';
import { MIN_PART_SIZE, ObjectWriter } from '../storage/object-writer.js';
import type { Storage } from '../storage/s3.js';
import { PARQUET_CONTENT_TYPE, ParquetFileWriter, type ParquetOptions } from './writer.js';

export interface ParquetObject {
  readonly key: string;
  writeRows(rows: readonly Row[]): Promise<void>;
  end(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * A Parquet object written as its rows arrive; nothing is created until `end()` (or parts abort
 * cleanly). Its parts are S3's smallest, 5 MiB, whatever S3_PART_SIZE_MB says: two part buffers
 * are in memory (the one filling, the one in flight), beside the row group being encoded. At
 * 10,000 parts that still allows a 48 GiB file.
 */
export function parquetObject(s3: Storage, bucket: string, key: string, columns: readonly Column[], opts?: ParquetOptions): ParquetObject {
  const object = new ObjectWriter(s3, bucket, key, PARQUET_CONTENT_TYPE, MIN_PART_SIZE);
  const file = new ParquetFileWriter(columns, (bytes) => object.writeBytes(bytes), opts);
  return {
    key,
    writeRows: (rows) => file.writeRows(rows),
    end: async () => {
      await file.end();
      await object.end();
    },
    abort: () => object.abort(),
  };
}

/** An object as hyparquet's random-access file: each slice one ranged GET. */
async function objectFile(s3: Storage, bucket: string, key: string): Promise<AsyncBuffer> {
  const { size } = await s3.statObject(bucket, key);
  return {
    byteLength: size,
    async slice(start, end = size) {
      const parts: Buffer[] = [];
      for await (const b of await s3.getPartialObject(bucket, key, start, end - start)) parts.push(b as Buffer);
      const all = Buffer.concat(parts);
      return all.buffer.slice(all.byteOffset, all.byteOffset + all.length) as ArrayBuffer;
    },
  };
}

/** A value as hyparquet reads it → the dataset's cell for the column's type. */
function cellOf(v: unknown, type: Column['type']): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return type === 'date' ? v.toISOString().slice(0, 10) : v.toISOString();
  return v as Cell;
}

/** The rows of a Parquet object written by `parquetObject`, one row group a batch (memory: one group). */
export async function* readParquetRows(s3: Storage, bucket: string, key: string, columns: readonly Column[]): AsyncGenerator<Row[]> {
  const file = await objectFile(s3, bucket, key);
  const metadata = await parquetMetadataAsync(file);
  const types = columns.map((c) => c.type);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: unknown[][] = [];
    await parquetRead({ file, metadata, rowStart, rowEnd, rowFormat: 'array', onComplete: (r: unknown[][]) => void (rows = r) });
    yield rows.map((r) => r.map((v, i) => cellOf(v, types[i])));
    rowStart = rowEnd;
  }
}
