/**
 * A Parquet file's footer (FileMetaData) kept as compact bytes while the file is written.
 *
 * hyparquet-writer keeps every row group's metadata (column chunks, statistics, page locations)
 * as JS objects until `finish()`: thousands of objects for a 1 GB file. Here each row group is
 * serialized as soon as it is written, with the library's own Thrift encoder (`writeMetadata`),
 * and only its bytes are kept. At the end the FileMetaData is assembled from those bytes: the
 * library's bytes for a file with no row groups, with the `row_groups` list spliced in. The
 * result is byte for byte the footer the library writes (shared/parquet/writer.test.ts compares).
 *
 * Page indexes: the library writes the offset indexes of multi-page column chunks after the last
 * row group, so their file offsets are known only at the end. They are serialized here as each
 * group ends (their bytes kept, in order), and each chunk's `offset_index_offset` is a one-byte
 * placeholder in the kept bytes, replaced by the real offset when the footer is written.
 */
import { ByteWriter } from 'hyparquet-writer';
import { writeIndexes } from 'hyparquet-writer/src/indexes.js';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import type { PageIndexes } from 'hyparquet-writer/src/types.js';

// The metadata types of the hyparquet the writer depends on (it may be another copy than ours).
type FileMetaData = Parameters<typeof writeMetadata>[1];
type RowGroup = FileMetaData['row_groups'][number];
type SchemaElement = FileMetaData['schema'][number];

/** What the footer says besides its row groups (as given to hyparquet-writer's ParquetWriter). */
export interface FooterFields {
  schema: SchemaElement[];
  createdBy: string;
  statisticsTruncateLength?: number;
}

/** A writer the footer goes into, drained now and then (the file's byte sink). */
export type DrainableWriter = ByteWriter & { flush(): Promise<void> };

/** Thrift compact: the header byte of a list of 1 struct (size 1 << 4 | STRUCT). */
const ONE_STRUCT = 0x1c;
/** The smallest row group, used to find where the `row_groups` list sits in the library's bytes. */
const SENTINEL: RowGroup = { columns: [], total_byte_size: 0n, num_rows: 0n };
/** The footer is drained into the sink every this many bytes. */
const DRAIN_BYTES = 1 << 20;

/** The library's bytes or page indexes are not what the footer can splice: no file is finished. */
export class FooterError extends Error {
  constructor(what: string) {
    super(`Parquet footer: hyparquet-writer's metadata bytes are not laid out as expected (${what}); refusing to write a file whose footer could be corrupt`);
  }
}

/** Whether two byte ranges hold the same bytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The header of a Thrift compact list of `n` structs (as the library's serializer writes it). */
function listHeader(n: number): Uint8Array {
  const w = new ByteWriter(16);
  if (n > 14) {
    w.appendUint8(0xf0 | 0x0c);
    w.appendVarInt(n);
  } else w.appendUint8((n << 4) | 0x0c);
  return w.getBytes();
}

/** A row group's `offset_index_offset` awaiting its file offset: where in the kept bytes, and where in the index section. */
interface Patch {
  at: number;
  indexOffset: bigint;
}

export class CompactFooter {
  /** Every finished row group's RowGroup struct, back to back (placeholder bytes left out). */
  private readonly groups = new ByteWriter(1 << 16);
  private readonly patches: Patch[] = [];
  private count = 0;
  /** The offset indexes to write after the last row group, in the library's order. */
  private readonly indexes = new ByteWriter(1 << 12);
  /** The library's FileMetaData bytes around its `row_groups` list (with num_rows 0). */
  private readonly probe: { head: Uint8Array; tail: Uint8Array };

  constructor(private readonly fields: FooterFields) {
    this.probe = this.around(0n);
  }

  /** Row groups kept so far. */
  get rowGroups(): number {
    return this.count;
  }

