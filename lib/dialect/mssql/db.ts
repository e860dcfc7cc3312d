/**
 * SQL Server connection pool (the `mssql` package over tedious) behind the shared Db
 * interface. Parameters are positional (`@p1`, `@p2` … as mssqlDialect.param renders
 * them) and bound with a type inferred from the canonical value, never spliced into SQL.
 *
 * Sessions: useUTC is on, so datetime/datetime2 values arrive as Dates whose UTC fields
 * are the stored wall clock (see dialect.ts). An applier pool marks every request's
 * session with SESSION_CONTEXT(N'fieldsync.applier') = 1 (echo prevention), set in the
 * same batch so that a pooled connection can never run a statement unmarked.
 *
 * URLs: `mssql://user:password@host:1433/database?encrypt=true&trustServerCertificate=true`
 * (also `sqlserver://`), or an ADO.NET connection string (`Server=…;Database=…;…`).
 */
import type sql from 'mssql';
import { mssql } from './driver.js';
import { FieldsyncError, errorMessage } from '../../errors.js';
import type { Db, DbRow, OpenDbOptions } from '../dialect.js';
import { mssqlDialect } from './dialect.js';

/** SQL Server error numbers worth retrying: deadlock victim, lock timeout, timeouts, Azure transient errors. */
const TRANSIENT_NUMBERS = new Set([1205, 1222, -2, 4060, 40197, 40501, 40613, 49918, 49919, 49920, 10928, 10929, 233, 64, 10053, 10054, 10060]);
const TRANSIENT_CODES = new Set(['ETIMEOUT', 'ESOCKET', 'ECONNCLOSED', 'ENOTOPEN', 'ECONNRESET', 'ECONNREFUSED']);

/** Classify a driver error: transient ones become retriable FieldsyncErrors. */
export function classifyMssqlError(what: string, e: unknown): FieldsyncError {
  if (e instanceof FieldsyncError) return e;
  const rec = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; number?: unknown; originalError?: { code?: unknown } };
  const code = typeof rec.code === 'string' ? rec.code : typeof rec.originalError?.code === 'string' ? rec.originalError.code : '';
  const retriable = TRANSIENT_CODES.has(code) || (typeof rec.number === 'number' && TRANSIENT_NUMBERS.has(rec.number));
  return new FieldsyncError(`${what}: ${errorMessage(e)}`, { retriable, cause: e });
}

/** Bind a canonical (or driver) value with an explicit SQL Server type. */
export function bindParam(req: sql.Request, name: string, v: unknown): void {
  if (v === null || v === undefined) req.input(name, mssql().NVarChar(1), null);
  else if (Buffer.isBuffer(v)) req.input(name, v.length <= 8000 ? mssql().VarBinary(Math.max(v.length, 1)) : mssql().VarBinary(mssql().MAX), v);
  else if (typeof v === 'bigint') req.input(name, mssql().BigInt, v.toString());
  else if (typeof v === 'boolean') req.input(name, mssql().Bit, v);
  else if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) <= 2_147_483_647) req.input(name, mssql().Int, v);
    else if (Number.isSafeInteger(v)) req.input(name, mssql().BigInt, v);
    else req.input(name, mssql().Float, v);
  } else if (v instanceof Date) req.input(name, mssql().DateTime2(7), v);
  else req.input(name, mssql().NVarChar(mssql().MAX), String(v));
}

type Runner = sql.ConnectionPool | sql.Transaction;

class MssqlDb implements Db {
  readonly dialect = mssqlDialect;
  constructor(
    private readonly runner: Runner,
    private readonly pool: sql.ConnectionPool | undefined,
    private readonly prefix: string,
  ) {}

  private async run(statement: string, params: readonly unknown[]): Promise<sql.IResult<DbRow>> {
    const req = new (mssql().Request)(this.runner as sql.ConnectionPool);
    params.forEach((p, i) => bindParam(req, `p${i + 1}`, p));
    try {
      return await req.query<DbRow>(this.prefix + statement);
    } catch (e) {
      throw classifyMssqlError('unable to run a SQL Server statement', e);
    }
  }

