/**
 * The part of a SQL sink that does not depend on the dialect: preparing a target table
 * (create, evolve, clock and tomb tables, stamping triggers) and the merge of a batch.
 *
 * apply() runs ONE target transaction: for every table of the batch
 *   1. fold its events per key in JS (lib/merge/fold.ts: exact, the state is a semilattice);
 *   2. lock the batch's rows of T, then read their clock rows FOR UPDATE (with "has a tomb
 *      row"), so a concurrent local edit (whose trigger locks T's row, then the clock row)
 *      can neither interleave nor deadlock with us;
 *   3. plan (lib/merge/plan.ts): winners per field, where each row lives afterwards;
 *   4. execute the plan as a few multi-row statements (the dialect subclass);
 * then upserts the consumed offsets, and commits. A failure anywhere rolls back data,
 * clocks and offsets together.
 */
import type { Db, DbRow } from '../dialect/dialect.js';
import { readTableSchema } from '../dialect/introspect.js';
import { DataError, errorMessage, FieldsyncError, isRetriable, wrap } from '../errors.js';
import { logger } from '../log.js';
import { clockTable, DELETE_STAMP, fieldColumns, INSERT_STAMP, RESERVED_COLUMNS, systemTable, tombTable } from '../merge/clock-layout.js';
import { foldEvents } from '../merge/fold.js';
import type { FoldedTable } from '../merge/fold.js';
import { planMerge } from '../merge/plan.js';
import type { ClockWrite, MergePlan, PlannedRow, StoredState } from '../merge/plan.js';
import { describeKey, keyId } from '../merge/row-key.js';
import type { MergeOutcome, PrepareTableOptions, Sink, SinkTableBatch, TopicOffset } from '../sink.js';
import type { ColumnSpec, TableSchema, Value } from '../types.js';
import { qualifiedName } from '../types.js';
import { mergeError } from './db-errors.js';

const log = logger('sink');

export type TableName = { schema: string; name: string };

/** What the merge statements of one table need. */
export interface MergeTarget {
  target: TableName;
  key: ColumnSpec[];
  /** Non-key columns the batch carries. */
  fields: ColumnSpec[];
  /** Every non-key column of the target. */
  allFields: ColumnSpec[];
}

export interface SinkOptions {
  /** Origin id stamped on local edits of this database (its triggers). */
  origin: string;
  /** Schema of fieldsync's own tables (PostgreSQL). */
  fieldsyncSchema: string;
  /** Keys from which a table batch is merged set-based (default: the dialect's; Infinity: never). */
  setMinRows?: number | undefined;
}

/**
 * How one apply() merges. `bulk`: a dialect may merge a large table batch set-based
 * (mergeSetBased); off, every table takes the row path (clocks read, planMerge in JS).
 */
export interface ApplyMode {
  bulk: boolean;
  /** Set by the dialect once it took the set-based merge in this apply(). */
  used?: boolean;
}

/** A new source column the target lacks while autoEvolve is off. */
export class SchemaEvolutionError extends FieldsyncError {
  constructor(readonly table: string, readonly column: string) {
    super(`table ${table} has no column "${column}" that its source now has, and autoEvolve is off for it: add the column or turn autoEvolve on`);
    this.name = 'SchemaEvolutionError';
  }
}

/** The DDL a dialect provides for prepareTable. */
export interface TableDdl {
  createTable(into: TableName, source: TableSchema): string[];
  createClockTable(t: TableSchema): string;
  createTombTable(t: TableSchema): string;
  /** [on T, on the clock, on the tomb] */
  addColumn(t: TableName, c: ColumnSpec): [string, string, string];
  backfillClock(t: TableSchema): string;
}

interface Prepared {
  signature: string;
  merge: TableSchema;
}

const addOutcome = (a: MergeOutcome, b: MergeOutcome) => {
  a.fieldsTaken += b.fieldsTaken;
  a.fieldsKept += b.fieldsKept;
  a.rowsDeleted += b.rowsDeleted;
};

