/**
 * MySQL / MariaDB atomic swap of table generations (refresh and rollback).
 *
 * `RENAME TABLE a TO b, c TO a, …` is atomic, but MariaDB refuses it under LOCK TABLES,
 * and MySQL triggers travel with a renamed table within its schema. The swap therefore
 * uses two connections and the metadata-lock queue, and does before its lock whatever
 * needs no lock:
 *
 *   0. before the lock (swapGenerations, each attempt): the incoming tables receive
 *      copies of live's fieldsync triggers (stamp and outbox triggers) under their other
 *      name (trigger-names.ts: trigger names are unique per schema), same bodies and
 *      sql_mode (`precreateTriggers`). Their bodies skip applier sessions, and A, the one
 *      session that writes the incoming tables from then on, is one: the copies record
 *      nothing for the reconciler's own writes. Any other trigger (and one whose name has
 *      no second form) would fire for them: it is moved under the lock, keeping its name.
 *      The RENAME then carries every trigger: this is what the lock time is made of, the
 *      rename of six tables and the rewrite of their trigger files.
 *   1. connection A: LOCK TABLES … WRITE on every table involved (writers and readers of
 *      live now wait); the caller's final work (the last window catch-up, as an applier
 *      session); then, only when there are any, the triggers that could not be copied move
 *      (DROP + CREATE, same names, bodies and sql_mode) and the outgoing foreign keys (one
 *      ALTER drops them, one adds them under the same names, in place; foreign-keys.ts);
 *   2. connection B: the one RENAME TABLE statement; it queues for the metadata lock. It
 *      is sent only after step 1's work: should A die, the server releases A's lock and
 *      the queued rename runs, which is then what the final catch-up expected;
 *   3. once B is seen waiting for the metadata lock (polled without pause), A runs UNLOCK
 *      TABLES. An exclusive metadata-lock request has priority over the waiting readers
 *      and writers, so B's rename runs before any of them; they then resolve the name to
 *      the new table, which carries its triggers.
 *   4. after the swap (swapGenerations): the outgoing tables' triggers are dropped
 *      (backups carry none).
 *
 * So no write can land between the final catch-up and the rename, no reader sees a
 * missing or partial table, and no write to the new live table misses a trigger. If the
 * rename fails, moved triggers and foreign keys go back before the lock is released and
 * the copies are dropped from the incoming tables. A killed run leaves copies on the
 * incoming tables (before the rename) or live's old triggers on the backup (after it):
 * the next run drops every trigger of a companion table that live has under either name,
 * and moves any other back to live (`moveTriggers`, the moves of step 1); the foreign keys
 * recorded before the lock come back with `restoreForeignKeys`. A killed *server* (in step
 * 4's drops, say) can leave a trigger name orphaned: no table holds it, yet it cannot be
 * created again; `createTriggers` clears such a name and retries (orphan-triggers.ts).
 */
import { wrap } from '../../errors.js';
import { applierSessionSql } from '../../merge/clock-layout.js';
import type { DbRow, SqlDialect } from '../dialect.js';
import { MYSQL_APPLIER_VARIABLE } from './db.js';
import { mysqlDialect } from './dialect.js';
import type { ForeignKeyDef } from './foreign-keys.js';
import { moveForeignKeys, restoreForeignKeys } from './foreign-keys.js';
import { dropOrphanTriggerNames, TRIGGER_ALREADY_EXISTS } from './orphan-triggers.js';
import { otherGenerationName } from './trigger-names.js';

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
  /** Triggers to move from → to under the lock (before the rename): those precreateTriggers could not copy. */
  moveTriggers: { from: TableRef; to: TableRef; defs: TriggerDef[] }[];
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
const triggerRef = (schema: string, name: string) => `${schema ? `${d.quote(schema)}.` : ''}${d.quote(name)}`;

