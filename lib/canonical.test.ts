import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalDecimal, canonicalTime, canonicalTimestamp, dateToDays, daysToDate, decimalToUnscaled,
  microsToTime, microsToTimestamp, timeToMicros, timestampToMicros, unscaledToDecimal,
} from './canonical.js';
import { DataError } from './errors.js';

describe('canonical values', () => {
  it('normalises timestamps to six fractional digits in UTC', () => {
    expect(canonicalTimestamp('2024-01-02 03:04:05')).toBe('2024-01-02 03:04:05.000000');
    expect(canonicalTimestamp('2024-01-02T03:04:05.12Z')).toBe('2024-01-02 03:04:05.120000');
    expect(canonicalTimestamp('2024-01-02 03:04:05.123456+00')).toBe('2024-01-02 03:04:05.123456');
    expect(canonicalTimestamp('2024-01-02 01:04:05.5-02:00')).toBe('2024-01-02 03:04:05.500000');
    expect(canonicalTimestamp('2024-01-01 00:30:00+05:30')).toBe('2023-12-31 19:00:00.000000');
    expect(() => canonicalTimestamp('yesterday')).toThrow(DataError);
  });

  it('round-trips timestamps through epoch microseconds, before and after 1970', () => {
    fc.assert(fc.property(fc.bigInt({ min: -2_000_000_000_000_000n, max: 4_000_000_000_000_000n }), (us) => {
      expect(timestampToMicros(microsToTimestamp(us))).toBe(us);
    }));
  });

  it('keeps dates as calendar days (no day shift)', () => {
    expect(daysToDate(dateToDays('1999-12-31'))).toBe('1999-12-31');
    expect(dateToDays('1970-01-01')).toBe(0);
    expect(daysToDate(-1)).toBe('1969-12-31');
  });

  it('round-trips times of day', () => {
    expect(canonicalTime('23:59:59.5')).toBe('23:59:59.500000');
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 86_399_999_999n }), (us) => {
      expect(timeToMicros(microsToTime(us))).toBe(us);
    }));
  });

  it('keeps decimals exact and rejects overflow and lost digits', () => {
    expect(canonicalDecimal('12.5', 10, 3)).toBe('12.500');
    expect(canonicalDecimal('-0.001', 5, 3)).toBe('-0.001');
    expect(canonicalDecimal('1.2e3', 10, 2)).toBe('1200.00');
    expect(canonicalDecimal('12.3400', 10, 2)).toBe('12.34');
    expect(() => canonicalDecimal('123456', 5, 0)).toThrow(/does not fit/);
    expect(() => canonicalDecimal('1.234', 10, 2)).toThrow(/fractional digits/);
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 12 }), (n, scale) => {
      expect(decimalToUnscaled(unscaledToDecimal(n, scale), scale)).toBe(n);
    }));
  });
});
