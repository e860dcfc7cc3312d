/**
 * The set-based SQL of a refresh: the field merge of the staged source rows with the
 * live generation, and the window catch-up that joins later live writes into the stage.
 * Both dialects get the same statements; only quoting, UPDATE/DELETE-with-join syntax and
 * temporary-table DDL differ. See refresh.ts for the algorithm; this file only spells it.
 *
 * Notation in the SQL: s = stage data (with `_fs_v`, the source row's version stamp, NULL
 * on rows that did not come from the source), sc/st = stage clock/tomb, l/c/b = live
 * data/clock/tomb. A NULL stamp means "never written" and loses every comparison.
 *
 * Rules the statements protect:
 *   - a field keeps the live value only where the live field clock is strictly newer than
 *     the source row's version; the stage clock of a field is the greater of the two;
 *   - columns the source does not have (target-owned) always keep the live value;
 *   - presence follows the clock layout: a row is present iff _fs_ins > _fs_del;
 *   - live tables are only read with INSERT … SELECT (a consistent, non-locking read in
 *     both PostgreSQL and InnoDB at READ COMMITTED), never with UPDATE … JOIN, which
 *     would hold shared locks on live rows and stall the applier.
 *
 * MySQL/MariaDB merges the source rows in a different order (sourceRows): InnoDB has no
 * hash or merge join, so every join of the whole stage with the live clock is a million
 * primary-key look-ups, and MariaDB runs a multi-table UPDATE through a temporary table
 * of the changed rows, then applies them by row id (SHOW PROFILE: "Converting HEAP to
 * Aria", "Updating reference tables"): 300,000 rows of a 1,000,000-row nightly cost
 * more than writing all 1,000,000 stage clocks. So the one pass that must join every
 * source row with its live clock (the stage clocks) also marks, in the stage clock's
 * scratch column _fs_k, the rows where live keeps a field; only those rows are joined
 * with live data and tomb, and they are written back with one INSERT … ON DUPLICATE KEY
 * UPDATE (a single-table write in key order, which also fails, as the UPDATE did, on a
 * unique-key clash instead of deleting a row as REPLACE would).
 *
 * PostgreSQL (when live has clocks) loads the source rows into a temporary table fs_src
 * instead of the stage (no WAL for the load) and writes the stage data once, already
 * merged, with one INSERT … SELECT over fs_src joined with live clock, data and tomb;
 * the stage clocks follow from fs_src and the live clock. An UPDATE of the stage rows
 * where live keeps a field, as before, cost more than writing the whole stage: a
 * 10,000,000-row nightly spent 72 s updating 3,000,000 rows (a new row version and index
 * entry each, on full pages) after 51 s collecting them. Every table these statements
 * join is in key order (the stage is loaded in key order; live was written in key order
 * by the last refresh), so they run as merge joins over the primary keys (the caller
 * turns hash joins off for them: a whole-table hash join spills to disk in batches once
 * a table outgrows work_mem).
 */
import type { SqlDialect } from '../dialect/dialect.js';
import { DELETE_STAMP, INSERT_STAMP } from '../merge/clock-layout.js';
import { ORIGIN_SPACE } from '../stamp.js';
import type { Generation, TableName } from './names.js';

export const VERSION_COLUMN = '_fs_v';
/**
 * Scratch column for the kept-field count (see the header). MySQL: on the stage clock, 1
 * on source rows where live keeps a field. PostgreSQL: on the stage data, the number of
 * source fields of the row that keep their live value.
 */
export const KEPT_FLAG = '_fs_k';
/** PostgreSQL: the temporary table the source rows are loaded into when live has clocks. */
export const LOADED_TABLE = 'fs_src';
const loadedTable: TableName = { schema: 'pg_temp', name: LOADED_TABLE };
/** Below every stamp: stands for "none" inside GREATEST (which NULL would poison in MySQL). */
const MIN_STAMP = '-9223372036854775807';
export const WINDOW_ID = '_fs_id';

export interface MergeShape {
  dialect: SqlDialect;
  live: Generation;
  stage: Generation;
  wlog: TableName;
  /** Key columns of the live table, in key order. */
  key: string[];
  /** All columns of the live table, in table order. */
  columns: string[];
  /** Non-key columns that the source also has (their values compete with the source). */
  sourceFields: string[];
  /** Non-key columns only the target has (always kept from live). */
  targetFields: string[];
}

