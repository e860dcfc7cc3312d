/**
 * One dedicated database connection (not a pool), for the work that depends on session
 * state: the advisory lock, temporary tables, READ COMMITTED reads, LOCK TABLES, COPY and
 * LOAD DATA streams. Released (or destroyed after an error) by the owner.
 */
import type { PoolConnection, ResultSetHeader } from 'mysql2/promise';
import type pg from 'pg';
import type { Db, DbRow, SqlDialect } from '../dialect/dialect.js';
import type { MysqlDbHandle } from '../dialect/mysql/db.js';
import type { PostgresDb } from '../dialect/postgres/db.js';
import { FieldsyncError } from '../errors.js';

export interface Session {
  readonly dialect: SqlDialect;
  query(sql: string, params?: readonly unknown[]): Promise<DbRow[]>;
  execute(sql: string, params?: readonly unknown[]): Promise<number>;
  /** Server-side id of the connection (MySQL CONNECTION_ID(), PostgreSQL backend pid). */
  readonly serverId: number;
  /** The driver's connection, for bulk streams. */
  readonly pg?: pg.PoolClient;
  readonly mysql?: PoolConnection;
  /** Return the connection; `broken` closes it instead (after errors, to drop session state). */
  release(broken?: boolean): void;
}

export async function openSession(db: Db): Promise<Session> {
  if (db.dialect.name === 'postgres') {
    const client = await (db as PostgresDb).client();
    const pid = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    let released = false;
    return {
      dialect: db.dialect,
      serverId: Number(pid.rows[0]!.pid),
      pg: client,
      async query(sql, params = []) { return (await client.query({ text: sql, values: params as unknown[] })).rows as DbRow[]; },
      async execute(sql, params = []) { return (await client.query({ text: sql, values: params as unknown[] })).rowCount ?? 0; },
      release(broken = false) { if (!released) { released = true; client.release(broken || undefined); } },
    };
  }
  if (db.dialect.name === 'mysql') {
    const conn = await (db as MysqlDbHandle).connection();
    let released = false;
    return {
      dialect: db.dialect,
      serverId: conn.threadId ?? 0,
      mysql: conn,
      async query(sql, params = []) {
        const [rows] = await conn.query(sql, params as unknown[]);
        return Array.isArray(rows) ? (rows as DbRow[]) : [];
      },
      async execute(sql, params = []) {
        const [res] = await conn.query(sql, params as unknown[]);
        return (res as ResultSetHeader).affectedRows ?? 0;
      },
      release(broken = false) {
        if (released) return;
        released = true;
        if (broken) conn.destroy(); else conn.release();
      },
    };
  }
  throw new FieldsyncError(`the reconciler cannot open a ${db.dialect.name} session`);
}

/** Run fn with a session; the session is destroyed when fn throws (its state is unknown). */
export async function withSession<T>(db: Db, fn: (s: Session) => Promise<T>): Promise<T> {
  const s = await openSession(db);
  try {
    const out = await fn(s);
    s.release();
    return out;
  } catch (e) {
    s.release(true);
    throw e;
  }
}
