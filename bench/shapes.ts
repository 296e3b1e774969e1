/**
 * The bench's files, shaped like users' exports (deterministic: seeded, same bytes every run).
 * - seed: the original project's columns (bench/generate.ts), ~2% messy rows;
 * - mixed: 15 columns as exports really look: ints, decimals, ISO dates, dd/mm dates, an ISO
 *   datetime column (zones and fractions in some rows), text with quotes and commas in 30% of
 *   rows, 3–10% empty cells per column;
 * - wide: 80 columns of every type;
 * - text: 8 text-heavy columns, half of the fields quoted (commas, doubled quotes);
 * - ptbr: a pt-BR spreadsheet export: UTF-8 BOM, `;`, CRLF, `1.234,56`, dd/mm/yyyy and
 *   dd/mm/yyyy hh:mm:ss, accented text, quoted fields with `;`.
 */
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { generate as seed } from './generate.js';

export type Shape = 'seed' | 'mixed' | 'wide' | 'text' | 'ptbr';
export const SHAPES: Shape[] = ['seed', 'mixed', 'wide', 'text', 'ptbr'];
/** The delimiter of each shape (peers that need it told). */
export const DELIMITER: Record<Shape, string> = { seed: ',', mixed: ',', wide: ',', text: ',', ptbr: ';' };

