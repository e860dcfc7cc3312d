/**
 * MySQL / MariaDB: trigger names orphaned by a crash.
 *
 * A server killed in the middle of a DROP TRIGGER can leave the trigger's name file
 * (`<name>.TRN`) behind while its table's trigger file no longer lists it. No table then has
 * the trigger (information_schema shows none), yet the name is taken: CREATE TRIGGER of it
 * fails with "already exists" and MariaDB's CREATE OR REPLACE TRIGGER with "Trigger does
 * not exist", on every later attempt. `DROP TRIGGER IF EXISTS` of the name removes the
 * orphan (MariaDB: warning 4181, "Dropped orphan trigger").
 *
 * The rule these helpers keep: a name that any table of the schema holds is never dropped
 * here, whichever table it is on (a refresh's incoming table may hold a copy that must
 * travel with it); only names no table holds are, and for those the DROP is a no-op unless
 * an orphan is there.
 */
import type { Db } from '../dialect.js';
import { mysqlDialect as d } from './dialect.js';

/** A pool or one session (the swap's). */
type Runner = Pick<Db, 'query' | 'execute'>;

/** MySQL / MariaDB error 1359 (ER_TRG_ALREADY_EXISTS). */
export const TRIGGER_ALREADY_EXISTS = 1359;

/** Which of `names` a table of `schema` ('' = the current database) holds. */
async function triggerNamesHeld(db: Runner, schema: string, names: readonly string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const rows = await db.query(
    `SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA = ${schema ? '?' : 'DATABASE()'} AND TRIGGER_NAME IN (${names.map(() => '?').join(', ')})`,
    [...(schema ? [schema] : []), ...names]);
  return new Set(rows.map((r) => String(r.name)));
}

/** Drop the orphaned ones among `names`: those no table of `schema` holds. Returns their names. */
export async function dropOrphanTriggerNames(db: Runner, schema: string, names: readonly string[]): Promise<string[]> {
  const held = await triggerNamesHeld(db, schema, names);
  const free = names.filter((n) => !held.has(n));
  for (const n of free) await db.execute(`DROP TRIGGER IF EXISTS ${schema ? `${d.quote(schema)}.` : ''}${d.quote(n)}`);
  return free;
}
