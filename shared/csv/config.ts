/** How CSV is read, typed and written. */
import { bool, component, loadConfig, int, list, num, oneOf, optionalString, variable, type Values } from '../runtime/config.js';

export const csvConfig = component({
  name: 'csv',
  vars: {
    CSV_ENCODING: variable(oneOf(['auto', 'utf-8', 'windows-1252', 'latin1'], 'auto'), 'auto detects UTF-8 (with or without BOM) or windows-1252.'),
    CSV_DELIMITER: variable(oneOf(['auto', ',', ';', '\t', '|', 'tab'], 'auto'), 'auto detects , ; tab or |.'),
    CSV_DECIMAL: variable(oneOf(['auto', '.', ','], 'auto'), 'Decimal separator; auto decides per column.'),
    CSV_NULL_VALUES: variable(list(',NA,N/A,null,NULL,n/a,#N/A'), 'Cell values read as null (the empty cell always is).'),
    CSV_FOLD_ACCENTS: variable(bool(false), 'Fold accents in column names (código → codigo).'),
    CSV_SNAKE_CASE: variable(bool(true), 'snake_case column names.'),
    CSV_SAMPLE_ROWS: variable(int(1000, 1, 1_000_000), 'Rows read to infer the column types.'),
    CSV_MAX_FIELD_BYTES: variable(int(10 * 1024 * 1024, 1024), 'Largest field; a larger one fails the file with its line (422).'),
    CSV_MAX_RECORD_BYTES: variable(int(32 * 1024 * 1024, 1024), 'Largest record; a larger one fails the file with its line (422).'),
    CSV_MAX_COLUMNS: variable(int(2000, 1, 100_000), 'Most columns a file may have.'),
    CSV_MAX_REJECT_RATIO: variable(num(0.05, 0, 1), 'Share of rejected rows above which the whole file fails.'),
    CSV_ESCAPE_FORMULAS: variable(bool(true), 'Neutralise spreadsheet formulas (= + - @ at a cell start) in output CSV.'),
    CSV_SCHEMA_FILE: variable(optionalString, 'JSON file of pinned schemas per key prefix (names, types, required columns).'),
  },
});

export type CsvConfig = Values<typeof csvConfig.vars>;

/** The CSV defaults (tests, the bench, tools). */
export function csvDefaults(env: Record<string, string | undefined> = {}): CsvConfig {
  return loadConfig({ csv: csvConfig }, env).csv;
}
