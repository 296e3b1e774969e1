/**
 * CSV output written by hand (quote only when needed): `Papa.unparse` halves throughput.
 * Text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR at the start)
 * is prefixed with `'`; the rule is reversible (`unescapeFormula`).
 */
import type { Cell } from '../dataset/contract.js';

const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;
const FORMULA = /^'*[=+\-@\t\r]/;

export function escapeFormula(s: string): string {
  return FORMULA.test(s) ? "'" + s : s;
}

export function unescapeFormula(s: string): string {
  return s.charCodeAt(0) === 39 && FORMULA.test(s) ? s.slice(1) : s;
}

export function csvField(s: string, delimiter = ','): string {
  const needs = delimiter === ',' ? NEEDS_QUOTES.test(s) : NEEDS_QUOTES.test(s) || s.includes(delimiter);
  return needs ? '"' + s.replace(/"/g, '""') + '"' : s;
}

/** One typed cell as an output field: null empty, text escaped (maybe) and quoted when needed; numbers and booleans as they print. */
export function csvCell(v: Cell, escapeFormulas: boolean, delimiter = ','): string {
  if (v === null) return '';
  if (typeof v === 'string') return csvField(escapeFormulas ? escapeFormula(v) : v, delimiter);
  return String(v);
}

/** One output line (with `\n`) for typed cells; numbers and booleans are never formula-escaped. */
export function csvLine(cells: readonly Cell[], escapeFormulas: boolean, delimiter = ','): string {
  let out = '';
  for (let i = 0; i < cells.length; i++) {
    if (i) out += delimiter;
    out += csvCell(cells[i], escapeFormulas, delimiter);
  }
  return out + '\n';
}
