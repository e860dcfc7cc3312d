/**
 * `fieldsync rollback --table T`: swap the newest backup generation back in, with the
 * same atomic swap as a refresh. It is a three-way rename (live → parking name, backup N
 * → live, parking → backup N), so the generation being replaced becomes backup N and a
 * second rollback undoes the first. Triggers: PostgreSQL tables keep their own (each
 * generation still has the triggers it had when it was live); on MySQL, as in a refresh,
 * the incoming backup receives copies of live's triggers under their other name before
 * the lock (lib/dialect/mysql/trigger-names.ts), the outgoing table's are dropped after the
 * swap, and live's outgoing foreign keys move under the lock (same names; MySQL backups
 * carry no triggers and no foreign keys).
 *
 * Holds the table's refresh lock, so it cannot run during a refresh; it first cleans up
 * what a killed refresh or rollback left (generations.ts).
 */
import type { FieldsyncConfig } from '../config/schema.js';
import { openDb } from '../dialect/index.js';
import { FieldsyncError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { logger } from '../log.js';
import { cleanupLeftovers, listBackups, swapGenerations } from './generations.js';
import { acquireTableLock, releaseTableLock } from './lock.js';
import { limitLockWaits } from './refresh.js';
import { backupGeneration, rollbackParking } from './names.js';
import type { TableName } from './names.js';
import { finishRun, installRunsTable, startRun } from './runs.js';
import { openSession } from './session.js';
import type { Session } from './session.js';

export interface RollbackReport {
  target: string;
  table: string;
  restoredBackup: string;
  /** The generation that was live is now this backup. */
  replacedInto: string;
  swapMs: number;
}

export async function rollbackTable(cfg: FieldsyncConfig, targetName: string, into: TableName, opts: { log?: Logger; lockTimeoutMs?: number } = {}): Promise<RollbackReport> {
  const targetCfg = cfg.databases[targetName];
  if (!targetCfg) throw new FieldsyncError(`unknown target database "${targetName}"`);
  const label = into.schema ? `${into.schema}.${into.name}` : into.name;
  const log = opts.log ?? logger('reconciler', { table: label });
  const db = openDb(targetCfg, { poolSize: 4 });
  let lock: Session | undefined;
  let locked = false;
  let runId: number | undefined;
  try {
    lock = await openSession(db);
    await acquireTableLock(lock, targetName, into);
    locked = true;
    await limitLockWaits(lock, opts.lockTimeoutMs ?? 5000);
    await installRunsTable(db, targetCfg.fieldsyncSchema);
    runId = await startRun(db, targetCfg.fieldsyncSchema, label);
    await cleanupLeftovers(lock, into, log);
    const backups = await listBackups(lock, into);
    const n = backups[backups.length - 1];
    if (n === undefined) throw new FieldsyncError(`table ${label} in ${targetName} has no backup generation to roll back to`);
    const backup = backupGeneration(into, n);
    log.info({ table: label, backup: backup.data.name }, 'reconcile phase');
    const swap = await swapGenerations({
      db, watch: lock, into, incoming: backup, outgoing: backup, parking: rollbackParking(into),
      carryDefinition: db.dialect.name === 'mysql', skipTriggers: [], lockList: [],
      lockTimeoutMs: opts.lockTimeoutMs ?? 5000, log,
    });
    const report: RollbackReport = { target: targetName, table: label, restoredBackup: backup.data.name, replacedInto: backup.data.name, swapMs: swap.lockedMs };
    await finishRun(db, targetCfg.fieldsyncSchema, runId, 'success', 'rollback', report);
    log.info({ table: label, report }, 'rollback finished');
    return report;
  } catch (e) {
    if (runId !== undefined) await finishRun(db, targetCfg.fieldsyncSchema, runId, 'failure', `rollback: ${errorMessage(e)}`, undefined).catch(() => undefined);
    throw e;
  } finally {
    // The table lock goes now, not whenever the server notices the pooled connection
    // closing: a next run may start at once.
    if (lock) lock.release(locked && !(await releaseTableLock(lock, targetName, into).then(() => true, () => false)));
    await db.close().catch(() => undefined);
  }
}
