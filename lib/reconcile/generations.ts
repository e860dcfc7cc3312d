/**
 * Generations of a live table (names.ts): finding backups, pruning them, cleaning what a
 * killed run left behind, and the dialect-specific atomic swap used by refresh and
 * rollback (lib/dialect/{postgres,mysql}/swap.ts).
 *
 * Leftovers of a dead run, cleaned at the start of the next run (which holds the table's
 * lock, so the dead run cannot still be working):
 *   - MySQL only: triggers found on a stage or backup table (after a completed swap
 *     backups carry none on MySQL, so anything found there is a leftover). A swap copies
 *     live's fieldsync triggers to the incoming table under their other name before its
 *     lock, and drops the outgoing table's triggers after the RENAME
 *     (lib/dialect/mysql/swap.ts, trigger-names.ts); a run killed in between leaves copies
 *     on the incoming table or the old ones on the backup: each trigger live has under
 *     either name is dropped from the companion. Any other one was being moved under the
 *     lock (a trigger that cannot be copied) when the run died, or was created on live
 *     after the copies were made: it goes to live (`settleTriggers`, which a completed
 *     swap applies to the backup at once).
 *   - MySQL only: a fieldsync trigger on live under both its names (an installer killed
 *     between creating the base name and dropping the other): the other one is dropped.
 *   - MySQL only: the foreign keys recorded in T__fs_fk. The swap records live's outgoing
 *     FKs before its lock and moves them to the incoming table under it; a run killed in
 *     between leaves some on the incoming table or (between the two ALTERs) on no table.
 *     Every recorded FK live lacks goes back on live, then the record is dropped
 *     (lib/dialect/mysql/foreign-keys.ts).
 *   - the window-log triggers and log table (triggers first: they write to the table);
 *   - the stage tables.
 * The live generation itself is only ever changed by the atomic swap, so a kill at any
 * moment leaves it intact.
 */
import type { Db } from '../dialect/dialect.js';
import type { ForeignKeyDef } from '../dialect/mysql/foreign-keys.js';
import {
  dropForeignKeyRecord, foreignKeyOrphans, foreignKeysOf, plainForeignKeyIndexes, readForeignKeyRecord, restoreForeignKeys, writeForeignKeyRecord,
} from '../dialect/mysql/foreign-keys.js';
import { mysqlTriggerBaseNames } from '../dialect/mysql/outbox-ddl.js';
import { stampTriggerBaseNames } from '../dialect/mysql/stamp-triggers.js';
import type { PrecreatedTriggers } from '../dialect/mysql/swap.js';
import { dropTriggers, moveTriggers, mysqlSwap, precreateTriggers, triggersOf } from '../dialect/mysql/swap.js';
import { otherGenerationName } from '../dialect/mysql/trigger-names.js';
import { pgPrepareDefinition, pgSwap, pgValidateForeignKeys } from '../dialect/postgres/swap.js';
import type { PreparedDefinition } from '../dialect/postgres/swap.js';
import { FieldsyncError } from '../errors.js';
import type { Logger } from '../log.js';
import { retry } from '../retry.js';
import type { Generation, TableName } from './names.js';
import { backupGeneration, backupNumbers, foreignKeyRecord, liveGeneration, rollbackParking, stageGeneration, windowLog, windowTriggerNames } from './names.js';
import type { Session } from './session.js';
import { openSession, withSession } from './session.js';
import { dropWindow } from './window.js';

export async function tableNamesInSchema(s: Pick<Session, 'dialect' | 'query'>, schema: string): Promise<string[]> {
  const rows = s.dialect.name === 'postgres'
    ? await s.query('SELECT tablename AS name FROM pg_tables WHERE schemaname = $1', [schema || 'public'])
    : await s.query(`SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${schema ? '?' : 'DATABASE()'}`, schema ? [schema] : []);
  return rows.map((r) => String(r.name));
}

export async function tableExists(s: Pick<Session, 'dialect' | 'query'>, t: TableName): Promise<boolean> {
  return (await tableNamesInSchema(s, t.schema)).includes(t.name);
}

export async function listBackups(s: Pick<Session, 'dialect' | 'query'>, into: TableName): Promise<number[]> {
  return backupNumbers(into, await tableNamesInSchema(s, into.schema));
}

async function dropGeneration(s: Session, g: Generation): Promise<void> {
  for (const t of [g.data, g.clock, g.tomb]) await s.execute(`DROP TABLE IF EXISTS ${s.dialect.qualified(t)}`);
}

