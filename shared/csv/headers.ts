/** Header normalisation: trimmed, blank ones named, unique, snake_case by default. */

export interface HeaderOptions {
  snakeCase: boolean;
  foldAccents: boolean;
}

export interface NormalisedHeader {
  name: string;
  sourceName: string;
}

export function foldAccents(s: string): string {
  return s.normalize('NFD').replace(/\p{M}+/gu, '').normalize('NFC');
}

export function normaliseName(raw: string, opts: HeaderOptions): string {
  let s = raw.replace(/[\s\u000b\u000c]+/g, ' ').trim();
  if (opts.foldAccents) s = foldAccents(s);
  if (!opts.snakeCase) return s;
  return s
    .normalize('NFC')
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, '$1_$2')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '_')
    .replace(/^_+|_+$/g, '');
}

export function normaliseHeaders(raw: string[], opts: HeaderOptions): NormalisedHeader[] {
  const names = raw.map((r, i) => normaliseName(r, opts) || `column_${i + 1}`);
  const taken = new Set<string>();
  const counts = new Map<string, number>();
  // Names that occur once keep priority over generated suffixes.
  const first = new Set<string>();
  const out = names.map((name, i) => {
    let final = name;
    if (taken.has(final)) {
      let n = counts.get(name) ?? 1;
      do {
        n++;
        final = `${name}_${n}`;
      } while (taken.has(final) || (names.includes(final) && !first.has(final)));
      counts.set(name, n);
    } else first.add(name);
    taken.add(final);
    return { name: final, sourceName: raw[i] };
  });
  return out;
}
