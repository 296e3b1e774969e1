/**
 * Typed rows into a Parquet file, written as they arrive: rows are gathered into columns, each
 * row group is encoded (hyparquet-writer: pure JS, snappy, dictionaries, statistics) and handed
 * to `sink` as bytes before the next one fills, and the footer follows at the end. Memory holds
 * one row group, bounded in cells and text, and the footer's bytes (shared/parquet/footer.ts:
 * about 600 bytes a column chunk, not the library's objects).
 *
 * Types from the dataset's columns: integer → INT64, decimal → DOUBLE, boolean → BOOLEAN,
 * date → DATE, datetime → TIMESTAMP (UTC, milliseconds), text → UTF-8 string; every column is
 * OPTIONAL, a null cell is a Parquet null. Column names are the dataset's, as in the cleaned CSV.
 */
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { CompactFooter } from './footer.js';
import type { Cell, Column, ColumnType, Row } from '../dataset/contract.js';

export const PARQUET_CONTENT_TYPE = 'application/vnd.apache.parquet';

/** Where the file's bytes go; a chunk may be reused once the promise resolves. */
export type ByteSink = (bytes: Uint8Array) => Promise<void>;

export interface ParquetOptions {
  /** A row group ends at this many cells (rows × columns): each cell costs a JS value until it is encoded. */
  rowGroupCells?: number;
  /** …or once its text reaches this many characters. */
  rowGroupTextChars?: number;
  /** …or at this many rows. */
  rowGroupRows?: number;
  /** The file's `created_by`. */
  createdBy?: string;
}

type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]['schema'][number];

const SCHEMA: Record<ColumnType, Omit<SchemaElement, 'name'>> = {
  integer: { type: 'INT64', converted_type: 'INT_64' },
  decimal: { type: 'DOUBLE' },
  boolean: { type: 'BOOLEAN' },
  date: { type: 'INT32', converted_type: 'DATE', logical_type: { type: 'DATE' } },
  datetime: { type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' } },
  text: { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } },
};

/** The Parquet schema of a dataset's columns. */
export function parquetSchema(columns: readonly Column[]): SchemaElement[] {
  return [{ name: 'root', num_children: columns.length }, ...columns.map((c) => ({ name: c.name, repetition_type: 'OPTIONAL' as const, ...SCHEMA[c.type] }))];
}

const DAY_MS = 86_400_000;

/** `yyyy-mm-dd` (the dataset's dates) → days since 1970-01-01. */
export function epochDay(iso: string): number {
  // Date.parse reads `yyyy-mm-dd` as UTC midnight, years 0001–9999 included (Date.UTC would take 1 as 1901).
  return Date.parse(iso) / DAY_MS;
}

/** A cell as the value hyparquet-writer writes for its column's type (text is handled apart). */
function physical(type: ColumnType, v: Exclude<Cell, null>): number | bigint | boolean {
  switch (type) {
    case 'integer':
      return BigInt(v as number);
    case 'date':
      return epochDay(v as string);
    case 'datetime':
      return BigInt(Date.parse(v as string));
    default:
      return v as number | boolean;
  }
}

/** hyparquet-writer's byte buffer, drained into the sink after each row group and at the end (offsets stay absolute). */
class DrainingWriter extends ByteWriter {
  constructor(private readonly sink: ByteSink) {
    super(1 << 16);
  }

  async flush(): Promise<void> {
    if (!this.index) return;
    await this.sink(new Uint8Array(this.buffer, 0, this.index));
    this.index = 0;
  }

  override finish(): Promise<void> {
    return this.flush();
  }
}

/**
 * Default row group budget: 131,072 cells (about 12,000 rows of 11 columns, 44,000 of 3). Each
 * cell is a JS value until its group is encoded, and the encoder copies a group a few times:
 * measured on the seed-shaped file, 400,000 cells a group took a writer's peak RSS ~60 MB above
 * 100,000 (bench/README). Smaller groups cost ~2% of file size.
 */
