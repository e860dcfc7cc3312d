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
 * Set-based merge (a table batch of at least `setMinRows` keys): instead of reading the
 * clocks into JS, planning and binding every value, the folded batch is loaded into a stage
 * with LOAD DATA LOCAL INFILE and the server compares the clocks (mysql-bulk-sql.ts), under
 * the same row locks, taken in the same order. LOAD DATA LOCAL turns value errors into
 * warnings and skips duplicate keys, so any warning fails the load; and whenever the
 * set-based merge fails for a reason other than a transient one, the batch runs again on
 * the row path, which alone decides what is bad data (bound parameters, strict mode), so
 * dead-lettering is the same as for small batches.
 *
 * DDL (which commits implicitly in MySQL) runs on one connection holding GET_LOCK, so
 * concurrent fieldsync processes preparing the same database do not race.
 */
import { Readable } from 'node:stream';
import type { PoolConnection, ResultSetHeader } from 'mysql2/promise';
import type { Db, DbRow } from '../dialect/dialect.js';
import { addColumnSqls, backfillClockSql, createClockTableSql, createOffsetsTableSql, createTableSql, createTombTableSql } from '../dialect/mysql/ddl.js';
import { mysqlDialect } from '../dialect/mysql/dialect.js';
import {
  STAGE_OP, createStageSql, deleteByStageSql, dropStageSql, insertRowsSql, insertStageSql, lockRowsSql, moveFromStageSql,
  readClocksSql, updateFromStageSql, upsertClocksSql, upsertOffsetsSql, upsertWinnersSql,
} from '../dialect/mysql/merge-sql.js';
import { loadDataSql } from '../dialect/mysql/bulk-load.js';
import { dropOrphanTriggerNames } from '../dialect/mysql/orphan-triggers.js';
import { stampTriggerBaseNames, stampTriggerBodies, stampTriggerNames, stampTriggerSqls } from '../dialect/mysql/stamp-triggers.js';
import { DataError, FieldsyncError } from '../errors.js';
import { tombTable } from '../merge/clock-layout.js';
import type { FoldedTable } from '../merge/fold.js';
import type { MergePlan, PlannedRow } from '../merge/plan.js';
import type { MergeOutcome, TopicOffset } from '../sink.js';
import type { TableSchema, Value } from '../types.js';
import { LoadText } from './load-text.js';
import {
  SET_OP, classifySql, createSetStageSql, insertClocksFromSetStageSql, insertFromSetStageSql, loadClocksSql, loadSetStageSql, lockRowsAndClocksSql,
  summarySql, updateClocksFromSetStageSql, updateFromSetStageSql, updateTableSql,
} from './mysql-bulk-sql.js';
import type { SetMergeTable } from './mysql-bulk-sql.js';
import { keyMatches } from './mysql-bulk-sql.js';
import { clockGroups, SqlSink, winningFields } from './sql-sink.js';
import type { ApplyMode, MergeTarget, SinkOptions, TableDdl, TableName } from './sql-sink.js';

/** Parameters per statement (prepared statements allow 65535; text queries have no limit but stay modest). */
const MAX_PARAMS = 30_000;
/** Bytes of bound values per statement, well under the default max_allowed_packet (16 MiB). */
const MAX_BYTES = 4 * 1024 * 1024;
const DDL_LOCK = 'fieldsync_ddl';
/** At most this many distinct sets of winning columns are written as plain upserts (else: the stage). */
const MAX_WIN_SETS = 4;
/** Keys from which a table batch is merged set-based (below, its fixed round trips cost more than they save). */
export const SET_MIN_ROWS = 200;

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

/** The connection of a MySQL transaction (a LOAD DATA stream must run on it). */
function transactionConnection(tx: Db): PoolConnection {
  const conn = (tx as { transactionConnection?: PoolConnection | undefined }).transactionConnection;
  if (!conn) throw new FieldsyncError('the set-based merge needs the connection of a MySQL transaction');
  return conn;
}

export class MysqlSink extends SqlSink {
  private rowAlias: boolean | undefined;
  private mariadb = true;

  constructor(target: string, db: Db, options: MysqlSinkOptions) {
    super(target, db, options, SET_MIN_ROWS);
    this.rowAlias = options.rowAlias;
  }

  /** LOAD DATA warnings make a set-based failure a DataError: bad data, not the table's shape. */
  protected override keepsSetBasedAfter(e: unknown): boolean {
    return e instanceof DataError;
  }

