/**
 * The line layout both bulk loads share (MySQL/MariaDB LOAD DATA and PostgreSQL COPY text):
 * one row per line, fields separated by tabs, every line ending in a newline. What a field
 * looks like (NULL, escapes, booleans, bytes) is the dialect's, passed in as `field`.
 */
import type { ColumnType, Value } from '../types.js';

export interface BulkColumn { name: string; type: ColumnType }

/** One canonical value as a field of a dialect's load format. */
export type BulkFieldRenderer = (v: Value, t: ColumnType) => string;

/**
 * Rows (values in column order) as tab-separated lines; '' for no rows. This is the hot path
 * of every bulk load: a plain indexed loop that builds one string per row and nothing else.
 */
export function renderBulkLines(rows: readonly (readonly Value[])[], columns: readonly BulkColumn[], field: BulkFieldRenderer): string {
  const parts: string[] = new Array<string>(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    let line = '';
    for (let c = 0; c < columns.length; c++) {
      if (c > 0) line += '\t';
      line += field(row[c] ?? null, columns[c]!.type);
    }
    parts[r] = line;
  }
  return parts.length ? `${parts.join('\n')}\n` : '';
}
