/**
 * Seed-shaped CSV files (the original project's columns) with ~2% messy rows: quoted commas,
 * pt-BR decimals ("6375,63"), empty cells, surrounding spaces/tabs, mixed LF/CRLF. Deterministic.
 */
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { once } from 'node:events';

const HEADER = 'id_cliente,idade,genero,estado_civil,renda_mensal,tempo_como_cliente,numero_compras_mensal,valor_medio_compra,suporte_acionado,nps,churn\n';
const CIVIL = ['Solteiro', 'Casado', 'Divorciado', 'Viúvo'];

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export async function generate(path: string, bytes: number): Promise<{ path: string; bytes: number; rows: number }> {
  if (existsSync(path) && statSync(path).size >= bytes) return { path, bytes: statSync(path).size, rows: -1 };
  const r = rng(42);
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  let written = 0;
  let rows = 0;
  let buf = HEADER;
  while (written + buf.length < bytes) {
    const id = 1001 + rows;
    const idade = 18 + Math.floor(r() * 60);
    const genero = r() < 0.5 ? 'M' : 'F';
    let civil = CIVIL[Math.floor(r() * 4)];
    let renda = String(1500 + Math.floor(r() * 20000));
    const tempo = Math.floor(r() * 120);
    const compras = Math.floor(r() * 15);
    let valor = (20 + r() * 800).toFixed(1);
    const suporte = Math.floor(r() * 6);
    const nps = Math.floor(r() * 11);
    const churn = r() < 0.2 ? 1 : 0;
    let eol = '\n';
    const messy = r();
    if (messy < 0.004) civil = '"Casado, com filhos"';
    else if (messy < 0.008) valor = `"${valor.replace('.', ',')}3"`;
    else if (messy < 0.012) renda = '';
    else if (messy < 0.016) civil = ` \t${civil} `;
    else if (messy < 0.02) eol = '\r\n';
    buf += `${id},${idade},${genero},${civil},${renda},${tempo},${compras},${valor},${suporte},${nps},${churn}${eol}`;
    rows++;
    if (buf.length > 1 << 20) {
      written += Buffer.byteLength(buf);
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  written += Buffer.byteLength(buf);
  out.end(buf);
  await once(out, 'finish');
  return { path, bytes: written, rows };
}

/**
 * Lines of a file with every column type (`;`-separated, pt-BR decimals and dates, ISO
 * date-times, sim/não, unicode text, quoted delimiters and quotes, ~3% empty cells). Deterministic.
 */
export function* typedLines(rows: number): Generator<string> {
  const cities = ['São Paulo', 'Belém', 'Zürich', '東京', 'Ñandú', 'Curitiba, PR', 'Ribeirão Preto 😀'];
  const r = rng(0x2545f491);
  yield 'id;cidade;valor;data;quando;ativo;obs\n';
  for (let i = 0; i < rows; i++) {
    const blank = () => r() < 0.03;
    const city = cities[i % cities.length];
    const valor = blank() ? '' : (r() * 100_000 - 20_000).toFixed(2).replace('.', ',');
    const data = blank() ? '' : `${String(1 + (i % 28)).padStart(2, '0')}/${String(1 + (i % 12)).padStart(2, '0')}/${1990 + (i % 40)}`;
    const quando = blank() ? '' : new Date(Date.UTC(2020, 0, 1) + i * 61_000 + (i % 1000)).toISOString();
    const ativo = blank() ? '' : r() < 0.5 ? 'sim' : 'não';
    const obs = blank() ? '' : i % 97 === 0 ? `"linha ${i}; com ""aspas"""` : `nota ${i % 1013}`;
    yield `${i + 1};${city.includes(',') ? `"${city}"` : city};${valor};${data};${quando};${ativo};${obs}\n`;
  }
}

/** A typed file (`typedLines`) of at least `bytes`, written once and reused. */
export async function generateTyped(path: string, bytes: number): Promise<{ path: string; bytes: number }> {
  if (existsSync(path) && statSync(path).size >= bytes) return { path, bytes: statSync(path).size };
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  let written = 0;
  let buf = '';
  for (const line of typedLines(Number.MAX_SAFE_INTEGER)) {
    buf += line;
    if (buf.length > 1 << 20) {
      written += Buffer.byteLength(buf);
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
      if (written >= bytes) break;
    }
  }
  out.end(buf);
  await once(out, 'finish');
  return { path, bytes: statSync(path).size };
}
