import assert from 'node:assert/strict';
import { test } from 'node:test';
import iconv from 'iconv-lite';
import { Windows1252 } from './encoding.js';

test('windows-1252: every byte decodes as iconv-lite does, but the five unassigned ones, as WHATWG says', () => {
  const unassigned = [0x81, 0x8d, 0x8f, 0x90, 0x9d];
  for (let byte = 0; byte < 256; byte++) {
    const got = new Windows1252().write(Buffer.from([byte]));
    const want = unassigned.includes(byte) ? String.fromCharCode(byte) : iconv.decode(Buffer.from([byte]), 'win1252');
    assert.equal(got, want, `byte 0x${byte.toString(16)}`);
  }
  // 0x80 is €, not U+0080 (what Node 20's own TextDecoder gets wrong).
  assert.equal(new Windows1252().write(Buffer.from([0x80, 0x81, 0x9f, 0xe3])), '€\x81Ÿã');
});

test('windows-1252: the stream decoder gives the same text at any chunking', () => {
  const bytes = iconv.encode('Preço;Descrição\n€ 1,50;“aspas” – ação…\n', 'win1252');
  for (const size of [1, 2, 7, bytes.length]) {
    const dec = new Windows1252();
    let text = '';
    for (let i = 0; i < bytes.length; i += size) text += dec.write(bytes.subarray(i, i + size));
    assert.equal(text, 'Preço;Descrição\n€ 1,50;“aspas” – ação…\n');
  }
});
