/**
 * PostgreSQL statements of the set-based merge (lib/merge/plan.ts says which keys go
 * where). Every statement takes its rows as one array parameter per column and expands
 * them with unnest(), so a batch of any size is a handful of statements with a handful of
 * parameters (no 65535-parameter limit, one parse per statement).
 *
 * Stage columns are named positionally (_fs_k<i>, _fs_v<i>, _fs_w<i>: key, value, "this
 * field won") so that no user column name can collide with them.
 */
import { DELETE_STAMP, INSERT_STAMP, clockTable, tombTable } from '../../merge/clock-layout.js';
import type { ColumnSpec } from '../../types.js';
import { postgresDialect as d } from './dialect.js';

type Name = { schema: string; name: string };

/** What the statements need to know about one merged table. */
export interface PgMergeTable {
  target: Name;
  key: ColumnSpec[];
  /** Non-key columns the batch carries (the ones that can win). */
  fields: ColumnSpec[];
  /** Every non-key column of the target (rows moved between T and its tomb keep all of them). */
  allFields: ColumnSpec[];
}

const q = (s: string) => d.quote(s);

/**
 * The type a bound array's elements are read as. A string is read as varchar without its
 * length: an explicit cast to varchar(n) truncates a longer string (SQL's rule for explicit
 * casts), so a too-long value would be cut silently, and a too-long key would match the
 * row of its prefix; read unmodified, it reaches the column by assignment, which refuses it
 * (dead letter). Other modifiers stay: numeric(p,s), time(p) and timestamp(p) round the
 * same way in an explicit cast and in assignment, and a key must be rounded as the column
 * rounds it to match its row.
 */
export function bindType(c: ColumnSpec): string {
  return c.type.kind === 'string' ? 'varchar' : d.nativeType(c.type);
}

const arr = (c: ColumnSpec, i: number) => `$${i}::${bindType(c)}[]`;

/** `alias.key IN <the key arrays starting at $start>` */
export function keyInSql(m: PgMergeTable, alias: string, start = 1): string {
  if (m.key.length === 1) return `${alias}.${q(m.key[0]!.name)} = ANY(${arr(m.key[0]!, start)})`;
  const cols = m.key.map((k) => `${alias}.${q(k.name)}`).join(', ');
  return `(${cols}) IN (SELECT * FROM unnest(${m.key.map((k, i) => arr(k, start + i)).join(', ')}))`;
}

/**
 * Lock the target rows first (the same order as a local edit: T row, then its clock row).
 * One row back (the count), not one per locked row for the driver to read.
 */
export function lockRowsSql(m: PgMergeTable): string {
  return `SELECT count(*) AS n FROM (SELECT 1 FROM ${d.qualified(m.target)} t WHERE ${keyInSql(m, 't')} FOR UPDATE) l`;
}

/** The stored clocks of the batch's keys, locked, and whether each has a tomb row. */
export function readClocksSql(m: PgMergeTable): string {
  const sel = [...m.key.map((k) => k.name), INSERT_STAMP, DELETE_STAMP, ...m.fields.map((f) => f.name)].map((c) => `c.${q(c)}`);
  const join = m.key.map((k) => `tb.${q(k.name)} = c.${q(k.name)}`).join(' AND ');
  return `SELECT ${sel.join(', ')}, (tb.${q(m.key[0]!.name)} IS NOT NULL) AS "_fs_has_tomb"
  FROM ${d.qualified(clockTable(m.target))} c LEFT JOIN ${d.qualified(tombTable(m.target))} tb ON ${join}
 WHERE ${keyInSql(m, 'c')} FOR UPDATE OF c`;
}

/** New rows into T or the tomb: key + the batch's fields. Params: key arrays, then field arrays. */
export function insertRowsSql(m: PgMergeTable, into: Name): string {
  const cols = [...m.key, ...m.fields];
  return `INSERT INTO ${d.qualified(into)} (${cols.map((c) => q(c.name)).join(', ')})
  SELECT * FROM unnest(${cols.map((c, i) => arr(c, i + 1)).join(', ')})`;
}

/** The stage relation: key arrays, value arrays and winner-flag arrays, positionally named. */
function stageSql(m: PgMergeTable): string {
  const parts: string[] = [];
  const names: string[] = [];
  let p = 1;
  m.key.forEach((k, i) => { parts.push(arr(k, p++)); names.push(`_fs_k${i}`); });
  m.fields.forEach((f, i) => { parts.push(arr(f, p++)); names.push(`_fs_v${i}`); });
  m.fields.forEach((_f, i) => { parts.push(`$${p++}::boolean[]`); names.push(`_fs_w${i}`); });
  return `unnest(${parts.join(', ')}) AS s(${names.join(', ')})`;
}

