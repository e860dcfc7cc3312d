/**
 * The column type model shared by every dialect, the Avro mapping and the merge.
 *
 * Each dialect maps its native types to a ColumnType (and back), and every value that
 * crosses fieldsync is held in one canonical JavaScript form per kind, chosen so that
 * nothing is rounded, shifted or re-encoded on the way:
 *
 * | kind       | canonical JS value                                   | Avro                         |
 * |------------|------------------------------------------------------|------------------------------|
 * | int (≤32)  | number                                               | int                          |
 * | int (64)   | bigint                                               | long                         |
 * | float      | number                                               | float / double               |
 * | decimal    | string, plain notation ("-12.3400"), exact           | bytes, decimal(p, s)         |
 * | bool       | boolean                                              | boolean                      |
 * | string     | string (Unicode intact)                              | string                       |
 * | json       | string (the JSON text)                               | string                       |
 * | uuid       | string, lower-case 8-4-4-4-12                        | string, uuid                 |
 * | bytes      | Buffer                                               | bytes                        |
 * | date       | string "YYYY-MM-DD" (a calendar day, no time zone)   | int, date                    |
 * | time       | string "HH:MM:SS.ffffff"                             | long, time-micros            |
 * | timestamp  | string "YYYY-MM-DD HH:MM:SS.ffffff", always UTC      | long, timestamp-micros       |
 *
 * A timestamp with time zone is converted to UTC on read; one without is taken as UTC
 * (sessions are opened with the UTC time zone). `tz` records what the column was so a
 * target can be created with the same kind.
 */
import { DataError } from './errors.js';
export type ColumnType =
  | { kind: 'int'; bits: 8 | 16 | 32 | 64 }
  | { kind: 'float'; bits: 32 | 64 }
  | { kind: 'decimal'; precision: number; scale: number }
  | { kind: 'bool' }
  | { kind: 'string'; maxLength?: number | undefined }
  | { kind: 'json' }
  | { kind: 'uuid' }
  | { kind: 'bytes'; maxLength?: number | undefined }
  | { kind: 'date' }
  | { kind: 'time'; precision: number }
  | { kind: 'timestamp'; precision: number; tz: boolean };

export type ColumnKind = ColumnType['kind'];

/** A value in canonical form (see the table above). null is SQL NULL. */
export type Value = string | number | bigint | boolean | Buffer | null;

/** A row: column name to canonical value. */
export type Row = Record<string, Value>;

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  nullable: boolean;
  /**
   * Only for SQL Server CDC: a LOB column ((max), text, ntext, image) whose value CDC
   * reports as NULL in update rows unless it changed. Such a column is never reported as
   * changed from an update row it did not change in.
   */
  lob?: boolean | undefined;
}

/** A table as fieldsync sees it: qualified name, columns in ordinal order, key columns. */
export interface TableSchema {
  /** Schema (namespace) in the database, or the MySQL database name; may be empty. */
  schema: string;
  name: string;
  columns: ColumnSpec[];
  /** Primary key (or configured key) column names, in key order. */
  key: string[];
}

export function columnOf(table: TableSchema, name: string): ColumnSpec {
  const c = table.columns.find((col) => col.name === name);
  if (!c) throw new Error(`table ${qualifiedName(table)} has no column "${name}"`);
  return c;
}

export function qualifiedName(t: { schema: string; name: string }): string {
  return t.schema ? `${t.schema}.${t.name}` : t.name;
}

/**
 * Column names fieldsync cannot carry. Rows are JavaScript objects keyed by column name, and
 * `__proto__` is not an own property there (assigning it replaces the object's prototype):
 * such a column's values would vanish without an error, so the table is refused up front.
 */
export function checkColumnNames(table: string, names: string[]): void {
  for (const n of names) {
    if (n === '__proto__') throw new DataError(`table ${table}: column "${n}" cannot be synced (the name is reserved in JavaScript objects, which hold fieldsync's rows): rename the column or leave the table out`);
  }
}