/** `a > b` with NULL as minus infinity. */
const gt = (a: string, b: string) => `(${a} IS NOT NULL AND (${b} IS NULL OR ${a} > ${b}))`;
/** The greater of two stamps, NULL as minus infinity. */
const greatest = (a: string, b: string) => `CASE WHEN ${b} IS NULL OR ${a} > ${b} THEN ${a} ELSE ${b} END`;

/** One timed statement of the merge; `what` names it in the debug log. */
export interface MergeStep { what: string; sql: string }

export class MergeSql {
  private readonly d: SqlDialect;
  private readonly fields: string[];
  constructor(private readonly m: MergeShape) {
    this.d = m.dialect;
    this.fields = [...m.sourceFields, ...m.targetFields];
  }

  private q(id: string): string { return this.d.quote(id); }
  private t(n: TableName): string { return this.d.qualified(n); }
  private col(alias: string, c: string): string { return `${alias}.${this.q(c)}`; }
  private on(a: string, b: string): string { return this.m.key.map((k) => `${this.col(a, k)} = ${this.col(b, k)}`).join(' AND '); }
  private k1(alias: string): string { return this.col(alias, this.m.key[0]!); }
  private list(cols: readonly string[], alias?: string): string { return cols.map((c) => (alias ? this.col(alias, c) : this.q(c))).join(', '); }
  private get clockCols(): string[] { return [...this.m.key, INSERT_STAMP, DELETE_STAMP, ...this.fields]; }
  private present(alias: string): string { return gt(this.col(alias, INSERT_STAMP), this.col(alias, DELETE_STAMP)); }
  /** A live field value: from the live table when the row is present there, else from the tomb. */
  private liveValue(f: string): string { return `CASE WHEN ${this.k1('l')} IS NOT NULL THEN ${this.col('l', f)} ELSE ${this.col('b', f)} END`; }
  private stageValue(f: string): string { return `CASE WHEN ${this.k1('s')} IS NOT NULL THEN ${this.col('s', f)} ELSE ${this.col('st', f)} END`; }

  private tempTable(name: string, select: string): string[] {
    // Created empty from the SELECT's shape (reads no row, takes no row lock), then filled.
    return this.d.name === 'postgres'
      ? [`CREATE TEMPORARY TABLE ${this.q(name)} AS ${select} LIMIT 0`, `INSERT INTO ${this.q(name)} ${select}`]
      : [`CREATE TEMPORARY TABLE ${this.q(name)} ${select} LIMIT 0`, `INSERT INTO ${this.q(name)} ${select}`];
  }

  dropTemp(name: string): string {
    return this.d.name === 'postgres' ? `DROP TABLE IF EXISTS pg_temp.${this.q(name)}` : `DROP TEMPORARY TABLE IF EXISTS ${this.q(name)}`;
  }

  private deleteJoin(target: TableName, alias: string, from: string, fromAlias: string, where = ''): string {
    if (this.d.name === 'postgres') return `DELETE FROM ${this.t(target)} ${alias} USING ${from} ${fromAlias} WHERE ${this.on(fromAlias, alias)}${where ? ` AND ${where}` : ''}`;
    return `DELETE ${alias} FROM ${this.t(target)} ${alias} JOIN ${from} ${fromAlias} ON ${this.on(fromAlias, alias)}${where ? ` WHERE ${where}` : ''}`;
  }

  // ---------------------------------------------------------------- merge

  /**
   * Where the source rows are loaded, and the statements that create that table first:
   * the stage data itself, or (PostgreSQL, when live has clocks) the temporary table
   * fs_src, shaped like the stage data (scratch columns included, defaults of target-only
   * columns too) with its primary key, which mergedSourceRows then reads in key order.
   */
  loadTable(liveHasClocks: boolean): { table: TableName; create: string[] } {
    const { stage } = this.m;
    if (this.d.name !== 'postgres' || !liveHasClocks) return { table: stage.data, create: [] };
    return {
      table: loadedTable,
      create: [
        this.dropTemp(LOADED_TABLE),
        `CREATE TEMPORARY TABLE ${this.q(LOADED_TABLE)} (LIKE ${this.t(stage.data)} INCLUDING DEFAULTS)`,
        `ALTER TABLE ${this.t(loadedTable)} ADD PRIMARY KEY (${this.list(this.m.key)})`,
      ],
    };
  }

