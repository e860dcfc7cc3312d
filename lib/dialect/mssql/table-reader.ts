/**
 * Reads a whole SQL Server table in one consistent snapshot, in bounded memory, as
 * batches of canonical values — the SQL Server counterpart of the reconciler's
 * PostgreSQL / MySQL readers (same result shape: lib/reconcile/source-reader.ts).
 *
 * Consistency: a SNAPSHOT isolation transaction (row versioning: readers take no locks
 * and never block the application's writers). It needs
 * `ALTER DATABASE … SET ALLOW_SNAPSHOT_ISOLATION ON`; without it the read fails with
 * that instruction instead of silently reading a moving table.
 *
 * Read start: SYSUTCDATETIME() read inside the transaction BEFORE its first data access
 * (SQL Server fixes a snapshot at the first statement that touches data), so every row
 * version the snapshot holds is no older than the read start: a change committed after
 * it is in the snapshot (same value, a harmless re-stamp) or reaches the target through
 * the stream with its own, newer time.
 *
 * Streaming: the `mssql` request runs in stream mode with array rows; RowBatcher hands
 * out batches of `batchRows` and pauses the request while more than two batches wait,
 * so memory stays bounded whatever the table size. Decimals are selected as exact text
 * (readExpression); values become canonical with mssqlDialect.fromDb. Rows come in key
 * order.
 */
import type sql from 'mssql';
import { mssql } from './driver.js';
import { timestampToMicros } from '../../canonical.js';
import { DataError, FieldsyncError } from '../../errors.js';
import type { ColumnSpec, TableSchema, Value } from '../../types.js';
import type { Db } from '../dialect.js';
import { classifyMssqlError, type LazyMssqlDb, type MssqlDbHandle } from './db.js';
import { mssqlDialect, readExpression } from './dialect.js';
import { driverDateMicros } from './lsn-window.js';

export interface MssqlSourceRead {
  /** Source clock (µs since the epoch, UTC) at the snapshot. */
  readStartMicros: bigint;
  /** Batches of rows: the values of `columns` in order, then the row's version in µs (the read start when it has none). */
  batches: AsyncGenerator<Value[][]>;
  /** Ends the snapshot transaction (idempotent). */
  close(): Promise<void>;
}

/** The part of a streaming mssql Request the batcher drives (pause/resume for backpressure). */
export interface StreamingRequest {
  on(event: 'row', cb: (row: unknown[]) => void): unknown;
  on(event: 'error', cb: (err: unknown) => void): unknown;
  on(event: 'done', cb: () => void): unknown;
  pause(): boolean;
  resume(): boolean;
}

/** Collects streamed rows into batches, pausing the request while more than two batches wait. */
export class RowBatcher {
  private rows: unknown[][] = [];
  private done = false;
  private error: unknown;
  private paused = false;
  private wake: (() => void) | undefined;

