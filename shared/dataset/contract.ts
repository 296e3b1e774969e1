/**
 * The dataset: the versioned contract between transform and publish.
 * On the wire it is NDJSON: one header object, then row lines (JSON arrays in the
 * header's column order) and reject objects, then one trailer object.
 */
import * as z from 'zod';

export const DATASET_VERSION = 1;
export const NDJSON = 'application/x-ndjson';

export const COLUMN_TYPES = ['integer', 'decimal', 'boolean', 'date', 'datetime', 'text'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

/**
 * The schemas of the header, rejects and trailer, built on first use: transform writes datasets
 * and never validates one, so its cold start does not build them (publish builds them once it is
 * ready: `datasetSchemas()` in its whenReady).
 */
function buildSchemas() {
  const Column = z.object({
    name: z.string().min(1),
    sourceName: z.string(),
    type: z.enum(COLUMN_TYPES),
    nullable: z.boolean(),
    origin: z.enum(['inferred', 'pinned']).default('inferred'),
    /** For decimal columns written with a decimal comma (`1.234,56`). */
    decimalSeparator: z.enum(['.', ',']).optional(),
    /** For date/datetime columns: the source pattern that matched. */
    format: z.string().optional(),
  });

  const Source = z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('object'),
      bucket: z.string(),
      key: z.string(),
      etag: z.string().optional(),
      versionId: z.string().optional(),
      size: z.number().optional(),
    }),
    z.object({ kind: z.literal('adhoc'), name: z.string() }),
  ]);

  const Dialect = z.object({
    encoding: z.string(),
    bom: z.boolean(),
    delimiter: z.string(),
    newline: z.string(),
  });

  const DatasetHeader = z.object({
    type: z.literal('header'),
    version: z.literal(DATASET_VERSION),
    source: Source,
    dialect: Dialect,
    schema: z.object({ columns: z.array(Column) }),
    startedAt: z.string(),
  });

  const Reject = z.object({
    type: z.literal('reject'),
    line: z.number().int(),
    column: z.string().optional(),
    reason: z.string(),
    /** The raw fields of the record as read (before typing). */
    raw: z.array(z.string()),
  });

  const ColumnStats = z.object({
    nulls: z.number().int(),
    min: z.union([z.number(), z.string(), z.null()]),
    max: z.union([z.number(), z.string(), z.null()]),
  });

  const ProblemBody = z.looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number(),
    detail: z.string().optional(),
  });

  const DatasetTrailer = z.object({
    type: z.literal('trailer'),
    stats: z.object({
      rowsIn: z.number().int(),
      rowsOut: z.number().int(),
      rowsRejected: z.number().int(),
      blankLines: z.number().int(),
      bytesIn: z.number().int(),
      durationMs: z.number(),
      columns: z.record(z.string(), ColumnStats),
      /** Rejected rows by kind of reason (`ragged row`, `amount: not a valid decimal`, …). */
      rejectReasons: z.record(z.string(), z.number().int()).default({}),
      /** Typing that may surprise, in words: a column that fell back to text because of a few values; a file with no data rows. */
      warnings: z.array(z.string()).optional(),
    }),
    /** The first rejects (the full list travels as reject lines). */
    rejects: z.array(Reject.omit({ type: true })),
    rejectsTruncated: z.boolean(),
    /** Set when the file could not be read to the end: what and where. */
    error: ProblemBody.optional(),
  });
  return { Column, Source, Dialect, DatasetHeader, Reject, ColumnStats, ProblemBody, DatasetTrailer };
}

let schemas: ReturnType<typeof buildSchemas> | undefined;
export const datasetSchemas = () => (schemas ??= buildSchemas());
type Schemas = ReturnType<typeof buildSchemas>;
export type Column = z.infer<Schemas['Column']>;
export type Source = z.infer<Schemas['Source']>;
export type Dialect = z.infer<Schemas['Dialect']>;
export type DatasetHeader = z.infer<Schemas['DatasetHeader']>;
export type Reject = z.infer<Schemas['Reject']>;
export type ColumnStats = z.infer<Schemas['ColumnStats']>;
export type DatasetTrailer = z.infer<Schemas['DatasetTrailer']>;

/** A typed cell: numbers, booleans, ISO 8601 strings for dates, text, or null. */
export type Cell = string | number | boolean | null;
export type Row = Cell[];

export type DatasetLine =
  | { kind: 'header'; header: DatasetHeader }
  | { kind: 'row'; row: Row }
  | { kind: 'reject'; reject: Reject }
  | { kind: 'trailer'; trailer: DatasetTrailer };

/** Parse one NDJSON line of a dataset (headers and trailers are validated; rows are trusted arrays). */
export function parseDatasetLine(line: string): DatasetLine {
  if (line.charCodeAt(0) === 91 /* [ */) return { kind: 'row', row: JSON.parse(line) as Row };
  const obj = JSON.parse(line) as { type?: string };
  switch (obj.type) {
    case 'header':
      return { kind: 'header', header: datasetSchemas().DatasetHeader.parse(obj) };
    case 'reject':
      return { kind: 'reject', reject: datasetSchemas().Reject.parse(obj) };
    case 'trailer':
      return { kind: 'trailer', trailer: datasetSchemas().DatasetTrailer.parse(obj) };
    default:
      throw new Error(`unknown dataset line type ${JSON.stringify(obj.type)}`);
  }
}

function part(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  void _drop;
  return rest;
}

/** JSON Schema of the header and trailer, for users (`npm run schema`). */
export function datasetJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'mini-pipeline dataset (NDJSON lines)',
    description:
      'Line 1 is a header, then row lines (JSON arrays in schema.columns order) and reject lines, then one trailer line.',
    $defs: {
      header: part(datasetSchemas().DatasetHeader),
      reject: part(datasetSchemas().Reject),
      trailer: part(datasetSchemas().DatasetTrailer),
    },
  };
}

/** The dataset as a stream of events: one header, row batches and rejects, one trailer. */
export type DatasetEvent =
  | { kind: 'header'; header: DatasetHeader }
  | { kind: 'rows'; rows: Row[] }
  | { kind: 'reject'; reject: Reject }
  | { kind: 'trailer'; trailer: DatasetTrailer };
