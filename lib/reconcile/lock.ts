/**
 * One refresh (or rollback) per table at a time, across processes and hosts: a session
 * advisory lock in the target database (PostgreSQL pg_try_advisory_lock, MySQL GET_LOCK),
 * held by a dedicated connection for the whole run. A killed run's connection closes and
 * the server releases the lock, so a crash never leaves a table locked.
 */
import { createHash } from 'node:crypto';
import { FieldsyncError } from '../errors.js';
import type { Session } from './session.js';

function lockName(target: string, table: { schema: string; name: string }): string {
  const digest = createHash('sha1').update(`${target}\0${table.schema}\0${table.name}`).digest('hex').slice(0, 24);
  return `fieldsync.reconcile.${digest}`;
}

/** Take the table's refresh lock on `s` or throw (retriable) if another run holds it. */
export async function acquireTableLock(s: Session, target: string, table: { schema: string; name: string }): Promise<void> {
  const name = lockName(target, table);
  const rows = s.dialect.name === 'postgres'
    ? await s.query('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [name])
    : await s.query('SELECT GET_LOCK(?, 0) AS ok', [name]);
  const ok = rows[0]?.ok;
  if (!(ok === true || ok === 1 || ok === '1')) {
    throw new FieldsyncError(`another reconcile or rollback of ${table.schema ? `${table.schema}.` : ''}${table.name} is running (lock ${name} is held)`, { retriable: true });
  }
}

export async function releaseTableLock(s: Session, target: string, table: { schema: string; name: string }): Promise<void> {
  const name = lockName(target, table);
  if (s.dialect.name === 'postgres') await s.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name]);
  else await s.query('SELECT RELEASE_LOCK(?)', [name]);
}
