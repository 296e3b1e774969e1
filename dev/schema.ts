/** `npm run schema`: write the dataset contract and the manifest as JSON Schema (docs/). */
import { writeFileSync } from 'node:fs';
import { datasetJsonSchema } from '../shared/dataset/contract.js';
import { manifestJsonSchema } from '../shared/lifecycle/records.js';

export const SCHEMA_FILE = 'docs/dataset.schema.json';
export const MANIFEST_SCHEMA_FILE = 'docs/manifest.schema.json';
export const schemaText = () => JSON.stringify(datasetJsonSchema(), null, 2) + '\n';
export const manifestSchemaText = () => JSON.stringify(manifestJsonSchema(), null, 2) + '\n';

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(SCHEMA_FILE, schemaText());
  writeFileSync(MANIFEST_SCHEMA_FILE, manifestSchemaText());
  process.stdout.write(`wrote ${SCHEMA_FILE} and ${MANIFEST_SCHEMA_FILE}\n`);
}
