/**
 * MySQL / MariaDB statements of the sink's set-based merge (mysql-sink.ts, large batches):
 * the folded batch (lib/merge/fold.ts) is loaded into a TEMPORARY stage with LOAD DATA
 * LOCAL INFILE, and the server does what lib/merge/plan.ts does in JS on the row path:
 *
 *   lock           one statement: T rows, then their clock and tomb rows (UNION branches
 *                  run in order), by key ranges and IN lists; it counts the clock rows
 *   stage row      key, incoming insert/delete stamps (_fs_i, _fs_d), and per field that
 *                  the batch writes ("active", positional j): incoming value _fs_v<j> and
 *                  stamp _fs_s<j> (NULL: this key's events do not write the field)
 *   classify       one UPDATE of the stage joined with the clock and tomb rows: winner
 *                  flags _fs_w<j>, whether the clock changes (_fs_c) and exists
 *                  (_fs_known), and the plan part (_fs_op, STAGE_OP + SET_OP below), with
 *                  plan.ts's rules written as SQL expressions; then one SELECT of counts
 *   writes         one statement per non-empty plan part (updated rows of T and their
 *                  clock rows together), the moves between T and its tomb of
 *                  merge-sql.ts, then the other clock rows: new ones by INSERT … SELECT,
 *                  existing ones by UPDATE … JOIN raising only won stamps
 *
 * When no key has a clock row (a batch of inserts) there is no stage: loadClocksSql and
 * the dialect's loadDataSql put the rows straight into T, its tomb and the clock.
 *
 * Every expression of one UPDATE reads only columns the UPDATE does not assign (MySQL does
 * not promise an order for a multi-table UPDATE's assignments). GREATEST() is NULL if any
 * argument is NULL, hence COALESCE(GREATEST(a, b), a, b). Identifiers are quoted by the
 * dialect; values travel only in the LOAD DATA text or as bound parameters.
 */
import { DELETE_STAMP, INSERT_STAMP, clockTable, tombTable } from '../merge/clock-layout.js';
import { mysqlDialect as d, mysqlKeyType } from '../dialect/mysql/dialect.js';
import { STAGE_TABLE, keyInSql } from '../dialect/mysql/merge-sql.js';
import type { MysqlMergeTable } from '../dialect/mysql/merge-sql.js';
import type { ColumnSpec } from '../types.js';

type Name = { schema: string; name: string };

export interface SetMergeTable {
  target: Name;
  key: ColumnSpec[];
  /** Non-key columns the batch carries (an insert writes all of them, NULL where they lose). */
  fields: ColumnSpec[];
  /** Every non-key column of the target. */
  allFields: ColumnSpec[];
  /** The fields some event of the batch writes, in `fields` order: the stage's positional j. */
  active: ColumnSpec[];
}

/** Plan parts beyond merge-sql.ts's STAGE_OP (1–4), and "no write to T or tomb". */
export const SET_OP = { none: 0, insertTable: 5, insertTomb: 6 } as const;

const q = (s: string) => d.quote(s);
const S = STAGE_TABLE;

/**
 * The stage. `replace` (MariaDB): CREATE OR REPLACE, so a stage left on the connection by
 * the previous batch is dropped by this statement and the merge need not drop its own.
 */