  protected override async mergeSetBased(tx: Db, folded: FoldedTable, m: MergeTarget, mode: ApplyMode): Promise<MergeOutcome | undefined> {
    if (!this.takesSetBased(folded, m, mode)) return undefined;
    mode.used = true;
    // the stage carries the fields some event writes (an update of one column: one value and one stamp)
    const written = m.fields.map(() => false);
    for (const r of folded.rows.values()) for (let j = 0; j < written.length; j++) if (r.fields[j]) written[j] = true;
    const activeIndex = written.flatMap((w, j) => (w ? [j] : []));
    const s: SetMergeTable = { ...m, active: activeIndex.map((j) => m.fields[j]!) };

    // the same locks, in the same order, as the row path: T rows, then clock and tomb rows
    // a bigint key binds as its digits (the driver escapes it unquoted): no string to convert per key
    const keys = [...folded.rows.values()].map((r) => m.key.map((k, i) => {
      const v = r.key[i] ?? null;
      return typeof v === 'bigint' ? v : d.toDb(v, k.type);
    }));
    // half the parameter budget each: one statement carries the keys twice
    const tMatches = keyMatches(m, 't', keys, MAX_PARAMS / 2);
    const cMatches = keyMatches(m, 'c', keys, MAX_PARAMS / 2);
    let stored = 0;
    let tombs = 0;
    for (let i = 0; i < tMatches.length; i++) {
      const [, clocks] = await tx.query(lockRowsAndClocksSql(s, tMatches[i]!, cMatches[i]!), [...tMatches[i]!.params, ...cMatches[i]!.params]);
      stored += Number(clocks?.n ?? 0);
      tombs += Number(clocks?.tombs ?? 0);
    }
    // no key has a clock row (and the locks keep it so): nothing to compare in SQL
    if (stored === 0) return this.mergeNewKeys(tx, folded, s);

    await tx.execute(createSetStageSql(s, this.mariadb));
    const text = new LoadText();
    for (const r of folded.rows.values()) {
      for (let i = 0; i < m.key.length; i++) text.value(r.key[i] ?? null, m.key[i]!.type);
      // the row stamp: the insert stamp, else the first field stamp; equal stamps are sent empty
      let ref = r.ins;
      for (let n = 0; ref === null && n < activeIndex.length; n++) ref = r.fields[activeIndex[n]!]?.stamp ?? null;
      text.stamp(ref);
      text.stampOr(r.ins, ref);
      text.stampOr(r.del, ref);
      for (const j of activeIndex) text.stampOr(r.fields[j]?.stamp ?? null, ref);
      for (const j of activeIndex) text.value(r.fields[j]?.value ?? null, m.fields[j]!.type);
      text.endRow();
    }
    await this.load(tx, loadSetStageSql(s), text);

    await tx.execute(classifySql(s, tombs > 0));
    const [sum] = await tx.query(summarySql(s));
    const n = (k: string) => Number(sum?.[k] ?? 0);
    const won = s.active.flatMap((_f, j) => (n(`w${j}`) > 0 ? [j] : []));
    const tomb = tombTable(m.target);
    const alias = this.usesRowAlias;
    if (n(`op${SET_OP.insertTable}`)) await tx.execute(insertFromSetStageSql(s, m.target), [SET_OP.insertTable]);
    if (n(`op${SET_OP.insertTomb}`)) await tx.execute(insertFromSetStageSql(s, tomb), [SET_OP.insertTomb]);
    if (n(`op${STAGE_OP.updateTable}`)) await tx.execute(updateTableSql(s, won));
    // moves between T and its tomb: merge-sql.ts's statements read the same stage columns
    const w: MergeTarget = { ...m, fields: s.active };
    if (n(`op${STAGE_OP.reviveFromTomb}`)) {
      await tx.execute(moveFromStageSql(w, tomb, m.target, alias), [STAGE_OP.reviveFromTomb]);
      await tx.execute(deleteByStageSql(w, tomb), [STAGE_OP.reviveFromTomb]);
    }
    if (n(`op${STAGE_OP.buryFromTable}`)) {
      await tx.execute(moveFromStageSql(w, m.target, tomb, alias), [STAGE_OP.buryFromTable]);
      await tx.execute(deleteByStageSql(w, m.target), [STAGE_OP.buryFromTable]);
    }
    if (n(`op${STAGE_OP.updateTomb}`)) await tx.execute(updateFromSetStageSql(s, tomb, won), [STAGE_OP.updateTomb]);
    if (n('fresh')) await tx.execute(insertClocksFromSetStageSql(s));
    if (n('known')) await tx.execute(updateClocksFromSetStageSql(s, won));
    // MariaDB: the next batch's CREATE OR REPLACE drops the stage (one round trip less per batch)
    if (!this.mariadb) await tx.execute(dropStageSql());

    let taken = 0;
    let kept = folded.superseded;
    s.active.forEach((_f, j) => { taken += n(`w${j}`); kept += n(`k${j}`); });
    return { fieldsTaken: taken, fieldsKept: kept, rowsDeleted: n(`op${STAGE_OP.buryFromTable}`) };
  }

