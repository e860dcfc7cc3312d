import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataError, FieldsyncError } from '../errors.js';
import { isolateDataErrors } from './isolate.js';

describe('isolateDataErrors', () => {
  it('finds exactly the bad items of a batch by bisection, and every good item is applied', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 200 }), async (badFlags) => {
      const items = badFlags.map((bad, i) => ({ i, bad }));
      const appliedGood = new Set<number>();
      let calls = 0;
      const result = await isolateDataErrors(items, async (subset) => {
        calls++;
        const bad = subset.find((x) => x.bad);
        if (bad) throw new DataError(`item ${bad.i} overflows`);
        for (const x of subset) appliedGood.add(x.i);
      });
      expect(result.bad.map((b) => b.item.i).sort((a, b) => a - b)).toEqual(items.filter((x) => x.bad).map((x) => x.i));
      expect(result.good.map((g) => g.i).sort((a, b) => a - b)).toEqual(items.filter((x) => !x.bad).map((x) => x.i));
      expect([...appliedGood].sort((a, b) => a - b)).toEqual(items.filter((x) => !x.bad).map((x) => x.i));
      expect(result.bad.every((b) => b.error.message === `item ${b.item.i} overflows`)).toBe(true);
      // one bad item among n costs O(log n) attempts, not n
      if (badFlags.filter(Boolean).length === 1) expect(calls).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(items.length)) + 1);
    }), { numRuns: 200 });
  });

  it('throws a transient error to the caller instead of classifying it', async () => {
    const err = new FieldsyncError('connection lost', { retriable: true });
    await expect(isolateDataErrors([1, 2, 3], async (s) => { if (s.length < 3) throw err; throw new DataError('bad'); })).rejects.toBe(err);
  });
});