/** Keep the newest `keep` backup generations, drop the older ones. */
export async function pruneBackups(s: Session, into: TableName, keep: number): Promise<number[]> {
  const all = await listBackups(s, into);
  const drop = all.slice(0, Math.max(0, all.length - keep));
  for (const n of drop) await dropGeneration(s, backupGeneration(into, n));
  return drop;
}

/** MySQL: base names of the fieldsync triggers a live table may carry (stamp and outbox triggers). */
export function fieldsyncTriggerBases(into: TableName): string[] {
  return [...stampTriggerBaseNames(into), ...mysqlTriggerBaseNames(into.name)];
}

/**
 * MySQL: the triggers of a companion table `from` of `live` (the old live table after a
 * swap, or what an interrupted swap left): each one live has under either name (`bases`:
 * the base names of live's fieldsync triggers) is dropped, any other one moves to live
 * under its own name (it was being moved under a swap's lock, or was created on live
 * after the swap copied live's triggers). `skip`: triggers left alone.
 */
export async function settleTriggers(s: Session, from: TableName, live: TableName, bases: readonly string[], skip: readonly string[]): Promise<{ dropped: string[]; moved: string[] }> {
  const defs = (await triggersOf(s, from)).filter((t) => !skip.includes(t.name));
  if (defs.length === 0) return { dropped: [], moved: [] };
  const onLive = new Set((await triggersOf(s, live)).map((t) => t.name));
  const forms = (name: string) => [name, otherGenerationName(name, bases)].filter((n): n is string => n !== undefined);
  const copies = defs.filter((t) => forms(t.name).some((n) => onLive.has(n)));
  await dropTriggers(s, from.schema, copies.map((t) => t.name));
  const moved = defs.filter((t) => !copies.includes(t));
  await moveTriggers(s, moved, live);
  return { dropped: copies.map((t) => t.name), moved: moved.map((t) => t.name) };
}

/** Undo what a killed refresh or rollback left behind (see the header). */
export async function cleanupLeftovers(s: Session, into: TableName, log: Logger): Promise<void> {
  const live = liveGeneration(into);
  const stage = stageGeneration(into);
  const names = await tableNamesInSchema(s, into.schema);
  if (s.dialect.name === 'mysql') {
    const window = windowTriggerNames(into);
    const bases = fieldsyncTriggerBases(into);
    for (const t of [live.data, live.clock, live.tomb]) {
      if (!names.includes(t.name)) continue;
      const here = new Set((await triggersOf(s, t)).map((d) => d.name));
      const doubled = [...here].filter((n) => !bases.includes(n) && bases.some((b) => here.has(b) && otherGenerationName(b, bases) === n));
      if (doubled.length) {
        log.warn({ table: into.name, triggers: doubled }, 'dropping the second copy of fieldsync triggers live carries under both names');
        await dropTriggers(s, t.schema, doubled);
      }
    }
    const companions: Generation[] = [stage, ...backupNumbers(into, names).map((n) => backupGeneration(into, n))];
    for (const g of companions) {
      for (const [from, to] of [[g.data, live.data], [g.clock, live.clock], [g.tomb, live.tomb]] as const) {
        if (!names.includes(from.name)) continue;
        const { dropped, moved } = await settleTriggers(s, from, to, bases, [window.insert, window.update]);
        if (dropped.length) log.info({ table: into.name, from: from.name, triggers: dropped }, 'dropped the copies of live\'s triggers an interrupted swap left on a companion table');
        if (moved.length) log.warn({ table: into.name, from: from.name, triggers: moved }, 'moved triggers left on a companion table by an interrupted swap back to live');
      }
    }
    const record = foreignKeyRecord(into);
    if (names.includes(record.name)) {
      const fks = await readForeignKeyRecord(s, record);
      if (names.includes(live.data.name)) {
        const holders = [...companions, rollbackParking(into)].map((g) => g.data).filter((t) => names.includes(t.name));
        const restored = await restoreForeignKeys(s, fks, live.data, holders);
        if (restored.length) {
          log.warn({ table: into.name, foreignKeys: restored.map((f) => f.name) }, 'put foreign keys an interrupted swap was moving back on live');
          for (const fk of restored) {
            const orphans = await foreignKeyOrphans(s, live.data, fk);
            if (orphans) log.warn({ table: into.name, foreignKey: fk.name, rows: orphans }, 'rows written while the foreign key was off live have no parent row');
          }
        }
      }
      await dropForeignKeyRecord(s, record);
    }
  }
  await dropWindow(s, into, live, names.includes(live.clock.name));
  await dropGeneration(s, stage);
  if (names.includes(windowLog(into).name)) log.info({ table: into.name }, 'dropped the window log of an interrupted refresh');
}

