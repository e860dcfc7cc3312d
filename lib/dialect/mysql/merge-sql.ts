/**
 * MySQL 8 / MariaDB statements of the set-based merge (lib/merge/plan.ts says which keys
 * go where). New rows are multi-row INSERT … VALUES; merges into existing rows go through a
 * per-batch TEMPORARY stage table (one multi-row INSERT, then UPDATE … JOIN and
 * INSERT … SELECT … JOIN statements filtered by the stage row's operation).
 *
 * Upserts come in the two forms of the two servers (`rowAlias`):
 *   MariaDB / MySQL < 8.0.19   … ON DUPLICATE KEY UPDATE c = VALUES(c)
 *   MySQL 8.0.19+              … VALUES (…) AS _fs_new ON DUPLICATE KEY UPDATE c = _fs_new.c
 *                              (INSERT … SELECT: the SELECT becomes a derived table _fs_new)
 * ON DUPLICATE KEY UPDATE evaluates its assignments left to right and a later assignment
 * sees the NEW value of a column assigned earlier: every assignment here reads only its own
 * column and the incoming row, never another assigned column.
 *
 * GREATEST() is NULL if any argument is NULL in MySQL, hence GREATEST(COALESCE(a, b), COALESCE(b, a)).
 */
import { DELETE_STAMP, INSERT_STAMP, clockTable, tombTable } from '../../merge/clock-layout.js';
import type { ColumnSpec } from '../../types.js';
import { mysqlDialect as d, mysqlKeyType } from './dialect.js';

type Name = { schema: string; name: string };

export interface MysqlMergeTable {
  target: Name;
  key: ColumnSpec[];
  /** Non-key columns the batch carries (the ones that can win). */
  fields: ColumnSpec[];
  /** Every non-key column of the target (rows moved between T and its tomb keep all of them). */
  allFields: ColumnSpec[];
}

/** Operation of a stage row. */
export const STAGE_OP = { updateTable: 1, reviveFromTomb: 2, buryFromTable: 3, updateTomb: 4 } as const;
export const STAGE_TABLE = '_fs_stage';

const q = (s: string) => d.quote(s);
const NEW = '_fs_new';
const placeholders = (n: number) => `(${new Array<string>(n).fill('?').join(', ')})`;

/** `alias.key IN (…)` for `rows` keys; params: the key values row by row. */
export function keyInSql(m: MysqlMergeTable, alias: string, rows: number): string {
  if (m.key.length === 1) return `${alias}.${q(m.key[0]!.name)} IN ${placeholders(rows)}`;
  const tuple = placeholders(m.key.length);
  return `(${m.key.map((k) => `${alias}.${q(k.name)}`).join(', ')}) IN (${new Array<string>(rows).fill(tuple).join(', ')})`;
}

/** Lock the target rows first (the same order as a local edit: T row, then its clock row). */
export function lockRowsSql(m: MysqlMergeTable, rows: number): string {
  return `SELECT 1 FROM ${d.qualified(m.target)} t WHERE ${keyInSql(m, 't', rows)} FOR UPDATE`;
}

export function readClocksSql(m: MysqlMergeTable, rows: number): string {
  const sel = [...m.key.map((k) => k.name), INSERT_STAMP, DELETE_STAMP, ...m.fields.map((f) => f.name)].map((c) => `c.${q(c)}`);
  const join = m.key.map((k) => `tb.${q(k.name)} = c.${q(k.name)}`).join(' AND ');
  return `SELECT ${sel.join(', ')}, (tb.${q(m.key[0]!.name)} IS NOT NULL) AS _fs_has_tomb
  FROM ${d.qualified(clockTable(m.target))} c LEFT JOIN ${d.qualified(tombTable(m.target))} tb ON ${join}
 WHERE ${keyInSql(m, 'c', rows)} FOR UPDATE`;
}

/** New rows (key + batch fields); params row by row. */
export function insertRowsSql(m: MysqlMergeTable, into: Name, rows: number): string {
  const cols = [...m.key, ...m.fields];
  return `INSERT INTO ${d.qualified(into)} (${cols.map((c) => q(c.name)).join(', ')}) VALUES ${new Array<string>(rows).fill(placeholders(cols.length)).join(', ')}`;
}

/**
 * Winning fields of existing rows, for rows that share the same winning columns (`m.fields`
 * are exactly those): INSERT … ON DUPLICATE KEY UPDATE of only those columns. Only valid
 * when every other non-key column of `into` is nullable (MySQL checks the insert row's
 * NOT NULL columns before it finds the duplicate). Params row by row: keys, winners.
 */
export function upsertWinnersSql(m: MysqlMergeTable, into: Name, rows: number, rowAlias: boolean): string {
  const cols = [...m.key, ...m.fields];
  const sets = m.fields.map((f) => `${q(f.name)} = ${rowAlias ? `${NEW}.${q(f.name)}` : `VALUES(${q(f.name)})`}`);
  return `INSERT INTO ${d.qualified(into)} (${cols.map((c) => q(c.name)).join(', ')}) VALUES ${new Array<string>(rows).fill(placeholders(cols.length)).join(', ')}${rowAlias ? ` AS ${NEW}` : ''} ON DUPLICATE KEY UPDATE ${sets.join(', ')}`;
}

