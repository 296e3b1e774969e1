/** `npm run schema`: write the dataset contract as JSON Schema (docs/dataset.schema.json). */
import { writeFileSync } from 'node:fs';
import { datasetJsonSchema } from '../shared/dataset/contract.js';

export const SCHEMA_FILE = 'docs/dataset.schema.json';
export const schemaText = () => JSON.stringify(datasetJsonSchema(), null, 2) + '\n';

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(SCHEMA_FILE, schemaText());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