export async function triggersOf(s: SwapRunner, t: TableRef): Promise<TriggerDef[]> {
  const rows = await s.query(
    `SELECT TRIGGER_NAME AS name, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event, ACTION_STATEMENT AS stmt, SQL_MODE AS mode
       FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ${schemaExpr(t)} AND EVENT_OBJECT_TABLE = ?
      ORDER BY ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`, [...schemaParams(t), t.name]);
  return rows.map((r) => ({ name: String(r.name), timing: String(r.timing), event: String(r.event), statement: String(r.stmt), sqlMode: String(r.mode) }));
}

const sameDef = (a: TriggerDef, b: TriggerDef) =>
  a.name === b.name && a.timing === b.timing && a.event === b.event && a.statement === b.statement && a.sqlMode === b.sqlMode;

/**
 * CREATE each trigger on `to` under `nameOf(def)` (its own name by default), with its body and sql_mode.
 *
 * A CREATE that fails with "already exists" for a name no table holds met a name orphaned by
 * a crash (orphan-triggers.ts): the orphan is dropped and the CREATE runs once more. A
 * trigger that really exists is never dropped here.
 */
export async function createTriggers(s: SwapRunner, defs: readonly TriggerDef[], to: TableRef, nameOf: (t: TriggerDef) => string = (t) => t.name): Promise<void> {
  if (defs.length === 0) return;
  const [mode] = await s.query('SELECT @@SESSION.sql_mode AS m');
  try {
    for (const t of defs) {
      if (!/^(BEFORE|AFTER)$/.test(t.timing) || !/^(INSERT|UPDATE|DELETE)$/.test(t.event)) throw new Error(`unexpected trigger timing/event ${t.timing} ${t.event}`);
      await s.execute('SET SESSION sql_mode = ?', [t.sqlMode]);
      const name = nameOf(t);
      const create = `CREATE TRIGGER ${triggerRef(to.schema, name)} ${t.timing} ${t.event} ON ${d.qualified(to)} FOR EACH ROW ${t.statement}`;
      try {
        await s.execute(create);
      } catch (e) {
        if ((e as { errno?: unknown }).errno !== TRIGGER_ALREADY_EXISTS) throw e;
        if ((await dropOrphanTriggerNames(s, to.schema, [name])).length === 0) throw e;
        await s.execute(create);
      }
    }
  } finally {
    await s.execute('SET SESSION sql_mode = ?', [String(mode?.m ?? '')]);
  }
}

/** DROP the named triggers (each lives in `schema`). */
export async function dropTriggers(s: SwapRunner, schema: string, names: readonly string[]): Promise<void> {
  for (const n of names) await s.execute(`DROP TRIGGER IF EXISTS ${triggerRef(schema, n)}`);
}

/** DROP the triggers from their table and CREATE them on `to` (same names, bodies, sql_mode). */
export async function moveTriggers(s: SwapRunner, defs: readonly TriggerDef[], to: TableRef): Promise<void> {
  if (defs.length === 0) return;
  try {
    for (const t of defs) {
      await dropTriggers(s, to.schema, [t.name]);
      await createTriggers(s, [t], to);
    }
  } catch (e) {
    throw wrap(`unable to move triggers to ${d.qualified(to)}`, e);
  }
}

/**
 * A body that does nothing in an applier session: its first statement (after comments and
 * declarations) is `IF NOT (<applier session>) THEN` and its last one that IF's END IF.
 * Only such triggers are copied before the lock: the reconciler's writes to the incoming
 * table under the lock are made as an applier session and must not fire them.
 */
export function skipsApplierSessions(statement: string): boolean {
  const guard = `IF NOT (${applierSessionSql(d)}) THEN`;
  const body = statement.trim();
  const head = /^BEGIN\s+(?:--[^\n]*\n\s*)*(?:DECLARE\s[^;]*;\s*)*/i.exec(body);
  return head !== null && body.startsWith(guard, head[0].length) && /END IF;\s*END$/i.test(body);
}

export interface PrecreatedTriggers {
  from: TableRef;
  to: TableRef;
  /** `from`'s triggers (minus the skipped ones) as they were when copied. */
  source: TriggerDef[];
  /** Names of the copies on `to`. */
  copies: string[];
  /** Triggers that could not be copied: moved under the lock. */
  toMove: TriggerDef[];
}