export interface SwapRequest {
  db: Db;
  /** The lock-holding session, used to watch the MySQL rename queue. */
  watch: Session;
  into: TableName;
  incoming: Generation;
  /** Where the live generation goes. */
  outgoing: Generation;
  /** Rollback: the name the live generation is parked under during the three-way rename. */
  parking?: Generation;
  /** Copy (PostgreSQL) / move (MySQL) live's triggers etc. to the incoming tables. */
  carryDefinition: boolean;
  skipTriggers: string[];
  /** Extra tables to lock (the window log), with MySQL aliases for the under-lock SQL. */
  lockList: { table: TableName; alias?: string }[];
  underLock?: (s: Pick<Session, 'dialect' | 'query' | 'execute'>) => Promise<void>;
  lockTimeoutMs: number;
  log: Logger;
}

function renamePairs(r: SwapRequest): [TableName, TableName][] {
  const live = liveGeneration(r.into);
  const pairs: [TableName, TableName][] = [];
  const parts = ['data', 'clock', 'tomb'] as const;
  if (r.parking) {
    for (const p of parts) pairs.push([live[p], r.parking[p]]);
    for (const p of parts) pairs.push([r.incoming[p], live[p]]);
    for (const p of parts) pairs.push([r.parking[p], r.outgoing[p]]);
  } else {
    for (const p of parts) { pairs.push([live[p], r.outgoing[p]]); pairs.push([r.incoming[p], live[p]]); }
  }
  return pairs;
}

/** The atomic swap; retried on lock timeouts and deadlocks. Returns lock-held and rename times. */
export async function swapGenerations(r: SwapRequest): Promise<{ lockedMs: number; renameMs: number }> {
  const live = liveGeneration(r.into);
  const parts = ['data', 'clock', 'tomb'] as const;
  const carry: [TableName, TableName][] = r.carryDefinition ? parts.map((p) => [live[p], r.incoming[p]]) : [];
  const onRetry = (e: unknown, attempt: number, delayMs: number) => r.log.warn({ table: r.into.name, attempt, delayMs, err: e }, 'swap lock not granted in time; retrying');
  if (r.db.dialect.name === 'postgres') {
    const prepared: PreparedDefinition[] = [];
    for (const [from, to] of carry) prepared.push(await pgPrepareDefinition(r.db, from, to, r.skipTriggers));
    const out = await retry(async () => {
      const timing = await r.db.transaction((tx) => pgSwap(tx, {
        lock: [...parts.map((p) => live[p]), ...parts.map((p) => r.incoming[p]), ...r.lockList.map((l) => l.table)],
        renames: renamePairs(r).map(([a, b]) => [a, b.name]),
        prepared,
        sequences: [[live.data, r.incoming.data]],
        skipTriggers: r.skipTriggers,
        underLock: r.underLock,
        lockTimeoutMs: r.lockTimeoutMs,
        onStep: (step, ms) => r.log.debug({ table: r.into.name, step, ms: Math.round(ms * 10) / 10 }, 'swap step'),
      }));
      // the locks go with the COMMIT: waiters were held until it returned
      const committed = performance.now();
      r.log.debug({ table: r.into.name, step: 'commit', ms: Math.round((committed - timing.doneAt) * 10) / 10 }, 'swap step');
      return { lockedMs: committed - timing.lockedAt, renameMs: timing.renameMs };
    }, { retries: 20, maxElapsedMs: 10 * 60_000, initialDelayMs: 200, maxDelayMs: 5000, onRetry });
    // The FKs were added NOT VALID; validating takes no exclusive lock.
    const fks = prepared.filter((p) => p.from.name === live.data.name).flatMap((p) => p.validate);
    if (fks.length) await pgValidateForeignKeys(r.db, live.data, fks);
    return out;
  }
  const fks = r.carryDefinition ? await prepareForeignKeys(r) : [];
  const bases = fieldsyncTriggerBases(r.into);
  let copies: PrecreatedTriggers[] = [];
  let out: { lockedMs: number; renameMs: number };
  try {
    out = await retry(async () => {
      // Every attempt (re)makes the copies from live's triggers as they are now (kept when
      // unchanged), just before it takes the lock.
      copies = [];
      if (r.carryDefinition) {
        await withSession(r.db, async (s) => {
          for (const [from, to] of carry) copies.push(await precreateTriggers(s, from, to, from.name === live.data.name ? bases : [], r.skipTriggers));
        });
      }
      const a = await openSession(r.db);
      const b = await openSession(r.db);
      let broken = false;
      try {
        const aliasLocks = r.lockList;
        const lock = [...parts.map((p) => ({ table: live[p] })), ...parts.map((p) => ({ table: r.incoming[p] })), ...aliasLocks];
        return await mysqlSwap(a, b, r.watch, {
          lock: dedupeLocks(lock),
          renames: renamePairs(r),
          moveTriggers: copies.map((c) => ({ from: c.from, to: c.to, defs: c.toMove })),
          moveForeignKeys: [{ from: live.data, to: r.incoming.data, fks }],
          underLock: r.underLock,
          lockTimeoutMs: r.lockTimeoutMs,
          onStep: (step, ms) => r.log.debug({ table: r.into.name, step, ms: Math.round(ms * 10) / 10 }, 'swap step'),
        });
      } catch (e) {
        broken = true;
        throw e;
      } finally {
        // `a` was an applier session holding LOCK TABLES: never back to the pool
        a.release(true);
        b.release(broken);
      }
    }, { retries: 20, maxElapsedMs: 10 * 60_000, initialDelayMs: 200, maxDelayMs: 5000, onRetry });
  } catch (e) {
    // The incoming tables keep no copies of live's triggers (the ones still on them: a
    // rename that did happen made them live's own); if this fails, the next run drops them.
    if (copies.length) {
      await withSession(r.db, async (s) => {
        for (const c of copies) {
          const left = (await triggersOf(s, c.to)).map((t) => t.name).filter((n) => c.copies.includes(n));
          await dropTriggers(s, c.to.schema, left);
        }
      }).catch((err: unknown) => r.log.warn({ table: r.into.name, err }, 'unable to drop the trigger copies of a failed swap; the next run drops them'));
    }
    // mysqlSwap put the FKs back under its lock; make sure, and drop the record (if this
    // fails too, the record stays and the next run repairs).
    if (fks.length) {
      // A session of its own: foreign_key_checks is session state.
      await withSession(r.db, (s) => restoreForeignKeys(s, fks, live.data, [r.incoming.data]))
        .then(() => dropForeignKeyRecord(r.db, foreignKeyRecord(r.into)))
        .catch((err: unknown) => r.log.warn({ table: r.into.name, err }, 'unable to check the foreign keys of live after a failed swap; the next run repairs them'));
    }
    throw e;
  }
  // The outgoing generation, now a backup, carries live's old triggers: a backup keeps
  // none (their bodies write to the live clock and tomb by name). One live does not have
  // was created on live after the copies were made: it goes to live.
  if (r.carryDefinition) {
    await withSession(r.db, async (s) => {
      for (const p of parts) {
        await dropTriggers(s, r.outgoing[p].schema, r.skipTriggers);
        const { moved } = await settleTriggers(s, r.outgoing[p], live[p], bases, r.skipTriggers);
        if (moved.length) r.log.warn({ table: r.into.name, triggers: moved }, 'moved triggers created on live during the swap to the new live table');
      }
    });
  }
  if (fks.length) await dropForeignKeyRecord(r.db, foreignKeyRecord(r.into));
  return out;
}

