/**
 * One module per database dialect (postgres, mysql, mssql) knows its quoting, its types,
 * its parameters, upsert, bulk load and trigger DDL. Shared code never writes
 * dialect-specific SQL itself: it asks the dialect.
 *
 * Identifiers always go through `quote`; values are always bound as parameters.
 */
import type { ColumnType, TableSchema, Value } from '../types.js';

export type DialectName = 'postgres' | 'mysql' | 'mssql';

/** A column as read from the catalog (information_schema and friends). */
export interface NativeColumn {
  name: string;
  /** Catalog type name, lower-case: "numeric", "varchar", "datetime2", "timestamp with time zone" ... */
  dataType: string;
  /** Full declared type where the catalog has it (MySQL column_type: "tinyint(1)", "decimal(10,2)"). */
  columnType?: string | undefined;
  charMaxLength?: number | null | undefined;
  numericPrecision?: number | null | undefined;
  numericScale?: number | null | undefined;
  datetimePrecision?: number | null | undefined;
  nullable: boolean;
}

export interface SqlDialect {
  readonly name: DialectName;
  /** Quote one identifier (doubling the quote character inside it). */
  quote(identifier: string): string;
  /** Quote `schema.name` (schema may be empty). */
  qualified(t: { schema: string; name: string }): string;
  /** The bind placeholder for the 1-based parameter index. */
  param(index: number): string;
  /** Map a catalog column to the shared type model; throws a DataError naming the column for an unsupported type. */
  columnType(col: NativeColumn): ColumnType;
  /** DDL type for a shared type (used when fieldsync creates target/stage tables). */
  nativeType(t: ColumnType): string;
  /** Canonical value → what the driver binds. */
  toDb(v: Value, t: ColumnType): unknown;
  /** What the driver returned → canonical value. */
  fromDb(v: unknown, t: ColumnType): Value;
}

/** A query result row as the driver returns it. */
export type DbRow = Record<string, unknown>;

/** A connection pool (or one transaction on it) with the dialect that speaks to it. */
export interface Db {
  readonly dialect: SqlDialect;
  query(sql: string, params?: readonly unknown[]): Promise<DbRow[]>;
  /**
   * Rows as arrays of values in select-list order: for hot reads of many rows, where
   * building one object per row costs more than the query (PostgreSQL: about half).
   * MySQL does not implement it: mysql2 reads arrays slower than objects (measured: the
   * MariaDB capture fell from about 28k to 20k events/s with rowsAsArray).
   */
  queryArrays?(sql: string, params?: readonly unknown[]): Promise<unknown[][]>;
  /** Run a statement; returns affected rows. */
  execute(sql: string, params?: readonly unknown[]): Promise<number>;
  /** Run fn in one transaction on one connection; commit on success, roll back on throw. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  /**
   * Mark every session of this pool as a fieldsync applier session, so that trigger
   * outboxes and local-edit triggers skip the writes made through it (echo prevention).
   */
  applierSession?: boolean;
  poolSize?: number;
}

export function tableDisplayName(t: TableSchema): string {
  return t.schema ? `${t.schema}.${t.name}` : t.name;
}
