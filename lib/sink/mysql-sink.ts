/**
 * MySQL 8 / MariaDB target: executes the merge plan with the statements of
 * lib/dialect/mysql/merge-sql.ts. New rows go in as multi-row INSERTs. Winning fields of
 * existing rows go in as one multi-row upsert per distinct set of winning columns when there
 * are few such sets and the table has no NOT NULL non-key column (the usual case); otherwise,
 * and for revivals from the tomb and burials into it, rows go through one TEMPORARY stage
 * table per table and batch, then one UPDATE/INSERT … SELECT … JOIN per plan part. Statements are chunked to stay under a parameter budget and a byte budget
 * (max_allowed_packet). Which upsert form to use (`VALUES()` or a row alias) comes from
 * the config's rowAlias or, when unset, from `SELECT VERSION()` at connect.
 *
 * DDL (which commits implicitly in MySQL) runs on one connection holding GET_LOCK, so
 * concurrent fieldsync processes preparing the same database do not race.
 */
import type { Db, DbRow } from '../dialect/dialect.js';
import { addColumnSqls, backfillClockSql, createClockTableSql, createOffsetsTableSql, createTableSql, createTombTableSql } from '../dialect/mysql/ddl.js';
import { mysqlDialect } from '../dialect/mysql/dialect.js';
import {
  STAGE_OP, createStageSql, deleteByStageSql, dropStageSql, insertRowsSql, insertStageSql, lockRowsSql, moveFromStageSql,
  readClocksSql, storedOffsetsSql, updateFromStageSql, upsertClocksSql, upsertOffsetsSql, upsertWinnersSql,
} from '../dialect/mysql/merge-sql.js';
import { stampTriggerBodies, stampTriggerName, stampTriggerSqls } from '../dialect/mysql/stamp-triggers.js';
import { FieldsyncError } from '../errors.js';
import { systemTable, tombTable } from '../merge/clock-layout.js';
import type { MergePlan, PlannedRow } from '../merge/plan.js';
import type { TopicOffset } from '../sink.js';
import type { TableSchema, Value } from '../types.js';
import { clockGroups, SqlSink, winningFields } from './sql-sink.js';
import type { MergeTarget, SinkOptions, TableDdl, TableName } from './sql-sink.js';

/** Parameters per statement (prepared statements allow 65535; text queries have no limit but stay modest). */
const MAX_PARAMS = 30_000;
/** Bytes of bound values per statement, well under the default max_allowed_packet (16 MiB). */
const MAX_BYTES = 4 * 1024 * 1024;
const DDL_LOCK = 'fieldsync_ddl';
/** At most this many distinct sets of winning columns are written as plain upserts (else: the stage). */
const MAX_WIN_SETS = 4;

const d = mysqlDialect;

const ddl: TableDdl = {
  createTable: (into, source) => [createTableSql(into, source)],
  createClockTable: createClockTableSql,
  createTombTable: createTombTableSql,
  addColumn: (t, c) => addColumnSqls(t, c) as [string, string, string],
  backfillClock: backfillClockSql,
};

function approxBytes(v: unknown): number {
  if (v === null || v === undefined) return 4;
  if (Buffer.isBuffer(v)) return v.length * 2 + 3;
  if (typeof v === 'string') return v.length * 2 + 2;
  return 24;
}