  async query(statement: string, params: readonly unknown[] = []): Promise<DbRow[]> {
    const r = await this.run(statement, params);
    return (r.recordset ?? []) as DbRow[];
  }

  async execute(statement: string, params: readonly unknown[] = []): Promise<number> {
    const r = await this.run(statement, params);
    return r.rowsAffected.reduce((a, b) => a + b, 0);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    if (!this.pool) return fn(this); // already inside a transaction
    const tx = new (mssql().Transaction)(this.pool);
    try {
      await tx.begin();
    } catch (e) {
      throw classifyMssqlError('unable to begin a SQL Server transaction', e);
    }
    try {
      const out = await fn(new MssqlDb(tx, undefined, this.prefix));
      await tx.commit();
      return out;
    } catch (e) {
      await tx.rollback().catch(() => undefined);
      throw e;
    }
  }

  /** The pool, for work that needs its own connection (snapshot reads); not available inside a transaction. */
  connectionPool(): sql.ConnectionPool {
    if (!this.pool) throw new Error('connectionPool() is not available inside a transaction');
    return this.pool;
  }

  async close(): Promise<void> {
    if (this.pool) await this.pool.close();
  }
}

export type MssqlDbHandle = MssqlDb;

/** What openMssql returns: a Db that connects on first use, and the connected handle on demand. */
export interface LazyMssqlDb extends Db {
  handle(): Promise<MssqlDbHandle>;
}

/** Parse a `mssql://` / `sqlserver://` URL or an ADO.NET connection string into a driver config. */
export function mssqlConfig(url: string, poolSize = 4): sql.config {
  let cfg: sql.config;
  if (/^(mssql|sqlserver):\/\//i.test(url)) {
    const u = new URL(url.replace(/^(mssql|sqlserver):/i, 'http:'));
    const q = u.searchParams;
    const flag = (name: string, dflt: boolean): boolean => {
      const v = q.get(name);
      return v === null ? dflt : /^(1|true|yes)$/i.test(v);
    };
    cfg = {
      server: decodeURIComponent(u.hostname),
      port: u.port ? Number(u.port) : 1433,
      user: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      database: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : undefined,
      options: { encrypt: flag('encrypt', true), trustServerCertificate: flag('trustServerCertificate', false) },
    };
  } else {
    cfg = mssql().ConnectionPool.parseConnectionString(url);
  }
  return {
    ...cfg,
    options: { ...cfg.options, useUTC: true, enableArithAbort: true },
    pool: { ...cfg.pool, max: poolSize, min: 0 },
  };
}

/** Open (lazily connect) a pool; the first query waits for the connection. */
export async function connectMssql(url: string, opts: OpenDbOptions = {}): Promise<MssqlDb> {
  const pool = new (mssql().ConnectionPool)(mssqlConfig(url, opts.poolSize));
  try {
    await pool.connect();
  } catch (e) {
    throw classifyMssqlError('unable to connect to SQL Server', e);
  }
  return new MssqlDb(pool, pool, opts.applierSession ? `EXEC sys.sp_set_session_context @key = N'fieldsync.applier', @value = 1;\n` : '');
}

/**
 * The synchronous openDb shape: the pool connects on first use. Statements issued before
 * the connection is up wait for it.
 */
export function openMssql(url: string, opts: OpenDbOptions = {}): LazyMssqlDb {
  let db: Promise<MssqlDb> | undefined;
  // A failed connect is not cached: the next statement tries again (callers retry with backoff).
  const get = () => (db ??= connectMssql(url, opts).catch((e: unknown) => { db = undefined; throw e; }));
  return {
    dialect: mssqlDialect,
    handle: get,
    query: async (s, p) => (await get()).query(s, p),
    execute: async (s, p) => (await get()).execute(s, p),
    transaction: async (fn) => (await get()).transaction(fn),
    close: async () => { if (db) await (await db).close(); },
  };
}
