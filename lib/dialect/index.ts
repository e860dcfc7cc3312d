/** Opens a database of any configured dialect. */
import type { DatabaseConfig } from '../config/schema.js';
import { FieldsyncError } from '../errors.js';
import type { Db, DialectName, OpenDbOptions, SqlDialect } from './dialect.js';
import { mysqlDialect } from './mysql/dialect.js';
import { openMysql } from './mysql/db.js';
import { postgresDialect } from './postgres/dialect.js';
import { openPostgres } from './postgres/db.js';
import { mssqlDialect } from './mssql/dialect.js';
import { openMssql } from './mssql/db.js';

export * from './dialect.js';

export function dialectOf(name: DialectName): SqlDialect {
  if (name === 'postgres') return postgresDialect;
  if (name === 'mysql') return mysqlDialect;
  if (name === 'mssql') return mssqlDialect;
  throw new FieldsyncError(`dialect ${name} has no shared SQL dialect module loaded here`);
}

export function openDb(db: DatabaseConfig, opts: OpenDbOptions = {}): Db {
  const o = { poolSize: db.poolSize, ...opts };
  switch (db.dialect) {
    case 'postgres': return openPostgres(db.url, o);
    case 'mysql': return openMysql(db.url, o);
    case 'mssql': return openMssql(db.url, o);
  }
}