/** The stage: op, key, one value and one winner flag per batch field (positional names). */
export function createStageSql(m: MysqlMergeTable): string[] {
  const cols = [
    '_fs_op TINYINT NOT NULL',
    ...m.key.map((k, i) => `_fs_k${i} ${mysqlKeyType(k.type)} NOT NULL`),
    ...m.fields.map((f, i) => `_fs_v${i} ${d.nativeType(f.type)} NULL`),
    ...m.fields.map((_f, i) => `_fs_w${i} TINYINT NOT NULL`),
  ];
  return [
    `DROP TEMPORARY TABLE IF EXISTS ${STAGE_TABLE}`,
    `CREATE TEMPORARY TABLE ${STAGE_TABLE} (${cols.join(', ')}, PRIMARY KEY (${m.key.map((_k, i) => `_fs_k${i}`).join(', ')})) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  ];
}

export const dropStageSql = () => `DROP TEMPORARY TABLE IF EXISTS ${STAGE_TABLE}`;

/** Params row by row: op, keys, values, flags. */
export function insertStageSql(m: MysqlMergeTable, rows: number): string {
  const n = 1 + m.key.length + 2 * m.fields.length;
  return `INSERT INTO ${STAGE_TABLE} VALUES ${new Array<string>(rows).fill(placeholders(n)).join(', ')}`;
}

const stageJoin = (m: MysqlMergeTable, alias: string) => m.key.map((k, i) => `${alias}.${q(k.name)} = s._fs_k${i}`).join(' AND ');

/** Winning fields into existing rows of T or the tomb. Param: the stage op. */
export function updateFromStageSql(m: MysqlMergeTable, into: Name): string {
  const sets = m.fields.map((f, i) => `t.${q(f.name)} = IF(s._fs_w${i}, s._fs_v${i}, t.${q(f.name)})`);
  return `UPDATE ${d.qualified(into)} t JOIN ${STAGE_TABLE} s ON ${stageJoin(m, 't')} SET ${sets.join(', ')} WHERE s._fs_op = ?`;
}

/**
 * Copy rows between T and its tomb, merging the batch's winning fields on the way (the
 * caller deletes them from `from` next). A row already at the destination is overwritten.
 * Param: the stage op.
 */
export function moveFromStageSql(m: MysqlMergeTable, from: Name, to: Name, rowAlias: boolean): string {
  const batch = new Map(m.fields.map((f, i) => [f.name, i]));
  const cols = [...m.key, ...m.allFields].map((c) => c.name);
  const exprs = [
    ...m.key.map((k) => `f.${q(k.name)}`),
    ...m.allFields.map((f) => {
      const i = batch.get(f.name);
      return i === undefined ? `f.${q(f.name)}` : `IF(s._fs_w${i}, s._fs_v${i}, f.${q(f.name)})`;
    }),
  ];
  const select = `SELECT ${exprs.map((e, j) => `${e} AS ${q(cols[j]!)}`).join(', ')} FROM ${d.qualified(from)} f JOIN ${STAGE_TABLE} s ON ${stageJoin(m, 'f')} WHERE s._fs_op = ?`;
  const targetCols = `${d.qualified(to)} (${cols.map(q).join(', ')})`;
  const updated = m.allFields.length > 0 ? m.allFields.map((f) => f.name) : [m.key[0]!.name];
  if (rowAlias) {
    return `INSERT INTO ${targetCols} SELECT * FROM (${select}) AS ${NEW} ON DUPLICATE KEY UPDATE ${updated.map((c) => `${d.qualified(to)}.${q(c)} = ${NEW}.${q(c)}`).join(', ')}`;
  }
  // the SELECT joins tables with the same column names: qualify the assigned column
  return `INSERT INTO ${targetCols} ${select} ON DUPLICATE KEY UPDATE ${updated.map((c) => `${d.qualified(to)}.${q(c)} = VALUES(${q(c)})`).join(', ')}`;
}

/** Remove the rows a move copied. Param: the stage op. */
export function deleteByStageSql(m: MysqlMergeTable, from: Name): string {
  return `DELETE f FROM ${d.qualified(from)} f JOIN ${STAGE_TABLE} s ON ${stageJoin(m, 'f')} WHERE s._fs_op = ?`;
}

/**
 * Clock rows joined with what is stored (GREATEST of non-NULL). Params row by row: keys,
 * then the stamp columns (default: _fs_ins, _fs_del, field stamps; the sink passes only
 * the stamps that changed).
 */
export function upsertClocksSql(m: MysqlMergeTable, rows: number, rowAlias: boolean, stampCols: string[] = [INSERT_STAMP, DELETE_STAMP, ...m.fields.map((f) => f.name)]): string {
  const cols = [...m.key.map((k) => k.name), ...stampCols];
  const incoming = (c: string) => (rowAlias ? `${NEW}.${q(c)}` : `VALUES(${q(c)})`);
  const sets = stampCols.map((c) => `${q(c)} = GREATEST(COALESCE(${q(c)}, ${incoming(c)}), COALESCE(${incoming(c)}, ${q(c)}))`);
  if (sets.length === 0) sets.push(`${q(m.key[0]!.name)} = ${q(m.key[0]!.name)}`);
  return `INSERT INTO ${d.qualified(clockTable(m.target))} (${cols.map(q).join(', ')}) VALUES ${new Array<string>(rows).fill(placeholders(cols.length)).join(', ')}${rowAlias ? ` AS ${NEW}` : ''} ON DUPLICATE KEY UPDATE ${sets.join(', ')}`;
}

/** Params row by row: consumer, topic, partition, next_offset. */
export function upsertOffsetsSql(offsetsTable: string, rows: number, rowAlias: boolean): string {
  const next = rowAlias ? `${NEW}.next_offset` : 'VALUES(next_offset)';
  return `INSERT INTO ${offsetsTable} (consumer, topic, \`partition\`, next_offset) VALUES ${new Array<string>(rows).fill('(?, ?, ?, ?)').join(', ')}${rowAlias ? ` AS ${NEW}` : ''} ON DUPLICATE KEY UPDATE next_offset = ${next}, updated_at = CURRENT_TIMESTAMP(6)`;
}
