import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../event/change-event.js';
import { stampOf } from '../stamp.js';
import type { TableSchema } from '../types.js';
import { foldEvents } from './fold.js';
import { planMerge, type StoredState } from './plan.js';
import * as model from './reference-model.js';
import { keyId } from './row-key.js';

const T0 = 1_750_000_000_000_000n;
const table: TableSchema = {
  schema: 's', name: 't', key: ['id'],
  columns: [
    { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
    { name: 'a', type: { kind: 'string' }, nullable: true },
    { name: 'b', type: { kind: 'int', bits: 32 }, nullable: true },
  ],
};
const ev = (op: ChangeEvent['op'], origin: string, dt: number, id: bigint, after: Record<string, string | number | null> = {}, changed?: string[]): ChangeEvent => ({
  op, origin, commitTimeMicros: T0 + BigInt(dt), position: `p${dt}`, key: { id },
  after: op === 'delete' ? null : { id, ...after }, changed: changed ?? Object.keys(after),
});

describe('foldEvents', () => {
  it('keeps per field the write with the greatest stamp and the greatest insert and delete stamps', () => {
    const f = foldEvents(table, [
      ev('insert', 'x', 10, 1n, { a: 'i', b: 1 }),
      ev('update', 'y', 30, 1n, { a: 'u30', b: 99 }, ['a']),
      ev('update', 'y', 20, 1n, { a: 'u20' }, ['a']),
      ev('delete', 'x', 25, 1n),
      ev('delete', 'x', 15, 1n),
    ]);
    const row = f.rows.get(keyId([1n]))!;
    expect(row.ins).toBe(stampOf(T0 + 10n, 'x'));
    expect(row.del).toBe(stampOf(T0 + 25n, 'x'));
    expect(row.fields).toEqual([{ stamp: stampOf(T0 + 30n, 'y'), value: 'u30' }, { stamp: stampOf(T0 + 10n, 'x'), value: 1 }]);
    expect(row.events).toBe(5);
    // u20 lost inside the batch; the insert's a lost too: both count as kept
    expect(f.superseded).toBe(2);
  });

  it('canonicalises keys with the target type, so a number and a bigint key are one row', () => {
    const f = foldEvents(table, [ev('insert', 'x', 1, 5n, { a: 'x', b: 1 }), { ...ev('delete', 'x', 2, 5n), key: { id: 5 } }]);
    expect(f.rows.size).toBe(1);
  });

  it('rejects an update of a column the table does not have, naming table and column', () => {
    expect(() => foldEvents(table, [ev('update', 'x', 1, 1n, { zz: 'v' }, ['zz'])])).toThrow(/s\.t has no column "zz"/);
  });

  it('rejects an event without a key value', () => {
    expect(() => foldEvents(table, [{ ...ev('delete', 'x', 1, 1n), key: {} }])).toThrow(/key column "id"/);
  });
});

describe('planMerge', () => {
  const clock = (ins: number | null, del: number | null, a: number | null, b: number | null, hasTomb = false): StoredState => ({
    clock: { ins: ins === null ? null : stampOf(T0 + BigInt(ins), 'x'), del: del === null ? null : stampOf(T0 + BigInt(del), 'x'), fields: [a, b].map((v) => (v === null ? null : stampOf(T0 + BigInt(v), 'x'))) },
    hasTomb,
  });

  it('sorts keys into the writes by where the row lives before and after', () => {
    const folded = foldEvents(table, [
      ev('insert', 'y', 10, 1n, { a: 'new', b: 1 }), // unknown key → insertTable
      ev('update', 'y', 50, 2n, { b: 5 }, ['b']), // present, b newer → updateTable
      ev('update', 'y', 5, 3n, { b: 5 }, ['b']), // present, b older → nothing but kept
      ev('delete', 'y', 50, 4n), // present → buryFromTable
      ev('insert', 'y', 60, 5n, { a: 'back', b: 2 }), // deleted with tomb → reviveFromTomb
      ev('update', 'y', 60, 6n, { a: 'late' }, ['a']), // deleted with tomb, newer field → updateTomb
      ev('update', 'y', 60, 7n, { a: 'early' }, ['a']), // unknown key, update → insertTomb
      ev('delete', 'y', 60, 8n), // unknown key, delete only → clock only
    ]);
    const stored = new Map<string, StoredState>([
      [keyId([2n]), clock(1, null, 1, 1)], [keyId([3n]), clock(1, null, 1, 9)], [keyId([4n]), clock(1, null, 1, 1)],
      [keyId([5n]), clock(1, 40, 1, 1, true)], [keyId([6n]), clock(1, 40, 1, 1, true)],
    ]);
    const plan = planMerge(folded, stored);
    const ids = (rows: { key: unknown[] }[]) => rows.map((r) => r.key[0]);
    expect(ids(plan.insertTable)).toEqual([1n]);
    expect(ids(plan.updateTable)).toEqual([2n]);
    expect(plan.updateTable[0]!.win).toEqual([false, true]);
    expect(ids(plan.buryFromTable)).toEqual([4n]);
    expect(ids(plan.reviveFromTomb)).toEqual([5n]);
    expect(ids(plan.updateTomb)).toEqual([6n]);
    expect(ids(plan.insertTomb)).toEqual([7n]);
    expect(ids(plan.clocks)).toEqual([1n, 2n, 4n, 5n, 6n, 7n, 8n]); // 3 did not change
    // only changed stamps are written: [_fs_ins, _fs_del, a, b]
    expect(plan.clocks.map((c) => c.changed)).toEqual([
      [true, false, true, true], [false, false, false, true], [false, true, false, false], [true, false, true, true],
      [false, false, true, false], [false, false, true, false], [false, true, false, false],
    ]);
    expect(plan.outcome).toEqual({ fieldsTaken: 2 + 1 + 2 + 1 + 1, fieldsKept: 1, rowsDeleted: 1 });
  });

  it('agrees with the reference model on the resulting clocks, for any events and any split into two batches', () => {
    const evArb = fc.record({
      op: fc.constantFrom<ChangeEvent['op']>('insert', 'update', 'delete', 'snapshot'),
      origin: fc.constantFrom('o1', 'o2', 'o3'),
      id: fc.constantFrom(1n, 2n, 3n),
      a: fc.option(fc.string({ maxLength: 3 }), { nil: null }),
      b: fc.option(fc.integer(), { nil: null }),
      changed: fc.subarray(['a', 'b'], { minLength: 1 }),
    });
    fc.assert(fc.property(fc.array(evArb, { maxLength: 30 }), fc.uniqueArray(fc.nat(10_000), { minLength: 30, maxLength: 30 }), fc.nat(30), (drafts, times, cut) => {
      const events = drafts.map((d, i) => ev(d.op, d.origin, times[i]!, d.id, { a: d.a, b: d.b }, d.op === 'update' ? d.changed : ['a', 'b']));
      // apply two batches through fold + plan, feeding the first plan's clocks to the second
      const stored = new Map<string, StoredState>();
      for (const part of [events.slice(0, cut), events.slice(cut)]) {
        const folded = foldEvents(table, part);
        const plan = planMerge(folded, stored);
        for (const c of plan.clocks) {
          const id = keyId(c.key);
          const present = model.present({ key: {}, ins: c.clock.ins, del: c.clock.del, fields: {} });
          const hadTomb = stored.get(id)?.hasTomb ?? false;
          const tombNow = plan.insertTomb.some((r) => keyId(r.key) === id) || plan.buryFromTable.some((r) => keyId(r.key) === id) || (hadTomb && !present);
          stored.set(id, { clock: c.clock, hasTomb: tombNow && !present });
        }
      }
      const m = model.applyAll({ key: ['id'], fields: ['a', 'b'] }, model.emptyState(), events);
      const expected = model.clocks({ key: ['id'], fields: ['a', 'b'] }, m).map((r) => [keyId([r.id!]), r._fs_ins, r._fs_del, r.a, r.b]).sort();
      const got = [...stored.entries()].map(([id, s]) => [id, s.clock.ins, s.clock.del, ...s.clock.fields]).sort();
      expect(got).toEqual(expected);
    }), { numRuns: 300 });
  });
});
