/**
 * PostgreSQL statement of the sink's set-based merge (postgres-sink.ts, large batches):
 * the folded batch (lib/merge/fold.ts) travels once, as one array parameter per stage
 * column, and ONE statement does what lib/merge/plan.ts does in JS on the row path, after
 * the row path's lock of the rows of T (lockAndFindClocksSql, a statement before it):
 *
 *   s      the stage: unnest of the arrays; per key its row stamp (_fs_r), insert and
 *          delete stamps, and per field that the batch writes ("active", positional j):
 *          incoming stamp and value (_fs_v<j>; a NULL stamp: this key does not write it)
 *   x      each stage row with its clock row (none for a new key), read and locked FOR
 *          UPDATE by one key-list scan as readClocksSql does (in a subquery: a locking
 *          read cannot be the nullable side of an outer join), and whether it has a tomb
 *          row. A locked row is its newest version, so the clock compared is the one
 *          the writes below replace
 *   w      winner flags _fs_w<j>, the new insert/delete stamps, whether the clock changes
 *          (_fs_ch) and the plan part (_fs_op, SET_PART), written as plan.ts's rules;
 *          materialized once, read by every write
 *   writes one data-modifying WITH query per plan part (they touch disjoint keys), the
 *          moves between T and its tomb as merge-sql.ts's moveRowsSql does, the new clock
 *          rows, and the changed ones joined by GREATEST like upsertClocksSql
 *   result one row: fields taken and kept, rows buried
 *
 * The lock of T (lockAndFindClocksSql) also tells whether the keys have clock rows: when
 * they have none (a batch of inserts) newKeysSql writes T, the tomb and the clock straight
 * from the stage, with no clock to lock, join or compare.
 *
 * Stamps are sent compactly (StampMode): most batches stamp every field a key writes with
 * one stamp (an insert, an update), so a column equal to the row stamp costs no array, or
 * a boolean array ("written at the row stamp") instead of a bigint array.
 *
 * A stage column name is positional, so no user column name can collide with it; target
 * identifiers are quoted by the dialect and every value is a bound parameter.
 */
import { DELETE_STAMP, INSERT_STAMP, clockTable, tombTable } from '../merge/clock-layout.js';
import { postgresDialect as d } from '../dialect/postgres/dialect.js';
import { bindType, keyInSql } from '../dialect/postgres/merge-sql.js';
import type { ColumnSpec } from '../types.js';

type Name = { schema: string; name: string };

/**
 * How one stamp column of the stage travels: `null` (no key has it: no parameter), `ref`
 * (every key has it, equal to its row stamp: no parameter), `flag` (NULL or the row stamp:
 * boolean[]), `own` (bigint[]).
 */
export type StampMode = 'null' | 'ref' | 'flag' | 'own';

export interface PgSetTable {
  target: Name;
  key: ColumnSpec[];
  /** Non-key columns the batch carries (a new row gets all of them, NULL where they lose). */
  fields: ColumnSpec[];
  /** Every non-key column of the target (rows moved between T and its tomb keep all of them). */
  allFields: ColumnSpec[];
  /** The fields some event of the batch writes, in `fields` order: the stage's positional j. */
  active: ColumnSpec[];
  /** Modes of the insert stamp, the delete stamp and each active field's stamp. */
  ins: StampMode;
  del: StampMode;
  stamps: StampMode[];
}

/** Plan parts (plan.ts's lists) as the statement numbers them. */
export const SET_PART = { none: 0, updateTable: 1, reviveFromTomb: 2, buryFromTable: 3, updateTomb: 4, insertTable: 5, insertTomb: 6 } as const;

const q = (s: string) => d.quote(s);

/**
 * The stage's columns in parameter order, with the type of each array: keys, the row
 * stamp, the stamps that travel, then the active fields' values.
 */
export function stageColumns(m: PgSetTable): { name: string; type: string }[] {
  const cols = m.key.map((k, i) => ({ name: `_fs_k${i}`, type: bindType(k) }));
  cols.push({ name: '_fs_r', type: 'bigint' });
  const stamp = (name: string, mode: StampMode) => {
    if (mode === 'flag') cols.push({ name, type: 'boolean' });
    if (mode === 'own') cols.push({ name, type: 'bigint' });
  };
  stamp('_fs_i', m.ins);
  stamp('_fs_d', m.del);
  m.stamps.forEach((mode, j) => stamp(`_fs_s${j}`, mode));
  m.active.forEach((f, j) => cols.push({ name: `_fs_v${j}`, type: bindType(f) }));
  return cols;
}

