/**
 * MySQL / MariaDB atomic swap of table generations (refresh and rollback).
 *
 * `RENAME TABLE a TO b, c TO a, …` is atomic, but MariaDB refuses it under LOCK TABLES,
 * and MySQL triggers travel with a renamed table (their names are unique per schema, so
 * the incoming table cannot carry copies beforehand). The swap therefore uses two
 * connections and the metadata-lock queue:
 *
 *   1. connection A: LOCK TABLES … WRITE on every table involved (writers and readers of
 *      live now wait), then the caller's final work (the last window catch-up), then the
 *      triggers move from the outgoing to the incoming tables (DROP + CREATE, same names,
 *      same bodies and sql_mode), then the outgoing foreign keys (one ALTER drops them,
 *      one adds them under the same names, in place; foreign-keys.ts);
 *   2. connection B: the one RENAME TABLE statement; it queues for the metadata lock;
 *   3. once B is seen waiting for the metadata lock, A runs UNLOCK TABLES. An exclusive
 *      metadata-lock request has priority over the waiting readers and writers, so B's
 *      rename runs before any of them; they then resolve the name to the new table.
 *
 * So no write can land between the final catch-up and the rename, and no reader sees a
 * missing or partial table. If the rename fails, the triggers and foreign keys are moved
 * back before the lock is released. If the process dies between moving the triggers and
 * the rename, the next run moves triggers it finds on companion tables back to live
 * (`moveTriggers`), and the foreign keys recorded before the lock (`restoreForeignKeys`).
 */
import { wrap } from '../../errors.js';
import { sleep } from '../../retry.js';
import type { DbRow, SqlDialect } from '../dialect.js';
import { mysqlDialect } from './dialect.js';
import type { ForeignKeyDef } from './foreign-keys.js';
import { moveForeignKeys, restoreForeignKeys } from './foreign-keys.js';

export interface TableRef { schema: string; name: string }

export interface SwapRunner {
  readonly dialect: SqlDialect;
  readonly serverId: number;
  query(sql: string, params?: readonly unknown[]): Promise<DbRow[]>;
  execute(sql: string, params?: readonly unknown[]): Promise<number>;
}

export interface MysqlSwapPlan {
  /** LOCK TABLES list: each table with every alias the under-lock SQL uses. */
  lock: { table: TableRef; alias?: string }[];
  /** One RENAME TABLE, pairs in order. */
  renames: [TableRef, TableRef][];
  /** Triggers to move from → to under the lock (before the rename). */
  moveTriggers: [TableRef, TableRef][];
  /** Trigger names never moved (they are dropped by underLock). */
  skipTriggers: string[];
  /** Foreign keys to move from → to under the lock, after the triggers (foreign-keys.ts). */
  moveForeignKeys: { from: TableRef; to: TableRef; fks: ForeignKeyDef[] }[];
  underLock?: (a: SwapRunner) => Promise<void>;
  lockTimeoutMs: number;
  /** Timing of each step (debug logging). */
  onStep?: (step: string, ms: number) => void;
}

export interface TriggerDef { name: string; timing: string; event: string; statement: string; sqlMode: string }

const d = mysqlDialect;

const schemaExpr = (t: TableRef) => (t.schema ? '?' : 'DATABASE()');
const schemaParams = (t: TableRef) => (t.schema ? [t.schema] : []);

export async function triggersOf(s: SwapRunner, t: TableRef): Promise<TriggerDef[]> {
  const rows = await s.query(
    `SELECT TRIGGER_NAME AS name, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event, ACTION_STATEMENT AS stmt, SQL_MODE AS mode
       FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ${schemaExpr(t)} AND EVENT_OBJECT_TABLE = ?
      ORDER BY ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`, [...schemaParams(t), t.name]);
  return rows.map((r) => ({ name: String(r.name), timing: String(r.timing), event: String(r.event), statement: String(r.stmt), sqlMode: String(r.mode) }));
}

/** DROP the triggers from their table and CREATE them on `to` (same names, bodies, sql_mode). */
export async function moveTriggers(s: SwapRunner, defs: readonly TriggerDef[], to: TableRef): Promise<void> {
  if (defs.length === 0) return;
  const [mode] = await s.query('SELECT @@SESSION.sql_mode AS m');
  try {
    for (const t of defs) {
      if (!/^(BEFORE|AFTER)$/.test(t.timing) || !/^(INSERT|UPDATE|DELETE)$/.test(t.event)) throw new Error(`unexpected trigger timing/event ${t.timing} ${t.event}`);
      const schemaPrefix = to.schema ? `${d.quote(to.schema)}.` : '';
      await s.execute(`DROP TRIGGER IF EXISTS ${schemaPrefix}${d.quote(t.name)}`);
      await s.execute('SET SESSION sql_mode = ?', [t.sqlMode]);
      await s.execute(`CREATE TRIGGER ${schemaPrefix}${d.quote(t.name)} ${t.timing} ${t.event} ON ${d.qualified(to)} FOR EACH ROW ${t.statement}`);
    }
  } catch (e) {
    throw wrap(`unable to move triggers to ${d.qualified(to)}`, e);
  } finally {
    await s.execute('SET SESSION sql_mode = ?', [String(mode?.m ?? '')]);
  }
}

