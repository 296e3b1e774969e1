/**
 * Power BI's value rules, in one place: a date becomes midnight UTC, text is at most 4,000
 * characters. The push URL sends each value as the file typed it (`toPowerBiRow`); the REST
 * route coerces to the table's column types (rest/encode.ts), with the same rules.
 */
import type { Cell, Column, Row } from '../../dataset/contract.js';

export const MAX_STRING_CHARS = 4000;

export type PbiRow = Record<string, string | number | boolean | null>;

/** A `date` column's value as Power BI's DateTime. */
export function dateTime(day: string): string {
  return `${day}T00:00:00.000Z`;
}

/** Why a text cannot go to Power BI, if it cannot. */
export function textTooLong(s: string): string | undefined {
  return s.length > MAX_STRING_CHARS ? `text longer than ${MAX_STRING_CHARS} characters` : undefined;
}

/** One value as the file typed it, with Power BI's rules; a string `{ why }` says why it cannot be. */
export function powerBiValue(v: Cell | undefined, type: Column['type']): PbiRow[string] | { why: string } {
  if (v === null || v === undefined) return null;
  if (type === 'date' && typeof v === 'string') return dateTime(v);
  const tooLong = typeof v === 'string' ? textTooLong(v) : undefined;
  return tooLong ? { why: tooLong } : v;
}

/** Map a row; returns a reason string when a value cannot be represented. */
export function toPowerBiRow(columns: Column[], row: Row): PbiRow | string {
  const out: PbiRow = {};
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i];
    const v = powerBiValue(row[i], c.type);
    if (v !== null && typeof v === 'object') return `column ${c.name}: ${v.why}`;
    out[c.name] = v;
  }
  return out;
}