export abstract class SqlSink implements Sink {
  private readonly prepared = new Map<string, Prepared>();
  private readonly fullSchemas = new Map<string, TableSchema>();
  /** Keys from which a table batch is merged set-based (Infinity: never). */
  protected readonly setMinRows: number;
  /** Tables whose set-based merge failed where the row path succeeded: row path only. */
  private readonly rowPathOnly = new Set<string>();

  /** `setMinRowsDefault`: the dialect's threshold for mergeSetBased (none: Infinity). */
  constructor(readonly target: string, readonly db: Db, protected readonly options: SinkOptions, setMinRowsDefault = Infinity) {
    this.setMinRows = options.setMinRows ?? setMinRowsDefault;
  }

  abstract install(): Promise<void>;
  protected abstract ddl(): TableDdl;
  /** Run DDL serialised against other fieldsync processes preparing the same database. */
  protected abstract withDdlLock<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  /** (Re)install the local-edit triggers when missing or out of date. */
  protected abstract ensureTriggers(db: Db, full: TableSchema): Promise<void>;
  protected abstract lockRows(tx: Db, m: MergeTarget, keys: Value[][]): Promise<void>;
  protected abstract readClockRows(tx: Db, m: MergeTarget, keys: Value[][]): Promise<DbRow[]>;
  protected abstract executePlan(tx: Db, m: MergeTarget, plan: MergePlan): Promise<void>;
  protected abstract writeOffsets(tx: Db, consumer: string, offsets: TopicOffset[]): Promise<void>;