export function createSetStageSql(m: SetMergeTable, replace = false): string {
  const cols = [
    ...m.key.map((k, i) => `_fs_k${i} ${mysqlKeyType(k.type)} NOT NULL`),
    '_fs_i BIGINT NULL', '_fs_d BIGINT NULL',
    ...m.active.map((_f, j) => `_fs_s${j} BIGINT NULL`),
    ...m.active.map((f, j) => `_fs_v${j} ${d.nativeType(f.type)} NULL`),
    ...m.active.map((_f, j) => `_fs_w${j} TINYINT NOT NULL DEFAULT 0`),
    '_fs_op TINYINT NOT NULL DEFAULT 0', '_fs_c TINYINT NOT NULL DEFAULT 0', '_fs_known TINYINT NOT NULL DEFAULT 0',
  ];
  // without `replace`, no DROP … IF EXISTS first: the stage is dropped at the end of every merge
  // that made it, and a failed transaction's connection is destroyed (lib/dialect/mysql/db.ts)
  return `CREATE ${replace ? 'OR REPLACE ' : ''}TEMPORARY TABLE ${S} (${cols.join(', ')}, PRIMARY KEY (${m.key.map((_k, i) => `_fs_k${i}`).join(', ')})) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;
}

/**
 * LOAD DATA of the stage. Text fields per row: keys, a row stamp, the stamps (_fs_i, _fs_d,
 * _fs_s<j>), the values (_fs_v<j>). A stamp field is \N for NULL, empty for "the row stamp"
 * (an insert stamps every field with one stamp: it is sent once per row, not per column),
 * else the stamp. Bytes travel as hex.
 */
export function loadSetStageSql(m: SetMergeTable): string {
  const targets: string[] = [];
  const sets: string[] = [];
  const column = (name: string, bytes: boolean, v: string) => {
    if (bytes) {
      targets.push(v);
      sets.push(`${name} = UNHEX(${v})`);
    } else {
      targets.push(name);
    }
  };
  m.key.forEach((k, i) => column(`_fs_k${i}`, k.type.kind === 'bytes', `@fs_k${i}`));
  targets.push('@fs_r');
  ['_fs_i', '_fs_d', ...m.active.map((_f, j) => `_fs_s${j}`)].forEach((c, n) => {
    targets.push(`@fs_x${n}`);
    sets.push(`${c} = IF(@fs_x${n} = '', @fs_r, @fs_x${n})`);
  });
  m.active.forEach((f, j) => column(`_fs_v${j}`, f.type.kind === 'bytes', `@fs_v${j}`));
  return `LOAD DATA LOCAL INFILE 'fieldsync-stream' INTO TABLE ${S} CHARACTER SET utf8mb4 `
    + `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${targets.join(', ')}) SET ${sets.join(', ')}`;
}

/** Which keys a locking read covers: a statement's WHERE text and its parameters. */
export interface KeyMatch {
  where: string;
  params: unknown[];
}

/** A run of consecutive integer keys of at least this length is matched as one range. */
const MIN_RUN = 8;

/**
 * The keys (bound key values, row by row) as WHERE conditions on `alias`, at most `maxParams`
 * parameters each. A single integer key column's runs of consecutive values become
 * `BETWEEN lo AND hi`: it matches exactly the run's keys (no other integer lies between),
 * and the server walks one index range instead of looking every key up; the other keys
 * are an IN list.
 */
export function keyMatches(m: MysqlMergeTable, alias: string, keys: readonly (readonly unknown[])[], maxParams: number): KeyMatch[] {
  const out: KeyMatch[] = [];
  const col = (k: ColumnSpec) => `${alias}.${q(k.name)}`;
  const k0 = m.key[0]!;
  if (m.key.length === 1 && k0.type.kind === 'int') {
    const ints: bigint[] = [];
    for (const k of keys) ints.push(BigInt(k[0] as bigint | number | string));
    let sorted = true;
    for (let i = 1; sorted && i < ints.length; i++) sorted = ints[i - 1]! <= ints[i]!;
    if (!sorted) ints.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const ranges: [bigint, bigint][] = [];
    const singles: bigint[] = [];
    for (let i = 0; i < ints.length;) {
      let j = i;
      while (j + 1 < ints.length && ints[j + 1]! - ints[j]! <= 1n) j++;
      if (j - i + 1 >= MIN_RUN) ranges.push([ints[i]!, ints[j]!]);
      else for (let x = i; x <= j; x++) if (x === i || ints[x] !== ints[x - 1]) singles.push(ints[x]!);
      i = j + 1;
    }
    let conds: string[] = [];
    let params: unknown[] = [];
    const flush = () => {
      if (conds.length) out.push({ where: conds.length === 1 ? conds[0]! : `(${conds.join(' OR ')})`, params });
      conds = [];
      params = [];
    };
    for (const [lo, hi] of ranges) {
      if (params.length + 2 > maxParams) flush();
      conds.push(`${col(k0)} BETWEEN ? AND ?`);
      params.push(lo, hi);
    }
    for (let i = 0; i < singles.length; i += maxParams) {
      const part = singles.slice(i, i + maxParams);
      if (params.length + part.length > maxParams) flush();
      conds.push(`${col(k0)} IN (${part.map(() => '?').join(', ')})`);
      params.push(...part);
    }
    flush();
    return out;
  }
  const per = Math.max(1, Math.floor(maxParams / m.key.length));
  for (let i = 0; i < keys.length; i += per) {
    const part = keys.slice(i, i + per);
    out.push({ where: keyInSql(m, alias, part.length), params: part.flat() });
  }
  return out;
}

/**
 * Lock the rows of T with these keys (and the gaps where a key is missing), then their clock
 * and tomb rows: one statement, whose UNION branches run in order, so T rows are locked
 * before clock rows as a local edit locks them (its trigger writes the clock). Two rows:
 * T rows, then clock rows (n) and tomb rows (tombs; read so that the optimizer cannot drop
 * the tomb from the join and leave its rows unlocked).
 */
export function lockRowsAndClocksSql(m: SetMergeTable, t: KeyMatch, c: KeyMatch): string {
  const join = m.key.map((k) => `tb.${q(k.name)} = c.${q(k.name)}`).join(' AND ');
  return `(SELECT COUNT(*) AS n, 0 AS tombs FROM ${d.qualified(m.target)} t WHERE ${t.where} FOR UPDATE) UNION ALL `
    + `(SELECT COUNT(c.${q(m.key[0]!.name)}), COUNT(tb.${q(m.key[0]!.name)}) FROM ${d.qualified(clockTable(m.target))} c `
    + `LEFT JOIN ${d.qualified(tombTable(m.target))} tb ON ${join} WHERE ${c.where} FOR UPDATE)`;
}

const stageJoin = (m: SetMergeTable, alias: string) => m.key.map((k, i) => `${alias}.${q(k.name)} = s._fs_k${i}`).join(' AND ');
const maxOf = (a: string, b: string) => `COALESCE(GREATEST(${a}, ${b}), ${a}, ${b})`;

/**
 * Classify every stage row against its clock row (c, absent for a new key) and tomb row, as
 * plan.ts does: a field wins iff its incoming stamp is greater than its clock (NULL = never
 * written); the row is present iff its insert stamp is greater than its delete stamp; the
 * part follows from where the row lives before and after. No assignment reads a column
 * assigned here. `tombs` false: the locked keys have no tomb rows (lockRowsAndClocksSql
 * counted them), so the tomb is not joined.
 */
export function classifySql(m: SetMergeTable, tombs = true): string {
  const c = (col: string) => `c.${q(col)}`;
  const win = m.active.map((f, j) => `(s._fs_s${j} IS NOT NULL AND (${c(f.name)} IS NULL OR s._fs_s${j} > ${c(f.name)}))`);
  const anyWin = win.length > 0 ? `(${win.join(' OR ')})` : 'FALSE';
  const ni = maxOf(c(INSERT_STAMP), 's._fs_i');
  const nd = maxOf(c(DELETE_STAMP), 's._fs_d');
  const known = `(${c(m.key[0]!.name)} IS NOT NULL)`;
  const hasTomb = tombs ? `(${known} AND tb.${q(m.key[0]!.name)} IS NOT NULL)` : 'FALSE';
  const was = `(${c(INSERT_STAMP)} IS NOT NULL AND (${c(DELETE_STAMP)} IS NULL OR ${c(INSERT_STAMP)} > ${c(DELETE_STAMP)}))`;
  const now = `(${ni} IS NOT NULL AND (${nd} IS NULL OR ${ni} > ${nd}))`;
  const changed = `(NOT (${ni} <=> ${c(INSERT_STAMP)}) OR NOT (${nd} <=> ${c(DELETE_STAMP)}) OR ${anyWin})`;
  const op = `CASE WHEN NOT ${changed} THEN ${SET_OP.none}`
    + ` WHEN ${now} AND ${was} THEN IF(${anyWin}, 1, ${SET_OP.none})`
    + ` WHEN ${now} AND ${hasTomb} THEN 2`
    + ` WHEN ${now} THEN ${SET_OP.insertTable}`
    + ` WHEN ${was} THEN 3`
    + ` WHEN ${hasTomb} THEN IF(${anyWin}, 4, ${SET_OP.none})`
    + ` WHEN ${anyWin} OR ${ni} IS NOT NULL THEN ${SET_OP.insertTomb}`
    + ` ELSE ${SET_OP.none} END`;
  const sets = [...win.map((w, j) => `s._fs_w${j} = ${w}`), `s._fs_known = ${known}`, `s._fs_c = ${changed}`, `s._fs_op = ${op}`];
  const clockJoin = m.key.map((k, i) => `c.${q(k.name)} = s._fs_k${i}`).join(' AND ');
  const tombJoin = m.key.map((k, i) => `tb.${q(k.name)} = s._fs_k${i}`).join(' AND ');
  const joinTomb = tombs ? ` LEFT JOIN ${d.qualified(tombTable(m.target))} tb ON ${tombJoin}` : '';
  return `UPDATE ${S} s LEFT JOIN ${d.qualified(clockTable(m.target))} c ON ${clockJoin}${joinTomb} SET ${sets.join(', ')}`;
}

/**
 * One row: rows per part (op0..op6), clock rows to insert (fresh) and to update apart from
 * the rows of updateTable (known: updateTableSql writes theirs), and
 * per active field j: rows it wins (w<j>) and rows where it loses to the stored clock (k<j>).
 */
export function summarySql(m: SetMergeTable): string {
  const cols = [
    ...[0, 1, 2, 3, 4, 5, 6].map((op) => `SUM(_fs_op = ${op}) AS op${op}`),
    'SUM(_fs_c = 1 AND _fs_known = 0) AS fresh', 'SUM(_fs_c = 1 AND _fs_known = 1 AND _fs_op <> 1) AS known',
    ...m.active.map((_f, j) => `SUM(_fs_w${j}) AS w${j}`),
    ...m.active.map((_f, j) => `SUM(_fs_s${j} IS NOT NULL AND _fs_w${j} = 0) AS k${j}`),
  ];
  return `SELECT ${cols.join(', ')} FROM ${S}`;
}

/** New rows of `into` (T or its tomb): key and every batch field, NULL where it did not win. Param: the op. */
export function insertFromSetStageSql(m: SetMergeTable, into: Name): string {
  const active = new Map(m.active.map((f, j) => [f.name, j]));
  const cols = [...m.key, ...m.fields].map((c) => q(c.name));
  const exprs = [
    ...m.key.map((_k, i) => `s._fs_k${i}`),
    ...m.fields.map((f) => {
      const j = active.get(f.name);
      return j === undefined ? 'NULL' : `IF(s._fs_w${j}, s._fs_v${j}, NULL)`;
    }),
  ];
  return `INSERT INTO ${d.qualified(into)} (${cols.join(', ')}) SELECT ${exprs.join(', ')} FROM ${S} s WHERE s._fs_op = ?`;
}

/** Winning fields into existing rows of `into`; `won`: the positions j that win somewhere. Param: the op. */
export function updateFromSetStageSql(m: SetMergeTable, into: Name, won: readonly number[]): string {
  const sets = won.map((j) => {
    const col = q(m.active[j]!.name);
    return `t.${col} = IF(s._fs_w${j}, s._fs_v${j}, t.${col})`;
  });
  return `UPDATE ${d.qualified(into)} t JOIN ${S} s ON ${stageJoin(m, 't')} SET ${sets.join(', ')} WHERE s._fs_op = ?`;
}

/** The clock assignments of existing clock rows: insert/delete stamps raised, won field stamps taken. */
function clockSets(m: SetMergeTable, won: readonly number[]): string[] {
  const c = (col: string) => `c.${q(col)}`;
  return [
    `${c(INSERT_STAMP)} = ${maxOf(c(INSERT_STAMP), 's._fs_i')}`,
    `${c(DELETE_STAMP)} = ${maxOf(c(DELETE_STAMP), 's._fs_d')}`,
    ...won.map((j) => `${c(m.active[j]!.name)} = IF(s._fs_w${j}, s._fs_s${j}, ${c(m.active[j]!.name)})`),
  ];
}

/**
 * updateTable in one statement for T and the clock: winning fields into the rows of T and
 * their stamps into the clock rows (each assignment reads only its own column and the stage).
 */
export function updateTableSql(m: SetMergeTable, won: readonly number[]): string {
  const sets = [
    ...won.map((j) => {
      const col = q(m.active[j]!.name);
      return `t.${col} = IF(s._fs_w${j}, s._fs_v${j}, t.${col})`;
    }),
    ...clockSets(m, won),
  ];
  return `UPDATE ${d.qualified(m.target)} t JOIN ${S} s ON ${stageJoin(m, 't')} JOIN ${d.qualified(clockTable(m.target))} c ON ${stageJoin(m, 'c')} `
    + `SET ${sets.join(', ')} WHERE s._fs_op = 1`;
}

/** Clock rows of keys that had none: the incoming stamps that won. */
export function insertClocksFromSetStageSql(m: SetMergeTable): string {
  const cols = [...m.key.map((k) => k.name), INSERT_STAMP, DELETE_STAMP, ...m.active.map((f) => f.name)].map(q);
  const exprs = [...m.key.map((_k, i) => `s._fs_k${i}`), 's._fs_i', 's._fs_d', ...m.active.map((_f, j) => `IF(s._fs_w${j}, s._fs_s${j}, NULL)`)];
  return `INSERT INTO ${d.qualified(clockTable(m.target))} (${cols.join(', ')}) SELECT ${exprs.join(', ')} FROM ${S} s WHERE s._fs_c = 1 AND s._fs_known = 0`;
}

/** Existing clock rows of keys outside updateTable (updateTableSql writes those): see clockSets. */
export function updateClocksFromSetStageSql(m: SetMergeTable, won: readonly number[]): string {
  return `UPDATE ${d.qualified(clockTable(m.target))} c JOIN ${S} s ON ${stageJoin(m, 'c')} SET ${clockSets(m, won).join(', ')} `
    + `WHERE s._fs_c = 1 AND s._fs_known = 1 AND s._fs_op <> 1`;
}

/**
 * LOAD DATA of new clock rows: key columns, then a row stamp, then one field per stamp
 * column (_fs_ins, _fs_del, the batch fields) — \N for NULL, empty for "the row stamp" (an
 * insert stamps every field with one stamp: sent once per row, not per column), else the
 * stamp. Bytes keys travel as hex.
 */
export function loadClocksSql(m: SetMergeTable): string {
  const targets: string[] = [];
  const sets: string[] = [];
  m.key.forEach((k, i) => {
    if (k.type.kind === 'bytes') {
      targets.push(`@fs_k${i}`);
      sets.push(`${q(k.name)} = UNHEX(@fs_k${i})`);
    } else {
      targets.push(q(k.name));
    }
  });
  targets.push('@fs_r');
  [INSERT_STAMP, DELETE_STAMP, ...m.fields.map((f) => f.name)].forEach((c, n) => {
    targets.push(`@fs_x${n}`);
    sets.push(`${q(c)} = IF(@fs_x${n} = '', @fs_r, @fs_x${n})`);
  });
  return `LOAD DATA LOCAL INFILE 'fieldsync-stream' INTO TABLE ${d.qualified(clockTable(m.target))} CHARACTER SET utf8mb4 `
    + `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${targets.join(', ')}) SET ${sets.join(', ')}`;
}