  /**
   * Set-based merge of keys of which the target holds no clock row (the usual case: a batch
   * of inserts). The plan against empty clocks has only new rows of T, of its tomb and of
   * the clock, which go straight into their tables with LOAD DATA: no stage.
   */
  private async mergeNewKeys(tx: Db, folded: FoldedTable, s: SetMergeTable): Promise<MergeOutcome> {
    // planMerge against empty clocks, written straight into the LOAD DATA texts (no plan
    // objects per row): every incoming field write wins (a NULL clock is older than any
    // stamp); the row is present iff ins > del; an absent row keeps its fields in the tomb
    // when it has any or an insert stamp; every key whose stamps are not all NULL gets a
    // clock row. The set-based tests compare this with the row path.
    const n = folded.rows.size;
    const table = new LoadText(n * (s.fields.length + 1) * 24);
    const tomb = new LoadText();
    const clock = new LoadText(n * (s.fields.length * 2 + 24));
    const outcome: MergeOutcome = { fieldsTaken: 0, fieldsKept: folded.superseded, rowsDeleted: 0 };
    for (const r of folded.rows.values()) {
      let winners = 0;
      for (const f of r.fields) if (f) winners++;
      if (r.ins === null && r.del === null && winners === 0) continue; // nothing new for this key
      outcome.fieldsTaken += winners;
      const present = r.ins !== null && (r.del === null || r.ins > r.del);
      const into = present ? table : winners > 0 || r.ins !== null ? tomb : undefined;
      if (into) {
        for (let i = 0; i < s.key.length; i++) into.value(r.key[i] ?? null, s.key[i]!.type);
        for (let i = 0; i < s.fields.length; i++) into.value(r.fields[i]?.value ?? null, s.fields[i]!.type);
        into.endRow();
      }
      for (let i = 0; i < s.key.length; i++) clock.value(r.key[i] ?? null, s.key[i]!.type);
      // the row stamp: the insert stamp, else the first stamp there is
      let ref = r.ins ?? r.del;
      for (let j = 0; ref === null && j < r.fields.length; j++) ref = r.fields[j]?.stamp ?? null;
      clock.stamp(ref);
      clock.stampOr(r.ins, ref);
      clock.stampOr(r.del, ref);
      for (const f of r.fields) clock.stampOr(f?.stamp ?? null, ref);
      clock.endRow();
    }
    const columns = [...s.key, ...s.fields];
    if (table.rows) await this.load(tx, loadDataSql(s.target, columns), table);
    if (tomb.rows) await this.load(tx, loadDataSql(tombTable(s.target), columns), tomb);
    if (clock.rows) await this.load(tx, loadClocksSql(s), clock);
    return outcome;
  }

  /**
   * LOAD DATA LOCAL `text` with `sql`, in the transaction. LOAD DATA LOCAL reports a value it
   * had to alter, or a duplicate key it skipped, only as a warning: either fails the load.
   */
  private async load(tx: Db, sql: string, text: LoadText): Promise<void> {
    const conn = transactionConnection(tx);
    const [res] = await conn.query({ sql, infileStreamFactory: () => Readable.from(text.chunks()) });
    const header = res as ResultSetHeader;
    if (header.warningStatus > 0 || header.affectedRows !== text.rows) {
      throw new DataError(`LOAD DATA of a set-based merge loaded ${header.affectedRows} of ${text.rows} rows with ${header.warningStatus} warning(s)`);
    }
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

  async install(): Promise<void> {
    await this.db.execute(createOffsetsTableSql(this.offsetsTable));
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
    // the bodies name every column: a table whose columns changed gets new triggers. A
    // refresh's swap leaves them under either of their two names (trigger-names.ts): the
    // set is current when each event has exactly one of them, with the expected body
    const current = (['insert', 'update', 'delete'] as const).every((e) => {
      const present = stampTriggerNames(full, e).filter((n) => installed.has(n));
      return present.length === 1 && installed.get(present[0]!) === bodies[e];
    });
    if (current) return;
    // MariaDB's CREATE OR REPLACE fails on a name a crash orphaned (orphan-triggers.ts)
    if (this.mariadb) await dropOrphanTriggerNames(db, full.schema, stampTriggerBaseNames(full));
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