/** Split rows (each already bound to params) into statements within the budgets. */
function paramChunks(rows: unknown[][]): unknown[][][] {
  const out: unknown[][][] = [];
  let cur: unknown[][] = [];
  let params = 0;
  let bytes = 0;
  for (const r of rows) {
    const b = r.reduce<number>((s, v) => s + approxBytes(v), 0);
    if (cur.length > 0 && (params + r.length > MAX_PARAMS || bytes + b > MAX_BYTES)) {
      out.push(cur);
      cur = [];
      params = 0;
      bytes = 0;
    }
    cur.push(r);
    params += r.length;
    bytes += b;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export const isMariaDb = (version: string): boolean => /mariadb/i.test(version);

/** The row alias (`INSERT … AS new`) exists since MySQL 8.0.19; MariaDB has only VALUES(). */
export function supportsRowAlias(version: string): boolean {
  if (isMariaDb(version)) return false;
  const [maj = 0, min = 0, patch = 0] = version.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
  return maj > 8 || (maj === 8 && (min > 0 || patch >= 19));
}

export interface MysqlSinkOptions extends SinkOptions {
  /** Row alias (MySQL 8.0.19+) instead of VALUES(); detected at connect when undefined. */
  rowAlias?: boolean | undefined;
}

export class MysqlSink extends SqlSink {
  private rowAlias: boolean | undefined;
  private mariadb = true;

  constructor(target: string, db: Db, options: MysqlSinkOptions) {
    super(target, db, options);
    this.rowAlias = options.rowAlias;
  }

  /** Which upsert form this sink uses (after connect). */
  get usesRowAlias(): boolean {
    return this.rowAlias ?? false;
  }

  override async connect(): Promise<void> {
    await super.connect();
    const [row] = await this.db.query('SELECT VERSION() AS v');
    const version = String(row?.v ?? '');
    this.mariadb = isMariaDb(version);
    this.rowAlias ??= supportsRowAlias(version);
  }

  private get offsetsTable(): string {
    return systemTable(d, this.options.fieldsyncSchema, 'offsets');
  }

  async install(): Promise<void> {
    await this.db.execute(createOffsetsTableSql(this.offsetsTable));
  }

  async storedOffsets(consumer: string): Promise<TopicOffset[]> {
    const rows = await this.db.query(storedOffsetsSql(this.offsetsTable), [consumer]);
    return rows.map((r) => ({ topic: String(r.topic), partition: Number(r.partition), nextOffset: String(r.next_offset) }));
  }

  protected ddl(): TableDdl {
    return ddl;
  }

  protected withDdlLock<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    return this.db.transaction(async (conn) => {
      const [got] = await conn.query('SELECT GET_LOCK(?, 60) AS ok', [DDL_LOCK]);
      if (Number(got?.ok) !== 1) throw new FieldsyncError(`unable to prepare tables in ${this.target}: another fieldsync process held the DDL lock for 60 s`, { retriable: true });
      try {
        return await fn(conn);
      } finally {
        await conn.query('SELECT RELEASE_LOCK(?)', [DDL_LOCK]);
      }
    });
  }

  protected async ensureTriggers(db: Db, full: TableSchema): Promise<void> {
    const bodies = stampTriggerBodies(full, this.options.origin);
    const rows = await db.query(
      `SELECT TRIGGER_NAME AS name, ACTION_STATEMENT AS body FROM information_schema.TRIGGERS
        WHERE TRIGGER_SCHEMA = ${full.schema ? '?' : 'DATABASE()'} AND EVENT_OBJECT_TABLE = ?`,
      full.schema ? [full.schema, full.name] : [full.name]);
    const installed = new Map(rows.map((r) => [String(r.name), String(r.body)]));
    // the bodies name every column: a table whose columns changed gets new triggers
    const current = (['insert', 'update', 'delete'] as const).every((e) => installed.get(stampTriggerName(full, e)) === bodies[e]);
    if (current) return;
    for (const sql of stampTriggerSqls(full, this.options.origin, this.mariadb)) await db.execute(sql);
  }

  protected async isPrimaryKeyDuplicate(e: unknown): Promise<boolean> {
    const err = e as { code?: unknown; message?: unknown };
    // "Duplicate entry '5' for key 'PRIMARY'" (MySQL 8: 'table.PRIMARY')
    return err.code === 'ER_DUP_ENTRY' && typeof err.message === 'string' && /for key '(?:[^']*\.)?PRIMARY'$/.test(err.message);
  }

  private bindKey(m: MergeTarget, key: Value[]): unknown[] {
    return m.key.map((k, i) => d.toDb(key[i] ?? null, k.type));
  }

  protected async lockRows(tx: Db, m: MergeTarget, keys: Value[][]): Promise<void> {
    for (const part of paramChunks(keys.map((k) => this.bindKey(m, k)))) {
      await tx.query(lockRowsSql(m, part.length), part.flat());
    }
  }

  protected async readClockRows(tx: Db, m: MergeTarget, keys: Value[][]): Promise<DbRow[]> {
    const out: DbRow[] = [];
    for (const part of paramChunks(keys.map((k) => this.bindKey(m, k)))) {
      out.push(...(await tx.query(readClocksSql(m, part.length), part.flat())));
    }
    return out;
  }

  protected async executePlan(tx: Db, m: MergeTarget, plan: MergePlan): Promise<void> {
    const tomb = tombTable(m.target);
    const insert = async (into: TableName, rows: PlannedRow[]) => {
      for (const part of paramChunks(rows.map((r) => this.bindRow(m, r.key, r.values)))) {
        await tx.execute(insertRowsSql(m, into, part.length), part.flat());
      }
    };
    if (plan.insertTable.length) await insert(m.target, plan.insertTable);
    if (plan.insertTomb.length) await insert(tomb, plan.insertTomb);

    // Updates of existing rows that share few sets of winning columns (the usual case: an
    // app changes the same columns) are plain upserts of those columns; the rest is staged.
    let updateTable = plan.updateTable;
    let updateTomb = plan.updateTomb;
    if (updateTable.length && m.allFields.every((c) => c.nullable)) {
      if (await this.upsertWinners(tx, m, m.target, updateTable)) updateTable = [];
    }
    if (updateTomb.length && (await this.upsertWinners(tx, m, tomb, updateTomb))) updateTomb = [];

    const staged: [number, PlannedRow[]][] = [
      [STAGE_OP.updateTable, updateTable], [STAGE_OP.reviveFromTomb, plan.reviveFromTomb],
      [STAGE_OP.buryFromTable, plan.buryFromTable], [STAGE_OP.updateTomb, updateTomb],
    ];
    if (staged.some(([, rows]) => rows.length > 0)) {
      // the stage carries only the fields that won somewhere in it
      const { m: w, index } = winningFields(m, staged.flatMap(([, rows]) => rows));
      for (const sql of createStageSql(w)) await tx.execute(sql);
      const stageRows = staged.flatMap(([op, rows]) => rows.map((r) => [
        op,
        ...this.bindKey(m, r.key),
        ...index.map((i, j) => d.toDb(r.values[i] ?? null, w.fields[j]!.type)),
        ...index.map((i) => (r.win[i] ? 1 : 0)),
      ]));
      for (const part of paramChunks(stageRows)) await tx.execute(insertStageSql(w, part.length), part.flat());
      const alias = this.usesRowAlias;
      if (updateTable.length && w.fields.length) await tx.execute(updateFromStageSql(w, m.target), [STAGE_OP.updateTable]);
      if (plan.reviveFromTomb.length) {
        await tx.execute(moveFromStageSql(w, tomb, m.target, alias), [STAGE_OP.reviveFromTomb]);
        await tx.execute(deleteByStageSql(w, tomb), [STAGE_OP.reviveFromTomb]);
      }
      if (plan.buryFromTable.length) {
        await tx.execute(moveFromStageSql(w, m.target, tomb, alias), [STAGE_OP.buryFromTable]);
        await tx.execute(deleteByStageSql(w, m.target), [STAGE_OP.buryFromTable]);
      }
      if (updateTomb.length && w.fields.length) await tx.execute(updateFromStageSql(w, tomb), [STAGE_OP.updateTomb]);
      await tx.execute(dropStageSql());
    }

    const stamp = (s: bigint | null) => (s === null ? null : s.toString());
    for (const g of clockGroups(m, plan.clocks)) {
      const clockRows = g.rows.map((c) => [...this.bindKey(m, c.key), ...g.stamps.map((get) => stamp(get(c)))]);
      for (const part of paramChunks(clockRows)) await tx.execute(upsertClocksSql(m, part.length, this.usesRowAlias, g.columns), part.flat());
    }
  }

  /**
   * Write the winners of rows that exist in `into` as one upsert per distinct set of winning
   * columns, when there are at most MAX_WIN_SETS such sets; false (nothing written) otherwise.
   */
  private async upsertWinners(tx: Db, m: MergeTarget, into: TableName, rows: PlannedRow[]): Promise<boolean> {
    const groups = new Map<string, PlannedRow[]>();
    for (const r of rows) {
      const mask = r.win.map((w) => (w ? '1' : '0')).join('');
      const g = groups.get(mask);
      if (g) g.push(r); else groups.set(mask, [r]);
      if (groups.size > MAX_WIN_SETS) return false;
    }
    for (const [mask, group] of groups) {
      const index = [...mask].flatMap((c, i) => (c === '1' ? [i] : []));
      const w: MergeTarget = { ...m, fields: index.map((i) => m.fields[i]!) };
      const bound = group.map((r) => [...this.bindKey(m, r.key), ...index.map((i, j) => d.toDb(r.values[i] ?? null, w.fields[j]!.type))]);
      for (const part of paramChunks(bound)) await tx.execute(upsertWinnersSql(w, into, part.length, this.usesRowAlias), part.flat());
    }
    return true;
  }

  protected async writeOffsets(tx: Db, consumer: string, offsets: TopicOffset[]): Promise<void> {
    const rows = offsets.map((o) => [consumer, o.topic, o.partition, o.nextOffset]);
    await tx.execute(upsertOffsetsSql(this.offsetsTable, rows.length, this.usesRowAlias), rows.flat());
  }
}
