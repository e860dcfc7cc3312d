/**
 * PostgreSQL atomic swap of table generations (refresh and rollback).
 *
 * Before the swap, the incoming tables receive the definition the outgoing ones carry
 * beyond what `LIKE … INCLUDING ALL` copied (columns, defaults, constraints, indexes):
 * triggers, grants, owner, outgoing foreign keys (NOT VALID). A trigger that skips
 * applier sessions in its WHEN clause (fieldsync's stamp and outbox triggers) is copied in
 * its final state (enabled, or disabled as on live): the swap's transaction is an applier
 * session, so it does not fire for the reconciler's own writes under the lock. Any other
 * trigger is copied DISABLED and enabled under the lock (it must not fire on the last
 * catch-up's writes).
 *
 * Then ONE transaction, marked as an applier session:
 *   1. live's triggers and owned sequences are read, with a fingerprint of their catalog
 *      rows (before the lock: no lock time);
 *   2. LOCK TABLE … IN ACCESS EXCLUSIVE MODE on every table involved;
 *   3. the caller's final work under the lock (the refresh's last window catch-up);
 *   4. ONE batch, one round trip: a guard that fails the transaction when the fingerprint
 *      moved between 1 and 2 (the attempt is then retried, and a trigger changed since it
 *      was copied is copied again), the DDL that completes the definition (copies waiting
 *      disabled are enabled, serial sequences change hands; identity sequences are set
 *      just before), and the renames;
 *   5. COMMIT.
 * Readers and writers that queued behind the lock re-resolve the table name after it is
 * released (PostgreSQL repeats the name lookup when invalidations arrived while waiting),
 * so they see the new generation, never a missing or half-filled table. A write cannot
 * land between the final catch-up and the renames because the lock is held across both.
 * The lock time reported runs from the granted lock to the end of the COMMIT, when the
 * waiters go on.
 *
 * The lock waits at most `lockTimeoutMs` (a queued ACCESS EXCLUSIVE request blocks new
 * readers too, so it must not wait long behind a slow query); a timeout or deadlock
 * rolls back and is retried with backoff by the caller's retry helper.
 *
 * Foreign keys are added NOT VALID (no scan) and validated after the commit, which takes
 * only a SHARE UPDATE EXCLUSIVE lock.
 */
import { FieldsyncError, wrap } from '../../errors.js';
import type { DbRow, SqlDialect } from '../dialect.js';
import { PG_APPLIER_SETTING } from './db.js';
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
  /** Definitions prepared on the incoming tables (pgPrepareDefinition); checked and completed under the lock. */
  prepared: PreparedDefinition[];
  /** Data tables (outgoing → incoming) whose sequences change hands under the lock (carrySequences). */
  sequences: [TableRef, TableRef][];
  /** Trigger names never copied (the refresh's own window-log triggers). */
  skipTriggers: string[];
  /** Runs under the lock before the definitions and renames. */
  underLock?: (tx: SwapRunner) => Promise<void>;
  lockTimeoutMs: number;
  /** Timing of each step under the lock (debug logging). */
  onStep?: (step: string, ms: number) => void;
}

export interface SwapTiming {
  /** performance.now() when the exclusive lock was granted: the lock time ends with the COMMIT, which the caller runs. */
  lockedAt: number;
  /** performance.now() when the swap's statements were done (the COMMIT follows). */
  doneAt: number;
  /** Time of the renames alone. */
  renameMs: number;
}

const d = postgresDialect;

/** A string literal for DDL sent as one batch (no bind parameters in a multi-statement query). */
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

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
  /** `from` as PostgreSQL prints it in trigger definitions. */
  fromName: string;
  /** The outgoing table's triggers as they were copied. */
  triggers: TriggerRow[];
  /** Copies already in their final state (they skip applier sessions); the others are DISABLED until the swap. */
  ready: string[];
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
 * A row trigger whose WHEN clause is exactly "not in an applier session" (as PostgreSQL
 * prints applierSessionSql): fieldsync's stamp and outbox triggers. Such a copy may be
 * enabled before the swap: the swap's writes to the incoming table are an applier
 * session's. Anything else (other conditions, statement triggers) is not recognised.
 */