  /**
   * PostgreSQL: the stage data, merged, from fs_src: per source field the live value where
   * the live field clock is newer than the version (a NULL clock or version is not newer),
   * else the source value; target-only fields the live value where live has the row (data
   * or tomb), else the loaded default; KEPT_FLAG the number of source fields kept.
   */
  mergedSourceRows(): string {
    const { live, stage } = this.m;
    const v = this.col('s', VERSION_COLUMN);
    const keep = (f: string) => `${this.col('c', f)} > ${v}`;
    const liveHas = `${this.k1('l')} IS NOT NULL OR ${this.k1('b')} IS NOT NULL`;
    const exprs = [
      this.list(this.m.key, 's'),
      ...this.m.sourceFields.map((f) => `CASE WHEN ${keep(f)} THEN ${this.liveValue(f)} ELSE ${this.col('s', f)} END`),
      ...this.m.targetFields.map((f) => `CASE WHEN ${liveHas} THEN ${this.liveValue(f)} ELSE ${this.col('s', f)} END`),
      v,
      this.m.sourceFields.length ? this.m.sourceFields.map((f) => `CASE WHEN ${keep(f)} THEN 1 ELSE 0 END`).join(' + ') : '0',
    ];
    return `INSERT INTO ${this.t(stage.data)} (${this.list([...this.m.key, ...this.fields, VERSION_COLUMN, KEPT_FLAG])}) SELECT ${exprs.join(', ')}`
      + ` FROM ${this.t(loadedTable)} s`
      + ` LEFT JOIN ${this.t(live.clock)} c ON ${this.on('c', 's')}`
      + ` LEFT JOIN ${this.t(live.data)} l ON ${this.on('l', 's')}`
      + ` LEFT JOIN ${this.t(live.tomb)} b ON ${this.on('b', 's')}`;
  }

  /** MySQL: SELECT the number of source fields that keep their live value (from fs_kv, after keptValuesFromFlags). */
  keptCount(): string {
    const n = this.m.sourceFields.length;
    if (n === 0) return `SELECT 0 AS kept`;
    return `SELECT COALESCE(SUM(${this.m.sourceFields.map((_f, i) => this.q(`m_${i}`)).join(' + ')}), 0) AS kept FROM ${this.q('fs_kv')}`;
  }

  /** Stage clocks of the source rows (read from `from`, where they were loaded): each field the greater of live clock and version. */
  clocksOfSourceRows(from: TableName = this.m.stage.data): string {
    const { live, stage } = this.m;
    const v = this.col('s', VERSION_COLUMN);
    const exprs = [
      this.list(this.m.key, 's'),
      greatest(this.col('c', INSERT_STAMP), v),
      this.col('c', DELETE_STAMP),
      ...this.m.sourceFields.map((f) => greatest(this.col('c', f), v)),
      ...this.m.targetFields.map((f) => this.col('c', f)),
    ];
    const cols = this.clockCols;
    if (this.d.name === 'mysql') {
      cols.push(KEPT_FLAG);
      exprs.push(this.keptConds().length ? `CASE WHEN ${this.keptConds().join(' OR ')} THEN 1 END` : 'NULL');
    }
    return `INSERT INTO ${this.t(stage.clock)} (${this.list(cols)}) SELECT ${exprs.join(', ')} FROM ${this.t(from)} s`
      + ` LEFT JOIN ${this.t(live.clock)} c ON ${this.on('c', 's')} WHERE ${v} IS NOT NULL`;
  }

  /**
   * When a source row keeps some live field (the WHERE of keptValues, from the live clock
   * alone: with target-only columns every row live has or had, which keptValues narrows
   * to rows in live data or tomb).
   */
  private keptConds(): string[] {
    // Only rows with a version are read here, so `c.f > v` is gt() (NULL c.f: not newer).
    const v = this.col('s', VERSION_COLUMN);
    const conds = this.m.sourceFields.map((f) => `${this.col('c', f)} > ${v}`);
    if (this.m.targetFields.length) conds.push(`${this.k1('c')} IS NOT NULL`);
    return conds;
  }

  /** A row when the live clock has any (read before the merge: see sourceRows). */
  liveClockPresent(): string {
    return `SELECT 1 AS present FROM ${this.t(this.m.live.clock)} LIMIT 1`;
  }

