import { startTestStack } from './test/helpers.ts';
import { readFileSync } from 'node:fs';
const t = await startTestStack();
const mock = readFileSync('../shared/fixtures/seed/mock.csv');
await t.s3.putObject('incoming', 'relatórios/novo arquivo (1).csv', mock, mock.length);
await new Promise(r => setTimeout(r, 1500));
console.log(t.logs.filter(l => !l.includes('"ready"')).slice(0, 12).join('\n'));
await t.stop();