/**
 * Before the swap's lock: give `to` copies of `from`'s fieldsync triggers under their
 * other name (`bases`: the base names of the table's fieldsync triggers, trigger-names.ts).
 * Re-run safe: copies already on `to` with the right definition stay, any other trigger
 * of `to` is dropped first (a copy of an earlier attempt whose original changed since).
 */
export async function precreateTriggers(s: SwapRunner, from: TableRef, to: TableRef, bases: readonly string[], skip: readonly string[]): Promise<PrecreatedTriggers> {
  const source = (await triggersOf(s, from)).filter((t) => !skip.includes(t.name));
  const copy: TriggerDef[] = [];
  const toMove: TriggerDef[] = [];
  for (const t of source) {
    const name = otherGenerationName(t.name, bases);
    if (name !== undefined && skipsApplierSessions(t.statement)) copy.push({ ...t, name });
    else toMove.push(t);
  }
  const present = await triggersOf(s, to);
  const keep = present.filter((p) => copy.some((c) => sameDef(c, p)));
  await dropTriggers(s, to.schema, present.filter((p) => !keep.includes(p)).map((p) => p.name));
  try {
    await createTriggers(s, copy.filter((c) => !keep.some((k) => sameDef(c, k))), to);
  } catch (e) {
    throw wrap(`unable to copy the triggers of ${d.qualified(from)} to ${d.qualified(to)}`, e);
  }
  return { from, to, source, copies: copy.map((c) => c.name), toMove };
}

export function renameSql(renames: readonly [TableRef, TableRef][]): string {
  return `RENAME TABLE ${renames.map(([a, b]) => `${d.qualified(a)} TO ${d.qualified(b)}`).join(', ')}`;
}

/**
 * Run the swap. `a` holds LOCK TABLES, `b` issues the RENAME, `watch` (a third
 * connection) sees when b waits for the metadata lock. `a` leaves as an applier session:
 * the caller closes it.
 */
export async function mysqlSwap(a: SwapRunner, b: SwapRunner, watch: SwapRunner, plan: MysqlSwapPlan): Promise<{ lockedMs: number; renameMs: number }> {
  await a.execute(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(plan.lockTimeoutMs / 1000))}`);
  await b.execute(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(plan.lockTimeoutMs / 1000))}`);
  // The incoming tables carry their triggers already: A's writes (the final catch-up)
  // must not fire them, as no applier write does.
  await a.execute(`SET ${MYSQL_APPLIER_VARIABLE} = 1`);
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
  let rename: Promise<void> | undefined;
  let renameError: unknown;
  let settled = false;
  try {
    if (plan.underLock) await plan.underLock(a);
    step('under lock');
    const moves = plan.moveTriggers.filter((m) => m.defs.length > 0);
    if (moves.length) {
      moved = true;
      for (const m of moves) await moveTriggers(a, m.defs, m.to);
      step('move triggers');
    }
    const fkMoves = plan.moveForeignKeys.filter((m) => m.fks.length > 0);
    if (fkMoves.length) {
      fksTouched = true;
      for (const m of fkMoves) await moveForeignKeys(a, m.fks, m.from, m.to);
      step('move foreign keys');
    }
    const renameStart = performance.now();
    rename = b.execute(renameSql(plan.renames)).then(
      () => { settled = true; },
      (e: unknown) => { settled = true; renameError = e; });
    // The rename must be queued behind our lock before we release it (see the header).
    // Polled back to back: each look is one round trip, and any pause would be lock time.
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
    // A rename still queued must not run once the lock goes: cancel it and wait for it to
    // end (it cannot get its lock while A holds it, so at worst its lock wait times out).
    if (rename && !settled) {
      await watch.execute(`KILL QUERY ${Number(b.serverId)}`).catch(() => undefined);
      await rename;
    }
    // Still holding the lock (or released after a failed rename): put the moved triggers
    // and the foreign keys back on live.
    if (moved || fksTouched) {
      await a.execute(`LOCK TABLES ${lockList}`).catch(() => undefined);
      if (moved) for (const m of plan.moveTriggers) await moveTriggers(a, m.defs, m.from).catch(() => undefined);
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