  /** Columns the merge adds to the stage for its own use (dropScratchColumns removes them). */
  addScratchColumns(): string[] {
    const { stage } = this.m;
    if (this.d.name === 'postgres') return [`ALTER TABLE ${this.t(stage.data)} ADD COLUMN ${this.q(VERSION_COLUMN)} bigint, ADD COLUMN ${this.q(KEPT_FLAG)} smallint`];
    return [`ALTER TABLE ${this.t(stage.data)} ADD COLUMN ${this.q(VERSION_COLUMN)} BIGINT NULL`, `ALTER TABLE ${this.t(stage.clock)} ADD COLUMN ${this.q(KEPT_FLAG)} TINYINT NULL`];
  }

  /**
   * The merge of the loaded source rows with live (the field values live keeps, the stage
   * clocks), in order: `collect`, then the kept-field count is read with `count` (when
   * there is one), then `apply`. `liveHasClocks`: false when liveClockPresent() found no
   * row before the source was loaded (a first fill): the rows were then loaded straight
   * into the stage data (loadTable) and MySQL skips looking for marked rows (a scan of the
   * whole stage clock that would find none, or only rows written since, which the window
   * log holds and the catch-up merges by the same rule).
   */
  sourceRows(liveHasClocks = true): { collect: MergeStep[]; count?: string; apply: MergeStep[] } {
    const clocks = { what: 'stage clocks of source rows', sql: this.clocksOfSourceRows() };
    if (this.d.name === 'mysql') {
      if (!this.keptConds().length || !liveHasClocks) return { collect: [clocks], apply: [] };
      const [drop, create, fill, write] = this.keptValuesFromFlags();
      return {
        collect: [clocks, { what: 'live values newer than the source', sql: drop! }, { what: 'live values newer than the source', sql: create! }, { what: 'live values newer than the source', sql: fill! }],
        count: this.keptCount(),
        apply: [{ what: 'keep live values in the stage', sql: write! }, { what: 'drop the kept values', sql: this.dropTemp('fs_kv') }],
      };
    }
    if (!liveHasClocks) return { collect: [], apply: [clocks] };
    return {
      collect: [{ what: 'source rows merged with live into the stage', sql: this.mergedSourceRows() }],
      count: `SELECT COALESCE(SUM(${this.q(KEPT_FLAG)}), 0) AS kept FROM ${this.t(this.m.stage.data)}`,
      apply: [{ what: 'stage clocks of source rows', sql: this.clocksOfSourceRows(loadedTable) }, { what: 'drop the loaded source rows', sql: this.dropTemp(LOADED_TABLE) }],
    };
  }

  /**
   * MySQL (after clocksOfSourceRows): the rows _fs_k marks, into fs_kv as whole merged
   * stage rows (per field the live value where the stage clock, the greater of live clock
   * and version, is above the version — exactly where the live clock is newer), plus the
   * flags m_i for the count; then written over their stage rows. The stage clock is read
   * first (STRAIGHT_JOIN): its marked rows, not the whole stage, drive the look-ups.
   */
  private keptValuesFromFlags(): string[] {
    const { live, stage } = this.m;
    const v = this.col('s', VERSION_COLUMN);
    const liveHas = `${this.k1('l')} IS NOT NULL OR ${this.k1('b')} IS NOT NULL`;
    const keeps = [...this.m.sourceFields.map((f) => gt(this.col('sc', f), v)), ...this.m.targetFields.map(() => liveHas)];
    const exprs = [
      this.list(this.m.key, 's'),
      ...this.fields.map((f, i) => `CASE WHEN ${keeps[i]!} THEN 1 ELSE 0 END AS ${this.q(`m_${i}`)}, CASE WHEN ${keeps[i]!} THEN ${this.liveValue(f)} ELSE ${this.col('s', f)} END AS ${this.q(`v_${i}`)}`),
      `${v} AS ${this.q(VERSION_COLUMN)}`,
    ];
    const select = `SELECT ${exprs.join(', ')} FROM ${this.t(stage.clock)} sc STRAIGHT_JOIN ${this.t(stage.data)} s ON ${this.on('s', 'sc')}`
      + ` LEFT JOIN ${this.t(live.data)} l ON ${this.on('l', 'sc')}`
      + ` LEFT JOIN ${this.t(live.tomb)} b ON ${this.on('b', 'sc')}`
      + ` WHERE ${this.col('sc', KEPT_FLAG)} = 1`;
    const values = this.fields.map((_f, i) => this.q(`v_${i}`));
    const write = `INSERT INTO ${this.t(stage.data)} (${this.list([...this.m.key, ...this.fields, VERSION_COLUMN])})`
      + ` SELECT ${[this.list(this.m.key, 'k'), ...values.map((x) => `k.${x}`), this.col('k', VERSION_COLUMN)].join(', ')} FROM ${this.q('fs_kv')} k`
      + ` ON DUPLICATE KEY UPDATE ${this.fields.map((f, i) => `${this.q(f)} = k.${values[i]!}`).join(', ')}`;
    return [this.dropTemp('fs_kv'), ...this.tempTable('fs_kv', select), write];
  }