/**
 * MySQL, before the swap's lock: live's outgoing foreign keys, checked against the incoming
 * rows (they are added unchecked under the lock), the incoming table's FK indexes made
 * plain, and the definitions recorded for a run that dies mid-swap (foreign-keys.ts).
 */
async function prepareForeignKeys(r: SwapRequest): Promise<ForeignKeyDef[]> {
  const live = liveGeneration(r.into);
  const fks = await foreignKeysOf(r.db, live.data);
  if (fks.length === 0) return [];
  const label = r.into.schema ? `${r.into.schema}.${r.into.name}` : r.into.name;
  for (const fk of fks) {
    const orphans = await foreignKeyOrphans(r.db, r.incoming.data, fk);
    if (orphans) {
      const parent = fk.self ? label : `${fk.parent.schema}.${fk.parent.name}`;
      throw new FieldsyncError(`swap of ${label} aborted, the live table is unchanged: ${orphans} rows of the new generation (${r.incoming.data.name}) `
        + `have no parent row in ${parent} for foreign key ${fk.name} (${fk.columns.join(', ')}); fix the data or drop the foreign key`);
    }
  }
  try {
    await plainForeignKeyIndexes(r.db, r.incoming.data, fks);
  } catch (e) {
    r.log.warn({ table: label, err: e }, 'unable to mark the indexes of the foreign keys as plain; InnoDB may rename them when the foreign keys are added');
  }
  await writeForeignKeyRecord(r.db, foreignKeyRecord(r.into), fks);
  return fks;
}

function dedupeLocks(list: { table: TableName; alias?: string }[]): { table: TableName; alias?: string }[] {
  const seen = new Set<string>();
  return list.filter((l) => {
    const k = `${l.table.schema}.${l.table.name}/${l.alias ?? ''}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
