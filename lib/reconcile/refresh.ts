/**
 * The nightly full refresh of one target table from its source (DESIGN.md, "The nightly
 * refresh"), built so that readers never see an empty or partial table and no write is
 * lost.
 *
 * The target keeps, per live table T, a generation of three tables: T, its clock
 * T__fs_clock and its tomb T__fs_tomb (lib/merge/clock-layout.ts). A refresh builds a
 * complete new generation beside it (the stage) and swaps it in atomically:
 *
 *   0. Lock and clean. A session advisory lock makes this the only refresh of T; what a
 *      killed run left behind (stage tables, the window log, triggers parked on a stage
 *      table) is cleaned; the Sink's prepareTable makes sure T, its clock and tomb and the
 *      local-edit triggers exist and have every source column.
 *   1. Window opens. Triggers on T__fs_clock log the key of every clock write from now
 *      on into T__fs_wlog (window.ts) — the applier and the local-edit triggers both
 *      stamp the clock for every write, whatever the write's own stamp.
 *   2. Stage. The stage tables are created with T's definition (LIKE), plus a column
 *      _fs_v; the source table is read in one snapshot in bounded memory and bulk loaded
 *      (COPY / LOAD DATA LOCAL) with the streaming path's type mapping. _fs_v holds each
 *      row's version stamp: stampOf(version column or read start, source origin).
 *   3. Merge, set-based (merge-sql.ts), a few statements per table. The source row is an
 *      insert stamped _fs_v competing with the live state under the merge rule:
 *        - per field: the live value where the live field clock is newer than _fs_v
 *          (a target edit after the source's version, or a newer event), else the
 *          source value; the stage clock is the greater stamp; target-only columns keep
 *          their live values and clocks;
 *        - a live row the source does not have is deleted at the read start stamp D
 *          (the source said "absent" then), unless the target edited it since the last
 *          version it had from the source (a field stamp of another origin newer than
 *          every stamp of the source's origin: the edit is kept, not deleted) or it was
 *          (re-)inserted after D; a deleted row's values go to the stage tomb;
 *        - a source row whose live delete stamp is newer than _fs_v stays deleted (its
 *          merged values go to the stage tomb);
 *        - tomb rows of keys the source lacks are carried over.
 *      The two databases spell this differently (merge-sql.ts, sourceRows). PostgreSQL
 *      loads the source rows into a temporary table (when live has clocks) and writes the
 *      stage data once, merged, joining it with live in key order. MySQL loads the stage
 *      itself; the stage clock pass marks the rows that keep a live field in a scratch
 *      column _fs_k, and only those are joined with live data. Then the scratch columns
 *      are dropped (an instant, metadata-only change in both databases). MySQL loads and
 *      merges the stage without live's plain secondary indexes and adds them back here,
 *      built by sorting (stage-indexes.ts).
 *   4. Window catch-up. The applier and the target's users kept writing to the live
 *      generation. Rounds join the live state of the logged keys into the stage (per
 *      field the greater stamp wins — the merge rule again, so repeating a key is
 *      harmless) until few writes remain.
 *   5. Verify. Rows loaded must equal rows read; the stage's row count must match the
 *      source's count within what the source changed meanwhile, what the merge kept
 *      from the target, the window writes and reconciler.jobs[].maxCountDrift; an empty
 *      source never replaces a non-empty table. A failure aborts before the swap and
 *      says why; the live generation is untouched.
 *   6. Swap, atomically. Before the lock the stage receives T's triggers (copies that
 *      skip applier sessions: PostgreSQL enabled, MySQL under their other name, see
 *      lib/dialect/mysql/trigger-names.ts), grants and, on PostgreSQL, foreign keys (NOT
 *      VALID). Under an exclusive lock on the live and stage tables, the last catch-up
 *      round runs as an applier session (the copies do not fire for it), what could not be
 *      prepared is completed (MySQL: foreign keys moved under the same names, see
 *      lib/dialect/mysql/foreign-keys.ts, and any trigger that could not be copied), and the
 *      renames T → T__fs_bN, stage → T (with clock and tomb) happen in one transaction
 *      (PostgreSQL) or one RENAME TABLE queued behind LOCK TABLES (MySQL; see
 *      lib/dialect/mysql/swap.ts). No write can land between the final catch-up and the
 *      rename; readers wait for the lock and then see the new table, never a missing,
 *      empty or partial one. After it, MySQL drops the triggers the backup took along.
 *   7. Clean up: drop the window log, keep the newest reconciler.backupsToKeep backups,
 *      record the run (runs.ts) and the metrics, and return the report.
 *
 * kill -9 at any point before the rename leaves the live generation as it was (only the
 * stage and the window log were written); the next run cleans up and starts over. After
 * the rename, only the backup's triggers (MySQL) may be left: the next run drops them
 * (generations.ts).
 */
