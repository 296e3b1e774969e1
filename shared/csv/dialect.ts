/** Delimiter and line-ending sniffing from the first decoded text of a file. */

export const DELIMITERS = [',', ';', '\t', '|'] as const;
export type Delimiter = (typeof DELIMITERS)[number];
export type Newline = '\n' | '\r\n' | '\r';

/** Split the sample into up to `max` records, honouring quotes, without a full parse. */
function sampleLines(text: string, max: number): string[] {
  const lines: string[] = [];
  let inQuotes = false;
  let start = 0;
  for (let i = 0; i < text.length && lines.length < max; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) inQuotes = !inQuotes;
    else if (!inQuotes && (c === 10 || c === 13)) {
      if (i > start) lines.push(text.slice(start, i));
      if (c === 13 && text.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
  }
  if (lines.length < max && start < text.length && !inQuotes) lines.push(text.slice(start));
  return lines;
}

function countOutsideQuotes(line: string, ch: string): number {
  let n = 0;
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') inQuotes = !inQuotes;
    else if (!inQuotes && c === ch) n++;
  }
  return n;
}

/**
 * Pick the delimiter whose count per line is most consistent and non-zero across the
 * first lines; ties go to the order `,` `;` tab `|`. A one-column file gets `,`.
 */
export function sniffDelimiter(text: string): Delimiter {
  const lines = sampleLines(text, 30);
  if (!lines.length) return ',';
  let best: Delimiter = ',';
  let bestScore = 0;
  for (const d of DELIMITERS) {
    const counts = lines.map((l) => countOutsideQuotes(l, d));
    const header = counts[0];
    if (header === 0) continue;
    const consistent = counts.filter((c) => c === header).length / counts.length;
    const score = consistent * 1000 + Math.min(header, 999);
    if (score > bestScore) {
      bestScore = score;
      best = d;
    }
  }
  return best;
}

/** `\r\n` when every line break in the sample is CRLF, `\r` when there are only CRs, else `\n`. */
export function detectNewline(text: string): Newline {
  return detectLineEndings(text).newline;
}

/** The record separator to parse with, and whether CRLF and LF are mixed (a stray `\r` then ends some records). */
export function detectLineEndings(text: string): { newline: Newline; mixed: boolean } {
  let lf = 0;
  let crlf = 0;
  let cr = 0;
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) inQuotes = !inQuotes;
    else if (inQuotes) continue;
    else if (c === 13) {
      if (text.charCodeAt(i + 1) === 10) {
        crlf++;
        i++;
      } else cr++;
    } else if (c === 10) lf++;
  }
  if (crlf > 0 && lf === 0 && cr === 0) return { newline: '\r\n', mixed: false };
  if (lf === 0 && crlf === 0 && cr > 0) return { newline: '\r', mixed: false };
  return { newline: '\n', mixed: crlf > 0 };
}
