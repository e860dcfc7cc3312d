/**
 * Reads a whole source table in one consistent snapshot, in bounded memory, as batches
 * of canonical values (the same conversion as the streaming path: dialect.fromDb).
 *
 *   PostgreSQL: a REPEATABLE READ, READ ONLY transaction and a server-side cursor
 *               (DECLARE … / FETCH n), one batch per FETCH.
 *   MySQL:      START TRANSACTION WITH CONSISTENT SNAPSHOT and a streamed query (mysql2
 *               pauses the socket while the consumer is busy), cut into batches.
 *
 * PostgreSQL sources also have a byte path (copySourceText): the source renders every
 * column in the canonical text form itself (timestamps in UTC, booleans and bytes in the
 * target's load form, the version as a stamp) inside `COPY (SELECT …) TO STDOUT`, and the
 * bytes flow into the target's COPY / LOAD DATA without being parsed in JavaScript. The
 * rendered text is exactly what the value path would produce from the canonical values
 * (the refresh tests compare both), at a fraction of the CPU.
 *
 * The read start time (the source database's clock when the snapshot was taken) is the
 * version of every row that has no configured version column, and the delete stamp of
 * rows the source no longer has. Rows come in key order, which keeps the target's
 * B-tree inserts sequential during the bulk load.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { Connection as CoreConnection } from 'mysql2';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Db } from '../dialect/dialect.js';
import type { MysqlDbHandle } from '../dialect/mysql/db.js';
import type { PostgresDb } from '../dialect/postgres/db.js';
import { readMssqlSource } from '../dialect/mssql/table-reader.js';
import { canonicalValue, timestampToMicros } from '../canonical.js';
import type { DialectName } from '../dialect/dialect.js';
import { EPOCH_2020_MICROS, ORIGIN_SPACE, originCode, stampOf } from '../stamp.js';
import { DataError, FieldsyncError, wrap } from '../errors.js';
import type { ColumnSpec, TableSchema, Value } from '../types.js';

export interface SourceRead {
  /** Source clock (µs since the epoch) at the snapshot. */
  readStartMicros: bigint;
  /**
   * Batches of rows: the values of `columns` in order, then the row's version in µs
   * (bigint; the read start when the row has no version).
   */
  batches: AsyncGenerator<Value[][]>;
  /** Ends the snapshot transaction and releases the connection (idempotent). */
  close(): Promise<void>;
}

function versionMicros(v: unknown, col: ColumnSpec, fallback: bigint): bigint {
  if (v === null || v === undefined) return fallback;
  const c = canonicalValue(v, col.type, col.name);
  if (col.type.kind === 'timestamp' && typeof c === 'string') return timestampToMicros(c);
  if (col.type.kind === 'date' && typeof c === 'string') return timestampToMicros(`${c} 00:00:00`);
  throw new DataError(`version column "${col.name}" must be a timestamp or a date, not ${col.type.kind}`);
}

/** What a snapshot runs on: a pooled connection of either driver. */
interface SnapshotConnection {
  query(sql: string): Promise<unknown>;
  release(): void;
}

/**
 * Starts a snapshot on `conn` with `begin` (which returns the source clock at the snapshot)
 * and sets the read up with `use`. `close` ends the transaction and releases the connection
 * the first time it is called (the read calls it when done, the caller may too). If `begin`
 * or `use` throws, the snapshot is closed and the error rethrown with the table's name.
 */
async function openSnapshot<C extends SnapshotConnection, T>(
  conn: C,
  table: string,
  begin: (conn: C) => Promise<bigint>,
  use: (readStart: bigint, close: () => Promise<void>) => Promise<T>,
): Promise<T> {
  let open = true;
  const close = async () => {
    if (!open) return;
    open = false;
    await conn.query('ROLLBACK').catch(() => undefined);
    conn.release();
  };
  try {
    return await use(await begin(conn), close);
  } catch (e) {
    await close();
    throw wrap(`unable to open a snapshot of source table ${table}`, e);
  }
}

/** PostgreSQL: a REPEATABLE READ, READ ONLY transaction; returns its clock_timestamp() in µs. */
async function beginPgSnapshot(client: pg.PoolClient): Promise<bigint> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  const t = await client.query<{ t: string }>(`SELECT floor(extract(epoch from clock_timestamp()) * 1000000)::bigint AS t`);
  return BigInt(t.rows[0]!.t);
}

/** MySQL: a consistent-snapshot, READ ONLY transaction; returns its NOW(6) in µs. */
async function beginMysqlSnapshot(conn: mysql.PoolConnection): Promise<bigint> {
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
  const [t] = await conn.query(`SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) AS t`);
  return BigInt(String((t as { t: unknown }[])[0]!.t));
}