  /**
   * Keys of the live generation the source does not have, into temp table fs_gone: one
   * anti-join over the live clock; the statements below then touch only those keys.
   * (Every live row has a clock row: prepareTable backfills them and every write stamps
   * them. A row that somehow has none is simply not carried into the new generation.)
   */
  missingKeys(): string[] {
    const { live, stage } = this.m;
    return [this.dropTemp('fs_gone'), ...this.tempTable('fs_gone', `SELECT ${this.list(this.m.key, 'c')} FROM ${this.t(live.clock)} c LEFT JOIN ${this.t(stage.data)} s ON ${this.on('s', 'c')} WHERE ${this.k1('s')} IS NULL`)];
  }

  /**
   * Stage clocks of the keys in fs_gone: deleted at `deleteStamp` (the read start) —
   * unless the target edited the row since the last version it got from the source (a
   * write of another origin newer than every write of the source's origin): such a row
   * is not deleted, its fresh edit is kept. The origin of a stamp is its low bits
   * (lib/stamp.ts), so this is decided from the live clock alone.
   */
  clocksOfMissingRows(deleteStamp: bigint, sourceOriginCode: number): string {
    const { live, stage } = this.m;
    const del = deleteStamp.toString(); // integers computed here, not data
    const stamps = [INSERT_STAMP, ...this.fields].map((f) => this.col('c', f));
    const origin = (x: string) => `(((${x} % ${ORIGIN_SPACE}) + ${ORIGIN_SPACE}) % ${ORIGIN_SPACE})`;
    const newest = (same: boolean) => `GREATEST(${stamps.map((x) => `COALESCE(CASE WHEN ${origin(x)} ${same ? '=' : '<>'} ${sourceOriginCode} THEN ${x} END, ${MIN_STAMP})`).join(', ')}, ${MIN_STAMP})`;
    const editedSince = `${newest(false)} > ${newest(true)}`;
    const delStamp = `CASE WHEN ${editedSince} THEN ${this.col('c', DELETE_STAMP)} ELSE ${greatest(this.col('c', DELETE_STAMP), del)} END`;
    const cols = [this.list(this.m.key, 'c'), this.col('c', INSERT_STAMP), delStamp, ...this.fields.map((f) => this.col('c', f))];
    return `INSERT INTO ${this.t(stage.clock)} (${this.list(this.clockCols)}) SELECT ${cols.join(', ')}`
      + ` FROM ${this.q('fs_gone')} g JOIN ${this.t(live.clock)} c ON ${this.on('c', 'g')}`;
  }

  /** Live rows of fs_gone keys whose stage clock says absent: into the stage tomb. Count = rows deleted. */
  deletedLiveRows(): string {
    const { live, stage } = this.m;
    return `INSERT INTO ${this.t(stage.tomb)} (${this.list(this.m.columns)}) SELECT ${this.list(this.m.columns, 'l')}`
      + ` FROM ${this.q('fs_gone')} g JOIN ${this.t(live.data)} l ON ${this.on('l', 'g')} JOIN ${this.t(stage.clock)} sc ON ${this.on('sc', 'g')}`
      + ` WHERE NOT ${this.present('sc')}`;
  }

  /** Live rows of fs_gone keys that were (re-)inserted in the target after the read began: kept. */
  keptLiveRows(): string {
    const { live, stage } = this.m;
    return `INSERT INTO ${this.t(stage.data)} (${this.list(this.m.columns)}) SELECT ${this.list(this.m.columns, 'l')}`
      + ` FROM ${this.q('fs_gone')} g JOIN ${this.t(live.data)} l ON ${this.on('l', 'g')} JOIN ${this.t(stage.clock)} sc ON ${this.on('sc', 'g')}`
      + ` WHERE ${this.present('sc')}`;
  }

