/**
 * Keyset pagination SQL for verify: walk a table in primary-key order, chunk by chunk,
 * with `WHERE key > :last ORDER BY key LIMIT n` (never OFFSET, which rescans), and read
 * the rows of a key range `(lo, hi]` on the other side.
 *
 * Both databases must agree on the key order, or a range would hold different rows on
 * each side. Numbers, dates, timestamps, uuids and binary sort the same everywhere, but
 * strings do not (PostgreSQL's locale collation, MariaDB's case-insensitive
 * utf8mb4_general_ci). String key columns are therefore compared and sorted by their
 * bytes on both sides: PostgreSQL `COLLATE "C"`, MySQL `BINARY col`, which is UTF-8 byte
 * order = code point order in both. The price: for string keys the database cannot walk
 * the primary-key index in that order and sorts each chunk (documented in docs/replay.md).
 * SQL Server (verify reads it as a capture source) sorts strings with a BIN2 collation.
 *
 * A composite key's "after" predicate is expanded (`a > ? OR (a = ? AND b > ?)`) rather
 * than written as a row constructor, which every supported server optimises as a range.
 */
import type { SqlDialect } from '../dialect/dialect.js';
import type { ColumnSpec, Value } from '../types.js';

/** Collects bound parameters and hands out the dialect's placeholders. */
export class ParamList {
  readonly values: unknown[] = [];
  constructor(private readonly dialect: SqlDialect) {}
  add(v: unknown): string {
    this.values.push(v);
    return this.dialect.param(this.values.length);
  }
}

/** The expression a key column is compared and ordered by (byte order for strings). */
export function keyExpr(dialect: SqlDialect, col: ColumnSpec): string {
  const q = dialect.quote(col.name);
  if (col.type.kind !== 'string') return q;
  switch (dialect.name) {
    case 'postgres': return `${q} COLLATE "C"`;
    case 'mysql': return `BINARY ${q}`;
    // code point order (equal to UTF-8 byte order outside the supplementary planes)
    case 'mssql': return `${q} COLLATE Latin1_General_100_BIN2`;
  }
}

/** A placeholder for a key value, cast where the server would otherwise compare loosely. */
function keyParam(dialect: SqlDialect, col: ColumnSpec, v: Value, params: ParamList): string {
  const p = params.add(dialect.toDb(v, col.type));
  // MySQL compares an integer column with a string parameter as DOUBLE: exact only to 2^53.
  if (dialect.name === 'mysql' && col.type.kind === 'int') return `CAST(${p} AS SIGNED)`;
  return p;
}

/** `key > after` in the lexicographic key order. */
export function afterPredicate(dialect: SqlDialect, key: ColumnSpec[], after: Value[], params: ParamList): string {
  const ors: string[] = [];
  for (let i = 0; i < key.length; i++) {
    const ands: string[] = [];
    for (let j = 0; j < i; j++) ands.push(`${keyExpr(dialect, key[j]!)} = ${keyParam(dialect, key[j]!, after[j]!, params)}`);
    ands.push(`${keyExpr(dialect, key[i]!)} > ${keyParam(dialect, key[i]!, after[i]!, params)}`);
    ors.push(ands.length === 1 ? ands[0]! : `(${ands.join(' AND ')})`);
  }
  return ors.length === 1 ? ors[0]! : `(${ors.join(' OR ')})`;
}

export interface RangeQuery {
  table: string; // already qualified and quoted
  columns: string[];
  key: ColumnSpec[];
  /** Exclusive lower bound (absent: from the first key). */
  after?: Value[] | undefined;
  /** Inclusive upper bound (absent: to the last key). */
  upTo?: Value[] | undefined;
  limit: number;
}

/** SELECT of at most `limit` rows of the key range (after, upTo], in key order. */
export function rangeSelect(dialect: SqlDialect, q: RangeQuery): { sql: string; params: unknown[] } {
  const params = new ParamList(dialect);
  const where: string[] = [];
  if (q.after) where.push(afterPredicate(dialect, q.key, q.after, params));
  if (q.upTo) where.push(`NOT ${afterPredicate(dialect, q.key, q.upTo, params)}`);
  const cols = q.columns.map((c) => dialect.quote(c)).join(', ');
  const order = q.key.map((k) => keyExpr(dialect, k)).join(', ');
  const limit = Math.trunc(q.limit);
  const filter = where.length ? ` WHERE ${where.join(' AND ')}` : '';
  // SQL Server (a capture source verify may read) has TOP instead of LIMIT.
  const sql = dialect.name === 'mssql'
    ? `SELECT TOP (${limit}) ${cols} FROM ${q.table}${filter} ORDER BY ${order}`
    : `SELECT ${cols} FROM ${q.table}${filter} ORDER BY ${order} LIMIT ${limit}`;
  return { sql, params: params.values };
}

/** SELECT of the rows whose keys are in `keys` (point lookups, e.g. of clock rows). */
export function keysSelect(dialect: SqlDialect, table: string, columns: string[], key: ColumnSpec[], keys: Value[][]): { sql: string; params: unknown[] } {
  const params = new ParamList(dialect);
  const cols = columns.map((c) => dialect.quote(c)).join(', ');
  let where: string;
  if (key.length === 1) {
    const k = key[0]!;
    where = `${keyExpr(dialect, k)} IN (${keys.map((v) => keyParam(dialect, k, v[0]!, params)).join(', ')})`;
  } else {
    where = keys.map((v) => `(${key.map((k, i) => `${keyExpr(dialect, k)} = ${keyParam(dialect, k, v[i]!, params)}`).join(' AND ')})`).join(' OR ');
  }
  return { sql: `SELECT ${cols} FROM ${table} WHERE ${where}`, params: params.values };
}