export function renameSql(renames: readonly [TableRef, TableRef][]): string {
  return `RENAME TABLE ${renames.map(([a, b]) => `${d.qualified(a)} TO ${d.qualified(b)}`).join(', ')}`;
}

/**
 * Run the swap. `a` holds LOCK TABLES, `b` issues the RENAME, `watch` (a third
 * connection) sees when b waits for the metadata lock.
 */
export async function mysqlSwap(a: SwapRunner, b: SwapRunner, watch: SwapRunner, plan: MysqlSwapPlan): Promise<{ lockedMs: number; renameMs: number }> {
  const moves = await Promise.all(plan.moveTriggers.map(async ([from, to]) => ({
    from, to, defs: (await triggersOf(a, from)).filter((t) => !plan.skipTriggers.includes(t.name)),
  })));
  await a.execute(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(plan.lockTimeoutMs / 1000))}`);
  await b.execute(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(plan.lockTimeoutMs / 1000))}`);
  const lockList = plan.lock.map((l) => `${d.qualified(l.table)}${l.alias ? ` AS ${d.quote(l.alias)}` : ''} WRITE`).join(', ');
  try {
    await a.execute(`LOCK TABLES ${lockList}`);
  } catch (e) {
    throw wrap('unable to lock the tables for the swap', e);
  }
  const locked = performance.now();
  let mark = locked;
  const step = (name: string) => { const now = performance.now(); plan.onStep?.(name, now - mark); mark = now; };
  let moved = false;
  let fksTouched = false;
  try {
    if (plan.underLock) await plan.underLock(a);
    step('under lock');
    for (const m of moves) await moveTriggers(a, m.defs, m.to);
    moved = true;
    step('move triggers');
    const fkMoves = plan.moveForeignKeys.filter((m) => m.fks.length > 0);
    if (fkMoves.length) {
      fksTouched = true;
      for (const m of fkMoves) await moveForeignKeys(a, m.fks, m.from, m.to);
      step('move foreign keys');
    }
    let renameError: unknown;
    let settled = false;
    const renameStart = performance.now();
    const rename = b.execute(renameSql(plan.renames)).then(
      () => { settled = true; },
      (e: unknown) => { settled = true; renameError = e; });
    // The rename must be queued behind our lock before we release it (see the header).
    const deadline = Date.now() + Math.max(5000, plan.lockTimeoutMs);
    for (;;) {
      if (settled) break;
      const st = await watch.query('SELECT STATE AS state FROM information_schema.PROCESSLIST WHERE ID = ?', [b.serverId]);
      if (/metadata lock/i.test(String(st[0]?.state ?? ''))) break;
      if (Date.now() > deadline) {
        await watch.execute(`KILL QUERY ${Number(b.serverId)}`).catch(() => undefined);
        await rename;
        break;
      }
      await sleep(1);
    }
    if (settled && renameError !== undefined) throw wrap('unable to rename the tables for the swap', renameError);
    step('rename queued');
    await a.execute('UNLOCK TABLES');
    step('unlock');
    await rename;
    step('rename');
    if (renameError !== undefined) throw wrap('unable to rename the tables for the swap', renameError);
    const end = performance.now();
    return { lockedMs: end - locked, renameMs: end - renameStart };
  } catch (e) {
    // Still holding the lock (or released after a failed rename): put the triggers and
    // the foreign keys back on live.
    if (moved) {
      await a.execute(`LOCK TABLES ${lockList}`).catch(() => undefined);
      for (const m of moves) await moveTriggers(a, m.defs, m.from).catch(() => undefined);
      if (fksTouched) for (const m of plan.moveForeignKeys) await restoreForeignKeys(a, m.fks, m.from, [m.to]).catch(() => undefined);
    }
    await a.execute('UNLOCK TABLES').catch(() => undefined);
    throw e;
  }
}

/** Foreign keys of other tables that reference `t` (a swap would leave them on the backup). */
export async function mysqlReferencingForeignKeys(s: SwapRunner, t: TableRef): Promise<string[]> {
  const rows = await s.query(
    `SELECT TABLE_NAME AS child, CONSTRAINT_NAME AS name FROM information_schema.REFERENTIAL_CONSTRAINTS
      WHERE UNIQUE_CONSTRAINT_SCHEMA = ${schemaExpr(t)} AND REFERENCED_TABLE_NAME = ? AND TABLE_NAME <> REFERENCED_TABLE_NAME`,
    [...schemaParams(t), t.name]);
  return rows.map((r) => `${String(r.child)}.${String(r.name)}`);
}
