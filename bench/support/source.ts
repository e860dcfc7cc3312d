/**
 * A capture source of its own for a benchmark, so that its outbox holds only the
 * benchmark's rows: on PostgreSQL a fieldsync schema of its own (outbox, sequence,
 * checkpoints) in the shared database, on MariaDB a database of its own (the outbox lives in
 * the connection's database). `drop()` removes the outbox with its triggers, the named tables
 * and the schema or database; it never throws (a benchmark's cleanup must not hide its result).
 */
import { uninstallOutbox } from '../../lib/capture/install.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { stack, uniqueName } from '../../test/support/helpers.js';

export type SourceKind = 'postgres' | 'mariadb';

export interface BenchSource {
  /** The `databases.src` entry of the benchmark's config. */
  database: { dialect: 'postgres'; url: string; fieldsyncSchema: string } | { dialect: 'mysql'; url: string };
  /** The outbox and checkpoint tables, as SQL names. */
  outbox: string;
  checkpoints: string;
  drop(cfg: FieldsyncConfig, db: Db, tables: string[]): Promise<void>;
}

export async function benchSource(kind: SourceKind, prefix: string): Promise<BenchSource> {
  const isolation = uniqueName(prefix);
  if (kind === 'mariadb') {
    const admin = openMysql(stack.mysqlUrl());
    try {
      await admin.execute(`CREATE DATABASE \`${isolation}\` CHARACTER SET utf8mb4`);
    } finally {
      await admin.close();
    }
  }
  return {
    database: kind === 'postgres'
      ? { dialect: 'postgres', url: stack.pgUrl(), fieldsyncSchema: isolation }
      : { dialect: 'mysql', url: stack.mysqlUrl(isolation) },
    outbox: kind === 'postgres' ? `"${isolation}".outbox` : 'fieldsync_outbox',
    checkpoints: kind === 'postgres' ? `"${isolation}".capture_checkpoint` : 'fieldsync_capture_checkpoint',
    async drop(cfg, db, tables) {
      await uninstallOutbox(cfg, cfg.capture[0]!, db, true).catch(() => undefined);
      for (const t of tables) await db.execute(`DROP TABLE IF EXISTS ${db.dialect.quote(t)}`).catch(() => undefined);
      if (kind === 'postgres') await db.execute(`DROP SCHEMA IF EXISTS "${isolation}" CASCADE`).catch(() => undefined);
      await db.close().catch(() => undefined);
      if (kind === 'mariadb') {
        const admin = openMysql(stack.mysqlUrl());
        await admin.execute(`DROP DATABASE IF EXISTS \`${isolation}\``).catch(() => undefined);
        await admin.close().catch(() => undefined);
      }
    },
  };
}
