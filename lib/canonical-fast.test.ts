/**
 * The hand-written fast paths of canonical.ts must read every input exactly as the general
 * (regex / bigint) paths they shortcut, which canonical.ts exports as references: the
 * properties compare both on generated text, including the layouts the fast paths decline.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalDecimal, canonicalTimestamp, canonicalTimestampByRegex, decimalToUnscaled, decimalToUnscaledByRegex, microsToTimestamp,
  microsToTimestampByBigint, smallUnscaled, timestampToMicros, timestampToMicrosByRegex, unscaledToDecimal,
} from './canonical.js';
import { fromTwosComplement, smallFromTwosComplement, smallTwosComplement, twosComplement } from './avro/table-avro.js';

// ---- references: the general paths canonical.ts falls back to ---------------------------

const refTimestampToMicros = timestampToMicrosByRegex;
const refCanonicalTimestamp = canonicalTimestampByRegex;
const refMicrosToTimestamp = microsToTimestampByBigint;
const refDecimalToUnscaled = decimalToUnscaledByRegex;

function refCanonicalDecimal(text: string, precision: number, scale: number): string {
  const unscaled = refDecimalToUnscaled(text, scale);
  if ((unscaled < 0n ? -unscaled : unscaled).toString().length > precision) throw new Error('does not fit');
  return unscaledToDecimal(unscaled, scale);
}

/** Same result, or both throw. */
function agree<T>(fast: () => T, ref: () => T): void {
  let expected: { ok: true; v: T } | { ok: false };
  try { expected = { ok: true, v: ref() }; } catch { expected = { ok: false }; }
  if (expected.ok) expect(fast()).toEqual(expected.v);
  else expect(fast).toThrow();
}

// ---- generators ------------------------------------------------------------------------

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'.split('')), minLength: min, maxLength: max });
const twoDigits = digits(2, 2);
const timestampText = fc.record({
  y: fc.oneof(digits(4, 4), digits(3, 5)), mo: twoDigits, d: twoDigits, h: twoDigits, mi: twoDigits, s: twoDigits,
  sep: fc.constantFrom(' ', 'T', 'x'), frac: fc.option(digits(0, 10)), off: fc.constantFrom('', 'Z', '+00', '-00:00', '+05:30', '-0200', ' '),
}).map(({ y, mo, d, h, mi, s, sep, frac, off }) => `${y}-${mo}-${d}${sep}${h}:${mi}:${s}${frac === null ? '' : `.${frac}`}${off}`);
const decimalText = fc.record({
  sign: fc.constantFrom('', '-', '+'), int: digits(0, 22), point: fc.boolean(), frac: digits(0, 8), exp: fc.constantFrom('', 'e2', 'E-1', 'e+0'), pad: fc.constantFrom('', ' '),
}).map(({ sign, int, point, frac, exp, pad }) => `${pad}${sign}${int}${point ? `.${frac}` : ''}${exp}`);