  /** Tomb rows of fs_gone keys stay in the tomb. */
  carriedTombRows(): string {
    const { live, stage } = this.m;
    return `INSERT INTO ${this.t(stage.tomb)} (${this.list(this.m.columns)}) SELECT ${this.list(this.m.columns, 'b')}`
      + ` FROM ${this.q('fs_gone')} g JOIN ${this.t(live.tomb)} b ON ${this.on('b', 'g')}`;
  }

  /**
   * Source rows the target deleted after their version: their keys (stage clock absent,
   * found by one scan of the stage clock, no join) into fs_absent, then the rows move from
   * the stage to the stage tomb. Count = the INSERT's.
   */
  targetDeletedSourceRows(): string[] {
    const { stage } = this.m;
    const v = `${this.col('s', VERSION_COLUMN)} IS NOT NULL`;
    return [
      this.dropTemp('fs_absent'),
      ...this.tempTable('fs_absent', `SELECT ${this.list(this.m.key, 'sc')} FROM ${this.t(stage.clock)} sc WHERE ${this.col('sc', DELETE_STAMP)} IS NOT NULL AND NOT ${this.present('sc')}`),
      `INSERT INTO ${this.t(stage.tomb)} (${this.list(this.m.columns)}) SELECT ${this.list(this.m.columns, 's')}`
        + ` FROM ${this.q('fs_absent')} a JOIN ${this.t(stage.data)} s ON ${this.on('s', 'a')} WHERE ${v}`,
      this.deleteJoin(stage.data, 's', this.q('fs_absent'), 'a', v),
      this.dropTemp('fs_absent'),
    ];
  }

  /**
   * Drop what addScratchColumns added: a metadata-only change in PostgreSQL, and in MariaDB
   * too unless the table has a FULLTEXT index (then MariaDB cannot drop a column instantly and
   * rebuilds the stage table). No ALGORITHM clause: MariaDB takes the fastest it supports.
   */
  dropScratchColumns(): string[] {
    const { stage } = this.m;
    if (this.d.name === 'postgres') return [`ALTER TABLE ${this.t(stage.data)} DROP COLUMN ${this.q(VERSION_COLUMN)}, DROP COLUMN ${this.q(KEPT_FLAG)}`];
    const drops: [TableName, string][] = [[stage.data, VERSION_COLUMN], [stage.clock, KEPT_FLAG]];
    return drops.map(([t, c]) => `ALTER TABLE ${this.t(t)} DROP COLUMN ${this.q(c)}`);
  }

  // ---------------------------------------------------------------- window

