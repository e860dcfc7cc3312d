import { describe, expect, it } from 'vitest';
import type { ClockWrite } from '../merge/plan.js';
import { clockGroups, type MergeTarget } from './sql-sink.js';

const col = (name: string) => ({ name, type: { kind: 'int' as const, bits: 32 as const }, nullable: true });
const m: MergeTarget = { target: { schema: '', name: 't' }, key: [col('id')], fields: [col('a'), col('b')], allFields: [col('a'), col('b')] };
const cw = (id: number, changed: boolean[]): ClockWrite => ({ key: [id], clock: { ins: 1n, del: 2n, fields: [3n, 4n] }, changed });

describe('clockGroups', () => {
  it('writes only the stamps that changed, one group per set', () => {
    const groups = clockGroups(m, [cw(1, [false, false, true, false]), cw(2, [true, false, true, true]), cw(3, [false, false, true, false])]);
    expect(groups.map((g) => [g.columns, g.rows.map((r) => r.key[0]), g.rows.map((r) => g.stamps.map((s) => s(r)))])).toEqual([
      [['a'], [1, 3], [[3n], [3n]]],
      [['_fs_ins', 'a', 'b'], [2], [[1n, 3n, 4n]]],
    ]);
  });

  it('falls back to one group writing every stamp when the sets are many', () => {
    const masks = [[true, false, false, false], [false, true, false, false], [false, false, true, false], [false, false, false, true], [true, true, false, false]];
    const groups = clockGroups(m, masks.map((mk, i) => cw(i, mk)), 4);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.columns).toEqual(['_fs_ins', '_fs_del', 'a', 'b']);
    expect(groups[0]!.rows).toHaveLength(5);
  });
});