describe('fast paths of canonical values agree with the regex paths', () => {
  it('canonicalTimestamp', () => {
    fc.assert(fc.property(timestampText, (t) => agree(() => canonicalTimestamp(t), () => refCanonicalTimestamp(t))), { numRuns: 3000 });
    expect(canonicalTimestamp('2024-01-02T03:04:05.1234567Z')).toBe('2024-01-02 03:04:05.123456');
    expect(canonicalTimestamp('2024-01-02 03:04:05.123456')).toBe('2024-01-02 03:04:05.123456');
  });

  it('timestampToMicros, also for fields out of range (normalised as Date does)', () => {
    const canonical = fc.record({ y: digits(4, 4), mo: twoDigits, d: twoDigits, h: twoDigits, mi: twoDigits, s: twoDigits, f: digits(6, 6) })
      .map(({ y, mo, d, h, mi, s, f }) => `${y}-${mo}-${d} ${h}:${mi}:${s}.${f}`);
    fc.assert(fc.property(canonical, (t) => agree(() => timestampToMicros(t), () => refTimestampToMicros(t))), { numRuns: 3000 });
    fc.assert(fc.property(timestampText, (t) => agree(() => timestampToMicros(t), () => refTimestampToMicros(t))), { numRuns: 2000 });
    expect(timestampToMicros('0001-01-01 00:00:00.000000')).toBe(refTimestampToMicros('0001-01-01 00:00:00.000000'));
    expect(timestampToMicros('9999-12-31 23:59:59.999999')).toBe(refTimestampToMicros('9999-12-31 23:59:59.999999'));
  });

  it('decimalToUnscaled and canonicalDecimal', () => {
    fc.assert(fc.property(decimalText, fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 38 }), (t, scale, extra) => {
      agree(() => decimalToUnscaled(t, scale), () => refDecimalToUnscaled(t, scale));
      const precision = Math.max(scale, 1) + extra % 20;
      agree(() => canonicalDecimal(t, precision, scale), () => refCanonicalDecimal(t, precision, scale));
    }), { numRuns: 5000 });
    expect(canonicalDecimal('-0.00', 5, 2)).toBe('0.00');
    expect(canonicalDecimal('007.50', 5, 2)).toBe('7.50');
    expect(() => canonicalDecimal('1234.50', 5, 2)).toThrow();
    expect(smallUnscaled('9007199254740993', 0)).toBeUndefined(); // beyond 2^53: left to bigint
  });

  it('smallTwosComplement writes the same bytes as twosComplement', () => {
    const edges = [0, 1, -1, 127, 128, -128, -129, 2 ** 47 - 1, -(2 ** 47), 2 ** 47, -(2 ** 47) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    for (const n of edges) expect(smallTwosComplement(n).equals(twosComplement(BigInt(n)))).toBe(true);
    fc.assert(fc.property(fc.maxSafeInteger(), (n) => smallTwosComplement(n).equals(twosComplement(BigInt(n)))), { numRuns: 3000 });
  });

  it('microsToTimestamp', () => {
    const range = fc.bigInt({ min: -62_135_596_800_000_000n, max: 253_402_300_799_999_999n }); // years 1 to 9999
    fc.assert(fc.property(range, (us) => { expect(microsToTimestamp(us)).toBe(refMicrosToTimestamp(us)); }), { numRuns: 5000 });
    for (const us of [0n, -1n, 1n, -999n, -1000n, -1001n, 999n, 1000n]) expect(microsToTimestamp(us)).toBe(refMicrosToTimestamp(us));
    // any safe integer (years beyond 0–9999 take the Date path), given as a number or a bigint
    fc.assert(fc.property(fc.maxSafeInteger(), (us) => {
      expect(microsToTimestamp(us)).toBe(refMicrosToTimestamp(BigInt(us)));
      expect(microsToTimestamp(BigInt(us))).toBe(refMicrosToTimestamp(BigInt(us)));
    }), { numRuns: 3000 });
    for (const us of [-62_167_219_200_000_000, -62_167_219_200_000_001, 253_402_300_800_000_000]) expect(microsToTimestamp(us)).toBe(refMicrosToTimestamp(BigInt(us))); // 0000-01-01, the µs before, 10000-01-01
  });

  it('decimals of up to 6 bytes decode without bigint to the same text', () => {
    fc.assert(fc.property(fc.integer({ min: -(2 ** 47), max: 2 ** 47 - 1 }), fc.integer({ min: 0, max: 12 }), (n, scale) => {
      const bytes = twosComplement(BigInt(n));
      expect(smallFromTwosComplement(bytes)).toBe(Number(fromTwosComplement(bytes)));
      expect(unscaledToDecimal(n, scale)).toBe(unscaledToDecimal(BigInt(n), scale));
    }), { numRuns: 5000 });
    expect(smallFromTwosComplement(Buffer.from('800000000000', 'hex'))).toBe(-(2 ** 47));
    expect(smallFromTwosComplement(Buffer.alloc(0))).toBe(0);
  });
});