  constructor(private readonly req: StreamingRequest, private readonly batchRows: number) {
    req.on('row', (row) => {
      this.rows.push(row);
      if (!this.paused && this.rows.length >= 2 * batchRows) { this.paused = true; req.pause(); }
      if (this.rows.length >= batchRows) this.notify();
    });
    req.on('error', (e) => { this.error ??= e; this.notify(); });
    req.on('done', () => { this.done = true; this.notify(); });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The next batch of at most batchRows rows, or undefined when the result ended. */
  async next(): Promise<unknown[][] | undefined> {
    while (this.error === undefined && !this.done && this.rows.length < this.batchRows) {
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
    if (this.error !== undefined) throw this.error;
    if (this.rows.length === 0) return undefined;
    const batch = this.rows.splice(0, this.batchRows);
    if (this.paused && this.rows.length < this.batchRows) { this.paused = false; this.req.resume(); }
    return batch;
  }
}

function versionMicros(v: unknown, col: ColumnSpec, fallback: bigint): bigint {
  if (v === null || v === undefined) return fallback;
  const c = mssqlDialect.fromDb(v, col.type);
  if (col.type.kind === 'timestamp' && typeof c === 'string') return timestampToMicros(c);
  if (col.type.kind === 'date' && typeof c === 'string') return timestampToMicros(`${c} 00:00:00`);
  throw new DataError(`version column "${col.name}" must be a timestamp or a date, not ${col.type.kind}`);
}

async function handleOf(db: Db): Promise<MssqlDbHandle> {
  const lazy = db as Partial<LazyMssqlDb> & Partial<MssqlDbHandle>;
  if (typeof lazy.handle === 'function') return lazy.handle();
  if (typeof lazy.connectionPool === 'function') return db as MssqlDbHandle;
  throw new FieldsyncError('a SQL Server snapshot read needs a database opened by openMssql/connectMssql');
}

/** Open a snapshot of `table` and stream `columns` (+ version) from it. */
export async function readMssqlSource(db: Db, table: TableSchema, columns: readonly ColumnSpec[], versionColumn: string | undefined, batchRows: number): Promise<MssqlSourceRead> {
  const d = mssqlDialect;
  const versionCol = versionColumn === undefined ? undefined : table.columns.find((c) => c.name === versionColumn);
  if (versionColumn !== undefined && !versionCol) throw new DataError(`source table ${table.name} has no version column "${versionColumn}"`);
  const selected = versionCol ? [...columns, versionCol] : [...columns];
  const text = `SELECT ${selected.map((c, i) => readExpression(d.quote(c.name), c.type, `c${i}`)).join(', ')} FROM ${d.qualified(table)} ORDER BY ${table.key.map((k) => d.quote(k)).join(', ')}`;
  const pool = (await handleOf(db)).connectionPool();
  const tx = new (mssql().Transaction)(pool);
  let open = false;
  const close = async () => {
    if (!open) return;
    open = false;
    await tx.rollback().catch(() => undefined);
  };
  try {
    await tx.begin(mssql().ISOLATION_LEVEL.SNAPSHOT);
    open = true;
    const t = await new (mssql().Request)(tx).query<{ t: Date }>('SELECT SYSUTCDATETIME() AS t');
    const readStart = driverDateMicros(t.recordset[0]?.t, 'SYSUTCDATETIME()');
    const req = new (mssql().Request)(tx);
    req.stream = true;
    req.arrayRowMode = true;
    const batcher = new RowBatcher(req as unknown as StreamingRequest, batchRows);
    void req.query(text);
    const toRow = (raw: unknown[]): Value[] => {
      const out = new Array<Value>(columns.length + 1);
      for (let i = 0; i < columns.length; i++) {
        const c = columns[i]!;
        try {
          out[i] = d.fromDb(raw[i], c.type);
        } catch (e) {
          throw new DataError(`unable to read column "${c.name}" of ${d.qualified(table)}: ${e instanceof Error ? e.message : String(e)}`, e);
        }
      }
      out[columns.length] = versionCol ? versionMicros(raw[columns.length], versionCol, readStart) : readStart;
      return out;
    };
    async function* batches(): AsyncGenerator<Value[][]> {
      try {
        for (;;) {
          const b = await batcher.next();
          if (!b) return;
          yield b.map(toRow);
        }
      } catch (e) {
        throw e instanceof FieldsyncError ? e : classifyMssqlError(`unable to read source table ${d.qualified(table)}`, e);
      } finally {
        await close();
      }
    }
    return { readStartMicros: readStart, batches: batches(), close };
  } catch (e) {
    await close();
    const err = classifyMssqlError(`unable to open a snapshot of source table ${d.qualified(table)}`, e);
    // 3952: snapshot isolation is not allowed in this database.
    if ((e as { number?: unknown }).number === 3952 || /snapshot isolation/i.test(err.message)) {
      throw new FieldsyncError(`${err.message} (enable it with ALTER DATABASE … SET ALLOW_SNAPSHOT_ISOLATION ON)`, { cause: e });
    }
    throw err;
  }
}
