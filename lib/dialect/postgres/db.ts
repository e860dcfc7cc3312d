/**
 * PostgreSQL connection pool. Sessions run in UTC; dates, times, timestamps, int8,
 * numeric and json come back as their text (type parsers below) so that nothing is
 * rounded to JavaScript Date milliseconds or float precision before canonicalValue.
 */
import pg from 'pg';
import type { Db, DbRow, OpenDbOptions } from '../dialect.js';
import { postgresDialect } from './dialect.js';

const RAW_TEXT_OIDS = [20, 1700, 1082, 1083, 1114, 1184, 114, 3802, 1266];
const types = {
  getTypeParser(oid: number, format?: string) {
    if (RAW_TEXT_OIDS.includes(oid)) return (v: string) => v;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** Session setting read by fieldsync's triggers: writes of an applier session are not echoed. */
export const PG_APPLIER_SETTING = 'fieldsync.applier';

class PgDb implements Db {
  readonly dialect = postgresDialect;
  constructor(private readonly runner: pg.Pool | pg.PoolClient, private readonly pool: pg.Pool | undefined) {}

  async query(sql: string, params: readonly unknown[] = []): Promise<DbRow[]> {
    const r = await this.runner.query({ text: sql, values: params as unknown[] });
    return r.rows as DbRow[];
  }

  async queryArrays(sql: string, params: readonly unknown[] = []): Promise<unknown[][]> {
    const r = await this.runner.query({ text: sql, values: params as unknown[], rowMode: 'array' });
    return r.rows as unknown[][];
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<number> {
    const r = await this.runner.query({ text: sql, values: params as unknown[] });
    return r.rowCount ?? 0;
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    if (!this.pool) return fn(this); // already inside a transaction
    const client = withErrorListener(await this.pool.connect());
    try {
      await client.query('BEGIN');
      const out = await fn(new PgDb(client, undefined));
      await client.query('COMMIT');
      client.release();
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release(true);
      throw e;
    }
  }

  /** A dedicated client for COPY streams and session-scoped work; release it when done. */
  async client(): Promise<pg.PoolClient> {
    if (!this.pool) throw new Error('client() is not available inside a transaction');
    return withErrorListener(await this.pool.connect());
  }

  async close(): Promise<void> {
    if (this.pool) await this.pool.end();
  }
}

export type PostgresDb = PgDb;

const listening = new WeakSet<pg.PoolClient>();

/**
 * A checked-out client with an 'error' listener. pg-pool removes its own listener from a
 * client it hands out, and pg's client emits 'error' when its socket dies: with no listener,
 * a server that goes away during a transaction or a COPY session would crash the process
 * with an uncaught exception. The error also fails the client's queries, which is how it
 * reaches the caller. One listener per client, for its whole life (clients are reused).
 */
function withErrorListener(client: pg.PoolClient): pg.PoolClient {
  if (!listening.has(client)) {
    client.on('error', () => undefined);
    listening.add(client);
  }
  return client;
}

export function openPostgres(url: string, opts: OpenDbOptions = {}): PgDb {
  const options = ['-c TimeZone=UTC', '-c client_encoding=UTF8'];
  // An applier session commits the merged rows together with the consumed offsets, and its
  // consumer moves on once the commit returns: the commit must be durable when it returns,
  // or a server crash under synchronous_commit=off would undo a batch the consumer has
  // already left behind (lost changes). So the session insists on it, whatever the server default.
  if (opts.applierSession) options.push(`-c ${PG_APPLIER_SETTING}=on`, '-c synchronous_commit=on');
  const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 4, options: options.join(' '), types });
  pool.on('error', () => undefined); // idle client errors surface on the next query instead of crashing
  return new PgDb(pool, pool);
}