import type { FieldsyncConfig, ReconcileJobConfig } from '../config/schema.js';
import type { Db } from '../dialect/dialect.js';
import { openDb } from '../dialect/index.js';
import { readTableSchema, splitTableName } from '../dialect/introspect.js';
import { copyTextToLoadData, mysqlBulkLoad, mysqlBulkLoadText } from '../dialect/mysql/bulk-load.js';
import { addIndexesSql, deferrableIndexes, dropIndexesSql } from '../dialect/mysql/stage-indexes.js';
import { mysqlReferencingForeignKeys } from '../dialect/mysql/swap.js';
import { pgBulkLoad, pgBulkLoadText } from '../dialect/postgres/bulk-load.js';
import type { PostgresDb } from '../dialect/postgres/db.js';
import { pgReferencingForeignKeys } from '../dialect/postgres/swap.js';
import { ConfigError, FieldsyncError, errorMessage, wrap } from '../errors.js';
import type { Logger } from '../log.js';
import { logger } from '../log.js';
import { fieldColumns } from '../merge/clock-layout.js';
import { reconcileLastRun, reconcilePhaseDuration, reconcileRows, reconcileRuns, reconcileSwapDuration } from '../observability/metrics.js';
import { createSink } from '../sink/index.js';
import { retry } from '../retry.js';
import { originCode, stampOf } from '../stamp.js';
import { Transform } from 'node:stream';
import type { ColumnSpec, ColumnType, TableSchema, Value } from '../types.js';
import { cleanupLeftovers, listBackups, pruneBackups, swapGenerations, tableExists } from './generations.js';
import { MergeSql, VERSION_COLUMN } from './merge-sql.js';
import { backupGeneration, liveGeneration, stageGeneration, windowLog, windowTriggerNames } from './names.js';
import type { TableName } from './names.js';
import type { Progress } from './progress.js';
import { createProgress } from './progress.js';
import { finishRun, installRunsTable, startRun } from './runs.js';
import type { Session } from './session.js';
import { openSession } from './session.js';
import { copySourceText, readSource } from './source-reader.js';
import { acquireTableLock, releaseTableLock } from './lock.js';
import { catchUpRound, dropWindow, openWindow } from './window.js';

export interface RefreshReport {
  target: string;
  table: string;
  source: string;
  sourceTable: string;
  rowsStaged: number;
  fieldsKeptFromLive: number;
  fieldsTakenFromSource: number;
  rowsDeleted: number;
  rowsKeptDeletedByTarget: number;
  rowsKeptOnlyInTarget: number;
  windowWritesMerged: number;
  windowRounds: number;
  rowsAfter: number;
  backup: string;
  backupsDropped: number[];
  swapMs: number;
  renameMs: number;
  phasesMs: Record<string, number>;
  totalMs: number;
}

export interface RefreshOptions {
  log?: Logger;
  progress?: Progress;
  /** Max time the swap waits for its exclusive lock per attempt. */
  lockTimeoutMs?: number;
  /** Window rounds stop once a round consumed at most this many log rows. */
  windowSettleRows?: number;
}

/** The target table a job refreshes, resolved like the applier resolves `into`. */
export function jobTarget(cfg: FieldsyncConfig, job: ReconcileJobConfig): TableName {
  const db = cfg.databases[job.target];
  if (!db) throw new ConfigError(`reconciler job ${job.table}: unknown target database "${job.target}"`);
  const defaultSchema = db.dialect === 'postgres' ? 'public' : '';
  const into = splitTableName(job.into ?? splitTableName(job.table).name, defaultSchema);
  if (!into.schema) into.schema = defaultSchema;
  return into;
}

