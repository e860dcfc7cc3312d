import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EPOCH_2020_MICROS, originCode, stampOf, stampTimeMicros } from './stamp.js';

describe('stamps', () => {
  it('orders by time first, then by origin code', () => {
    fc.assert(fc.property(
      fc.bigInt({ min: EPOCH_2020_MICROS, max: EPOCH_2020_MICROS + 2_000_000_000_000_000n }),
      fc.bigInt({ min: EPOCH_2020_MICROS, max: EPOCH_2020_MICROS + 2_000_000_000_000_000n }),
      fc.string(), fc.string(),
      (t1, t2, o1, o2) => {
        const a = stampOf(t1, o1);
        const b = stampOf(t2, o2);
        if (t1 < t2) expect(a < b).toBe(true);
        if (t1 === t2) expect(a < b).toBe(originCode(o1) < originCode(o2));
        expect(stampTimeMicros(a)).toBe(t1);
      },
    ));
  });

  it('gives a stable 10-bit origin code', () => {
    expect(originCode('billing')).toBe(originCode('billing'));
    expect(originCode('billing')).toBeGreaterThanOrEqual(0);
    expect(originCode('billing')).toBeLessThan(1024);
    expect(originCode('billing')).not.toBe(originCode('invoice'));
  });

  it('fits in a signed 64-bit integer until 2090', () => {
    const year2090 = BigInt(Date.UTC(2090, 0, 1)) * 1000n;
    expect(stampOf(year2090, 'x') < 2n ** 63n).toBe(true);
  });
});
