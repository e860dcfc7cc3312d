/**
 * Install and uninstall the trigger outbox of one capture entry in its source database
 * (`fieldsync capture install|uninstall`), and regenerate one table's triggers (used by
 * the MySQL capture when a table gained a column).
 *
 * Install creates, re-run safe: the outbox and checkpoint system tables, then for each
 * configured table (resolved and checked: it exists, it has a primary key or configured
 * key columns) its AFTER INSERT/UPDATE/DELETE triggers. Uninstall drops the triggers and,
 * with dropData, the outbox and the checkpoint (a later install then starts afresh,
 * including new initial snapshots).
 */
import type { CaptureConfig, FieldsyncConfig } from '../config/schema.js';
import { originOf } from '../config/load.js';
import type { Db } from '../dialect/dialect.js';
import { openDb } from '../dialect/index.js';
import { readTableSchema, splitTableName } from '../dialect/introspect.js';
import { dropOrphanTriggerNames } from '../dialect/mysql/orphan-triggers.js';
import { mysqlDropOutboxSql, mysqlInstallOutboxSql, mysqlInstallTriggerSql, mysqlTriggerBaseNames, mysqlUninstallTriggerSql } from '../dialect/mysql/outbox-ddl.js';
import { pgDropOutboxSql, pgInstallOutboxSql, pgInstallTriggerSql, pgUninstallTriggerSql } from '../dialect/postgres/outbox-ddl.js';
import { ConfigError, DataError, wrap } from '../errors.js';
import type { TableSchema } from '../types.js';

/** What the outbox code needs to know about the source database. */
export interface OutboxDbInfo {
  dialect: 'postgres' | 'mysql';
  fieldsyncSchema: string;
  /** MySQL: the connection's database (holds the outbox); '' for PostgreSQL. */
  database: string;
  /** MySQL: the server is MariaDB (CREATE OR REPLACE TRIGGER). */
  mariadb: boolean;
  origin: string;
}

export async function outboxDbInfo(db: Db, cfg: FieldsyncConfig, capture: CaptureConfig): Promise<OutboxDbInfo> {
  const dbCfg = cfg.databases[capture.source]!;
  const origin = originOf(cfg, capture.source);
  if (db.dialect.name === 'postgres') return { dialect: 'postgres', fieldsyncSchema: dbCfg.fieldsyncSchema, database: '', mariadb: false, origin };
  const [r] = await db.query('SELECT DATABASE() AS db, VERSION() AS v');
  if (!r?.db) throw new ConfigError(`database "${capture.source}": the connection URL names no database (the outbox lives in it)`);
  return { dialect: 'mysql', fieldsyncSchema: dbCfg.fieldsyncSchema, database: String(r.db), mariadb: /mariadb/i.test(String(r.v)), origin };
}

export function openOutboxDb(cfg: FieldsyncConfig, capture: CaptureConfig): Db {
  const dbCfg = cfg.databases[capture.source];
  if (!dbCfg) throw new ConfigError(`capture source "${capture.source}" is not a configured database`);
  if (dbCfg.dialect === 'mssql') throw new ConfigError(`capture source "${capture.source}": SQL Server outbox DDL is generated (lib/dialect/mssql/outbox-ddl.ts) but not installed or read by this command; use mode cdc`);
  return openDb(dbCfg);
}

/** Resolve a configured table: exists, has a key. The error names the table. */
export async function resolveTable(db: Db, name: string, keyColumns: string[] | undefined): Promise<{ schema: TableSchema; ref: { schema: string; name: string } }> {
  const ref = splitTableName(name, db.dialect.name === 'postgres' ? 'public' : '');
  const schema = await readTableSchema(db, ref.schema, ref.name, keyColumns);
  if (!schema) throw new DataError(`captured table ${name} does not exist`);
  return { schema, ref };
}

/** The schema/database an outbox row names for a table (what the trigger records). */
export function outboxSchemaOf(info: OutboxDbInfo, ref: { schema: string }): string {
  return info.dialect === 'mysql' ? ref.schema || info.database : ref.schema || 'public';
}

export async function installTableTriggers(db: Db, info: OutboxDbInfo, table: TableSchema, ref: { schema: string; name: string }): Promise<void> {
  if (info.dialect === 'postgres') {
    await db.transaction(async (tx) => {
      for (const s of pgInstallTriggerSql(info.fieldsyncSchema, ref, info.origin, table.key)) await tx.execute(s);
    });
    return;
  }
  const tableDatabase = outboxSchemaOf(info, ref);
  // MariaDB's CREATE OR REPLACE fails on a name a crash orphaned (orphan-triggers.ts)
  if (info.mariadb) await dropOrphanTriggerNames(db, tableDatabase, mysqlTriggerBaseNames(table.name));
  const statements = mysqlInstallTriggerSql(table, tableDatabase, info.database, info.origin, info.mariadb);
  // MySQL 8 needs LOCK TABLES … UNLOCK TABLES on one connection: a transaction pins it
  await db.transaction(async (tx) => {
    for (const s of statements) await tx.execute(s);
  });
}

export async function installOutbox(cfg: FieldsyncConfig, capture: CaptureConfig, db: Db): Promise<string[]> {
  const info = await outboxDbInfo(db, cfg, capture);
  try {
    const ddl = info.dialect === 'postgres' ? pgInstallOutboxSql(info.fieldsyncSchema) : mysqlInstallOutboxSql(info.database);
    for (const s of ddl) await db.execute(s);
  } catch (e) {
    throw wrap(`unable to create the outbox in source "${capture.source}"`, e);
  }
  const done: string[] = [];
  for (const t of capture.tables) {
    const { schema, ref } = await resolveTable(db, t.name, t.keyColumns);
    try {
      await installTableTriggers(db, info, schema, ref);
    } catch (e) {
      throw wrap(`unable to install the outbox triggers of ${t.name} in source "${capture.source}"`, e);
    }
    done.push(t.name);
  }
  return done;
}

export async function uninstallOutbox(cfg: FieldsyncConfig, capture: CaptureConfig, db: Db, dropData: boolean): Promise<string[]> {
  const info = await outboxDbInfo(db, cfg, capture);
  const done: string[] = [];
  for (const t of capture.tables) {
    const ref = splitTableName(t.name, info.dialect === 'postgres' ? 'public' : '');
    const statements = info.dialect === 'postgres' ? pgUninstallTriggerSql(ref) : mysqlUninstallTriggerSql(ref, outboxSchemaOf(info, ref));
    try {
      for (const s of statements) await db.execute(s);
    } catch (e) {
      // a table that no longer exists has no triggers left to drop
      if (!/does not exist|doesn't exist|42P01|ER_NO_SUCH_TABLE/i.test(String((e as { code?: string }).code) + String((e as Error).message))) {
        throw wrap(`unable to drop the outbox triggers of ${t.name} in source "${capture.source}"`, e);
      }
    }
    done.push(t.name);
  }
  if (dropData) {
    const ddl = info.dialect === 'postgres' ? pgDropOutboxSql(info.fieldsyncSchema) : mysqlDropOutboxSql(info.database);
    for (const s of ddl) await db.execute(s);
  }
  return done;
}