/** The incoming stamp of a stage column as an expression on alias `s`. */
function stampExpr(name: string, mode: StampMode): string {
  switch (mode) {
    case 'null': return 'NULL::bigint';
    case 'ref': return 's._fs_r';
    case 'flag': return `CASE WHEN s.${name} THEN s._fs_r END`;
    case 'own': return `s.${name}`;
  }
}

const keyJoin = (m: PgSetTable, a: string, b: string) => m.key.map((k, i) => `${a}.${q(k.name)} = ${b}._fs_k${i}`).join(' AND ');

/**
 * The merge of one table batch in one statement (see the header). Parameters: one array
 * per stageColumns() entry, in that order. Returns one row: taken, kept, buried.
 */
export function setMergeSql(m: PgSetTable): string {
  const T = d.qualified(m.target);
  const C = d.qualified(clockTable(m.target));
  const B = d.qualified(tombTable(m.target));
  const cols = stageColumns(m);
  const unnest = `unnest(${cols.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ')}) AS s(${cols.map((c) => c.name).join(', ')})`;
  const J = m.active.map((_f, j) => j);
  const k0 = q(m.key[0]!.name);

  // incoming stamps, and the clock's (NULL for a new key: a NULL clock is older than any stamp)
  const inS = J.map((j) => stampExpr(`_fs_s${j}`, m.stamps[j]!));
  const x = `SELECT s._fs_r, ${m.key.map((_k, i) => `s._fs_k${i}`).join(', ')}${J.map((j) => `, s._fs_v${j}`).join('')},
      ${stampExpr('_fs_i', m.ins)} AS _fs_i, ${stampExpr('_fs_d', m.del)} AS _fs_d${J.map((j) => `, ${inS[j]} AS _fs_s${j}`).join('')},
      (l.${k0} IS NOT NULL) AS _fs_known, (l.${k0} IS NOT NULL AND b.${k0} IS NOT NULL) AS _fs_tomb,
      l.${q(INSERT_STAMP)} AS _fs_ci, l.${q(DELETE_STAMP)} AS _fs_cd${J.map((j) => `, l.${q(m.active[j]!.name)} AS _fs_c${j}`).join('')}
    FROM ${unnest}
    LEFT JOIN (SELECT c.* FROM ${C} c WHERE ${keyInSql(m, 'c', 1)} FOR UPDATE) l ON ${keyJoin(m, 'l', 's')}
    LEFT JOIN ${B} b ON ${keyJoin(m, 'b', 's')}`;

  // a field wins iff its incoming stamp is greater than its clock; GREATEST ignores NULLs
  const win = J.map((j) => `(x._fs_s${j} IS NOT NULL AND (x._fs_c${j} IS NULL OR x._fs_s${j} > x._fs_c${j}))`);
  const y = `SELECT x.*${J.map((j) => `, ${win[j]} AS _fs_w${j}`).join('')},
      GREATEST(x._fs_ci, x._fs_i) AS _fs_ni, GREATEST(x._fs_cd, x._fs_d) AS _fs_nd
    FROM (${x}) x`;
  const anyWin = J.length ? `(${J.map((j) => `y._fs_w${j}`).join(' OR ')})` : 'false';
  const was = '(y._fs_ci IS NOT NULL AND (y._fs_cd IS NULL OR y._fs_ci > y._fs_cd))';
  const now = '(y._fs_ni IS NOT NULL AND (y._fs_nd IS NULL OR y._fs_ni > y._fs_nd))';
  const changed = `(y._fs_ni IS DISTINCT FROM y._fs_ci OR y._fs_nd IS DISTINCT FROM y._fs_cd OR ${anyWin})`;
  const P = SET_PART;
  const op = `CASE WHEN NOT ${changed} THEN ${P.none}
      WHEN ${now} AND ${was} THEN CASE WHEN ${anyWin} THEN ${P.updateTable} ELSE ${P.none} END
      WHEN ${now} AND y._fs_tomb THEN ${P.reviveFromTomb}
      WHEN ${now} THEN ${P.insertTable}
      WHEN ${was} THEN ${P.buryFromTable}
      WHEN y._fs_tomb THEN CASE WHEN ${anyWin} THEN ${P.updateTomb} ELSE ${P.none} END
      WHEN ${anyWin} OR y._fs_ni IS NOT NULL THEN ${P.insertTomb}
      ELSE ${P.none} END`;
  const w = `SELECT y.*, ${changed} AS _fs_ch, ${op} AS _fs_op FROM (${y}) y`;

  const keyCols = m.key.map((k) => q(k.name));
  const keyVals = m.key.map((_k, i) => `w._fs_k${i}`);
  const activeOf = new Map(m.active.map((f, j) => [f.name, j]));
  // new rows: every batch field, NULL where it did not win (as the row path's insertRowsSql)
  const insertRows = (into: string, part: number) => `INSERT INTO ${into} (${[...keyCols, ...m.fields.map((f) => q(f.name))].join(', ')})
    SELECT ${[...keyVals, ...m.fields.map((f) => {
      const j = activeOf.get(f.name);
      return j === undefined ? 'NULL' : `CASE WHEN w._fs_w${j} THEN w._fs_v${j} END`;
    })].join(', ')} FROM w WHERE w._fs_op = ${part}`;
  // winners into existing rows; a row where no field won is not part of these parts
  const updateRows = (into: string, part: number) => `UPDATE ${into} AS t SET ${J.map((j) => {
    const c = q(m.active[j]!.name);
    return `${c} = CASE WHEN w._fs_w${j} THEN w._fs_v${j} ELSE t.${c} END`;
  }).join(', ')} FROM w WHERE ${keyJoin(m, 't', 'w')} AND w._fs_op = ${part}`;
  // moveRowsSql's move: the deleted row, merged with the winners, upserted at the destination
  const move = (from: string, to: string, part: number, n: number) => {
    const ret = [
      ...m.key.map((k, i) => `f.${q(k.name)} AS _fs_k${i}`),
      ...m.allFields.map((f, a) => {
        const j = activeOf.get(f.name);
        return j === undefined ? `f.${q(f.name)} AS _fs_m${a}` : `CASE WHEN w._fs_w${j} THEN w._fs_v${j} ELSE f.${q(f.name)} END AS _fs_m${a}`;
      }),
    ];
    const all = [...keyCols, ...m.allFields.map((f) => q(f.name))];
    const update = m.allFields.length > 0 ? `DO UPDATE SET ${m.allFields.map((f) => `${q(f.name)} = EXCLUDED.${q(f.name)}`).join(', ')}` : 'DO NOTHING';
    return `_fs_out${n} AS (DELETE FROM ${from} f USING w WHERE ${keyJoin(m, 'f', 'w')} AND w._fs_op = ${part} RETURNING ${ret.join(', ')}),
  _fs_in${n} AS (INSERT INTO ${to} (${all.join(', ')})
    SELECT ${[...m.key.map((_k, i) => `_fs_k${i}`), ...m.allFields.map((_f, a) => `_fs_m${a}`)].join(', ')} FROM _fs_out${n}
    ON CONFLICT (${keyCols.join(', ')}) ${update})`;
  };
  const stampCols = [INSERT_STAMP, DELETE_STAMP, ...m.active.map((f) => f.name)].map(q);
  // clock rows: a key that had none gets a plain INSERT (no speculative insertion; a row
  // another session inserted meanwhile is a primary-key duplicate: retried); existing ones,
  // locked above, are joined with GREATEST as upsertClocksSql does
  const clockRows = (known: boolean) => `INSERT INTO ${C} AS c (${[...keyCols, ...stampCols].join(', ')})
    SELECT ${[...keyVals, 'w._fs_ni', 'w._fs_nd', ...J.map((j) => `CASE WHEN w._fs_w${j} THEN w._fs_s${j} END`)].join(', ')}
    FROM w WHERE w._fs_ch AND ${known ? '' : 'NOT '}w._fs_known${known
    ? `\n    ON CONFLICT (${keyCols.join(', ')}) DO UPDATE SET ${stampCols.map((c) => `${c} = GREATEST(c.${c}, EXCLUDED.${c})`).join(', ')}` : ''}`;

  const writes = [
    `_fs_it AS (${insertRows(T, P.insertTable)})`,
    ...(J.length ? [`_fs_ut AS (${updateRows(T, P.updateTable)})`, `_fs_ub AS (${updateRows(B, P.updateTomb)})`] : []),
    move(B, T, P.reviveFromTomb, 1),
    move(T, B, P.buryFromTable, 2),
    `_fs_ib AS (${insertRows(B, P.insertTomb)})`,
    `_fs_nc AS (${clockRows(false)})`,
    `_fs_kc AS (${clockRows(true)})`,
  ];
  const sumOf = (terms: string[]) => (terms.length ? `COALESCE(SUM(${terms.join(' + ')}), 0)` : '0');
  return `WITH w AS MATERIALIZED (${w}),
  ${writes.join(',\n  ')}
SELECT ${sumOf(J.map((j) => `w._fs_w${j}::int`))} AS taken,
  ${sumOf(J.map((j) => `(w._fs_s${j} IS NOT NULL AND NOT w._fs_w${j})::int`))} AS kept,
  COUNT(*) FILTER (WHERE w._fs_op = ${P.buryFromTable}) AS buried
  FROM w`;
}