export function jobLabel(into: TableName): string {
  return into.schema ? `${into.schema}.${into.name}` : into.name;
}

function sourceKeyColumns(cfg: FieldsyncConfig, job: ReconcileJobConfig): string[] | undefined {
  for (const c of cfg.capture) {
    if (c.source !== job.source) continue;
    const t = c.tables.find((x) => x.name === job.table);
    if (t?.keyColumns) return t.keyColumns;
  }
  return undefined;
}

function applierTableOptions(cfg: FieldsyncConfig, job: ReconcileJobConfig, into: TableName): { autoEvolve: boolean; createTable: boolean } {
  for (const a of cfg.applier) {
    if (a.target !== job.target) continue;
    for (const t of a.tables) {
      if (t.from === `${job.source}.${job.table}` || (t.into && splitTableName(t.into).name === into.name)) return { autoEvolve: t.autoEvolve, createTable: t.createTable };
    }
  }
  return { autoEvolve: true, createTable: true };
}

class PhaseClock {
  readonly ms: Record<string, number> = {};
  private current: string | undefined;
  private started = 0;
  constructor(private readonly label: string, private readonly progress: Progress) {}
  enter(phase: string, totalRows?: number): void {
    this.leave();
    this.current = phase;
    this.started = performance.now();
    this.progress.phase(phase, totalRows);
  }
  progressRows(n: number): void {
    this.progress.rows(n);
  }
  done(): void {
    this.leave();
    this.progress.done();
  }
  leave(): void {
    if (!this.current) return;
    const ms = performance.now() - this.started;
    this.ms[this.current] = (this.ms[this.current] ?? 0) + ms;
    reconcilePhaseDuration.observe({ table: this.label, phase: this.current }, ms / 1000);
    this.current = undefined;
  }
}

async function count(s: Pick<Session, 'dialect' | 'query'>, t: TableName): Promise<number> {
  return Number((await s.query(`SELECT COUNT(*) AS n FROM ${s.dialect.qualified(t)}`))[0]?.n ?? 0);
}