export function pgSkipsApplierSessions(def: string): boolean {
  return / FOR EACH ROW WHEN \(\(NOT \(COALESCE\(current_setting\('fieldsync\.applier'::text, true\), ''::text\) = 'on'::text\)\)\) EXECUTE FUNCTION /.test(def);
}

async function copyTrigger(tx: SwapRunner, t: TriggerRow, fromName: string, to: TableRef): Promise<boolean> {
  await tx.execute(retarget(t.def, fromName, to, t.name));
  // copies that skip applier sessions stay as live has them (enabled, or disabled)
  const ready = pgSkipsApplierSessions(t.def) && (t.enabled === 'O' || t.enabled === 'D');
  if (!ready || t.enabled === 'D') await tx.execute(`ALTER TABLE ${d.qualified(to)} DISABLE TRIGGER ${d.quote(t.name)}`);
  return ready;
}

/**
 * Before the swap (no lock on live): create `from`'s triggers on `to` (in their final
 * state when they skip applier sessions, else DISABLED so they do not fire on the last
 * catch-up's writes), and give `to` its grants, owner and outgoing foreign keys (NOT
 * VALID: no scan).
 */
export async function pgPrepareDefinition(tx: SwapRunner, from: TableRef, to: TableRef, skipTriggers: readonly string[]): Promise<PreparedDefinition> {
  const fromName = await printedName(tx, from);
  const triggers = await triggersOf(tx, from, skipTriggers);
  const ready: string[] = [];
  for (const t of triggers) if (await copyTrigger(tx, t, fromName, to)) ready.push(t.name);
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
  return { from, to, fromName, triggers, ready, validate };
}

interface OwnedSequence { seq: string; col: string; identity: boolean }

/**
 * A fingerprint of the catalog rows readLive reads, given SQL for the oid arrays of the
 * prepared tables and of the outgoing data tables: every change to a trigger (create,
 * replace, enable/disable, rename, drop) or to a sequence's owner writes a new row
 * version, so an equal fingerprint means an equal definition.
 */
const fingerprintSql = (tables: string, owners: string) => `coalesce((SELECT string_agg(t.oid::text || '/' || t.xmin::text, ',' ORDER BY t.oid) FROM pg_trigger t WHERE t.tgrelid = ANY(${tables})), '')
  || ';' || coalesce((SELECT string_agg(dep.objid::text || '/' || dep.refobjsubid::text || '/' || dep.xmin::text, ',' ORDER BY dep.objid, dep.refobjsubid) FROM pg_depend dep
       WHERE dep.refclassid = 'pg_class'::regclass AND dep.refobjid = ANY(${owners}) AND dep.classid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')), '')`;

interface LiveDefinition {
  /** fingerprintSql of what was read (same statement, same snapshot). */
  fingerprint: string;
  /** oids of the prepared tables and of the outgoing data tables. */
  oids: { tables: string[]; owners: string[] };
  triggers: Map<number, TriggerRow[]>;
  owned: Map<number, OwnedSequence[]>;
}

