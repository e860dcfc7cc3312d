/**
 * MySQL / MariaDB connection pool. Sessions run in UTC; DATETIME/DATE come back as text,
 * BIGINT and DECIMAL as strings and JSON as its text, so canonicalValue sees exact values.
 */
import mysql from 'mysql2/promise';
import type { Db, DbRow, OpenDbOptions } from '../dialect.js';
import { mysqlDialect } from './dialect.js';

/** Session variable read by fieldsync's triggers: writes of an applier session are not echoed. */
export const MYSQL_APPLIER_VARIABLE = '@fieldsync_applier';

interface Runner {
  query(sql: string, params?: unknown[]): Promise<[unknown, unknown]>;
}

class MysqlDb implements Db {
  readonly dialect = mysqlDialect;
  constructor(private readonly runner: Runner, private readonly pool: mysql.Pool | undefined) {}

  async query(sql: string, params: readonly unknown[] = []): Promise<DbRow[]> {
    const [rows] = await this.runner.query(sql, params as unknown[]);
    return Array.isArray(rows) ? (rows as DbRow[]) : [];
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<number> {
    const [res] = await this.runner.query(sql, params as unknown[]);
    return (res as { affectedRows?: number }).affectedRows ?? 0;
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    if (!this.pool) return fn(this);
    const conn = await this.pool.getConnection();
    try {
      await conn.query('START TRANSACTION');
      const out = await fn(new MysqlDb(conn, undefined));
      await conn.query('COMMIT');
      conn.release();
      return out;
    } catch (e) {
      await conn.query('ROLLBACK').catch(() => undefined);
      conn.destroy();
      throw e;
    }
  }

  /** Inside a transaction, its connection (a LOAD DATA stream must run in the transaction); else undefined. */
  get transactionConnection(): mysql.PoolConnection | undefined {
    return this.pool ? undefined : (this.runner as mysql.PoolConnection);
  }

  /** A dedicated connection for LOAD DATA streams and session-scoped work; release it when done. */
  async connection(): Promise<mysql.PoolConnection> {
    if (!this.pool) throw new Error('connection() is not available inside a transaction');
    return this.pool.getConnection();
  }

  async close(): Promise<void> {
    if (this.pool) await this.pool.end();
  }
}

export type MysqlDbHandle = MysqlDb;

export function openMysql(url: string, opts: OpenDbOptions = {}): MysqlDb {
  const pool = mysql.createPool({
    uri: url,
    connectionLimit: opts.poolSize ?? 4,
    timezone: 'Z',
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    charset: 'utf8mb4',
    multipleStatements: false,
    flags: ['+LOCAL_FILES'],
    infileStreamFactory: undefined,
    // MariaDB sends JSON as LONGTEXT flagged json, which mysql2 would parse into an object: keep the text.
    jsonStrings: true,
    typeCast: (field, next) => (field.type === 'JSON' ? field.string('utf8') : next()),
  });
  const setup = `SET time_zone = '+00:00', SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES')${opts.applierSession ? `, ${MYSQL_APPLIER_VARIABLE} = 1` : ''}`;
  pool.pool.on('connection', (conn) => {
    conn.query(setup);
  });
  return new MysqlDb(pool, pool);
}
