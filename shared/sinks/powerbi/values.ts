/** Dataset rows → Power BI row objects keyed by column name, with Power BI's value rules. */
import type { Column, Row } from '../../dataset/contract.js';

export const MAX_STRING_CHARS = 4000;

export type PbiRow = Record<string, string | number | boolean | null>;

/** Map a row; returns a reason string when a value cannot be represented. */
export function toPowerBiRow(columns: Column[], row: Row): PbiRow | string {
  const out: PbiRow = {};
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i];
    const v = row[i];
    if (v === null || v === undefined) {
      out[c.name] = null;
      continue;
    }
    if (c.type === 'date' && typeof v === 'string') out[c.name] = `${v}T00:00:00.000Z`;
    else if (typeof v === 'string' && v.length > MAX_STRING_CHARS) return `column ${c.name}: text longer than ${MAX_STRING_CHARS} characters`;
    else out[c.name] = v;
  }
  return out;
}