/** Bound how long this session's DDL waits for a lock (the statement then fails, retriably). */
export async function limitLockWaits(s: Session, ms: number): Promise<void> {
  if (s.dialect.name === 'postgres') await s.execute(`SET lock_timeout = ${Math.max(1, Math.round(ms))}`);
  else await s.execute(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(ms / 1000))}`);
}

/** The catalog's row estimate (for the progress bar only; no table scan). */
async function estimatedRows(s: Pick<Session, 'dialect' | 'query'>, t: TableName): Promise<number> {
  const rows = s.dialect.name === 'postgres'
    ? await s.query('SELECT GREATEST(reltuples, 0)::bigint AS n FROM pg_class WHERE oid = $1::regclass', [s.dialect.qualified(t)])
    : await s.query(`SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${t.schema ? '?' : 'DATABASE()'} AND TABLE_NAME = ?`, t.schema ? [t.schema, t.name] : [t.name]);
  return Number(rows[0]?.n ?? 0);
}

/** Run one refresh (see the header). Throws with the reason when it aborts; the live table is then unchanged. */
export async function refreshTable(cfg: FieldsyncConfig, job: ReconcileJobConfig, opts: RefreshOptions = {}): Promise<RefreshReport> {
  const into = jobTarget(cfg, job);
  const label = jobLabel(into);
  const log = opts.log ?? logger('reconciler', { table: label });
  const progress = opts.progress ?? createProgress(log, label);
  const targetCfg = cfg.databases[job.target]!;
  const sourceCfg = cfg.databases[job.source];
  if (!sourceCfg) throw new ConfigError(`reconciler job ${job.table}: unknown source database "${job.source}"`);
  const sourceOrigin = sourceCfg.origin ?? job.source;
  const started = performance.now();
  const target = openDb(targetCfg, { poolSize: Math.max(6, targetCfg.poolSize) });
  const source = openDb(sourceCfg, { poolSize: 2 });
  let lock: Session | undefined;
  let locked = false;
  let runId: number | undefined;
  const phases = new PhaseClock(label, progress);
  try {
    lock = await openSession(target);
    await acquireTableLock(lock, job.target, into);
    locked = true;
    // DDL on live (window triggers) must not queue forever behind a long transaction: a
    // queued exclusive lock request would stall every writer behind it.
    await limitLockWaits(lock, opts.lockTimeoutMs ?? 5000);
    await installRunsTable(target, targetCfg.fieldsyncSchema);
    runId = await startRun(target, targetCfg.fieldsyncSchema, label);
    const report = await runLocked(cfg, job, into, label, target, source, lock, sourceOrigin, phases, log, opts);
    report.totalMs = performance.now() - started;
    await finishRun(target, targetCfg.fieldsyncSchema, runId, 'success', null, report);
    reconcileRuns.inc({ table: label, result: 'success' });
    reconcileLastRun.set({ table: label, result: 'success' }, Date.now() / 1000);
    log.info({ table: label, report }, 'reconcile finished');
    return report;
  } catch (e) {
    phases.done();
    reconcileRuns.inc({ table: label, result: 'failure' });
    reconcileLastRun.set({ table: label, result: 'failure' }, Date.now() / 1000);
    if (runId !== undefined) await finishRun(target, targetCfg.fieldsyncSchema, runId, 'failure', errorMessage(e), undefined).catch(() => undefined);
    // Leave nothing that slows the applier: the window triggers write on every clock write.
    if (lock) {
      const l = lock;
      await dropWindow(l, into, liveGeneration(into), await tableExists(l, liveGeneration(into).clock)).catch(() => undefined);
    }
    throw e;
  } finally {
    // The table lock goes now, not whenever the server notices the pooled connection
    // closing: a next run may start at once.
    if (lock) lock.release(locked && !(await releaseTableLock(lock, job.target, into).then(() => true, () => false)));
    await target.close().catch(() => undefined);
    await source.close().catch(() => undefined);
  }
}

/**
 * Stream the source into the stage table. PostgreSQL sources send COPY text rendered by
 * the source itself (no per-row JavaScript); other sources go through canonical values.
 * Returns the rows read (checked against the rows loaded) and the read start.
 */
async function stageRows(
  source: Db, sourceTable: TableSchema, sourceColumns: ColumnSpec[], bulkColumns: { name: string; type: ColumnType }[], versionColumn: string | undefined,
  origin: string, batchRows: number, work: Session, into: TableName, onRows: (n: number) => void,
): Promise<{ rows: number; readStartMicros: bigint }> {
  const label = into.name;
  let loaded: number;
  let rows: number;
  let readStartMicros: bigint;
  if (source.dialect.name === 'postgres') {
    const copy = await copySourceText(source as PostgresDb, sourceTable, sourceColumns, versionColumn, work.dialect.name, origin);
    readStartMicros = copy.readStartMicros;
    try {
      const counted = copy.text.pipe(lineCounter(onRows));
      loaded = work.dialect.name === 'postgres'
        ? await pgBulkLoadText(work.pg!, into, bulkColumns.map((c) => c.name), counted)
        : await mysqlBulkLoadText(work.mysql!, into, bulkColumns, counted.pipe(copyTextToLoadData()));
      rows = copy.rowCount();
    } finally {
      await copy.close();
    }
  } else {
    const read = await readSource(source, sourceTable, sourceColumns, versionColumn, batchRows);
    readStartMicros = read.readStartMicros;
    let streamed = 0;
    async function* stamped(): AsyncGenerator<Value[][]> {
      for await (const batch of read.batches) {
        for (const row of batch) row[row.length - 1] = stampOf(row[row.length - 1] as bigint, origin);
        streamed += batch.length;
        yield batch;
      }
    }
    try {
      loaded = work.dialect.name === 'postgres'
        ? await pgBulkLoad(work.pg!, into, bulkColumns, stamped(), onRows)
        : await mysqlBulkLoad(work.mysql!, into, bulkColumns, stamped(), onRows);
    } finally {
      await read.close();
    }
    rows = streamed;
  }
  if (loaded !== rows) throw new FieldsyncError(`refresh of ${label} aborted before the swap: ${rows} rows were read from the source but ${loaded} were loaded into the stage`);
  return { rows, readStartMicros };
}

/** Counts text lines flowing through (progress), without copying the bytes. */
function lineCounter(onRows: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      let n = 0;
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) n++;
      if (n) onRows(n);
      done(null, chunk);
    },
  });
}

async function runLocked(
  cfg: FieldsyncConfig, job: ReconcileJobConfig, into: TableName, label: string, target: Db, source: Db, lock: Session,
  sourceOrigin: string, phases: PhaseClock, log: Logger, opts: RefreshOptions,
): Promise<RefreshReport> {
  const d = target.dialect;
  const live = liveGeneration(into);
  const stage = stageGeneration(into);
  const wlog = windowLog(into);
  const windowTriggers = windowTriggerNames(into);

  // ---- 0. prepare
  phases.enter('prepare');
  await cleanupLeftovers(lock, into, log);
  const sourceRef = splitTableName(job.table, source.dialect.name === 'postgres' ? 'public' : source.dialect.name === 'mssql' ? 'dbo' : '');
  const sourceTable = await readTableSchema(source, sourceRef.schema, sourceRef.name, sourceKeyColumns(cfg, job));
  if (!sourceTable) throw new FieldsyncError(`source table ${job.table} does not exist in ${job.source}`);
  const sink = createSink(cfg, job.target, { poolSize: 1 });
  try {
    await sink.connect();
    await sink.prepareTable(sourceTable, into, applierTableOptions(cfg, job, into));
  } catch (e) {
    throw e instanceof FieldsyncError ? e : wrap(`unable to prepare target table ${label}`, e);
  } finally {
    await sink.close().catch(() => undefined);
  }
  const liveTable = await readTableSchema(target, into.schema, into.name);
  if (!liveTable) throw new FieldsyncError(`target table ${label} does not exist`);
  const referencing = d.name === 'postgres' ? await pgReferencingForeignKeys(lock, live.data) : await mysqlReferencingForeignKeys(lock, live.data);
  if (referencing.length) {
    throw new FieldsyncError(`target table ${label} is referenced by foreign keys (${referencing.join(', ')}): a swap would leave them on the backup; drop them or refresh the referencing tables' data another way`);
  }
  const sourceNames = new Set(sourceTable.columns.map((c) => c.name));
  const loadColumns: ColumnSpec[] = liveTable.columns.filter((c) => sourceNames.has(c.name));
  const fields = fieldColumns(liveTable);
  const shape = {
    dialect: d, live, stage, wlog, key: liveTable.key, columns: liveTable.columns.map((c) => c.name),
    sourceFields: fields.filter((f) => sourceNames.has(f)), targetFields: fields.filter((f) => !sourceNames.has(f)),
  };
  const sql = new MergeSql(shape);

  // ---- 1. the window opens before anything reads the live generation
  await retry(async () => {
    await dropWindow(lock, into, live, true);
    await openWindow(lock, into, live, liveTable.key);
  }, { retries: 5, initialDelayMs: 200, onRetry: (e, attempt) => log.warn({ table: label, attempt, err: e }, 'window triggers not created in time; retrying') });
  for (const [from, to] of [[live.data, stage.data], [live.clock, stage.clock], [live.tomb, stage.tomb]] as const) {
    await lock.execute(d.name === 'postgres' ? `CREATE TABLE ${d.qualified(to)} (LIKE ${d.qualified(from)} INCLUDING ALL)` : `CREATE TABLE ${d.qualified(to)} LIKE ${d.qualified(from)}`);
  }
  for (const q of sql.addScratchColumns()) await lock.execute(q);
  // MySQL: the stage is loaded and merged without its plain secondary indexes (stage-indexes.ts)
  const deferredIndexes = d.name === 'mysql' ? await deferrableIndexes(lock, stage.data) : [];
  if (deferredIndexes.length) await lock.execute(dropIndexesSql(stage.data, deferredIndexes));

  // ---- 2. stage
  phases.enter('stage', (await estimatedRows(lock, live.data)) || undefined);
  const bulkColumns = [...loadColumns.map((c) => ({ name: c.name, type: c.type })), { name: VERSION_COLUMN, type: { kind: 'int', bits: 64 } as const }];
  const sourceColumns = loadColumns.map((c) => ({ ...c, type: sourceTable.columns.find((x) => x.name === c.name)!.type }));
  const work = await openSession(target);
  let workBroken = true;
  try {
    // Asked before the load: clocks written after it are in the window log, which the
    // catch-up merges by the same rule.
    const liveHasClocks = (await work.query(sql.liveClockPresent())).length > 0;
    const load = sql.loadTable(liveHasClocks);
    for (const q of load.create) await work.execute(q);
    const staged = await stageRows(source, sourceTable, sourceColumns, bulkColumns, job.versionColumn, sourceOrigin, cfg.reconciler.stageBatchRows, work, load.table, (n) => phases.progressRows(n));
    const streamed = staged.rows;
    const deleteStamp = stampOf(staged.readStartMicros, sourceOrigin);
    reconcileRows.inc({ table: label, kind: 'staged' }, streamed);

    // ---- 3. merge
    phases.enter('merge', streamed);
    const timed = async (what: string, q: string): Promise<number> => {
      const t0 = performance.now();
      const n = await work.execute(q);
      log.debug({ table: label, step: what, rows: n, ms: Math.round(performance.now() - t0) }, 'reconcile merge step');
      return n;
    };
    if (d.name === 'mysql') await work.execute('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    // The merge joins whole tables: give this one session's hash joins and sorts room in
    // memory (the server default of 4 MB spills million-row joins to disk).
    if (d.name === 'postgres') await work.execute(`SET work_mem = '256MB'`);
    // Every table the merge joins whole is in key order and has its key as primary key
    // (merge-sql.ts): merge joins stream them, where hash joins of tables past work_mem
    // spill in batches (3,000,000 rows: the merged INSERT and the clocks took 9.9 + 7.3 s
    // with merge joins, 20.9 + 10.6 s with the hash joins the planner chose).
    if (d.name === 'postgres') await work.execute('SET enable_hashjoin = off');
    const sourceRows = sql.sourceRows(liveHasClocks);
    for (const st of sourceRows.collect) await timed(st.what, st.sql);
    const kept = sourceRows.count ? Number((await work.query(sourceRows.count))[0]?.kept ?? 0) : 0;
    for (const st of sourceRows.apply) await timed(st.what, st.sql);
    for (const q of sql.missingKeys()) await timed('live keys missing at the source', q);
    await timed('stage clocks of rows missing at the source', sql.clocksOfMissingRows(deleteStamp, originCode(sourceOrigin)));
    const rowsDeleted = await timed('deleted rows to the stage tomb', sql.deletedLiveRows());
    const keptOnlyInTarget = await timed('target-only rows kept', sql.keptLiveRows());
    await timed('tomb rows carried over', sql.carriedTombRows());
    await work.execute(sql.dropTemp('fs_gone'));
    const [dropAbsent, createAbsent, fillAbsent, moveToTomb, removeFromStage, dropAbsentAgain] = sql.targetDeletedSourceRows();
    for (const q of [dropAbsent!, createAbsent!, fillAbsent!]) await timed('target-deleted source rows', q);
    const keptDeleted = await timed('target-deleted source rows to the tomb', moveToTomb!);
    await timed('target-deleted source rows out of the stage', removeFromStage!);
    await work.execute(dropAbsentAgain!);
    if (d.name === 'postgres') await work.execute('RESET enable_hashjoin');
    for (const q of sql.dropScratchColumns()) await timed('drop the scratch columns', q);
    if (deferredIndexes.length) await timed('secondary indexes of the stage', addIndexesSql(stage.data, deferredIndexes));
    if (d.name === 'postgres') for (const t of [stage.data, stage.clock, stage.tomb]) await work.execute(`ANALYZE ${d.qualified(t)}`);
    const taken = streamed * shape.sourceFields.length - kept;
    reconcileRows.inc({ table: label, kind: 'kept_fields' }, kept);
    reconcileRows.inc({ table: label, kind: 'taken_fields' }, taken);
    reconcileRows.inc({ table: label, kind: 'deleted' }, rowsDeleted);

    // ---- 4. window catch-up rounds (the last one runs under the swap's lock)
    phases.enter('window');
    const settle = opts.windowSettleRows ?? 1000;
    let windowWrites = 0;
    let rounds = 0;
    for (;;) {
      const n = await catchUpRound(work, sql);
      windowWrites += n;
      rounds++;
      phases.progressRows(n);
      if (n <= settle || rounds >= 20) break;
    }

    // ---- 5. verify
    phases.enter('verify');
    const stageCount = await count(work, stage.data);
    const sourceNow = await count(source, sourceTable);
    const liveNow = streamed === 0 ? await count(work, live.data) : undefined;
    if (liveNow !== undefined && liveNow > 0) {
      throw new FieldsyncError(`refresh of ${label} aborted before the swap: the source ${job.table} returned no rows while the target has ${liveNow}; refusing to replace it with an empty table`);
    }
    const concurrent = Math.abs(sourceNow - streamed);
    const explained = concurrent + keptDeleted + keptOnlyInTarget + windowWrites;
    const off = Math.abs(stageCount - sourceNow);
    const allowed = explained + Math.ceil(job.maxCountDrift * Math.max(sourceNow, stageCount));
    if (off > allowed) {
      throw new FieldsyncError(`refresh of ${label} aborted before the swap: the stage has ${stageCount} rows and the source ${sourceNow}; ${off} rows apart is more than the ${explained} explained by concurrent source changes (${concurrent}), target deletes kept (${keptDeleted}), target-only rows kept (${keptOnlyInTarget}) and window writes (${windowWrites}) plus maxCountDrift ${job.maxCountDrift}`);
    }

    // ---- 6. swap
    phases.enter('swap');
    const n = (await listBackups(lock, into)).reduce((a, b) => Math.max(a, b), 0) + 1;
    const backup = backupGeneration(into, n);
    let finalWindow = 0;
    const swap = await swapGenerations({
      db: target, watch: lock, into, incoming: stage, outgoing: backup, carryDefinition: true,
      skipTriggers: [windowTriggers.insert, windowTriggers.update],
      lockList: [{ table: wlog }, ...(d.name === 'mysql' ? sql.windowLockList() : [])],
      lockTimeoutMs: opts.lockTimeoutMs ?? 5000,
      log,
      // The window triggers stay on the outgoing clock table (they are dropped after the
      // swap): dropping them here would only lengthen the lock. The session is an applier
      // session (the swap marks it): the stage's trigger copies do not fire for these writes.
      underLock: async (s) => {
        finalWindow = await catchUpRound(s, sql);
      },
    });
    windowWrites += finalWindow;
    rounds++;
    reconcileRows.inc({ table: label, kind: 'window_merged' }, windowWrites);
    reconcileSwapDuration.set({ table: label }, swap.lockedMs / 1000);

    // ---- 7. clean up
    phases.enter('cleanup');
    await dropWindow(work, into, live, true);
    const dropped = await pruneBackups(work, into, cfg.reconciler.backupsToKeep);
    const rowsAfter = await count(work, live.data);
    phases.done();
    workBroken = false;
    return {
      target: job.target, table: label, source: job.source, sourceTable: job.table,
      rowsStaged: streamed, fieldsKeptFromLive: kept, fieldsTakenFromSource: taken, rowsDeleted,
      rowsKeptDeletedByTarget: keptDeleted, rowsKeptOnlyInTarget: keptOnlyInTarget,
      windowWritesMerged: windowWrites, windowRounds: rounds, rowsAfter,
      backup: cfg.reconciler.backupsToKeep > 0 ? backup.data.name : '(none kept)', backupsDropped: dropped,
      swapMs: swap.lockedMs, renameMs: swap.renameMs, phasesMs: phases.ms, totalMs: 0,
    };
  } finally {
    work.release(workBroken);
  }
}
