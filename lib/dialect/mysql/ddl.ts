/**
 * MySQL / MariaDB DDL for the merge: the offsets table, target tables created from a
 * source schema, the clock and tomb tables of clock-layout.ts, and columns added by
 * schema evolution. Pure text builders; identifiers quoted, no values inlined.
 *
 * Key columns use mysqlKeyType (MySQL cannot index TEXT/BLOB without a prefix); every
 * non-key column fieldsync creates is nullable (partial rows: see postgres/ddl.ts).
 */
import { DELETE_STAMP, INSERT_STAMP, clockTable, fieldColumns, tombTable } from '../../merge/clock-layout.js';
import type { ColumnSpec, TableSchema } from '../../types.js';
import { mysqlDialect as d, mysqlKeyType } from './dialect.js';

type Name = { schema: string; name: string };

const TABLE_OPTIONS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4';

export function createOffsetsTableSql(offsetsTable: string): string {
  return `CREATE TABLE IF NOT EXISTS ${offsetsTable} (
  consumer VARCHAR(255) NOT NULL,
  topic VARCHAR(255) NOT NULL,
  \`partition\` INT NOT NULL,
  next_offset BIGINT NOT NULL,
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (consumer, topic, \`partition\`)) ${TABLE_OPTIONS}`;
}

function columnDef(c: ColumnSpec, key: boolean): string {
  return key ? `${d.quote(c.name)} ${mysqlKeyType(c.type)} NOT NULL` : `${d.quote(c.name)} ${d.nativeType(c.type)} NULL`;
}

const primaryKey = (t: TableSchema) => `PRIMARY KEY (${t.key.map((k) => d.quote(k)).join(', ')})`;
const keySpecs = (t: TableSchema): ColumnSpec[] => t.key.map((k) => t.columns.find((c) => c.name === k)!);

export function createTableSql(into: Name, source: TableSchema): string {
  const cols = source.columns.map((c) => columnDef(c, source.key.includes(c.name)));
  return `CREATE TABLE IF NOT EXISTS ${d.qualified(into)} (${[...cols, primaryKey(source)].join(', ')}) ${TABLE_OPTIONS}`;
}

export function createClockTableSql(t: TableSchema): string {
  const cols = [
    ...keySpecs(t).map((c) => columnDef(c, true)),
    `${d.quote(INSERT_STAMP)} BIGINT NULL`, `${d.quote(DELETE_STAMP)} BIGINT NULL`,
    ...fieldColumns(t).map((f) => `${d.quote(f)} BIGINT NULL`),
  ];
  return `CREATE TABLE IF NOT EXISTS ${d.qualified(clockTable(t))} (${[...cols, primaryKey(t)].join(', ')}) ${TABLE_OPTIONS}`;
}

export function createTombTableSql(t: TableSchema): string {
  const cols = t.columns.map((c) => columnDef(c, t.key.includes(c.name)));
  return `CREATE TABLE IF NOT EXISTS ${d.qualified(tombTable(t))} (${[...cols, primaryKey(t)].join(', ')}) ${TABLE_OPTIONS}`;
}

/** A new nullable column on T, its clock and its tomb (the caller checked it is missing). */
export function addColumnSqls(t: Name, c: ColumnSpec): string[] {
  return [
    `ALTER TABLE ${d.qualified(t)} ADD COLUMN ${d.quote(c.name)} ${d.nativeType(c.type)} NULL`,
    `ALTER TABLE ${d.qualified(clockTable(t))} ADD COLUMN ${d.quote(c.name)} BIGINT NULL`,
    `ALTER TABLE ${d.qualified(tombTable(t))} ADD COLUMN ${d.quote(c.name)} ${d.nativeType(c.type)} NULL`,
  ];
}

/** Rows of T that predate fieldsync count as present since stamp 0 (see postgres/ddl.ts). */
export function backfillClockSql(t: TableSchema): string {
  const keys = t.key.map((k) => d.quote(k));
  return `INSERT IGNORE INTO ${d.qualified(clockTable(t))} (${keys.join(', ')}, ${d.quote(INSERT_STAMP)})
  SELECT ${keys.map((k) => `t.${k}`).join(', ')}, 0 FROM ${d.qualified(t)} t`;
}
