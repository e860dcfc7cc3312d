/**
 * PostgreSQL target: executes the merge plan with the statements of
 * lib/dialect/postgres/merge-sql.ts, each taking its rows as one array per column
 * (unnest), so a table's batch costs a fixed handful of round trips whatever its size:
 * lock T rows, read clocks, one statement per non-empty plan part, one clock upsert.
 *
 * Set-based merge (a table batch of at least `setMinRows` keys): after the same lock of the
 * rows of T, one statement (postgres-set-sql.ts) locks and compares the clocks and writes
 * every plan part and the clock rows, so the clocks never travel to JS and the batch's
 * values travel once; when no key has a clock row, a simpler one only inserts. Whenever
 * it fails for a reason other than a transient one, the batch runs again on the row path,
 * which alone decides what is bad data, so dead-lettering is the same as for small batches.
 *
 * DDL (install, prepareTable) runs in one transaction under a transaction-scoped advisory
 * lock, so concurrent appliers/reconcilers preparing the same database do not race.
 */
import type { Db, DbRow } from '../dialect/dialect.js';
import { createClockTableSql, createOffsetsTableSql, createSchemaSql, createTableSql, createTombTableSql, addColumnSqls, backfillClockSql } from '../dialect/postgres/ddl.js';
import { postgresDialect } from '../dialect/postgres/dialect.js';
import {
  insertRowsSql, lockRowsSql, moveRowsSql, readClocksSql, updateRowsSql, upsertClocksSql, upsertOffsetsSql,
} from '../dialect/postgres/merge-sql.js';
import { stampFunctionBody, stampFunctionName, stampTriggerName, stampTriggerSqls } from '../dialect/postgres/stamp-triggers.js';
import { clockTable, tombTable } from '../merge/clock-layout.js';
import type { FoldedTable } from '../merge/fold.js';
import type { MergePlan, PlannedRow } from '../merge/plan.js';
import type { MergeOutcome, TopicOffset } from '../sink.js';
import type { ColumnSpec, TableSchema, Value } from '../types.js';
import { setStage } from './pg-set-stage.js';
import { lockAndFindClocksSql, newKeysSql, setMergeSql } from './postgres-set-sql.js';
import { chunks, clockGroups, SqlSink, winningFields } from './sql-sink.js';
import type { ApplyMode, MergeTarget, SinkOptions, TableDdl, TableName } from './sql-sink.js';

/** Rows per statement: arrays have no parameter limit; this only bounds one message's size. */
const ROWS_PER_STATEMENT = 20_000;
/** pg_advisory_xact_lock key for fieldsync DDL ("fsddl" in ASCII). */
const DDL_LOCK_KEY = '448378430572';
/** Keys from which a table batch is merged set-based (below, its larger statement costs more to plan than it saves). */
export const PG_SET_MIN_ROWS = 200;

const d = postgresDialect;

const ddl: TableDdl = {
  createTable: (into, source) => [...(into.schema ? [createSchemaSql(into.schema)] : []), createTableSql(into, source)],
  createClockTable: createClockTableSql,
  createTombTable: createTombTableSql,
  addColumn: (t, c) => addColumnSqls(t, c) as [string, string, string],
  backfillClock: backfillClockSql,
};

export class PostgresSink extends SqlSink {
  constructor(target: string, db: Db, options: SinkOptions) {
    super(target, db, options, PG_SET_MIN_ROWS);
  }

  protected override async mergeSetBased(tx: Db, folded: FoldedTable, m: MergeTarget, mode: ApplyMode): Promise<MergeOutcome | undefined> {
    if (!this.takesSetBased(folded, m, mode)) return undefined;
    mode.used = true;
    const out: MergeOutcome = { fieldsTaken: 0, fieldsKept: folded.superseded, rowsDeleted: 0 };
    const rows = [...folded.rows.values()];
    // keys are independent of each other: a very large batch goes in parts of bounded size
    for (const part of chunks(rows, ROWS_PER_STATEMENT)) {
      const stage = setStage(part.length === rows.length ? folded : { ...folded, rows: new Map(part.map((r) => [r.id, r])) }, m);
      // the row path's lock of T first (a local edit locks its T row, then its trigger the
      // clock row), bound to the stage's key arrays (the same types, built once)
      const [lock] = await tx.query(lockAndFindClocksSql(stage.table), stage.params.slice(0, m.key.length));
      // no key has a clock row: nothing to compare, new rows go straight in
      const sql = lock?.clocks === false ? newKeysSql(stage.table) : setMergeSql(stage.table);
      const [sum] = await tx.query(sql, stage.params);
      out.fieldsTaken += Number(sum?.taken ?? 0);
      out.fieldsKept += Number(sum?.kept ?? 0);
      out.rowsDeleted += Number(sum?.buried ?? 0);
    }
    return out;
  }

  async install(): Promise<void> {
    await this.withDdlLock(async (tx) => {
      await tx.execute(createSchemaSql(this.options.fieldsyncSchema));
      await tx.execute(createOffsetsTableSql(this.offsetsTable));
    });
  }

  protected ddl(): TableDdl {
    return ddl;
  }