/** The triggers of each prepared table and the sequences owned by each outgoing data table, with their fingerprint (one statement, one snapshot). */
async function readLive(tx: SwapRunner, prepared: readonly PreparedDefinition[], sequences: readonly [TableRef, TableRef][]): Promise<LiveDefinition> {
  const tables = '$1::text[]::regclass[]::oid[]';
  const owners = '$2::text[]::regclass[]::oid[]';
  const rows = await tx.query(
    `SELECT 'trigger' AS kind, c.i, t.tgname::text AS name, pg_get_triggerdef(t.oid) AS def, t.tgenabled::text AS enabled, NULL::text AS seq, NULL::text AS col, NULL::boolean AS ident
       FROM unnest(${tables}) WITH ORDINALITY AS c(rel, i) JOIN pg_trigger t ON t.tgrelid = c.rel AND NOT t.tgisinternal
     UNION ALL
     SELECT 'sequence', c.i, NULL, NULL, NULL, quote_ident(sn.nspname) || '.' || quote_ident(sq.relname), a.attname::text, a.attidentity <> ''
       FROM unnest(${owners}) WITH ORDINALITY AS c(rel, i)
       JOIN pg_depend dep ON dep.refclassid = 'pg_class'::regclass AND dep.refobjid = c.rel AND dep.classid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')
       JOIN pg_class sq ON sq.oid = dep.objid AND sq.relkind = 'S'
       JOIN pg_namespace sn ON sn.oid = sq.relnamespace
       JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
     UNION ALL
     SELECT 'fingerprint', 0, ${fingerprintSql(tables, owners)}, array_to_string(${tables}, ','), array_to_string(${owners}, ','), NULL, NULL, NULL`,
    [prepared.map((p) => d.qualified(p.from)), sequences.map(([from]) => d.qualified(from))]);
  const out: LiveDefinition = { fingerprint: '', oids: { tables: [], owners: [] }, triggers: new Map(), owned: new Map() };
  const list = (v: unknown) => (v ? String(v).split(',') : []);
  for (const r of rows) {
    const i = Number(r.i) - 1;
    if (r.kind === 'fingerprint') {
      out.fingerprint = String(r.name);
      out.oids = { tables: list(r.def), owners: list(r.enabled) };
    } else if (r.kind === 'trigger') {
      out.triggers.set(i, [...(out.triggers.get(i) ?? []), { name: String(r.name), def: String(r.def), enabled: String(r.enabled) }]);
    } else {
      out.owned.set(i, [...(out.owned.get(i) ?? []), { seq: String(r.seq), col: String(r.col), identity: r.ident === true }]);
    }
  }
  return out;
}

const DEFINITION_CHANGED = 'fieldsync: the definition of the live tables changed before the swap took its lock';

/**
 * The first statement of the swap's batch: it fails the transaction (the renames with it)
 * when live's fingerprint is not the one read before the lock. It holds only numbers read
 * from the catalog (checked here), so it needs no bind parameters.
 */
function guardSql(live: LiveDefinition): string {
  const { tables, owners } = live.oids;
  if (![...tables, ...owners].every((o) => /^\d+$/.test(o)) || !/^[\d/,;]*$/.test(live.fingerprint)) {
    throw new Error(`unexpected catalog values in the swap's guard: ${live.fingerprint}`);
  }
  const oids = (xs: readonly string[]) => `'{${xs.join(',')}}'::oid[]`;
  return `DO $fs_guard$ BEGIN
  IF (${fingerprintSql(oids(tables), oids(owners))}) IS DISTINCT FROM '${live.fingerprint}' THEN
    RAISE EXCEPTION '${DEFINITION_CHANGED}';
  END IF;
END $fs_guard$`;
}

const byName = (x: TriggerRow, y: TriggerRow) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);

function sameTriggers(a: readonly TriggerRow[], b: readonly TriggerRow[]): boolean {
  const x = [...a].sort(byName);
  const y = [...b].sort(byName);
  return x.length === y.length && x.every((t, i) => t.name === y[i]!.name && t.def === y[i]!.def && t.enabled === y[i]!.enabled);
}

/**
 * Under the swap's lock: the statements that complete a prepared table's triggers (enable
 * the copies that wait DISABLED, with their original modes, in one ALTER TABLE). If
 * live's triggers changed since they were copied (DDL during the refresh), the copies are
 * replaced by fresh ones first.
 */
async function completeTriggers(tx: SwapRunner, p: PreparedDefinition, now: readonly TriggerRow[]): Promise<string[]> {
  let waiting = p.triggers.filter((t) => !p.ready.includes(t.name));
  if (!sameTriggers(now, p.triggers)) {
    for (const t of await triggersOf(tx, p.to, [])) await tx.execute(`DROP TRIGGER ${d.quote(t.name)} ON ${d.qualified(p.to)}`);
    waiting = [];
    for (const t of now) if (!(await copyTrigger(tx, t, p.fromName, p.to))) waiting.push(t);
  }
  const actions = waiting.filter((t) => ENABLE[t.enabled]).map((t) => `${ENABLE[t.enabled]!} TRIGGER ${d.quote(t.name)}`);
  return actions.length ? [`ALTER TABLE ${d.qualified(p.to)} ${actions.join(', ')}`] : [];
}

