/**
 * The in-batch fold: many change events of one table become at most one merge row per key.
 *
 * The merge state of a row is a join-semilattice (clock-layout.ts): per field the write
 * with the greatest stamp, plus the greatest insert stamp and the greatest delete stamp.
 * Joining the events of a batch among themselves first and then joining that result into
 * the target gives exactly the state that applying them one by one would give, whatever
 * their order, so the SQL only ever sees one row per key.
 *
 *   insert / snapshot  ->  ins = max(ins, s); every field the row carries competes at s
 *   update             ->  only the columns in `changed` compete at s
 *   delete             ->  del = max(del, s)
 *
 * A field takes an incoming write only when its stamp is strictly greater, in the fold as
 * in the target: equal stamps are the same write (the stamp includes the origin).
 */
import type { ChangeEvent } from '../event/change-event.js';
import { DataError } from '../errors.js';
import { stampOf } from '../stamp.js';
import type { ColumnSpec, TableSchema, Value } from '../types.js';
import { qualifiedName } from '../types.js';
import { fieldColumns } from './clock-layout.js';
import { canonicalKey, keyColumns, keyId } from './row-key.js';

/** The write a field holds: its stamp and its value. */
export interface FieldWrite {
  stamp: bigint;
  value: Value;
}

/** One key's share of a batch, joined. `fields` is indexed like FoldedTable.fields. */
export interface FoldedRow {
  id: string;
  key: Value[];
  ins: bigint | null;
  del: bigint | null;
  fields: (FieldWrite | undefined)[];
  /** Events folded into this row (for error messages and metrics). */
  events: number;
}

export interface FoldedTable {
  table: TableSchema;
  keyCols: ColumnSpec[];
  /** Non-key columns of `table`, the ones that carry a field clock. */
  fields: ColumnSpec[];
  rows: Map<string, FoldedRow>;
  /** Field writes that lost to a newer write of the same batch (counted as kept). */
  superseded: number;
}

export const maxStamp = (a: bigint | null, b: bigint | null): bigint | null => (a === null ? b : b === null ? a : a > b ? a : b);

/** Stamps per (origin, time) are cheap, but origin hashing per event is not free: memoise it. */
function stamper(): (e: ChangeEvent) => bigint {
  const byOrigin = new Map<string, bigint>();
  return (e) => {
    let base = byOrigin.get(e.origin);
    if (base === undefined) {
      base = stampOf(0n, e.origin);
      byOrigin.set(e.origin, base);
    }
    return base + e.commitTimeMicros * 1024n;
  };
}

export function foldEvents(table: TableSchema, events: readonly ChangeEvent[]): FoldedTable {
  const keyCols = keyColumns(table);
  const fieldNames = fieldColumns(table);
  const fields = fieldNames.map((n) => table.columns.find((c) => c.name === n)!);
  const fieldIndex = new Map(fieldNames.map((n, i) => [n, i]));
  const keySet = new Set(table.key);
  const stampFor = stamper();
  const rows = new Map<string, FoldedRow>();
  let superseded = 0;

  const take = (row: FoldedRow, i: number, stamp: bigint, value: Value | undefined, column: string) => {
    if (value === undefined) throw new DataError(`table ${qualifiedName(table)}: change event lists column "${column}" as changed but carries no value for it`);
    const cur = row.fields[i];
    // strictly greater: an equal stamp is the same write seen twice
    if (!cur || stamp > cur.stamp) {
      if (cur) superseded++;
      row.fields[i] = { stamp, value };
    } else {
      superseded++;
    }
  };

  for (const e of events) {
    const key = canonicalKey(table, keyCols, e.key);
    const id = keyId(key);
    let row = rows.get(id);
    if (!row) {
      row = { id, key, ins: null, del: null, fields: new Array<FieldWrite | undefined>(fields.length), events: 0 };
      rows.set(id, row);
    }
    row.events++;
    const stamp = stampFor(e);
    switch (e.op) {
      case 'insert':
      case 'snapshot': {
        if (!e.after) throw new DataError(`table ${qualifiedName(table)}: ${e.op} event without a row`);
        row.ins = maxStamp(row.ins, stamp);
        // an insert competes with every column it carries (a target-only column is not carried)
        for (let i = 0; i < fields.length; i++) {
          const name = fields[i]!.name;
          if (Object.prototype.hasOwnProperty.call(e.after, name)) take(row, i, stamp, e.after[name], name);
        }
        break;
      }
      case 'update': {
        if (!e.after) throw new DataError(`table ${qualifiedName(table)}: update event without a row`);
        // only the columns the update changed compete
        for (const name of e.changed) {
          const i = fieldIndex.get(name);
          if (i === undefined) {
            if (keySet.has(name)) continue;
            throw new DataError(`table ${qualifiedName(table)} has no column "${name}" (changed by an update event)`);
          }
          take(row, i, stamp, e.after[name], name);
        }
        break;
      }
      case 'delete':
        row.del = maxStamp(row.del, stamp);
        break;
    }
  }
  return { table, keyCols, fields, rows, superseded };
}