  protected withDdlLock<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [DDL_LOCK_KEY]);
      return fn(tx);
    });
  }

  protected async ensureTriggers(db: Db, full: TableSchema): Promise<void> {
    const fn = stampFunctionName(full);
    const [src] = await db.query(
      `SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = $2`,
      [fn.schema || 'public', fn.name]);
    const [trg] = await db.query(`SELECT tgqual IS NOT NULL AS guarded FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2`, [d.qualified(full), stampTriggerName(full)]);
    // the function names every column: a table whose columns changed gets a new one; a
    // trigger without the applier-session WHEN guard (older installs) is replaced too
    if (trg && trg.guarded === true && src && src.prosrc === stampFunctionBody(full, this.options.origin)) return;
    for (const sql of stampTriggerSqls(full, this.options.origin)) await db.execute(sql);
  }

  /** Primary-key constraint names of T, its tomb and its clock, by T's qualified name (read before the transaction). */
  private readonly pkConstraints = new Map<string, string[]>();

  protected override async beforeMerge(m: MergeTarget): Promise<void> {
    const name = d.qualified(m.target);
    if (this.pkConstraints.has(name)) return;
    const rows = await this.db.query(
      `SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid IN (to_regclass($1), to_regclass($2), to_regclass($3))`,
      [name, d.qualified(tombTable(m.target)), d.qualified(clockTable(m.target))]);
    this.pkConstraints.set(name, rows.map((r) => String(r.conname)));
  }

  protected async isPrimaryKeyDuplicate(e: unknown, m: MergeTarget): Promise<boolean> {
    const err = e as { code?: unknown; constraint?: unknown };
    if (err.code !== '23505' || typeof err.constraint !== 'string') return false;
    return this.pkConstraints.get(d.qualified(m.target))?.includes(err.constraint) ?? false;
  }

  private keyArrays(m: MergeTarget, keys: Value[][]): unknown[][] {
    return m.key.map((k, i) => keys.map((key) => d.toDb(key[i] ?? null, k.type)));
  }

  private valueArrays(fields: ColumnSpec[], index: number[], rows: PlannedRow[]): unknown[][] {
    return index.map((i, j) => rows.map((r) => d.toDb(r.values[i] ?? null, fields[j]!.type)));
  }

  protected async lockRows(tx: Db, m: MergeTarget, keys: Value[][]): Promise<void> {
    for (const part of chunks(keys, ROWS_PER_STATEMENT)) await tx.query(lockRowsSql(m), this.keyArrays(m, part));
  }

  protected async readClockRows(tx: Db, m: MergeTarget, keys: Value[][]): Promise<DbRow[]> {
    const out: DbRow[] = [];
    for (const part of chunks(keys, ROWS_PER_STATEMENT)) out.push(...(await tx.query(readClocksSql(m), this.keyArrays(m, part))));
    return out;
  }

  protected async executePlan(tx: Db, m: MergeTarget, plan: MergePlan): Promise<void> {
    const target: TableName = m.target;
    const tomb = tombTable(m.target);
    const all = m.fields.map((_f, i) => i);
    const insert = async (into: TableName, rows: PlannedRow[]) => {
      for (const part of chunks(rows, ROWS_PER_STATEMENT)) {
        await tx.execute(insertRowsSql(m, into), [...this.keyArrays(m, part.map((r) => r.key)), ...this.valueArrays(m.fields, all, part)]);
      }
    };
    // statements that merge winners into existing rows carry only the fields that won somewhere
    const merge = async (rows: PlannedRow[], sql: (w: MergeTarget) => string) => {
      for (const part of chunks(rows, ROWS_PER_STATEMENT)) {
        const { m: w, index } = winningFields(m, part);
        const flags = index.map((i) => part.map((r) => r.win[i] === true));
        await tx.execute(sql(w), [...this.keyArrays(m, part.map((r) => r.key)), ...this.valueArrays(w.fields, index, part), ...flags]);
      }
    };
    if (plan.insertTable.length) await insert(target, plan.insertTable);
    if (plan.updateTable.length) await merge(plan.updateTable, (w) => updateRowsSql(w, target));
    if (plan.reviveFromTomb.length) await merge(plan.reviveFromTomb, (w) => moveRowsSql(w, tomb, target));
    if (plan.buryFromTable.length) await merge(plan.buryFromTable, (w) => moveRowsSql(w, target, tomb));
    if (plan.insertTomb.length) await insert(tomb, plan.insertTomb);
    if (plan.updateTomb.length) await merge(plan.updateTomb, (w) => updateRowsSql(w, tomb));
    const stamp = (s: bigint | null) => (s === null ? null : s.toString());
    for (const g of clockGroups(m, plan.clocks)) {
      for (const part of chunks(g.rows, ROWS_PER_STATEMENT)) {
        await tx.execute(upsertClocksSql(m, g.columns), [
          ...this.keyArrays(m, part.map((c) => c.key)),
          ...g.stamps.map((get) => part.map((c) => stamp(get(c)))),
        ]);
      }
    }
  }

  protected async writeOffsets(tx: Db, consumer: string, offsets: TopicOffset[]): Promise<void> {
    await tx.execute(upsertOffsetsSql(this.offsetsTable), [
      offsets.map(() => consumer), offsets.map((o) => o.topic), offsets.map((o) => o.partition), offsets.map((o) => o.nextOffset),
    ]);
  }
}
