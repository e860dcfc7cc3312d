import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GapTracker } from './visibility.js';

describe('GapTracker (MySQL outbox sequence gaps)', () => {
  it('publishes the contiguous prefix and stops at the first gap', () => {
    const g = new GapTracker(60_000);
    const r = g.accept(10n, [11n, 12n, 14n, 15n], 0);
    expect(r.count).toBe(2);
    expect(r.newGaps.map((x) => [x.lo, x.hi])).toEqual([[13n, 13n]]);
  });

  it('passes a gap once its holders ended and a later read still lacks it', () => {
    const g = new GapTracker(60_000);
    const { newGaps } = g.accept(0n, [1n, 3n], 1000);
    newGaps[0]!.holders = ['trx-7'];
    expect(g.accept(1n, [3n], 2000).count).toBe(0); // holder still running
    g.holdersGone(new Set(['trx-7', 'trx-8']));
    expect(g.accept(1n, [3n], 3000).count).toBe(0);
    g.holdersGone(new Set(['trx-8']));
    expect(g.accept(1n, [3n], 4000).count).toBe(1);
  });

  it('publishes the missing value normally when it commits', () => {
    const g = new GapTracker(60_000);
    const { newGaps } = g.accept(0n, [1n, 3n], 0);
    newGaps[0]!.holders = ['t'];
    expect(g.accept(1n, [2n, 3n], 10).count).toBe(2);
  });

  it('passes a gap after the grace period when transactions cannot be inspected', () => {
    const g = new GapTracker(5000);
    g.accept(0n, [2n], 1000); // holders stay undefined
    expect(g.accept(0n, [2n], 5999).count).toBe(0);
    expect(g.accept(0n, [2n], 6000).count).toBe(1);
  });

  it('keeps the first-seen time of a gap that a commit split in two', () => {
    const g = new GapTracker(5000);
    g.accept(0n, [5n], 0); // gap 1..4
    expect(g.accept(0n, [2n, 5n], 3000).count).toBe(0); // 1 still missing, 3..4 too
    expect(g.accept(0n, [2n, 5n], 5000).count).toBe(2); // 1 passed at 5000 (seen at 0); 3..4 seen at 0 too
  });

  it('honours auto_increment_increment', () => {
    const g = new GapTracker(60_000, 2n);
    expect(g.accept(1n, [3n, 5n, 9n], 0).count).toBe(2);
  });

  it('never accepts past a gap that is neither resolved nor old (property)', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { minLength: 1 }), (vals) => {
      const seqs = [...vals].sort((a, b) => a - b).map(BigInt);
      const { count } = new GapTracker(1_000_000).accept(0n, seqs, 0);
      const accepted = seqs.slice(0, count);
      accepted.forEach((s, i) => expect(s).toBe(BigInt(i + 1))); // exactly the contiguous prefix
      if (count < seqs.length) expect(seqs[count]).not.toBe(BigInt(count + 1));
    }));
  });
});
