/**
 * PostgreSQL DDL for the merge: the offsets table, target tables created from a source
 * schema, the clock and tomb tables of clock-layout.ts, and columns added by schema
 * evolution. Pure text builders; identifiers quoted, no values inlined.
 *
 * Every non-key column fieldsync creates is nullable: a row can be created by an insert
 * that lost some fields to newer updates, and the tomb holds partial rows.
 */
import { DELETE_STAMP, INSERT_STAMP, clockTable, fieldColumns, tombTable } from '../../merge/clock-layout.js';
import type { ColumnSpec, TableSchema } from '../../types.js';
import { postgresDialect as d } from './dialect.js';

type Name = { schema: string; name: string };

export function createSchemaSql(schema: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${d.quote(schema)}`;
}

/** Offsets consumed per (consumer, topic, partition), written in the merge transaction. */
export function createOffsetsTableSql(offsetsTable: string): string {
  return `CREATE TABLE IF NOT EXISTS ${offsetsTable} (
  consumer text NOT NULL,
  topic text NOT NULL,
  "partition" integer NOT NULL,
  next_offset bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, topic, "partition"))`;
}

function columnDef(c: ColumnSpec, key: boolean): string {
  return `${d.quote(c.name)} ${d.nativeType(c.type)}${key ? ' NOT NULL' : ''}`;
}

function primaryKey(t: TableSchema): string {
  return `PRIMARY KEY (${t.key.map((k) => d.quote(k)).join(', ')})`;
}

/** The target table, from the source's schema (key columns NOT NULL, the rest nullable). */
export function createTableSql(into: Name, source: TableSchema): string {
  const cols = source.columns.map((c) => columnDef(c, source.key.includes(c.name)));
  return `CREATE TABLE IF NOT EXISTS ${d.qualified(into)} (${[...cols, primaryKey(source)].join(', ')})`;
}

const keySpecs = (t: TableSchema): ColumnSpec[] => t.key.map((k) => t.columns.find((c) => c.name === k)!);

/** T__fs_clock: key, _fs_ins, _fs_del, one BIGINT stamp per non-key column. */
export function createClockTableSql(t: TableSchema): string {
  const cols = [
    ...keySpecs(t).map((c) => columnDef(c, true)),
    `${d.quote(INSERT_STAMP)} bigint`, `${d.quote(DELETE_STAMP)} bigint`,
    ...fieldColumns(t).map((f) => `${d.quote(f)} bigint`),
  ];
  return `CREATE TABLE IF NOT EXISTS ${d.qualified(clockTable(t))} (${[...cols, primaryKey(t)].join(', ')})`;
}

/** T__fs_tomb: the columns of T, non-key nullable. */
export function createTombTableSql(t: TableSchema): string {
  const cols = t.columns.map((c) => columnDef(c, t.key.includes(c.name)));
  return `CREATE TABLE IF NOT EXISTS ${d.qualified(tombTable(t))} (${[...cols, primaryKey(t)].join(', ')})`;
}

/** A new nullable column (schema evolution) on T, its clock (a stamp) and its tomb. */
export function addColumnSqls(t: Name, c: ColumnSpec): string[] {
  return [
    `ALTER TABLE ${d.qualified(t)} ADD COLUMN IF NOT EXISTS ${d.quote(c.name)} ${d.nativeType(c.type)}`,
    `ALTER TABLE ${d.qualified(clockTable(t))} ADD COLUMN IF NOT EXISTS ${d.quote(c.name)} bigint`,
    `ALTER TABLE ${d.qualified(tombTable(t))} ADD COLUMN IF NOT EXISTS ${d.quote(c.name)} ${d.nativeType(c.type)}`,
  ];
}

/**
 * Rows of T that existed before fieldsync (no clock row) count as present since the
 * start of stamp time (_fs_ins = 0) with unknown field stamps, so any real write beats them.
 */
export function backfillClockSql(t: TableSchema): string {
  const keys = t.key.map((k) => d.quote(k));
  const join = t.key.map((k) => `c.${d.quote(k)} = t.${d.quote(k)}`).join(' AND ');
  return `INSERT INTO ${d.qualified(clockTable(t))} (${keys.join(', ')}, ${d.quote(INSERT_STAMP)})
  SELECT ${keys.map((k) => `t.${k}`).join(', ')}, 0 FROM ${d.qualified(t)} t
   WHERE NOT EXISTS (SELECT 1 FROM ${d.qualified(clockTable(t))} c WHERE ${join})
  ON CONFLICT DO NOTHING`;
}