  /** The FileMetaData bytes the library writes for these row groups (its trailing length left off). */
  private metadata(rowGroups: RowGroup[], numRows: bigint): Uint8Array {
    const w = new ByteWriter(1 << 12);
    const meta: FileMetaData = { version: 2, created_by: this.fields.createdBy, schema: this.fields.schema, num_rows: numRows, row_groups: rowGroups, metadata_length: 0 };
    writeMetadata(w, meta, this.fields.statisticsTruncateLength);
    const bytes = w.getBytes();
    if (new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 4, true) !== bytes.length - 4) throw new FooterError('no metadata length after the metadata');
    return bytes.subarray(0, bytes.length - 4);
  }

  /** The library's bytes before and after the `row_groups` list of a file of `numRows` rows. */
  private around(numRows: bigint): { head: Uint8Array; tail: Uint8Array } {
    const none = this.metadata([], numRows);
    const one = this.metadata([SENTINEL], numRows);
    let p = 0;
    while (p < none.length && none[p] === one[p]) p++;
    const tail = none.subarray(p + 1);
    if (p >= none.length || one[p] !== ONE_STRUCT || one.length <= none.length || !sameBytes(one.subarray(one.length - tail.length), tail)) throw new FooterError('the row_groups list was not found');
    return { head: none.subarray(0, p), tail };
  }

  /** One RowGroup struct's bytes, as the library encodes it in a footer. */
  private rowGroupBytes(group: RowGroup): Uint8Array {
    const { head, tail } = this.probe;
    const all = this.metadata([group], 0n);
    const end = all.length - tail.length;
    if (all[head.length] !== ONE_STRUCT || end <= head.length + 1 || !sameBytes(all.subarray(0, head.length), head) || !sameBytes(all.subarray(end), tail)) throw new FooterError('a row group is not where it was');
    return all.subarray(head.length + 1, end);
  }

  /**
   * A row group just written: its offset indexes serialized (kept for the end) and its metadata
   * kept as bytes. `pages` are the library's page indexes of its column chunks, in order.
   */
  add(group: RowGroup, pages: readonly PageIndexes[]): void {
    for (const p of pages) if (p.columnIndex || p.bloomFilter) throw new FooterError('column indexes and bloom filters are not supported');
    // The library's own index writer, on the index section: it sets each chunk's offset (in the section) and length.
    writeIndexes(this.indexes, pages as PageIndexes[]);
    const indexed = pages.map((p) => p.chunk).filter((c) => c.offset_index_offset !== undefined);
    const offsets = indexed.map((c) => c.offset_index_offset!);
    // Placeholders 0 and 1 (one byte each): the bytes that differ between the two are the offsets.
    for (const c of indexed) c.offset_index_offset = 0n;
    const bytes = this.rowGroupBytes(group);
    const at = this.groups.offset;
    if (indexed.length) {
      for (const c of indexed) c.offset_index_offset = 1n;
      const other = this.rowGroupBytes(group);
      const spots = bytes.length === other.length ? [...bytes.keys()].filter((i) => bytes[i] !== other[i]) : [];
      if (spots.length !== indexed.length || spots.some((i) => bytes[i] !== 0x00 || other[i] !== 0x02)) throw new FooterError('an offset index offset was not found');
      let from = 0;
      spots.forEach((i, k) => {
        this.groups.appendBytes(bytes.subarray(from, i));
        this.patches.push({ at: at + i - k, indexOffset: offsets[k] });
        from = i + 1;
      });
      this.groups.appendBytes(bytes.subarray(from));
    } else this.groups.appendBytes(bytes);
    this.count++;
  }

  /**
   * The end of the file after its last row group: the offset indexes, then the FileMetaData and
   * its length (the closing magic is the caller's). `numRows`: the file's rows.
   */
  async write(out: DrainableWriter, numRows: bigint): Promise<void> {
    const indexStart = BigInt(out.offset);
    await this.append(out, this.indexes.getBytes());
    const metadataStart = out.offset;
    if (!this.count) await this.append(out, this.metadata([], numRows));
    else {
      const { head, tail } = this.around(numRows);
      await this.append(out, head);
      await this.append(out, listHeader(this.count));
      const kept = this.groups.getBytes();
      let from = 0;
      for (const { at, indexOffset } of this.patches) {
        await this.append(out, kept.subarray(from, at));
        out.appendZigZag(indexStart + indexOffset);
        from = at;
      }
      await this.append(out, kept.subarray(from));
      await this.append(out, tail);
    }
    out.appendUint32(out.offset - metadataStart);
  }

  /** Bytes into `out`, drained into its sink a megabyte at a time. */
  private async append(out: DrainableWriter, bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length; at += DRAIN_BYTES) {
      out.appendBytes(bytes.subarray(at, at + DRAIN_BYTES));
      if (out.index >= DRAIN_BYTES) await out.flush();
    }
  }
}
