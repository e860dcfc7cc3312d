/**
 * The merge plan: given a folded batch (fold.ts) and the clocks the target holds for its
 * keys (read under row locks in the same transaction), decide per key which fields win and
 * where the row lives afterwards, and sort the keys into the few set-based writes a dialect
 * executes (each one multi-row statement, never one statement per row):
 *
 *   was present? now present?   writes
 *   ------------ ------------   ------------------------------------------------------------
 *   (no clock)   yes            insertTable   new row in T: winners, other fields NULL
 *   (no clock)   no             insertTomb    field values of an absent row (update or insert
 *                                             that lost to a delete, arrived before it)
 *   yes          yes            updateTable   only the winning fields
 *   no           yes            reviveFromTomb (tomb row ⊕ winners → T, tomb row removed), or
 *                                             insertTable when there is no tomb row
 *   yes          no             buryFromTable (T row ⊕ winners → tomb, T row removed)
 *   no           no             updateTomb / insertTomb (winners into the tomb)
 *
 * followed by one clock upsert for every key whose clock changed. "Present" is
 * _fs_ins > coalesce(_fs_del, -inf); a field wins iff its incoming stamp is greater than
 * the stored one (NULL = never written). Keys whose clock does not change (replays,
 * duplicates) produce no write at all.
 */
import type { MergeOutcome } from '../sink.js';
import type { Value } from '../types.js';
import type { FoldedRow, FoldedTable } from './fold.js';
import { maxStamp } from './fold.js';

/** A field clock row: insert stamp, delete stamp, one stamp per field (null = never written). */
export interface ClockState {
  ins: bigint | null;
  del: bigint | null;
  fields: (bigint | null)[];
}

/** What the target holds for a key: its clock, and whether a tomb row exists. */
export interface StoredState {
  clock: ClockState;
  hasTomb: boolean;
}

/** A row to write: key, the value of every field (null where it did not win), winner flags. */
export interface PlannedRow {
  key: Value[];
  values: Value[];
  win: boolean[];
  winners: number;
}

export interface ClockWrite {
  key: Value[];
  clock: ClockState;
  /** Which stamps differ from the stored ones: [_fs_ins, _fs_del, ...fields]. Only these are written. */
  changed: boolean[];
}

export interface MergePlan {
  insertTable: PlannedRow[];
  updateTable: PlannedRow[];
  reviveFromTomb: PlannedRow[];
  buryFromTable: PlannedRow[];
  insertTomb: PlannedRow[];
  updateTomb: PlannedRow[];
  clocks: ClockWrite[];
  outcome: MergeOutcome;
}

export const isPresent = (c: { ins: bigint | null; del: bigint | null }): boolean =>
  c.ins !== null && (c.del === null || c.ins > c.del);

function plannedRow(row: FoldedRow, win: boolean[], winners: number): PlannedRow {
  const values = row.fields.map((f, i) => (win[i] && f ? f.value : null));
  return { key: row.key, values, win, winners };
}

export function planMerge(folded: FoldedTable, stored: ReadonlyMap<string, StoredState>): MergePlan {
  const n = folded.fields.length;
  const plan: MergePlan = {
    insertTable: [], updateTable: [], reviveFromTomb: [], buryFromTable: [], insertTomb: [], updateTomb: [], clocks: [],
    // a write that lost to a newer one inside the batch was kept out just like one losing to the target
    outcome: { fieldsTaken: 0, fieldsKept: folded.superseded, rowsDeleted: 0 },
  };
  for (const row of folded.rows.values()) {
    const old = stored.get(row.id);
    const oldClock: ClockState = old?.clock ?? { ins: null, del: null, fields: new Array<bigint | null>(n).fill(null) };
    const win = new Array<boolean>(n).fill(false);
    const next: ClockState = { ins: maxStamp(oldClock.ins, row.ins), del: maxStamp(oldClock.del, row.del), fields: oldClock.fields.slice() };
    let winners = 0;
    let changed = next.ins !== oldClock.ins || next.del !== oldClock.del;
    for (let i = 0; i < n; i++) {
      const f = row.fields[i];
      if (!f) continue;
      const held = oldClock.fields[i] ?? null;
      // a field takes the incoming value only if its stamp beats the stored one
      if (held === null || f.stamp > held) {
        win[i] = true;
        winners++;
        next.fields[i] = f.stamp;
        changed = true;
      } else {
        plan.outcome.fieldsKept++;
      }
    }
    plan.outcome.fieldsTaken += winners;
    if (!changed) continue; // nothing new for this key: a replay or duplicate

    plan.clocks.push({
      key: row.key,
      clock: next,
      changed: [next.ins !== oldClock.ins, next.del !== oldClock.del, ...next.fields.map((f, i) => f !== (oldClock.fields[i] ?? null))],
    });
    const was = old !== undefined && isPresent(oldClock);
    const now = isPresent(next);
    const planned = plannedRow(row, win, winners);
    if (now) {
      if (was) {
        if (winners > 0) plan.updateTable.push(planned);
      } else if (old?.hasTomb) {
        plan.reviveFromTomb.push(planned);
      } else {
        plan.insertTable.push(planned);
      }
    } else if (was) {
      plan.buryFromTable.push(planned);
      plan.outcome.rowsDeleted++;
    } else if (old?.hasTomb) {
      if (winners > 0) plan.updateTomb.push(planned);
    } else if (winners > 0 || next.ins !== null) {
      // an absent row keeps its field values in the tomb; a delete alone leaves only a clock
      plan.insertTomb.push(planned);
    }
  }
  return plan;
}
