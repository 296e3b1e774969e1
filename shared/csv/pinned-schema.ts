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
import { ColumnType } from '../dataset/contract.js';

export const PinnedColumn = z.strictObject({
  /** Output column name. */
  name: z.string().min(1),
  /** Header in the file (matched trimmed, case-insensitive); default: a header normalising to `name`. */
  source: z.string().optional(),
  type: ColumnType.optional(),
  required: z.boolean().default(false),
});
export type PinnedColumn = z.infer<typeof PinnedColumn>;

export const PinnedSchema = z.strictObject({
  prefix: z.string(),
  columns: z.array(PinnedColumn).min(1),
});
export type PinnedSchema = z.infer<typeof PinnedSchema>;

export const SchemaFile = z.strictObject({ schemas: z.array(PinnedSchema) });

export function loadSchemaFile(path: string): PinnedSchema[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`CSV_SCHEMA_FILE: cannot read ${path}: ${(err as Error).message}`);
  }
  const parsed = SchemaFile.safeParse(raw);
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
