/**
 * createSink(config, targetName): the Sink for one configured target database. Its pool
 * is opened as a fieldsync applier session (echo prevention: trigger outboxes and the
 * local-edit stamping triggers skip its writes). Call connect() before use.
 */
import type { FieldsyncConfig } from '../config/schema.js';
import { openDb } from '../dialect/index.js';
import { ConfigError } from '../errors.js';
import { MysqlSink } from './mysql-sink.js';
import { PostgresSink } from './postgres-sink.js';
import type { SqlSink } from './sql-sink.js';

export { MysqlSink } from './mysql-sink.js';
export { PostgresSink } from './postgres-sink.js';
export { SchemaEvolutionError, SqlSink } from './sql-sink.js';
export type { MergeTarget, SinkOptions } from './sql-sink.js';

export interface CreateSinkOptions {
  /** Pool size; defaults to the database's configured poolSize. */
  poolSize?: number;
}

export function createSink(config: FieldsyncConfig, targetName: string, opts: CreateSinkOptions = {}): SqlSink {
  const db = config.databases[targetName];
  if (!db) throw new ConfigError(`unknown target database "${targetName}" (known: ${Object.keys(config.databases).join(', ') || 'none'})`);
  if (db.dialect === 'mssql') throw new ConfigError(`target "${targetName}" is a SQL Server database: fieldsync merges into PostgreSQL and MySQL/MariaDB targets only`);
  const options = { origin: db.origin ?? targetName, fieldsyncSchema: db.fieldsyncSchema };
  const pool = openDb(db, { applierSession: true, poolSize: opts.poolSize ?? db.poolSize });
  switch (db.dialect) {
    case 'postgres': return new PostgresSink(targetName, pool, options);
    case 'mysql': return new MysqlSink(targetName, pool, { ...options, rowAlias: db.rowAlias });
  }
}
