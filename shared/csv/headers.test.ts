import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normaliseHeaders, normaliseName } from './headers.js';

const on = { snakeCase: true, foldAccents: false };

test('headers are trimmed, snake_cased, accents kept by default', () => {
  assert.equal(normaliseName('  Renda Mensal ', on), 'renda_mensal');
  assert.equal(normaliseName('Année', on), 'année');
  assert.equal(normaliseName('Année', { snakeCase: true, foldAccents: true }), 'annee');
  assert.equal(normaliseName('idCliente', on), 'id_cliente');
  assert.equal(normaliseName('Occupancy rate (%)', on), 'occupancy_rate');
  assert.equal(normaliseName('\t\n\u000b\f\r start \t\n\u000b\f\r end \t\n\u000b\f\r', on), 'start_end');
});

test('blank headers are named by position and duplicates made unique', () => {
  const h = normaliseHeaders(['id', 'name', '', 'name', 'id', 'id'], on);
  assert.deepEqual(h.map((x) => x.name), ['id', 'name', 'column_3', 'name_2', 'id_2', 'id_3']);
  assert.deepEqual(h.map((x) => x.sourceName), ['id', 'name', '', 'name', 'id', 'id']);
});

test('a generated suffix never collides with a real column', () => {
  const h = normaliseHeaders(['a', 'a', 'a_2'], on);
  assert.equal(new Set(h.map((x) => x.name)).size, 3);
  assert.equal(h[2].name, 'a_2');
});

test('snake case can be turned off (names only trimmed)', () => {
  assert.deepEqual(normaliseHeaders([' Renda Mensal '], { snakeCase: false, foldAccents: false })[0].name, 'Renda Mensal');
});
