/**
 * Names of the reconciler's companion tables of a live table T (same schema as T).
 *
 * A "generation" is the triple (data, clock, tomb) that the atomic swap moves as one:
 *
 *   live     T              T__fs_clock        T__fs_tomb        (clock-layout.ts)
 *   stage    T__fs_stg      T__fs_stgc         T__fs_stgt        built by a refresh
 *   backup N T__fs_bN       T__fs_bNc          T__fs_bNt         N grows by one per swap
 *
 *   T__fs_wlog   keys of every clock write made while a refresh runs (the window log)
 *   T__fs_fk     MySQL: T's foreign keys while a swap moves them (lib/dialect/mysql/foreign-keys.ts)
 *
 * Short suffixes keep every companion inside PostgreSQL's 63-character identifier limit
 * for any table name that clock-layout.ts accepts.
 */
import { clockTable, tombTable } from '../merge/clock-layout.js';

export interface TableName { schema: string; name: string }

export interface Generation { data: TableName; clock: TableName; tomb: TableName }

const MAX_IDENTIFIER = 63;

function named(t: TableName, suffix: string): TableName {
  const name = `${t.name}${suffix}`;
  if (name.length > MAX_IDENTIFIER) throw new Error(`table name "${t.name}" is too long for the reconciler's table "${name}" (max ${MAX_IDENTIFIER} characters)`);
  return { schema: t.schema, name };
}

export function liveGeneration(t: TableName): Generation {
  return { data: t, clock: clockTable(t), tomb: tombTable(t) };
}

export function stageGeneration(t: TableName): Generation {
  return { data: named(t, '__fs_stg'), clock: named(t, '__fs_stgc'), tomb: named(t, '__fs_stgt') };
}

export function backupGeneration(t: TableName, n: number): Generation {
  return { data: named(t, `__fs_b${n}`), clock: named(t, `__fs_b${n}c`), tomb: named(t, `__fs_b${n}t`) };
}

export const windowLog = (t: TableName): TableName => named(t, '__fs_wlog');

/** MySQL: the record of the foreign keys a swap moves from the outgoing to the incoming table. */
export const foreignKeyRecord = (t: TableName): TableName => named(t, '__fs_fk');

/** Backup numbers present among `tableNames` (names of tables in T's schema). */
export function backupNumbers(t: TableName, tableNames: readonly string[]): number[] {
  const prefix = `${t.name}__fs_b`;
  const out: number[] = [];
  for (const n of tableNames) {
    if (!n.startsWith(prefix)) continue;
    const rest = n.slice(prefix.length);
    if (/^[1-9]\d*$/.test(rest)) out.push(Number(rest));
  }
  return out.sort((a, b) => a - b);
}

/** Names of the triggers the refresh puts on the live clock table to feed the window log. */
export function windowTriggerNames(t: TableName): { insert: string; update: string } {
  return { insert: named(t, '__fs_wli').name, update: named(t, '__fs_wlu').name };
}

/** PostgreSQL: the trigger function behind the window-log triggers. */
export const windowFunction = (t: TableName): TableName => named(t, '__fs_wlfn');

/** The temporary name a rollback parks the live generation under for the three-way rename. */
export const rollbackParking = (t: TableName): Generation => ({ data: named(t, '__fs_b0'), clock: named(t, '__fs_b0c'), tomb: named(t, '__fs_b0t') });