export const ROW_GROUP_CELLS = 131_072;

/** "PAR1", the magic at both ends of a Parquet file (as a little-endian uint32). */
const PAR1 = 0x31524150;

export class ParquetFileWriter {
  private readonly out: DrainingWriter;
  private readonly writer: ParquetWriter;
  /** Each finished row group's metadata, as bytes. */
  private readonly footer: CompactFooter;
  private readonly types: ColumnType[];
  private readonly names: string[];
  private readonly maxRows: number;
  private readonly maxTextChars: number;
  private cols: (number | bigint | boolean | string | null)[][];
  private rows = 0;
  private textChars = 0;

  constructor(
    columns: readonly Column[],
    sink: ByteSink,
    opts: ParquetOptions = {},
  ) {
    this.types = columns.map((c) => c.type);
    this.names = columns.map((c) => c.name);
    this.maxRows = Math.max(1, Math.min(opts.rowGroupRows ?? 1_000_000, Math.floor((opts.rowGroupCells ?? ROW_GROUP_CELLS) / Math.max(1, columns.length))));
    this.maxTextChars = opts.rowGroupTextChars ?? 8 * 1024 * 1024;
    this.cols = columns.map(() => []);
    // Each row group's bytes go to the sink before the next is encoded (the writer awaits flush).
    this.out = new DrainingWriter(sink);
    const fields = { schema: parquetSchema(columns), createdBy: opts.createdBy ?? 'mini-pipeline (hyparquet-writer)' };
    this.writer = new ParquetWriter({ writer: this.out, ...fields });
    this.footer = new CompactFooter(fields);
  }

  /** Row groups written so far. */
  get rowGroups(): number {
    return this.footer.rowGroups;
  }

  async writeRows(rows: readonly Row[]): Promise<void> {
    const { types } = this;
    for (const r of rows) {
      const cols = this.cols; // a new set after each row group
      for (let i = 0; i < types.length; i++) {
        const v = r[i] ?? null;
        if (v === null) cols[i].push(null);
        else if (types[i] === 'text') {
          // Strings as they are: the encoder builds dictionaries on them and encodes only what it writes.
          const t = String(v);
          this.textChars += t.length;
          cols[i].push(t);
        } else cols[i].push(physical(types[i], v));
      }
      if (++this.rows >= this.maxRows || this.textChars >= this.maxTextChars) await this.flushGroup();
    }
  }

  /** Write what is left and the footer (the library's, from the kept bytes), then the closing magic. */
  async end(): Promise<void> {
    await this.flushGroup();
    await this.footer.write(this.out, this.writer.num_rows);
    this.out.appendUint32(PAR1);
    await this.out.finish();
  }

  private async flushGroup(): Promise<void> {
    if (!this.rows) return;
    const columnData = this.names.map((name, i) => ({ name, data: this.cols[i] }));
    const rows = this.rows;
    this.cols = this.names.map(() => []);
    this.rows = 0;
    this.textChars = 0;
    await this.writer.write({ columnData, rowGroupSize: rows });
    // The group's metadata leaves the library's lists as bytes (one group per write).
    const group = this.writer.row_groups.pop();
    if (!group || this.writer.row_groups.length) throw new Error('Parquet writer: expected exactly one row group per write');
    this.footer.add(group, this.writer.pendingIndexes.splice(0));
  }
}

/** A dataset's row batches as the chunks of a Parquet file (for an answer or a spool file). */
export async function* parquetChunks(columns: readonly Column[], batches: AsyncIterable<readonly Row[]>, opts?: ParquetOptions): AsyncGenerator<Buffer> {
  const ready: Buffer[] = [];
  const w = new ParquetFileWriter(columns, async (b) => void ready.push(Buffer.from(b)), opts);
  for await (const rows of batches) {
    await w.writeRows(rows);
    yield* ready.splice(0);
  }
  await w.end();
  yield* ready.splice(0);
}