/**
 * The row path's lock of T (lockRowsSql), also telling whether any of the batch's keys has
 * a clock row (read, not locked: the T locks come first; EXISTS stops at the first). None:
 * every key is new, and newKeysSql merges them. A clock row another session adds later
 * makes one of its plain INSERTs a primary-key duplicate, which is retried. Parameters:
 * the stage's key arrays.
 */
export function lockAndFindClocksSql(m: PgSetTable): string {
  return `SELECT count(*) AS n, EXISTS (SELECT 1 FROM ${d.qualified(clockTable(m.target))} c WHERE ${keyInSql(m, 'c', 1)}) AS clocks
  FROM (SELECT 1 FROM ${d.qualified(m.target)} t WHERE ${keyInSql(m, 't', 1)} FOR UPDATE) l`;
}

/**
 * The merge of a batch none of whose keys has a clock row (the usual batch of inserts):
 * plan.ts against empty clocks, with no clock to join. Every incoming write wins (a NULL
 * clock is older than any stamp), so a field's value is the stage's value (NULL where the
 * key does not write it); the row is present iff ins > del, and goes into T; an absent row
 * keeps its fields in the tomb when it has any or an insert stamp; every key with a stamp
 * gets a clock row. Parameters as setMergeSql; returns the same row.
 */
