/**
 * A tiny, deliberately naive reference model of the merge rule (DESIGN.md "The merge
 * rule", clock-layout.ts), written independently of the SQL merge so that tests, `verify`
 * and the chaos suite can compare a target against it.
 *
 *   apply(state, event) → state       one event at a time, no batching, no SQL
 *
 * Per key: ins/del are the greatest insert/delete stamps; each field holds the value of
 * the write with the greatest stamp (a write replaces it only with a strictly greater
 * stamp). The row is present iff ins > coalesce(del, -inf). An update never creates a row;
 * its fields are still remembered (they live in the tomb) so that a later insert that is
 * older than the update keeps them.
 *
 * `table(state)` / `clocks(state)` / `tombs(state)` render what the target must hold: T,
 * T__fs_clock and T__fs_tomb. A tomb row exists for an absent key that has an insert stamp
 * or a field value; a key that only saw deletes has a clock row and nothing else.
 */
import type { ChangeEvent } from '../event/change-event.js';
import { stampOf } from '../stamp.js';
import type { Row, TableSchema, Value } from '../types.js';
import { keyId } from './row-key.js';

export interface ModelRow {
  key: Row;
  ins: bigint | null;
  del: bigint | null;
  fields: Record<string, { stamp: bigint; value: Value }>;
}

/** Key id → row state. Treat as immutable: apply() returns a new state. */
export type ModelState = ReadonlyMap<string, ModelRow>;

export interface ModelTable {
  /** Key column names in key order. */
  key: string[];
  /** Non-key column names. */
  fields: string[];
}

export const emptyState = (): ModelState => new Map();

/** The model's view of a table schema: key columns and non-key columns. */
export function modelTableOf(t: TableSchema): ModelTable {
  return { key: [...t.key], fields: t.columns.map((c) => c.name).filter((n) => !t.key.includes(n)) };
}

const max = (a: bigint | null, b: bigint): bigint => (a === null || b > a ? b : a);

export function apply(table: ModelTable, state: ModelState, e: ChangeEvent): ModelState {
  const id = keyId(table.key.map((k) => e.key[k] ?? null));
  const prev = state.get(id);
  const row: ModelRow = prev
    ? { key: prev.key, ins: prev.ins, del: prev.del, fields: { ...prev.fields } }
    : { key: Object.fromEntries(table.key.map((k) => [k, e.key[k] ?? null])), ins: null, del: null, fields: {} };
  const s = stampOf(e.commitTimeMicros, e.origin);
  const write = (col: string) => {
    if (!table.fields.includes(col) || !e.after || !(col in e.after)) return;
    const cur = row.fields[col];
    if (!cur || s > cur.stamp) row.fields[col] = { stamp: s, value: e.after[col] ?? null };
  };
  if (e.op === 'insert' || e.op === 'snapshot') {
    row.ins = max(row.ins, s);
    table.fields.forEach(write);
  } else if (e.op === 'update') {
    e.changed.forEach(write);
  } else {
    row.del = max(row.del, s);
  }
  const next = new Map(state);
  next.set(id, row);
  return next;
}

export function applyAll(table: ModelTable, state: ModelState, events: readonly ChangeEvent[]): ModelState {
  let s = state;
  for (const e of events) s = apply(table, s, e);
  return s;
}

export const present = (r: ModelRow): boolean => r.ins !== null && (r.del === null || r.ins > r.del);

function values(table: ModelTable, r: ModelRow): Row {
  const out: Row = { ...r.key };
  for (const f of table.fields) out[f] = r.fields[f]?.value ?? null;
  return out;
}

/** Rows of T: present keys with every field (null where never written). */
export function table(t: ModelTable, state: ModelState): Row[] {
  return [...state.values()].filter(present).map((r) => values(t, r));
}

/** Rows of T__fs_tomb: absent keys that have an insert stamp or a field value. */
export function tombs(t: ModelTable, state: ModelState): Row[] {
  return [...state.values()]
    .filter((r) => !present(r) && (r.ins !== null || Object.keys(r.fields).length > 0))
    .map((r) => values(t, r));
}

/** Rows of T__fs_clock: every key seen, with _fs_ins, _fs_del and one stamp per field. */
export function clocks(t: ModelTable, state: ModelState): Row[] {
  return [...state.values()].map((r) => {
    const out: Row = { ...r.key, _fs_ins: r.ins, _fs_del: r.del };
    for (const f of t.fields) out[f] = r.fields[f]?.stamp ?? null;
    return out;
  });
}
