/**
 * Where a target keeps its merge clocks, and the names of fieldsync's own objects.
 * Shared by the applier (merge), the reconciler (stage/swap), verify and the triggers.
 *
 * Layout, per synced table T (same schema as T):
 *
 *   T__fs_clock   key columns of T (primary key)
 *                 _fs_ins  BIGINT NULL   greatest stamp of an insert/snapshot of the row
 *                 _fs_del  BIGINT NULL   greatest stamp of a delete of the row
 *                 <col>    BIGINT NULL   one per non-key column of T, same name: the stamp
 *                                        of the write whose value the field holds
 *   T__fs_tomb    same columns as T (non-key nullable): field values of rows that are
 *                 currently absent (deleted, or updated before their insert arrived)
 *
 * Why a wide clock table with the column's own name: the merge is one set-based statement
 * per table where each field compares `incoming stamp > clock.<col>` — a single BIGINT
 * comparison, no per-field rows to join or pivot, and the SQL generator needs no
 * name mapping (a clock column and its data column have the same name).
 *
 * The merge state is a join-semilattice, so any order, duplicate or batch split converges:
 *   - each field holds the value of the write with the greatest stamp (ties impossible:
 *     the origin code is part of the stamp);
 *   - _fs_ins and _fs_del are maxima;
 *   - the row is present in T iff _fs_ins > coalesce(_fs_del, -inf); otherwise its field
 *     values (if any) live in T__fs_tomb. Updates never create a row; an update older than
 *     the delete therefore cannot resurrect it, while a newer insert does, and keeps the
 *     fields that a still newer update wrote.
 *
 * Stamps: see lib/stamp.ts. The SQL expressions below compute the same stamp inside a
 * trigger from the statement's time and the database's origin code.
 */
import type { SqlDialect } from '../dialect/dialect.js';
import { EPOCH_2020_MICROS, ORIGIN_SPACE, originCode } from '../stamp.js';
import type { TableSchema } from '../types.js';

export const INSERT_STAMP = '_fs_ins';
export const DELETE_STAMP = '_fs_del';
export const RESERVED_COLUMNS = [INSERT_STAMP, DELETE_STAMP];

const MAX_IDENTIFIER = 63; // PostgreSQL's limit; MySQL allows 64

function suffixed(table: { schema: string; name: string }, suffix: string): { schema: string; name: string } {
  const name = `${table.name}${suffix}`;
  if (name.length > MAX_IDENTIFIER) {
    throw new Error(`table name "${table.name}" is too long for fieldsync's companion table "${name}" (max ${MAX_IDENTIFIER} characters)`);
  }
  return { schema: table.schema, name };
}

export const clockTable = (t: { schema: string; name: string }) => suffixed(t, '__fs_clock');
export const tombTable = (t: { schema: string; name: string }) => suffixed(t, '__fs_tomb');

/** Non-key columns: the ones that carry a field clock. */
export function fieldColumns(t: TableSchema): string[] {
  return t.columns.filter((c) => !t.key.includes(c.name)).map((c) => c.name);
}

/**
 * fieldsync's own tables in a target or source database (offsets, outbox, checkpoints,
 * reconcile runs). PostgreSQL: `<fieldsyncSchema>.<name>`; MySQL: `fieldsync_<name>` in
 * the connection's database (no extra database privileges needed).
 */
export function systemTable(dialect: SqlDialect, fieldsyncSchema: string, name: string): string {
  return dialect.name === 'mysql' ? dialect.quote(`fieldsync_${name}`) : `${dialect.quote(fieldsyncSchema)}.${dialect.quote(name)}`;
}

/** SQL expression for "the stamp of a write made now in this database" (used by triggers). */
export function nowStampSql(dialect: SqlDialect, origin: string): string {
  const code = originCode(origin);
  switch (dialect.name) {
    case 'postgres':
      return `((floor(extract(epoch from statement_timestamp()) * 1000000)::bigint - ${EPOCH_2020_MICROS}) * ${ORIGIN_SPACE} + ${code})`;
    case 'mysql':
      return `((CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) - ${EPOCH_2020_MICROS}) * ${ORIGIN_SPACE} + ${code})`;
    case 'mssql':
      return `((CAST(DATEDIFF_BIG(MICROSECOND, '1970-01-01', SYSUTCDATETIME()) AS BIGINT) - ${EPOCH_2020_MICROS}) * ${ORIGIN_SPACE} + ${code})`;
  }
}

/** SQL condition true inside a fieldsync applier session (echo prevention in triggers). */
export function applierSessionSql(dialect: SqlDialect): string {
  switch (dialect.name) {
    case 'postgres': return `coalesce(current_setting('fieldsync.applier', true), '') = 'on'`;
    case 'mysql': return `coalesce(@fieldsync_applier, 0) = 1`;
    case 'mssql': return `coalesce(CAST(SESSION_CONTEXT(N'fieldsync.applier') AS int), 0) = 1`;
  }
}