export function newKeysSql(m: PgSetTable): string {
  const cols = stageColumns(m);
  const J = m.active.map((_f, j) => j);
  const stamps = J.map((j) => stampExpr(`_fs_s${j}`, m.stamps[j]!));
  const s = `SELECT ${[...m.key.map((_k, i) => `s._fs_k${i}`), ...J.map((j) => `s._fs_v${j}`)].join(', ')},
      ${stampExpr('_fs_i', m.ins)} AS _fs_i, ${stampExpr('_fs_d', m.del)} AS _fs_d${J.map((j) => `, ${stamps[j]} AS _fs_s${j}`).join('')}
    FROM unnest(${cols.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ')}) AS s(${cols.map((c) => c.name).join(', ')})`;
  const written = J.map((j) => `n._fs_s${j} IS NOT NULL`);
  const anyWin = written.length ? `(${written.join(' OR ')})` : 'false';
  const present = '(n._fs_i IS NOT NULL AND (n._fs_d IS NULL OR n._fs_i > n._fs_d))';
  const keyCols = m.key.map((k) => q(k.name));
  const activeOf = new Map(m.active.map((f, j) => [f.name, j]));
  const rows = (into: string, where: string) => `INSERT INTO ${into} (${[...keyCols, ...m.fields.map((f) => q(f.name))].join(', ')})
    SELECT ${[...m.key.map((_k, i) => `n._fs_k${i}`), ...m.fields.map((f) => {
      const j = activeOf.get(f.name);
      return j === undefined ? 'NULL' : `n._fs_v${j}`;
    })].join(', ')} FROM n WHERE ${where}`;
  const stampCols = [INSERT_STAMP, DELETE_STAMP, ...m.active.map((f) => f.name)].map(q);
  const sumOf = (terms: string[]) => (terms.length ? `COALESCE(SUM(${terms.join(' + ')}), 0)` : '0');
  return `WITH n AS MATERIALIZED (${s}),
  _fs_it AS (${rows(d.qualified(m.target), present)}),
  _fs_ib AS (${rows(d.qualified(tombTable(m.target)), `NOT ${present} AND (${anyWin} OR n._fs_i IS NOT NULL)`)}),
  _fs_nc AS (INSERT INTO ${d.qualified(clockTable(m.target))} (${[...keyCols, ...stampCols].join(', ')})
    SELECT ${[...m.key.map((_k, i) => `n._fs_k${i}`), 'n._fs_i', 'n._fs_d', ...J.map((j) => `n._fs_s${j}`)].join(', ')}
    FROM n WHERE n._fs_i IS NOT NULL OR n._fs_d IS NOT NULL OR ${anyWin})
SELECT ${sumOf(written.map((w) => `(${w})::int`))} AS taken, 0 AS kept, 0 AS buried FROM n`;
}
