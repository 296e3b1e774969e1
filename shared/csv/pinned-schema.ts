/**
 * Optional pinned schemas (`CSV_SCHEMA_FILE`): for objects under a key prefix, fix column
 * names, types and required columns, so a daily export keeps stable types. The longest
 * matching prefix wins. Columns the schema does not name are kept and inferred.
 *
 *   { "schemas": [ { "prefix": "sales/", "columns": [
 *       { "name": "cliente_id", "source": "ID Cliente", "type": "text", "required": true },
 *       { "name": "valor", "type": "decimal" } ] } ] }
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { COLUMN_TYPES } from '../dataset/contract.js';

/** The schema file's schemas, built on first use (a function without CSV_SCHEMA_FILE never needs them). */
function buildSchemaFile() {
  const PinnedColumn = z.strictObject({
    /** Output column name. */
    name: z.string().min(1),
    /** Header in the file (matched trimmed, case-insensitive); default: a header normalising to `name`. */
    source: z.string().optional(),
    type: z.enum(COLUMN_TYPES).optional(),
    required: z.boolean().default(false),
  });
  const PinnedSchema = z.strictObject({
    prefix: z.string(),
    columns: z.array(PinnedColumn).min(1),
  });
  return { PinnedColumn, PinnedSchema, SchemaFile: z.strictObject({ schemas: z.array(PinnedSchema) }) };
}
let schemaFile: ReturnType<typeof buildSchemaFile> | undefined;
export const schemaFileSchemas = () => (schemaFile ??= buildSchemaFile());
export type PinnedColumn = z.infer<ReturnType<typeof schemaFileSchemas>['PinnedColumn']>;
export type PinnedSchema = z.infer<ReturnType<typeof schemaFileSchemas>['PinnedSchema']>;

export function loadSchemaFile(path: string): PinnedSchema[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`CSV_SCHEMA_FILE: cannot read ${path}: ${(err as Error).message}`);
  }
  const parsed = schemaFileSchemas().SchemaFile.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new Error(`CSV_SCHEMA_FILE: ${i.path.join('.')}: ${i.message}`);
  }
  return parsed.data.schemas;
}

export function schemaFor(key: string, schemas: PinnedSchema[]): PinnedSchema | undefined {
  let best: PinnedSchema | undefined;
  for (const s of schemas) if (key.startsWith(s.prefix) && (!best || s.prefix.length > best.prefix.length)) best = s;
  return best;
}
