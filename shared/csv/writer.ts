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

/** One output line (with `\n`) for typed cells; numbers and booleans are never formula-escaped. */
export function csvLine(cells: readonly Cell[], escapeFormulas: boolean, delimiter = ','): string {
  let out = '';
  for (let i = 0; i < cells.length; i++) {
    if (i) out += delimiter;
    const v = cells[i];
    if (v === null) continue;
    if (typeof v === 'string') out += csvField(escapeFormulas ? escapeFormula(v) : v, delimiter);
    else out += String(v);
  }
  return out + '\n';
}