  /**
   * One catch-up round: take the window-log rows visible now (fs_wk), join the live state
   * of their keys into the stage, delete exactly those log rows. The join is the merge
   * rule itself (per field the greater stamp; _fs_ins/_fs_del maxima), so running it
   * twice or on a newer live state is harmless; on equal stamps the live value is taken,
   * which also repairs a stage row whose value and clock the merge read at different
   * moments. Statements in order; the caller reads the key count after `collect`.
   */
  windowRound(): { collect: string[]; count: string; apply: string[]; cleanup: string[] } {
    const { live, stage, wlog } = this.m;
    const keys = this.list(this.m.key);
    const collect = [
      this.dropTemp('fs_wk'),
      ...this.tempTable('fs_wk', `SELECT w.${this.q(WINDOW_ID)}, ${this.list(this.m.key, 'w')} FROM ${this.t(wlog)} w`),
    ];
    const count = `SELECT COUNT(*) AS n FROM ${this.q('fs_wk')}`;
    const liveHas = `(${this.k1('l')} IS NOT NULL OR ${this.k1('b')} IS NOT NULL)`;
    const exprs = [
      this.list(this.m.key, 'k'),
      `${greatest(this.col('c', INSERT_STAMP), this.col('sc', INSERT_STAMP))} AS ${this.q(INSERT_STAMP)}`,
      `${greatest(this.col('c', DELETE_STAMP), this.col('sc', DELETE_STAMP))} AS ${this.q(DELETE_STAMP)}`,
      ...this.fields.map((f, i) => `${greatest(this.col('c', f), this.col('sc', f))} AS ${this.q(`c_${i}`)}`),
      ...this.fields.map((f, i) => {
        const takeLive = `${this.k1('c')} IS NOT NULL AND NOT ${gt(this.col('sc', f), this.col('c', f))} AND (${gt(this.col('c', f), this.col('sc', f))} OR ${liveHas})`;
        return `CASE WHEN ${takeLive} THEN ${this.liveValue(f)} ELSE ${this.stageValue(f)} END AS ${this.q(`v_${i}`)}`;
      }),
      `CASE WHEN ${liveHas} OR ${this.k1('s')} IS NOT NULL OR ${this.k1('st')} IS NOT NULL THEN 1 ELSE 0 END AS ${this.q('has_row')}`,
    ];
    const select = `SELECT ${exprs.join(', ')} FROM (SELECT DISTINCT ${keys} FROM ${this.q('fs_wk')}) k`
      + ` LEFT JOIN ${this.t(live.clock)} c ON ${this.on('c', 'k')}`
      + ` LEFT JOIN ${this.t(live.data)} l ON ${this.on('l', 'k')}`
      + ` LEFT JOIN ${this.t(live.tomb)} b ON ${this.on('b', 'k')}`
      + ` LEFT JOIN ${this.t(stage.clock)} sc ON ${this.on('sc', 'k')}`
      + ` LEFT JOIN ${this.t(stage.data)} s ON ${this.on('s', 'k')}`
      + ` LEFT JOIN ${this.t(stage.tomb)} st ON ${this.on('st', 'k')}`;
    const mergedClock = [INSERT_STAMP, DELETE_STAMP, ...this.fields.map((_f, i) => `c_${i}`)];
    const values = this.fields.map((_f, i) => `v_${i}`);
    const presentM = gt(this.q(INSERT_STAMP), this.q(DELETE_STAMP));
    const idFrom = this.d.name === 'postgres'
      ? `DELETE FROM ${this.t(wlog)} w USING ${this.q('fs_wk')} k WHERE w.${this.q(WINDOW_ID)} = k.${this.q(WINDOW_ID)}`
      : `DELETE w FROM ${this.t(wlog)} w JOIN ${this.q('fs_wk')} k ON w.${this.q(WINDOW_ID)} = k.${this.q(WINDOW_ID)}`;
    const apply = [
      this.dropTemp('fs_wm'),
      ...this.tempTable('fs_wm', select),
      this.deleteJoin(stage.data, 's', this.q('fs_wm'), 'm'),
      this.deleteJoin(stage.tomb, 'st', this.q('fs_wm'), 'm'),
      this.deleteJoin(stage.clock, 'sc', this.q('fs_wm'), 'm'),
      `INSERT INTO ${this.t(stage.clock)} (${this.list(this.clockCols)}) SELECT ${keys}, ${this.list(mergedClock)} FROM ${this.q('fs_wm')}`,
      `INSERT INTO ${this.t(stage.data)} (${this.list([...this.m.key, ...this.fields])}) SELECT ${keys}${values.length ? `, ${this.list(values)}` : ''} FROM ${this.q('fs_wm')} WHERE ${presentM}`,
      `INSERT INTO ${this.t(stage.tomb)} (${this.list([...this.m.key, ...this.fields])}) SELECT ${keys}${values.length ? `, ${this.list(values)}` : ''} FROM ${this.q('fs_wm')} WHERE NOT ${presentM} AND ${this.q('has_row')} = 1`,
      idFrom,
    ];
    return { collect, count, apply, cleanup: [this.dropTemp('fs_wm'), this.dropTemp('fs_wk')] };
  }

  /** A row when the window log is not empty. */
  windowPending(): string {
    return `SELECT 1 AS pending FROM ${this.t(this.m.wlog)} LIMIT 1`;
  }

  /** Tables (and the aliases the window SQL gives them) that LOCK TABLES must name. */
  windowLockList(): { table: TableName; alias?: string }[] {
    const { live, stage, wlog } = this.m;
    return [
      { table: live.data }, { table: live.data, alias: 'l' },
      { table: live.clock }, { table: live.clock, alias: 'c' },
      { table: live.tomb }, { table: live.tomb, alias: 'b' },
      { table: stage.data }, { table: stage.data, alias: 's' },
      { table: stage.clock }, { table: stage.clock, alias: 'sc' },
      { table: stage.tomb }, { table: stage.tomb, alias: 'st' },
      { table: wlog }, { table: wlog, alias: 'w' },
    ];
  }
}
