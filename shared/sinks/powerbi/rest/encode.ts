/**
 * REST route encoding: dataset rows → rows of the target table. Columns map by name (or
 * POWERBI_COLUMN_MAP) and values are coerced to the table's types; a value that cannot be
 * coerced makes the row a reject, never a 400 for the whole batch.
 */
import type { Column, Row } from '../../../dataset/contract.js';
import { dateTime, textTooLong } from '../values.js';

export type TargetType = 'Int64' | 'Double' | 'Decimal' | 'Boolean' | 'DateTime' | 'String';

export function pbiType(t: Column['type']): TargetType {
  return t === 'integer' ? 'Int64' : t === 'decimal' ? 'Double' : t === 'boolean' ? 'Boolean' : t === 'date' || t === 'datetime' ? 'DateTime' : 'String';
}

/** Coerce one value to a Power BI column type; a string says why it cannot be. */
export function coerce(v: Row[number], type: TargetType, sourceType: Column['type']): { ok: true; value: unknown } | { ok: false; why: string } {
  if (v === null) return { ok: true, value: null };
  switch (type) {
    case 'Int64':
      if (typeof v === 'number' && Number.isSafeInteger(v)) return { ok: true, value: v };
      if (typeof v === 'string' && /^-?\d{1,15}$/.test(v)) return { ok: true, value: Number(v) };
      return { ok: false, why: `${JSON.stringify(v)} is not an Int64` };
    case 'Double':
    case 'Decimal': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n) || Math.abs(n) === Number.MAX_VALUE) return { ok: false, why: `${JSON.stringify(v)} is not a number` };
      return { ok: true, value: type === 'Decimal' ? Math.round(n * 1e4) / 1e4 : n };
    }
    case 'Boolean':
      return typeof v === 'boolean' ? { ok: true, value: v } : { ok: false, why: `${JSON.stringify(v)} is not true/false` };
    case 'DateTime':
      if (typeof v === 'string' && sourceType === 'date') return { ok: true, value: dateTime(v) };
      if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return { ok: true, value: new Date(Date.parse(v)).toISOString() };
      return { ok: false, why: `${JSON.stringify(v)} is not a date/time` };
    case 'String': {
      const s = typeof v === 'string' ? v : String(v);
      const tooLong = textTooLong(s);
      return tooLong ? { ok: false, why: tooLong } : { ok: true, value: s };
    }
  }
}

export interface MappedColumn {
  name: string;
  type: TargetType;
  source: Column;
}

/** Map the file's columns onto the table's (undefined where the table has no such column). */
export function mapColumns(columns: Column[], target: Map<string, TargetType>, columnMap: Record<string, string>): (MappedColumn | undefined)[] {
  return columns.map((c) => {
    const name = columnMap[c.name] ?? c.name;
    const type = target.get(name);
    return type ? { name, type, source: c } : undefined;
  });
}

/** One row as the table's JSON object, or why it cannot be. */
export function encodeRow(mapped: (MappedColumn | undefined)[], row: Row, extra?: Record<string, string>): string | { reject: string } {
  const out: Record<string, unknown> = { ...extra };
  for (let c = 0; c < mapped.length; c++) {
    const m = mapped[c];
    if (!m) continue;
    const v = coerce(row[c], m.type, m.source.type);
    if (!v.ok) return { reject: `column ${m.source.name}: ${v.why}` };
    out[m.name] = v.value;
  }
  return JSON.stringify(out);
}
