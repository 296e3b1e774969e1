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
