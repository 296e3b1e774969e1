/**
 * Encoding detection. UTF-8 (with or without BOM) is validated strictly (by the reader, piece by
 * piece); windows-1252/latin1 go through `Windows1252`, below. Binary input is recognised before
 * any parsing.
 */
import { csvProblems } from './problems.js';

export type Encoding = 'utf-8' | 'windows-1252';

const MAGIC: [number[], string][] = [
  [[0x50, 0x4b, 0x03, 0x04], 'a ZIP archive (an .xlsx or .zip file renamed .csv?)'],
  [[0x1f, 0x8b], 'a gzip archive'],
  [[0x25, 0x50, 0x44, 0x46], 'a PDF document'],
  [[0x89, 0x50, 0x4e, 0x47], 'a PNG image'],
  [[0xff, 0xd8, 0xff], 'a JPEG image'],
  [[0xd0, 0xcf, 0x11, 0xe0], 'an old Office document (.xls?)'],
];

/** Throws a 415 problem when the first bytes are clearly not text. */
export function assertText(sample: Buffer, file?: string): void {
  for (const [magic, what] of MAGIC) {
    if (sample.length >= magic.length && magic.every((b, i) => sample[i] === b)) {
      throw csvProblems.notText(`the bytes are ${what}`, { file, line: 1 });
    }
  }
  if ((sample[0] === 0xff && sample[1] === 0xfe) || (sample[0] === 0xfe && sample[1] === 0xff)) {
    throw csvProblems.unsupportedEncoding('save the file as UTF-8 or windows-1252', { file, line: 1 });
  }
  const nul = sample.indexOf(0);
  if (nul !== -1) {
    const line = countByte(sample, 10, 0, nul) + 1;
    throw csvProblems.notText(`binary data (a NUL byte) at byte ${nul}`, { file, line });
  }
}

export function hasUtf8Bom(sample: Buffer): boolean {
  return sample.length >= 3 && sample[0] === 0xef && sample[1] === 0xbb && sample[2] === 0xbf;
}

/** Index of the first byte that breaks UTF-8, or -1. A sequence cut off at the end counts as valid unless `complete`. */
export function firstInvalidUtf8(buf: Buffer, complete: boolean): number {
  let i = 0;
  const n = buf.length;
  while (i < n) {
    const b = buf[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) (need = 1), (min = 0x80);
    else if (b >= 0xe0 && b <= 0xef) (need = 2), (min = 0x800);
    else if (b >= 0xf0 && b <= 0xf4) (need = 3), (min = 0x10000);
    else return i;
    if (i + need >= n) {
      // Not enough bytes left: valid only if what is there is a proper prefix.
      for (let j = i + 1; j < n; j++) if ((buf[j] & 0xc0) !== 0x80) return i;
      return complete ? i : -1;
    }
    let cp = b & (0xff >> (need + 2));
    for (let j = 1; j <= need; j++) {
      const c = buf[i + j];
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** UTF-8 if the sample is valid UTF-8 (or has a BOM), else windows-1252. */
export function detectEncoding(sample: Buffer, complete: boolean): Encoding {
  if (hasUtf8Bom(sample)) return 'utf-8';
  return firstInvalidUtf8(sample, complete) === -1 ? 'utf-8' : 'windows-1252';
}

export function countByte(buf: Buffer, byte: number, from = 0, to = buf.length): number {
  let count = 0;
  let i = buf.indexOf(byte, from);
  while (i !== -1 && i < to) {
    count++;
    i = buf.indexOf(byte, i + 1);
  }
  return count;
}

/**
 * windows-1252 as the WHATWG Encoding Standard defines it (the corpus's rule), one byte a
 * character: latin1 but for 0x80–0x9F, where it has € ‚ ƒ …; its five unassigned bytes stay the
 * C1 controls U+0081, U+008D, U+008F, U+0090, U+009D (iconv-lite made them U+FFFD).
 * Written here because the libraries cost more than the 32 entries:
 * Node 20's TextDecoder('windows-1252') drops 0x80–0x9F (it decodes as latin1, wrongly), and
 * iconv-lite loads every encoding table it has (480 KiB of the bundle, read at each cold start)
 * for this one. encoding.test.ts checks all 256 bytes against iconv-lite and the WHATWG table.
 */
export class Windows1252 {
  static readonly HIGH = '€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ';

  /** One byte a character: pieces decode alike at any cut. */
  write(chunk: Buffer): string {
    // One scan; most text has no byte in 0x80–0x9F and comes back as it is.
    return chunk.toString('latin1').replace(/[\x80-\x9f]/g, (c) => Windows1252.HIGH[c.charCodeAt(0) - 0x80]);
  }

}