type Rng = () => number;
function rng(seed: number): Rng {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const two = (n: number) => (n < 10 ? '0' : '') + n;
const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

const FIRST = ['Ana', 'João', 'Maria', 'José', 'Luíza', 'Pedro', 'Chloé', 'Zoë', 'Björn', 'Renée', 'Akira', 'Olga'];
const LAST = ['Silva', 'Souza', 'Oliveira', "O'Brien", 'Müller', 'Costa', 'Pereira', 'Núñez', 'Smith', 'Dubois'];
const CITIES = ['São Paulo', 'Rio de Janeiro', 'Belo Horizonte', 'Curitiba', 'Porto Alegre', 'Lisboa', 'Zürich', 'New York', 'Kraków'];
const STATUS = ['paid', 'pending', 'shipped', 'cancelled', 'refunded'];
const WORDS = ['entrega', 'rápida', 'produto', 'ótimo', 'caixa', 'amassada', 'cliente', 'pediu', 'troca', 'cor', 'azul', 'tamanho', 'M', 'nota', 'fiscal', 'atraso'];

const date = (r: Rng) => ({ y: int(r, 2015, 2025), m: int(r, 1, 12), d: int(r, 1, 28) });
const isoDate = (r: Rng) => {
  const { y, m, d } = date(r);
  return `${y}-${two(m)}-${two(d)}`;
};
const dmyDate = (r: Rng) => {
  const { y, m, d } = date(r);
  return `${two(d)}/${two(m)}/${y}`;
};
const isoDateTime = (r: Rng) => {
  const t = `${isoDate(r)}T${two(int(r, 0, 23))}:${two(int(r, 0, 59))}:${two(int(r, 0, 59))}`;
  const k = r();
  return k < 0.6 ? `${t}Z` : k < 0.8 ? `${t}.${int(r, 100, 999)}Z` : k < 0.9 ? `${t}-03:00` : t;
};
const words = (r: Rng, n: number) => Array.from({ length: n }, () => pick(r, WORDS)).join(' ');
/** A field with a comma (quoted), sometimes with doubled quotes too. */
const quotedNote = (r: Rng) => (r() < 0.3 ? `"${words(r, 3)}, ""${pick(r, WORDS)}"", ${words(r, 2)}"` : `"${words(r, 2)}, ${words(r, 3)}"`);
const decimal = (r: Rng, hi: number, dp: number) => (r() * hi).toFixed(dp);

function mixedRow(r: Rng, id: number): string {
  const empty = 0.03 + 0.07 * ((id * 7919) % 100) / 100; // 3–10% empty cells, varying by row
  const cell = (v: () => string) => (r() < empty ? '' : v());
  return [
    String(id),
    cell(() => String(int(r, 1, 50))),
    cell(() => decimal(r, 5000, 2)),
    cell(() => decimal(r, 100000, 2)),
    cell(() => decimal(r, 1, 3)),
    cell(() => isoDate(r)),
    cell(() => dmyDate(r)),
    cell(() => isoDateTime(r)),
    cell(() => `${pick(r, FIRST)} ${pick(r, LAST)}`),
    cell(() => pick(r, CITIES)),
    r() < 0.3 ? quotedNote(r) : cell(() => words(r, 3)),
    cell(() => pick(r, STATUS)),
    cell(() => String(int(r, -500, 500))),
    cell(() => decimal(r, 5, 1)),
    cell(() => String(int(r, 0, 1))),
  ].join(',');
}
const MIXED_HEADER = 'order_id,quantity,unit_price,amount,discount,order_date,ship_date,created_at,customer,city,note,status,score,rating,flag';

const WIDE_KINDS = 80;
function wideRow(r: Rng, id: number): string {
  const cells = [String(id)];
  for (let c = 1; c < WIDE_KINDS; c++) {
    if (r() < 0.04) {
      cells.push('');
      continue;
    }
    switch (c % 8) {
      case 0:
      case 1:
        cells.push(String(int(r, 0, 100000)));
        break;
      case 2:
      case 3:
        cells.push(decimal(r, 1000, 2));
        break;
      case 4:
        cells.push(isoDate(r));
        break;
      case 5:
        cells.push(pick(r, CITIES));
        break;
      case 6:
        cells.push(pick(r, STATUS));
        break;
      default:
        cells.push(isoDateTime(r));
    }
  }
  return cells.join(',');
}
const WIDE_HEADER = Array.from({ length: WIDE_KINDS }, (_, c) => (c === 0 ? 'id' : `c${c}`)).join(',');

function textRow(r: Rng, id: number): string {
  const field = () => (r() < 0.5 ? quotedNote(r) : words(r, int(r, 1, 6)));
  return [String(id), `${pick(r, FIRST)} ${pick(r, LAST)}`, pick(r, CITIES), field(), field(), field(), field(), pick(r, STATUS)].join(',');
}
const TEXT_HEADER = 'id,name,city,subject,body,comment,address,status';

const brl = (r: Rng, hi: number) => {
  const [i, f] = (r() * hi).toFixed(2).split('.');
  return `${i.replace(/\B(?=(\d{3})+(?!\d))/g, '.')},${f}`;
};
function ptbrRow(r: Rng, id: number): string {
  const empty = () => r() < 0.05;
  return [
    String(id),
    `${pick(r, FIRST)} ${pick(r, LAST)}`,
    empty() ? '' : pick(r, CITIES),
    dmyDate(r),
    `${dmyDate(r)} ${two(int(r, 0, 23))}:${two(int(r, 0, 59))}:${two(int(r, 0, 59))}`,
    empty() ? '' : brl(r, 50000),
    brl(r, 999),
    String(int(r, 1, 40)),
    r() < 0.1 ? `"${words(r, 2)}; ${words(r, 2)}"` : words(r, 3),
    pick(r, ['Sim', 'Não']),
  ].join(';');
}
const PTBR_HEADER = '\ufeffCódigo;Cliente;Cidade;Data do Pedido;Data/Hora Emissão;Valor Total;Frete;Itens;Observação;Pago';

const ROWS: Record<Exclude<Shape, 'seed'>, { header: string; row: (r: Rng, id: number) => string; eol: string }> = {
  mixed: { header: MIXED_HEADER, row: mixedRow, eol: '\n' },
  wide: { header: WIDE_HEADER, row: wideRow, eol: '\n' },
  text: { header: TEXT_HEADER, row: textRow, eol: '\n' },
  ptbr: { header: PTBR_HEADER, row: ptbrRow, eol: '\r\n' },
};

/** The file of a shape, about `bytes` long (kept when it is there already). */
export async function generateShape(shape: Shape, path: string, bytes: number): Promise<void> {
  if (shape === 'seed') {
    await seed(path, bytes);
    return;
  }
  if (existsSync(path) && statSync(path).size >= bytes) return;
  const { header, row, eol } = ROWS[shape];
  const r = rng(7);
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  let written = 0;
  let buf = header + eol;
  for (let id = 1; written + buf.length < bytes; id++) {
    buf += row(r, id) + eol;
    if (buf.length > 1 << 20) {
      written += Buffer.byteLength(buf);
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}
