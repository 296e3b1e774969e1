/** `npm run upload -- file.csv [key]`: put a file into the input bucket of the running local stack. */
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { loadConfig } from '../shared/runtime/config.js';
import { storageConfig } from '../shared/storage/config.js';
import { createStorage } from '../shared/storage/s3.js';

const [file, key = basename(file ?? '')] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: npm run upload -- <file.csv> [object key]\n');
  process.exit(2);
}
const config = loadConfig({ storage: storageConfig }).storage;
const s3 = createStorage(config);
const size = statSync(file).size;
const res = await s3.putObject(config.INPUT_BUCKET, key, createReadStream(file), size, { 'Content-Type': 'text/csv' });
process.stdout.write(`uploaded ${file} (${size} bytes) to ${config.INPUT_BUCKET}/${key} etag ${res.etag}\n`);
process.stdout.write(`results appear in ${config.OUTPUT_BUCKET}/cleaned/${key} and ${config.OUTPUT_BUCKET}/manifests/${key}.json\n`);
