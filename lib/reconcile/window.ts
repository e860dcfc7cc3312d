/**
 * The window of a refresh: every write to the live generation after the refresh began
 * must reach the stage before the swap. Every such write stamps the live clock table
 * (the applier's merge and the local-edit triggers both write T__fs_clock), so triggers
 * on the clock table append the written keys to T__fs_wlog. This catches every write,
 * whatever its stamp — an applier lagging behind applies events with stamps older than
 * the refresh's start, which a "stamp > start" filter would miss.
 *
 * Catch-up rounds (MergeSql.windowRound) join the live state of the logged keys into the
 * stage and delete exactly the log rows they consumed; the last round runs under the
 * swap's exclusive lock, so nothing can be written between it and the rename.
 *
 * PostgreSQL uses statement-level triggers with a transition table (one INSERT per
 * statement of the applier's set-based merge); MySQL row triggers.
 */
import type { SqlDialect } from '../dialect/dialect.js';
import type { MergeSql } from './merge-sql.js';
import { WINDOW_ID } from './merge-sql.js';
import type { Generation, TableName } from './names.js';
import { windowFunction, windowLog, windowTriggerNames } from './names.js';

export interface SqlRunner {
  readonly dialect: SqlDialect;
  query(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  execute(sql: string, params?: readonly unknown[]): Promise<number>;
}

function triggerRef(d: SqlDialect, t: TableName, name: string): string {
  return d.name === 'mysql' && t.schema ? `${d.quote(t.schema)}.${d.quote(name)}` : d.quote(name);
}

/** Drop the window-log triggers (they must go before the log table: they write to it). */
export async function dropWindowTriggers(s: SqlRunner, into: TableName, live: Generation): Promise<void> {
  const d = s.dialect;
  const names = windowTriggerNames(into);
  for (const n of [names.insert, names.update]) {
    if (d.name === 'postgres') await s.execute(`DROP TRIGGER IF EXISTS ${d.quote(n)} ON ${d.qualified(live.clock)}`);
    else await s.execute(`DROP TRIGGER IF EXISTS ${triggerRef(d, into, n)}`);
  }
}

export async function dropWindow(s: SqlRunner, into: TableName, live: Generation, clockExists: boolean): Promise<void> {
  const d = s.dialect;
  if (clockExists) await dropWindowTriggers(s, into, live);
  if (d.name === 'postgres') await s.execute(`DROP FUNCTION IF EXISTS ${d.qualified(windowFunction(into))}() CASCADE`);
  await s.execute(`DROP TABLE IF EXISTS ${d.qualified(windowLog(into))}`);
}

/** Create the log table and its triggers: from now on every live clock write is logged. */
export async function openWindow(s: SqlRunner, into: TableName, live: Generation, key: readonly string[]): Promise<void> {
  const d = s.dialect;
  const w = d.qualified(windowLog(into));
  const keys = key.map((k) => d.quote(k)).join(', ');
  const names = windowTriggerNames(into);
  if (d.name === 'postgres') {
    const fn = d.qualified(windowFunction(into));
    await s.execute(`CREATE TABLE ${w} AS SELECT ${keys} FROM ${d.qualified(live.clock)} WITH NO DATA`);
    await s.execute(`ALTER TABLE ${w} ADD COLUMN ${d.quote(WINDOW_ID)} bigserial PRIMARY KEY`);
    await s.execute(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fs$ BEGIN INSERT INTO ${w} (${keys}) SELECT ${keys} FROM fs_new; RETURN NULL; END $fs$`);
    for (const [n, ev] of [[names.insert, 'INSERT'], [names.update, 'UPDATE']] as const) {
      await s.execute(`CREATE TRIGGER ${d.quote(n)} AFTER ${ev} ON ${d.qualified(live.clock)} REFERENCING NEW TABLE AS fs_new FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`);
    }
    return;
  }
  await s.execute(`CREATE TABLE ${w} (${d.quote(WINDOW_ID)} BIGINT AUTO_INCREMENT PRIMARY KEY) SELECT ${keys} FROM ${d.qualified(live.clock)} WHERE 1 = 0`);
  const values = key.map((k) => `NEW.${d.quote(k)}`).join(', ');
  for (const [n, ev] of [[names.insert, 'INSERT'], [names.update, 'UPDATE']] as const) {
    await s.execute(`CREATE TRIGGER ${triggerRef(d, into, n)} AFTER ${ev} ON ${d.qualified(live.clock)} FOR EACH ROW INSERT INTO ${w} (${keys}) VALUES (${values})`);
  }
}

/** One catch-up round; returns the number of log rows (live clock writes) consumed. */
export async function catchUpRound(s: SqlRunner, sql: MergeSql): Promise<number> {
  // the common case at the swap: nothing written since the last round; skip the temp tables
  if ((await s.query(sql.windowPending())).length === 0) return 0;
  const r = sql.windowRound();
  for (const q of r.collect) await s.execute(q);
  const n = Number((await s.query(r.count))[0]?.n ?? 0);
  if (n > 0) for (const q of r.apply) await s.execute(q);
  for (const q of r.cleanup) await s.execute(q);
  return n;
}