/**
 * Sequences follow the live generation. A serial column's sequence is OWNED BY the
 * outgoing table, whose default the incoming one (LIKE … INCLUDING ALL) shares: it is
 * handed to the incoming table, or dropping the backup later would drop it. An identity
 * column got its own new sequence on the incoming table: it continues from the outgoing
 * one's position. Under the swap's lock, so no value is handed out twice. Returns the
 * DDL to run with the renames.
 */
async function carrySequences(tx: SwapRunner, owned: readonly OwnedSequence[], to: TableRef): Promise<string[]> {
  const ddl: string[] = [];
  for (const o of owned) {
    if (o.identity) {
      await tx.query(`SELECT setval(pg_get_serial_sequence($1, $2), s.last_value, s.is_called) FROM ${o.seq} s`, [d.qualified(to), o.col]);
    } else {
      ddl.push(`ALTER SEQUENCE ${o.seq} OWNED BY ${d.qualified(to)}.${d.quote(o.col)}`);
    }
  }
  return ddl;
}

/** Run the swap transaction once (the caller retries retriable failures, and commits). */
export async function pgSwap(tx: SwapRunner, plan: PgSwapPlan): Promise<SwapTiming> {
  await tx.execute(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(plan.lockTimeoutMs))}`);
  // The incoming tables' trigger copies that skip applier sessions are enabled already:
  // this transaction's writes (the final catch-up) must not fire them.
  await tx.execute(`SET LOCAL ${PG_APPLIER_SETTING} = 'on'`);
  // Live's triggers and owned sequences, read before the lock: under it, the first
  // statement of the batch checks that they are still so (nothing can change them once
  // the lock is held), so the read costs no lock time.
  const live = await readLive(tx, plan.prepared, plan.sequences);
  // The guard once before the lock, where it passes: the first DO block of a connection
  // costs several milliseconds (PL/pgSQL's set-up), which must not be lock time.
  await tx.execute(guardSql(live));
  try {
    await tx.execute(`LOCK TABLE ${plan.lock.map((t) => d.qualified(t)).join(', ')} IN ACCESS EXCLUSIVE MODE`);
  } catch (e) {
    throw wrap(`unable to lock ${plan.lock.map((t) => d.qualified(t)).join(', ')} for the swap`, e);
  }
  const locked = performance.now();
  let mark = locked;
  const step = (name: string) => { const now = performance.now(); plan.onStep?.(name, now - mark); mark = now; };
  if (plan.underLock) await plan.underLock(tx);
  step('under lock');
  const ddl: string[] = [guardSql(live)];
  for (const [i, p] of plan.prepared.entries()) {
    ddl.push(...await completeTriggers(tx, p, (live.triggers.get(i) ?? []).filter((t) => !plan.skipTriggers.includes(t.name))));
  }
  for (const [i, [, to]] of plan.sequences.entries()) ddl.push(...await carrySequences(tx, live.owned.get(i) ?? [], to));
  step('definition');
  const renameStart = performance.now();
  // one round trip: the guard, then DDL of quoted identifiers only
  ddl.push(...plan.renames.map(([from, name]) => `ALTER TABLE ${d.qualified(from)} RENAME TO ${d.quote(name)}`));
  try {
    await tx.execute(ddl.join(';\n'));
  } catch (e) {
    if (e instanceof Error && e.message.includes(DEFINITION_CHANGED)) throw new FieldsyncError(DEFINITION_CHANGED, { retriable: true, cause: e });
    throw e;
  }
  step('rename');
  return { lockedAt: locked, doneAt: mark, renameMs: mark - renameStart };
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
