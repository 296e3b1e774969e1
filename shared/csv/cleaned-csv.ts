/**
 * The cleaned CSV is the durable copy of the dataset in the output bucket: UTF-8, `,`, `\n`,
 * a header of column names, nulls as empty cells, dates in ISO 8601, formulas neutralised.
 * Row sinks read it back (typed again by the schema) so that a delivery can resume after a
 * checkpoint without transforming the source again.
 */
import type { Cell, Column, Row } from '../dataset/contract.js';
import { readCsv } from './reader.js';
import { csvLine, unescapeFormula } from './writer.js';

export function cleanedHeaderLine(columns: Column[]): string {
  return csvLine(columns.map((c) => c.name), false);
}

export async function* readCleaned(bytes: AsyncIterable<Buffer>, columns: Column[], escapedFormulas: boolean): AsyncGenerator<Row[]> {
  const conv = columns.map((c): ((s: string) => Cell) => {
    switch (c.type) {
      case 'integer':
      case 'decimal':
        return Number;
      case 'boolean':
        return (s) => s === 'true';
      case 'text':
        return escapedFormulas ? unescapeFormula : (s) => s;
      default:
        return (s) => s;
    }
  });
  let header = true;
  for await (const batch of readCsv(bytes, {
    encoding: 'utf-8',
    delimiter: ',',
    maxColumns: columns.length + 1,
    maxFieldBytes: Number.MAX_SAFE_INTEGER,
    maxRecordBytes: Number.MAX_SAFE_INTEGER,
  })) {
    const rows: Row[] = [];
    for (const rec of batch) {
      if (header) {
        header = false;
        continue;
      }
      const f = rec.fields;
      const row: Cell[] = new Array(columns.length);
      for (let i = 0; i < columns.length; i++) {
        const s = f[i] ?? '';
        row[i] = s === '' ? null : conv[i](s);
      }
      rows.push(row);
    }
    if (rows.length) yield rows;
  }
}
