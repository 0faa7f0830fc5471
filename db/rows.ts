// A row that a raw statement returned as JSON (`to_jsonb(t)`), read back into the table's typed
// row the way drizzle reads its own results: for hot paths that do several things in one statement.
import { getTableColumns, type InferSelectModel, type Table } from 'drizzle-orm';

// JSON cannot carry these exactly (64-bit integers, arbitrary-precision numbers, bytes).
const NOT_FROM_JSON = new Set(['PgBigInt64', 'PgBigSerial64', 'PgNumeric', 'PgBytea']);

export function rowFromJson<T extends Table>(table: T, json: Record<string, unknown>): InferSelectModel<T> {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    if (NOT_FROM_JSON.has(column.columnType))
      throw new Error(`rowFromJson: column ${column.name} (${column.columnType}) does not survive JSON`);
    const value = json[column.name];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as InferSelectModel<T>;
}