/** Open a snapshot of `table` and stream `columns` (+ version) from it. */
export async function readSource(db: Db, table: TableSchema, columns: readonly ColumnSpec[], versionColumn: string | undefined, batchRows: number): Promise<SourceRead> {
  const d = db.dialect;
  // SQL Server: one SNAPSHOT-isolation transaction, streamed (the mssql dialect's reader).
  if (d.name === 'mssql') return readMssqlSource(db, table, columns, versionColumn, batchRows);
  const versionCol = versionColumn === undefined ? undefined : table.columns.find((c) => c.name === versionColumn);
  if (versionColumn !== undefined && !versionCol) throw new DataError(`source table ${table.name} has no version column "${versionColumn}"`);
  const selected = versionCol ? [...columns, versionCol] : [...columns];
  const sql = `SELECT ${selected.map((c) => d.quote(c.name)).join(', ')} FROM ${d.qualified(table)} ORDER BY ${table.key.map((k) => d.quote(k)).join(', ')}`;
  const toRow = (raw: readonly unknown[], fallback: bigint): Value[] => {
    const out: Value[] = new Array<Value>(columns.length + 1);
    for (let i = 0; i < columns.length; i++) out[i] = d.fromDb(raw[i], columns[i]!.type);
    out[columns.length] = versionCol ? versionMicros(raw[columns.length], versionCol, fallback) : fallback;
    return out;
  };

  if (d.name === 'postgres') {
    const client = await (db as PostgresDb).client();
    return openSnapshot(client, d.qualified(table), beginPgSnapshot, async (readStart, close) => {
      await client.query(`DECLARE fs_reconcile_read NO SCROLL CURSOR FOR ${sql}`);
      async function* batches(): AsyncGenerator<Value[][]> {
        try {
          for (;;) {
            const r = await client.query({ text: `FETCH FORWARD ${batchRows} FROM fs_reconcile_read`, rowMode: 'array' });
            if (r.rows.length === 0) return;
            yield (r.rows as unknown[][]).map((raw) => toRow(raw, readStart));
          }
        } catch (e) {
          throw e instanceof FieldsyncError ? e : wrap(`unable to read source table ${d.qualified(table)}`, e);
        } finally {
          await close();
        }
      }
      return { readStartMicros: readStart, batches: batches(), close };
    });
  }

  if (d.name === 'mysql') {
    const conn = await (db as MysqlDbHandle).connection();
    return openSnapshot(conn, d.qualified(table), beginMysqlSnapshot, async (readStart, close) => {
      const core = conn.connection as unknown as CoreConnection;
      async function* batches(): AsyncGenerator<Value[][]> {
        const stream = core.query({ sql, rowsAsArray: true }).stream({ highWaterMark: Math.min(batchRows, 10_000) });
        let batch: Value[][] = [];
        try {
          for await (const raw of stream as AsyncIterable<unknown[]>) {
            batch.push(toRow(raw, readStart));
            if (batch.length >= batchRows) { yield batch; batch = []; }
          }
          if (batch.length) yield batch;
        } catch (e) {
          throw e instanceof FieldsyncError ? e : wrap(`unable to read source table ${d.qualified(table)}`, e);
        } finally {
          stream.destroy();
          await close();
        }
      }
      return { readStartMicros: readStart, batches: batches(), close };
    });
  }
  throw new FieldsyncError(`reading a ${d.name} source table for a refresh needs the ${d.name} dialect module, which is not available here`);
}

export interface SourceText {
  readStartMicros: bigint;
  /** COPY text lines: the columns, then the row's version stamp. */
  text: Readable;
  /** Rows sent, once `text` has ended. */
  rowCount(): number;
  close(): Promise<void>;
}

/** How a PostgreSQL source renders one column for a target of `target`'s dialect. */
function renderColumn(col: ColumnSpec, target: DialectName, quote: (s: string) => string): string {
  const c = quote(col.name);
  switch (col.type.kind) {
    case 'bool': return target === 'mysql' ? `CASE WHEN ${c} THEN 1 WHEN NOT ${c} THEN 0 END` : c;
    case 'bytes': return target === 'mysql' ? `encode(${c}, 'hex')` : c;
    case 'timestamp': return col.type.tz ? `(${c} AT TIME ZONE 'UTC')` : c;
    case 'decimal': return `(${c})::numeric`;
    default: return c;
  }
}

/**
 * A PostgreSQL source table as COPY text (see the header), read in one REPEATABLE READ
 * snapshot. The version stamp is computed by the source: stampOf(version column in µs,
 * origin), or the read start's stamp when the row has no version.
 */
export async function copySourceText(db: PostgresDb, table: TableSchema, columns: readonly ColumnSpec[], versionColumn: string | undefined, target: DialectName, origin: string): Promise<SourceText> {
  const d = db.dialect;
  const versionCol = versionColumn === undefined ? undefined : table.columns.find((c) => c.name === versionColumn);
  if (versionColumn !== undefined && !versionCol) throw new DataError(`source table ${table.name} has no version column "${versionColumn}"`);
  if (versionCol && versionCol.type.kind !== 'timestamp' && versionCol.type.kind !== 'date') {
    throw new DataError(`version column "${versionCol.name}" must be a timestamp or a date, not ${versionCol.type.kind}`);
  }
  const client = await db.client();
  return openSnapshot(client, d.qualified(table), beginPgSnapshot, async (readStart, close) => {
    // integers computed here (epoch, origin code, the read start's stamp), not data
    const fallback = stampOf(readStart, origin).toString();
    const versionExpr = versionCol
      ? `COALESCE((floor(extract(epoch from ${d.quote(versionCol.name)}) * 1000000)::bigint - ${EPOCH_2020_MICROS}) * ${ORIGIN_SPACE} + ${originCode(origin)}, ${fallback})`
      : fallback;
    const select = `SELECT ${[...columns.map((c) => renderColumn(c, target, (x) => d.quote(x))), versionExpr].join(', ')} FROM ${d.qualified(table)} ORDER BY ${table.key.map((k) => d.quote(k)).join(', ')}`;
    const stream = client.query(copyTo(`COPY (${select}) TO STDOUT`));
    const text = new PassThrough();
    stream.on('error', (e) => text.destroy(wrap(`unable to read source table ${d.qualified(table)}`, e)));
    stream.pipe(text);
    return { readStartMicros: readStart, text, rowCount: () => stream.rowCount, close };
  });
}