const stageJoin = (m: PgMergeTable, alias: string) => m.key.map((k, i) => `${alias}.${q(k.name)} = s._fs_k${i}`).join(' AND ');

/**
 * Winning fields into existing rows (of T or the tomb): a field is written only where its
 * flag says it won. Params: key arrays, value arrays, flag arrays.
 */
export function updateRowsSql(m: PgMergeTable, into: Name): string {
  const sets = m.fields.map((f, i) => `${q(f.name)} = CASE WHEN s._fs_w${i} THEN s._fs_v${i} ELSE t.${q(f.name)} END`);
  return `UPDATE ${d.qualified(into)} AS t SET ${sets.join(', ')}
  FROM ${stageSql(m)} WHERE ${stageJoin(m, 't')}`;
}

/**
 * Move rows between T and its tomb, merging the batch's winning fields on the way, in one
 * statement: the DELETE … RETURNING feeds the INSERT. Fields the batch does not carry move
 * unchanged. A row already at the destination is overwritten (it cannot be newer: the
 * clock says the row lives at the source). Params as updateRowsSql.
 */
export function moveRowsSql(m: PgMergeTable, from: Name, to: Name): string {
  const batch = new Map(m.fields.map((f, i) => [f.name, i]));
  const ret = [
    ...m.key.map((k, i) => `f.${q(k.name)} AS "_fs_k${i}"`),
    ...m.allFields.map((f, j) => {
      const i = batch.get(f.name);
      return i === undefined ? `f.${q(f.name)} AS "_fs_m${j}"` : `CASE WHEN s._fs_w${i} THEN s._fs_v${i} ELSE f.${q(f.name)} END AS "_fs_m${j}"`;
    }),
  ];
  const cols = [...m.key, ...m.allFields].map((c) => q(c.name));
  const update = m.allFields.length > 0 ? `DO UPDATE SET ${m.allFields.map((f) => `${q(f.name)} = EXCLUDED.${q(f.name)}`).join(', ')}` : 'DO NOTHING';
  return `WITH moved AS (DELETE FROM ${d.qualified(from)} f USING ${stageSql(m)} WHERE ${stageJoin(m, 'f')} RETURNING ${ret.join(', ')})
INSERT INTO ${d.qualified(to)} (${cols.join(', ')})
  SELECT ${[...m.key.map((_k, i) => `"_fs_k${i}"`), ...m.allFields.map((_f, j) => `"_fs_m${j}"`)].join(', ')} FROM moved
  ON CONFLICT (${m.key.map((k) => q(k.name)).join(', ')}) ${update}`;
}

/**
 * Clock rows: the new stamps, joined with what is stored by GREATEST (NULL-ignoring in
 * PostgreSQL), so the upsert stays a semilattice join even against a concurrent local edit.
 * Params: key arrays, then one bigint[] per stamp column (default: _fs_ins, _fs_del and one
 * per batch field; the sink passes only the stamps that changed).
 */
export function upsertClocksSql(m: PgMergeTable, stampCols: string[] = [INSERT_STAMP, DELETE_STAMP, ...m.fields.map((f) => f.name)]): string {
  const cols = [...m.key.map((k) => k.name), ...stampCols].map(q);
  const arrays = [...m.key.map((k, i) => arr(k, i + 1)), ...stampCols.map((_c, j) => `$${m.key.length + j + 1}::bigint[]`)];
  return `INSERT INTO ${d.qualified(clockTable(m.target))} AS c (${cols.join(', ')})
  SELECT * FROM unnest(${arrays.join(', ')})
  ON CONFLICT (${m.key.map((k) => q(k.name)).join(', ')}) ${stampCols.length ? `DO UPDATE SET ${stampCols.map((c) => `${q(c)} = GREATEST(c.${q(c)}, EXCLUDED.${q(c)})`).join(', ')}` : 'DO NOTHING'}`;
}

/** Offsets of the batch, in the merge transaction. Params: consumer text[], topic text[], partition int[], next_offset bigint[]. */
export function upsertOffsetsSql(offsetsTable: string): string {
  return `INSERT INTO ${offsetsTable} AS o (consumer, topic, "partition", next_offset, updated_at)
  SELECT c, t, p, n, now() FROM unnest($1::text[], $2::text[], $3::integer[], $4::bigint[]) AS x(c, t, p, n)
  ON CONFLICT (consumer, topic, "partition") DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = EXCLUDED.updated_at`;
}
