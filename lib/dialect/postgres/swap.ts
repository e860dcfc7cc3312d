/**
 * PostgreSQL atomic swap of table generations (refresh and rollback).
 *
 * Before the swap, the incoming tables receive the definition the outgoing ones carry
 * beyond what `LIKE … INCLUDING ALL` copied (columns, defaults, constraints, indexes):
 * triggers (created disabled), grants, owner, outgoing foreign keys (NOT VALID).
 * Then ONE transaction: LOCK TABLE … IN ACCESS EXCLUSIVE MODE on every table involved,
 * the caller's final work under the lock (the refresh's last window catch-up), enabling
 * the copied triggers (re-copied if live's changed meanwhile), the renames, COMMIT. Readers and writers
 * that queued behind the lock re-resolve the table name after it is released (PostgreSQL
 * repeats the name lookup when invalidations arrived while waiting), so they see the new
 * generation, never a missing or half-filled table. A write cannot land between the
 * final catch-up and the renames because the lock is held across both.
 *
 * The lock waits at most `lockTimeoutMs` (a queued ACCESS EXCLUSIVE request blocks new
 * readers too, so it must not wait long behind a slow query); a timeout or deadlock
 * rolls back and is retried with backoff by the caller's retry helper.
 *
 * Foreign keys are added NOT VALID (no scan) and validated after the commit, which takes
 * only a SHARE UPDATE EXCLUSIVE lock.
 */
import { wrap } from '../../errors.js';
import type { DbRow, SqlDialect } from '../dialect.js';
import { postgresDialect } from './dialect.js';

export interface TableRef { schema: string; name: string }

export interface SwapRunner {
  readonly dialect: SqlDialect;
  query(sql: string, params?: readonly unknown[]): Promise<DbRow[]>;
  execute(sql: string, params?: readonly unknown[]): Promise<number>;
}

export interface PgSwapPlan {
  /** Every table to lock (all of them are renamed or read under the lock). */
  lock: TableRef[];
  /** Renames in order: table → new name (same schema). */
  renames: [TableRef, string][];
  /** Definitions prepared on the incoming tables (pgPrepareDefinition); their triggers are enabled under the lock. */
  prepared: PreparedDefinition[];
  /** Data tables (outgoing → incoming) whose sequences change hands under the lock (carrySequences). */
  sequences: [TableRef, TableRef][];
  /** Trigger names never copied (the refresh's own window-log triggers). */
  skipTriggers: string[];
  /** Runs under the lock before the definitions and renames. */
  underLock?: (tx: SwapRunner) => Promise<void>;
  lockTimeoutMs: number;
}

export interface SwapTiming {
  /** Time the exclusive lock was held (readers waited at most this long). */
  lockedMs: number;
  /** Time of the renames alone. */
  renameMs: number;
}

const d = postgresDialect;

