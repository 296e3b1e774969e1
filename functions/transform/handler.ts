/** transform: an object reference (from webhook) or a CSV body (ad-hoc) in, the typed dataset out. */
import type { FunctionModule } from '../../shared/runtime/main.js';
import { loadSchemaFile } from '../../shared/csv/pinned-schema.js';
import { Problem } from '../../shared/runtime/problem.js';
import { createStorage } from '../../shared/storage/s3.js';
import { transformAdhoc, transformObject } from './requests.js';

export const transform: FunctionModule = {
  name: 'transform',
  maxBodyBytes: Infinity,
  validate: (config) => {
    try {
      if (config.CSV_SCHEMA_FILE) loadSchemaFile(config.CSV_SCHEMA_FILE);
      return [];
    } catch (err) {
      return [(err as Error).message];
    }
  },
  create: (config) => {
    const deps = { config, s3: createStorage(config), schemas: config.CSV_SCHEMA_FILE ? loadSchemaFile(config.CSV_SCHEMA_FILE) : [] };
    return async (event, ctx) => {
      const type = String(event.headers['content-type'] ?? '');
      if (type.startsWith('application/json') && event.method === 'POST') {
        const chunks: Buffer[] = [];
        for await (const c of event.body) chunks.push(c as Buffer);
        let ref: unknown;
        try {
          ref = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
        } catch (err) {
          throw new Problem(400, 'invalid-json', 'Malformed JSON', `an object reference was expected: ${(err as Error).message}`);
        }
        return transformObject(ref, deps, ctx);
      }
      return transformAdhoc(event, deps, ctx);
    };
  },
};