  async connect(): Promise<void> {
    try {
      await this.db.query('SELECT 1');
    } catch (e) {
      throw wrap(`unable to connect to target ${this.target}`, e);
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /** fieldsync's offsets table in this target (in the fieldsync schema where the dialect has one). */
  protected get offsetsTable(): string {
    return systemTable(this.db.dialect, this.options.fieldsyncSchema, 'offsets');
  }

  async storedOffsets(consumer: string): Promise<TopicOffset[]> {
    const d = this.db.dialect;
    const rows = await this.db.query(
      `SELECT topic, ${d.quote('partition')}, next_offset FROM ${this.offsetsTable} WHERE consumer = ${d.param(1)} ORDER BY topic, ${d.quote('partition')}`, [consumer]);
    return rows.map((r) => ({ topic: String(r.topic), partition: Number(r.partition), nextOffset: String(r.next_offset) }));
  }

  // ---------------------------------------------------------------- prepareTable

  async prepareTable(source: TableSchema, into: TableName, opts: PrepareTableOptions): Promise<TableSchema> {
    const cacheKey = qualifiedName(into);
    const signature = source.columns.map((c) => c.name).join('\u0000');
    const hit = this.prepared.get(cacheKey);
    if (hit && hit.signature === signature) return hit.merge;
    for (const c of source.columns) {
      if (RESERVED_COLUMNS.includes(c.name)) throw new FieldsyncError(`source table ${qualifiedName(source)} has a column named "${c.name}", which fieldsync reserves for its clocks`);
    }
    const full = await this.withDdlLock((db) => this.prepareLocked(db, source, into, opts));
    const merge = this.mergeSchema(full, source);
    this.fullSchemas.set(qualifiedName(full), full);
    this.fullSchemas.set(cacheKey, full);
    this.prepared.set(cacheKey, { signature, merge });
    return merge;
  }

  private async prepareLocked(db: Db, source: TableSchema, into: TableName, opts: PrepareTableOptions): Promise<TableSchema> {
    const ddl = this.ddl();
    const display = qualifiedName(into);
    let full = await readTableSchema(db, into.schema, into.name);
    if (!full) {
      if (!opts.createTable) throw new FieldsyncError(`target table ${display} does not exist in ${this.target} and createTable is off for it`);
      for (const sql of ddl.createTable(into, source)) await db.execute(sql);
      full = await this.readTable(db, into, display);
    }
    for (const k of full.key) {
      if (!source.columns.some((c) => c.name === k)) throw new FieldsyncError(`target table ${display}: key column "${k}" is not a column of its source ${qualifiedName(source)}`);
    }
    const missing = source.columns.filter((c) => !full!.columns.some((t) => t.name === c.name));
    if (missing.length > 0 && !opts.autoEvolve) throw new SchemaEvolutionError(display, missing[0]!.name);

    const clockName = clockTable(full);
    const tombName = tombTable(full);
    const clockBefore = await readTableSchema(db, clockName.schema, clockName.name);
    if (!clockBefore) await db.execute(ddl.createClockTable(full));
    if (!(await readTableSchema(db, tombName.schema, tombName.name))) await db.execute(ddl.createTombTable(full));

    // schema evolution: new nullable columns on T, and every column of T on its clock and tomb
    for (const c of missing) {
      await db.execute(ddl.addColumn(full, { ...c, nullable: true })[0]);
    }
    if (missing.length > 0) full = await this.readTable(db, into, display);
    const clock = await this.readTable(db, clockName, qualifiedName(clockName));
    const tomb = await this.readTable(db, tombName, qualifiedName(tombName));
    for (const c of full.columns) {
      if (full.key.includes(c.name)) continue;
      const [, onClock, onTomb] = ddl.addColumn(full, { ...c, nullable: true });
      if (!clock.columns.some((x) => x.name === c.name)) await db.execute(onClock);
      if (!tomb.columns.some((x) => x.name === c.name)) await db.execute(onTomb);
    }
    await this.ensureTriggers(db, full);
    // backfill only after the triggers exist: a row the application inserts meanwhile is stamped by them
    if (!clockBefore) await db.execute(ddl.backfillClock(full));
    return full;
  }

  private async readTable(db: Db, t: TableName, display: string): Promise<TableSchema> {
    const s = await readTableSchema(db, t.schema, t.name);
    if (!s) throw new FieldsyncError(`table ${display} does not exist in ${this.target} right after creating it`);
    return s;
  }

  /** The target restricted to the source's columns, in the target's column order. */
  private mergeSchema(full: TableSchema, source: TableSchema): TableSchema {
    const wanted = new Set(source.columns.map((c) => c.name));
    return { ...full, columns: full.columns.filter((c) => wanted.has(c.name) || full.key.includes(c.name)) };
  }

  private async fullSchema(table: TableSchema): Promise<TableSchema> {
    const name = qualifiedName(table);
    let full = this.fullSchemas.get(name);
    if (!full) {
      full = await readTableSchema(this.db, table.schema, table.name);
      if (!full) throw new FieldsyncError(`target table ${name} does not exist in ${this.target}: prepareTable it first`);
      this.fullSchemas.set(name, full);
    }
    return full;
  }

  // ---------------------------------------------------------------- apply

  /**
   * One transaction, set-based for large table batches. A set-based merge that failed for
   * any reason but a transient one runs again on the row path, which decides what is bad
   * data; when the row path then succeeds where the set-based merge failed (for a reason
   * the dialect does not count as data: keepsSetBasedAfter), the batch's tables stay on the
   * row path: something about them the set-based statements do not handle.
   */
  async apply(consumer: string, batches: SinkTableBatch[], offsets: TopicOffset[]): Promise<MergeOutcome> {
    const mode: ApplyMode = { bulk: Number.isFinite(this.setMinRows) };
    try {
      return await this.applyWith(consumer, batches, offsets, mode);
    } catch (e) {
      if (!mode.used || isRetriable(e)) throw e;
      const out = await this.applyWith(consumer, batches, offsets, { bulk: false });
      if (!this.keepsSetBasedAfter(e)) {
        log.warn({ target: this.target, err: errorMessage(e), tables: batches.map((b) => qualifiedName(b.table)) }, 'set-based merge failed where the row path succeeded: these tables stay on the row path');
        for (const b of batches) this.rowPathOnly.add(qualifiedName(b.table));
      }
      return out;
    }
  }

  /** Whether a set-based failure that the row path did not repeat leaves the tables set-based. */
  protected keepsSetBasedAfter(_e: unknown): boolean {
    return false;
  }

  /** Whether this table batch goes to mergeSetBased: large enough, and the table not on the row path only. */
  protected takesSetBased(folded: FoldedTable, m: MergeTarget, mode: ApplyMode): boolean {
    return mode.bulk && folded.rows.size >= this.setMinRows && !this.rowPathOnly.has(qualifiedName(m.target));
  }

  /** apply() with the statements chosen by `mode`: one transaction for data, clocks and offsets. */
  protected async applyWith(consumer: string, batches: SinkTableBatch[], offsets: TopicOffset[], mode: ApplyMode): Promise<MergeOutcome> {
    const outcome: MergeOutcome = { fieldsTaken: 0, fieldsKept: 0, rowsDeleted: 0 };
    const work: { folded: FoldedTable; m: MergeTarget }[] = [];
    for (const b of batches) {
      if (b.events.length === 0) continue;
      const full = await this.fullSchema(b.table);
      let folded: FoldedTable;
      try {
        folded = foldEvents(b.table, b.events);
      } catch (e) {
        // a value that cannot be a value of its column: the message is bad, not the target
        if (e instanceof DataError) throw new DataError(`unable to merge into ${qualifiedName(b.table)}: ${e.message}`, e);
        throw e;
      }
      const missing = folded.fields.find((f) => !full.columns.some((c) => c.name === f.name));
      if (missing) throw new FieldsyncError(`target table ${qualifiedName(full)} has no column "${missing.name}": prepareTable it before applying`);
      const allNames = new Set(fieldColumns(full));
      const m: MergeTarget = {
        target: { schema: b.table.schema, name: b.table.name },
        key: folded.keyCols,
        fields: folded.fields,
        allFields: full.columns.filter((c) => allNames.has(c.name)),
      };
      await this.beforeMerge(m);
      work.push({ folded, m });
    }
    return this.db.transaction(async (tx) => {
      for (const { folded, m } of work) addOutcome(outcome, await this.mergeTable(tx, folded, m, mode));
      if (offsets.length > 0) {
        try {
          await this.writeOffsets(tx, consumer, latestOffsets(offsets));
        } catch (e) {
          throw wrap(`unable to store offsets of ${consumer} in ${this.target}`, e);
        }
      }
      return outcome;
    });
  }

  private async mergeTable(tx: Db, folded: FoldedTable, m: MergeTarget, mode: ApplyMode): Promise<MergeOutcome> {
    const rows = [...folded.rows.values()];
    const keyHint = rows.length === 1 ? describeKey(m.key, rows[0]!.key) : undefined;
    try {
      const set = await this.mergeSetBased(tx, folded, m, mode);
      if (set) return set;
      const keys = rows.map((r) => r.key);
      await this.lockRows(tx, m, keys);
      const stored = this.parseClocks(m, await this.readClockRows(tx, m, keys));
      const plan = planMerge(folded, stored);
      await this.executePlan(tx, m, plan);
      return plan.outcome;
    } catch (e) {
      // The clock said the key was absent, yet its row is there: another session inserted
      // it after our read (PostgreSQL takes no lock on a missing key). A retry reads the
      // new clock row and merges into the row: transient, not bad data.
      if (await this.isPrimaryKeyDuplicate(e, m)) {
        throw new FieldsyncError(`unable to merge into ${qualifiedName(m.target)}: a row with the same key was inserted concurrently (${errorMessage(e)}); retry`, { retriable: true, cause: e });
      }
      throw mergeError(e, qualifiedName(m.target), keyHint);
    }
  }

  /**
   * A duplicate of the primary key of T or its tomb (not of another unique index). Runs
   * inside the failed transaction's callback: it must not need another pool connection.
   */
  protected abstract isPrimaryKeyDuplicate(e: unknown, m: MergeTarget): Promise<boolean>;

  /**
   * A dialect's set-based merge of a whole folded table (the server compares the clocks):
   * the same locks, writes and outcome as lock + read + planMerge + executePlan. Undefined
   * when not taken (then the row path runs); errors are classified as on the row path.
   */
  protected async mergeSetBased(_tx: Db, _folded: FoldedTable, _m: MergeTarget, _mode: ApplyMode): Promise<MergeOutcome | undefined> {
    return undefined;
  }

  /** Per-table preparation outside the merge transaction (catalog look-ups to cache). */
  protected async beforeMerge(_m: MergeTarget): Promise<void> {}

  private parseClocks(m: MergeTarget, rows: DbRow[]): Map<string, StoredState> {
    const d = this.db.dialect;
    const stamp = (v: unknown): bigint | null => (v === null || v === undefined ? null : BigInt(String(v)));
    const out = new Map<string, StoredState>();
    for (const r of rows) {
      const key = m.key.map((k) => d.fromDb(r[k.name], k.type));
      const t = r._fs_has_tomb;
      out.set(keyId(key), {
        clock: { ins: stamp(r._fs_ins), del: stamp(r._fs_del), fields: m.fields.map((f) => stamp(r[f.name])) },
        hasTomb: t === true || t === 1 || t === '1' || t === 't',
      });
    }
    return out;
  }

  /** Bind form of a row: keys then the given fields, through dialect.toDb. */
  protected bindRow(m: MergeTarget, key: Value[], values: Value[]): unknown[] {
    const d = this.db.dialect;
    const out: unknown[] = m.key.map((k, i) => d.toDb(key[i] ?? null, k.type));
    m.fields.forEach((f, i) => out.push(d.toDb(values[i] ?? null, f.type)));
    return out;
  }
}

/** One offset per (topic, partition): the greatest. */
export function latestOffsets(offsets: TopicOffset[]): TopicOffset[] {
  const by = new Map<string, TopicOffset>();
  for (const o of offsets) {
    const k = `${o.topic}\u0000${o.partition}`;
    const cur = by.get(k);
    if (!cur || BigInt(o.nextOffset) > BigInt(cur.nextOffset)) by.set(k, o);
  }
  return [...by.values()];
}

/** The subset of a target's batch fields that won somewhere in `rows` (only those are written). */
export function winningFields(m: MergeTarget, rows: PlannedRow[]): { m: MergeTarget; index: number[] } {
  const index: number[] = [];
  m.fields.forEach((_f, i) => { if (rows.some((r) => r.win[i])) index.push(i); });
  return { m: { ...m, fields: index.map((i) => m.fields[i]!) }, index };
}

/** Clock rows that change the same stamps, and those stamps' column names and getters. */
export interface ClockGroup {
  columns: string[];
  stamps: ((c: ClockWrite) => bigint | null)[];
  rows: ClockWrite[];
}

/**
 * Group clock writes by the stamps they change, so each upsert writes only those (a
 * one-column update touches one clock column, not all of them); more than `max` distinct
 * sets become one group writing every stamp. A stamp that did not change is never written.
 */
export function clockGroups(m: MergeTarget, clocks: ClockWrite[], max = 4): ClockGroup[] {
  const names = [INSERT_STAMP, DELETE_STAMP, ...m.fields.map((f) => f.name)];
  const getters = names.map((_n, j): ((c: ClockWrite) => bigint | null) =>
    j === 0 ? (c) => c.clock.ins : j === 1 ? (c) => c.clock.del : (c) => c.clock.fields[j - 2] ?? null);
  const group = (cols: number[], rows: ClockWrite[]): ClockGroup => ({ columns: cols.map((j) => names[j]!), stamps: cols.map((j) => getters[j]!), rows });
  const byMask = new Map<string, ClockWrite[]>();
  for (const c of clocks) {
    const mask = c.changed.map((x) => (x ? '1' : '0')).join('');
    const g = byMask.get(mask);
    if (g) g.push(c); else byMask.set(mask, [c]);
    if (byMask.size > max) return [group(names.map((_n, j) => j), clocks)];
  }
  return [...byMask].map(([mask, rows]) => group([...mask].flatMap((x, j) => (x === '1' ? [j] : [])), rows));
}

/** Split `items` into chunks of at most `size`. */
export function chunks<T>(items: T[], size: number): T[][] {
  if (items.length <= size) return [items];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