async function printedName(tx: SwapRunner, t: TableRef): Promise<string> {
  const rows = await tx.query(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::regclass`,
    [d.qualified(t)]);
  return String(rows[0]!.name);
}

interface TriggerRow { name: string; def: string; enabled: string }

async function triggersOf(tx: SwapRunner, t: TableRef, skip: readonly string[]): Promise<TriggerRow[]> {
  const rows = await tx.query(`SELECT tgname, pg_get_triggerdef(oid) AS def, tgenabled FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal ORDER BY tgname`, [d.qualified(t)]);
  return rows.map((r) => ({ name: String(r.tgname), def: String(r.def), enabled: String(r.tgenabled) })).filter((r) => !skip.includes(r.name));
}

/** The definition of a table's triggers, grants, owner and FKs, prepared on the incoming table. */
export interface PreparedDefinition {
  from: TableRef;
  to: TableRef;
  /** The outgoing table's triggers as they were copied (created DISABLED on `to`). */
  triggers: TriggerRow[];
  /** FKs added NOT VALID that were valid on `from` (validated after the swap). */
  validate: string[];
}

function retarget(def: string, fromName: string, to: TableRef, trigger: string): string {
  const marker = ` ON ${fromName} `;
  const at = def.indexOf(marker);
  if (at < 0) throw new Error(`unable to copy trigger ${trigger}: its definition does not name ${fromName}`);
  return `${def.slice(0, at)} ON ${d.qualified(to)} ${def.slice(at + marker.length)}`;
}

const ENABLE: Record<string, string | undefined> = { O: 'ENABLE', A: 'ENABLE ALWAYS', R: 'ENABLE REPLICA', D: undefined };

/**
 * Before the swap (no lock on live): create `from`'s triggers on `to`, DISABLED so they
 * do not fire on the last catch-up's writes, and give `to` its grants, owner and
 * outgoing foreign keys (NOT VALID: no scan). The swap then only enables the triggers.
 */
export async function pgPrepareDefinition(tx: SwapRunner, from: TableRef, to: TableRef, skipTriggers: readonly string[]): Promise<PreparedDefinition> {
  const fromName = await printedName(tx, from);
  const triggers = await triggersOf(tx, from, skipTriggers);
  for (const t of triggers) {
    await tx.execute(retarget(t.def, fromName, to, t.name));
    await tx.execute(`ALTER TABLE ${d.qualified(to)} DISABLE TRIGGER ${d.quote(t.name)}`);
  }
  const owner = await tx.query(`SELECT pg_get_userbyid(relowner) AS owner, current_user AS me FROM pg_class WHERE oid = $1::regclass`, [d.qualified(from)]);
  if (owner[0] && owner[0].owner !== owner[0].me) await tx.execute(`ALTER TABLE ${d.qualified(to)} OWNER TO ${d.quote(String(owner[0].owner))}`);
  const grants = await tx.query(
    `SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS grantee, a.privilege_type, a.is_grantable
       FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1::regclass AND a.grantee <> c.relowner`, [d.qualified(from)]);
  for (const g of grants) {
    const priv = String(g.privilege_type);
    if (!/^[A-Z ]+$/.test(priv)) continue;
    const grantee = g.grantee === 'PUBLIC' ? 'PUBLIC' : d.quote(String(g.grantee));
    await tx.execute(`GRANT ${priv} ON ${d.qualified(to)} TO ${grantee}${g.is_grantable ? ' WITH GRANT OPTION' : ''}`);
  }
  const fks = await tx.query(`SELECT conname, pg_get_constraintdef(oid) AS def, convalidated FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f' ORDER BY conname`, [d.qualified(from)]);
  const validate: string[] = [];
  for (const fk of fks) {
    const def = String(fk.def);
    await tx.execute(`ALTER TABLE ${d.qualified(to)} ADD CONSTRAINT ${d.quote(String(fk.conname))} ${def}${/NOT VALID/.test(def) ? '' : ' NOT VALID'}`);
    if (fk.convalidated) validate.push(String(fk.conname));
  }
  return { from, to, triggers, validate };
}

/**
 * Under the swap's lock: enable the prepared triggers with their original modes, in one
 * ALTER TABLE. If live's triggers changed since they were prepared (DDL during the
 * refresh), the copies are replaced by fresh ones first.
 */
async function enablePrepared(tx: SwapRunner, p: PreparedDefinition, skipTriggers: readonly string[]): Promise<void> {
  const now = await triggersOf(tx, p.from, skipTriggers);
  const same = now.length === p.triggers.length && now.every((t, i) => t.name === p.triggers[i]!.name && t.def === p.triggers[i]!.def && t.enabled === p.triggers[i]!.enabled);
  if (!same) {
    for (const t of await triggersOf(tx, p.to, [])) await tx.execute(`DROP TRIGGER ${d.quote(t.name)} ON ${d.qualified(p.to)}`);
    const fromName = await printedName(tx, p.from);
    for (const t of now) {
      await tx.execute(retarget(t.def, fromName, p.to, t.name));
      await tx.execute(`ALTER TABLE ${d.qualified(p.to)} DISABLE TRIGGER ${d.quote(t.name)}`);
    }
  }
  const actions = now.filter((t) => ENABLE[t.enabled]).map((t) => `${ENABLE[t.enabled]!} TRIGGER ${d.quote(t.name)}`);
  if (actions.length) await tx.execute(`ALTER TABLE ${d.qualified(p.to)} ${actions.join(', ')}`);
}

/**
 * Sequences follow the live generation. A serial column's sequence is OWNED BY the
 * outgoing table, whose default the incoming one (LIKE … INCLUDING ALL) shares: it is
 * handed to the incoming table, or dropping the backup later would drop it. An identity
 * column got its own new sequence on the incoming table: it continues from the outgoing
 * one's position. Under the swap's lock, so no value is handed out twice.
 */
async function carrySequences(tx: SwapRunner, from: TableRef, to: TableRef): Promise<void> {
  const owned = await tx.query(
    `SELECT quote_ident(sn.nspname) || '.' || quote_ident(sq.relname) AS seq, a.attname AS col, a.attidentity <> '' AS identity
       FROM pg_depend dep
       JOIN pg_class sq ON sq.oid = dep.objid AND sq.relkind = 'S'
       JOIN pg_namespace sn ON sn.oid = sq.relnamespace
       JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
      WHERE dep.refobjid = $1::regclass AND dep.classid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')`, [d.qualified(from)]);
  for (const o of owned) {
    const col = String(o.col);
    if (o.identity) {
      await tx.query(`SELECT setval(pg_get_serial_sequence($1, $2), s.last_value, s.is_called) FROM ${String(o.seq)} s`, [d.qualified(to), col]);
    } else {
      await tx.execute(`ALTER SEQUENCE ${String(o.seq)} OWNED BY ${d.qualified(to)}.${d.quote(col)}`);
    }
  }
}

/** Run the swap transaction once (the caller retries retriable failures). */
export async function pgSwap(tx: SwapRunner, plan: PgSwapPlan): Promise<SwapTiming> {
  await tx.execute(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(plan.lockTimeoutMs))}`);
  try {
    await tx.execute(`LOCK TABLE ${plan.lock.map((t) => d.qualified(t)).join(', ')} IN ACCESS EXCLUSIVE MODE`);
  } catch (e) {
    throw wrap(`unable to lock ${plan.lock.map((t) => d.qualified(t)).join(', ')} for the swap`, e);
  }
  const locked = performance.now();
  if (plan.underLock) await plan.underLock(tx);
  for (const p of plan.prepared) await enablePrepared(tx, p, plan.skipTriggers);
  for (const [from, to] of plan.sequences) await carrySequences(tx, from, to);
  const renameStart = performance.now();
  for (const [from, name] of plan.renames) await tx.execute(`ALTER TABLE ${d.qualified(from)} RENAME TO ${d.quote(name)}`);
  const end = performance.now();
  return { lockedMs: end - locked, renameMs: end - renameStart };
}

/** After the commit: validate the foreign keys that were added NOT VALID (no exclusive lock). */
export async function pgValidateForeignKeys(tx: SwapRunner, table: TableRef, names: readonly string[]): Promise<void> {
  for (const n of names) {
    try {
      await tx.execute(`ALTER TABLE ${d.qualified(table)} VALIDATE CONSTRAINT ${d.quote(n)}`);
    } catch (e) {
      throw wrap(`unable to validate foreign key ${n} of ${d.qualified(table)}`, e);
    }
  }
}

/** Foreign keys of other tables that reference `t` (a swap would leave them on the backup). */
export async function pgReferencingForeignKeys(tx: SwapRunner, t: TableRef): Promise<string[]> {
  const rows = await tx.query(`SELECT conname, conrelid::regclass::text AS child FROM pg_constraint WHERE confrelid = $1::regclass AND contype = 'f' AND conrelid <> confrelid`, [d.qualified(t)]);
  return rows.map((r) => `${String(r.child)}.${String(r.conname)}`);
}
