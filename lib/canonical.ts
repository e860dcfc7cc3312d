/**
 * Conversions into the canonical value forms documented in types.ts. Shared by the
 * dialects (driver values) and the Avro codec, so a value read from any database and a
 * value decoded from Kafka compare equal exactly when they are the same value.
 */
import { DataError } from './errors.js';
import type { ColumnType, Value } from './types.js';

/**
 * Date.UTC for any year: Date.UTC maps years 0–99 to 1900–1999, which would turn
 * SQL Server's 0001-01-01 (.NET's DateTime.MinValue) into 1901-01-01.
 */
function utcMillis(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  const t = new Date(Date.UTC(2000, 0, 1, h, mi, s));
  t.setUTCFullYear(y, mo, d);
  return t.getTime();
}

const TS_RE = /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/** "YYYY-MM-DD HH:MM:SS[.f…][offset]" → "YYYY-MM-DD HH:MM:SS.ffffff" in UTC. */
export function canonicalTimestamp(text: string): string {
  const f = timestampFields(text);
  if (f) {
    if (f.fracEnd === 26 && text.length === 26 && text.charCodeAt(10) === 32) return text; // already canonical
    return `${text.slice(0, 10)} ${text.slice(11, 19)}.${text.slice(20, Math.min(f.fracEnd, 26)).padEnd(6, '0')}`;
  }
  return canonicalTimestampByRegex(text);
}

export function timestampToMicros(canonical: string): bigint {
  const micros = timestampToSafeMicros(canonical);
  return micros !== undefined ? BigInt(micros) : timestampToMicrosByRegex(canonical);
}

/**
 * timestampToMicros as a number, for the common canonical layout whose micros are a safe
 * integer; undefined for anything else (then timestampToMicros decides, or throws).
 */
export function timestampToSafeMicros(s: string): number | undefined {
  // the canonical layout only ("YYYY-MM-DD HH:MM:SS.ffffff"), read in place: no fields
  // object per call, as the Avro writer calls this for every timestamp it writes
  if (s.length !== 26 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 32
    || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 || s.charCodeAt(19) !== 46) return undefined;
  const y = digitsAt(s, 0, 4), mo = digitsAt(s, 5, 7), d = digitsAt(s, 8, 10);
  const h = digitsAt(s, 11, 13), mi = digitsAt(s, 14, 16), sec = digitsAt(s, 17, 19), us = digitsAt(s, 20, 26);
  // a time of day in range adds to midnight exactly as utcMillis computes it (UTC has no
  // DST); out-of-range fields are left to utcMillis and its Date normalisation
  if (y < 0 || mo < 0 || d < 0 || us < 0 || h < 0 || h >= 24 || mi < 0 || mi >= 60 || sec < 0 || sec >= 60) return undefined;
  const micros = (midnightMillis(y, mo, d) + ((h * 60 + mi) * 60 + sec) * 1000) * 1000 + us;
  return Number.isSafeInteger(micros) ? micros : undefined;
}

const SAFE_MICROS = BigInt(Number.MAX_SAFE_INTEGER);

export function microsToTimestamp(micros: bigint | number): string {
  if (typeof micros === 'bigint') {
    if (micros > SAFE_MICROS || micros < -SAFE_MICROS) return microsToTimestampByBigint(micros);
    micros = Number(micros);
  }
  // the day's date from a cache, the time of day by hand: consecutive rows mostly share a
  // few days, and a Date with its ISO string per value was most of an applier's decoding
  const us = micros;
  const day = Math.floor(us / 86_400_000_000);
  const date = dayText(day);
  if (date !== undefined) {
    let t = us - day * 86_400_000_000; // 0 <= t < 86,400,000,000: exact
    const frac = t % 1_000_000;
    t = (t - frac) / 1_000_000;
    const s = t % 60;
    t = (t - s) / 60;
    const mi = t % 60;
    const h = (t - mi) / 60;
    return `${date} ${TWO_DIGITS[h]}:${TWO_DIGITS[mi]}:${TWO_DIGITS[s]}.${frac < 100_000 ? String(frac).padStart(6, '0') : frac}`;
  }
  return microsToTimestampByDate(us);
}

const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));

/** "YYYY-MM-DD" of recently seen days (days since the epoch), for years 0–9999; else undefined. */
const dayTexts = new Map<number, string>();

function dayText(day: number): string | undefined {
  let text = dayTexts.get(day);
  if (text === undefined) {
    const iso = new Date(day * 86_400_000).toISOString();
    if (iso.length !== 24) return undefined; // a year outside 0–9999 ("+010000-…"): the general path
    if (dayTexts.size >= 4096) dayTexts.clear();
    text = iso.slice(0, 10);
    dayTexts.set(day, text);
  }
  return text;
}

/** microsToTimestamp of a safe integer through Date (the layout of any year Date prints). */
function microsToTimestampByDate(us: number): string {
  // the same split in exact integer arithmetic on doubles (% and the division are exact here)
  let rest = us % 1000;
  let ms = (us - rest) / 1000;
  if (rest < 0) { rest += 1000; ms -= 1; }
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${rest < 10 ? '00' : rest < 100 ? '0' : ''}${rest}`;
}

// ---- The hot capture and applier paths see the same few layouts millions of times, so the
// ---- functions above read them by hand. Each takes a shortcut only for input the general
// ---- path below reads the same way; the general paths are exported as the reference that
// ---- canonical-fast.test.ts compares the shortcuts with.

/** The number written by s[from, to), or -1 if one of them is not a digit. */
function digitsAt(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

interface TimestampFields { y: number; mo: number; d: number; h: number; mi: number; s: number; fracEnd: number }

/**
 * The fields of "YYYY-MM-DD[ T]HH:MM:SS[.f{1,9}][Z]" with a 4-digit year, read by hand in
 * one pass; the fraction is s[20, fracEnd) (empty when fracEnd is 19). Undefined for any
 * other layout.
 */
function timestampFields(s: string): TimestampFields | undefined {
  const n = s.length;
  if (n < 19 || n > 30) return undefined;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
  const sep = s.charCodeAt(10);
  if (sep !== 32 && sep !== 84) return undefined;
  const f = { y: digitsAt(s, 0, 4), mo: digitsAt(s, 5, 7), d: digitsAt(s, 8, 10), h: digitsAt(s, 11, 13), mi: digitsAt(s, 14, 16), s: digitsAt(s, 17, 19), fracEnd: 19 };
  if (f.y < 0 || f.mo < 0 || f.d < 0 || f.h < 0 || f.mi < 0 || f.s < 0) return undefined;
  let end = n;
  if (s.charCodeAt(end - 1) === 90) end--; // 'Z'
  if (end === 19) return f;
  if (s.charCodeAt(19) !== 46 || end - 20 < 1 || end - 20 > 9 || digitsAt(s, 20, end) < 0) return undefined;
  f.fracEnd = end;
  return f;
}

/** Midnight (UTC ms) of recently seen dates: consecutive rows mostly share a few days. */
const dayMillis = new Map<number, number>();

function midnightMillis(y: number, mo: number, d: number): number {
  const k = (y * 100 + mo) * 100 + d;
  let ms = dayMillis.get(k);
  if (ms === undefined) {
    if (dayMillis.size >= 4096) dayMillis.clear();
    ms = utcMillis(y, mo - 1, d);
    dayMillis.set(k, ms);
  }
  return ms;
}

/** canonicalTimestamp for any layout TS_RE accepts, offsets included (the reference). */
export function canonicalTimestampByRegex(text: string): string {
  const m = TS_RE.exec(text.trim());
  if (!m) throw new DataError(`not a timestamp: "${text}"`);
  const [, y, mo, d, h, mi, s, frac = '', off] = m;
  const micros = (frac + '000000').slice(0, 6);
  if (!off || off === 'Z' || /^[+-]00(:?00)?$/.test(off)) return `${y}-${mo}-${d} ${h}:${mi}:${s}.${micros}`;
  // Non-UTC offset: shift through epoch micros.
  const sign = off.startsWith('-') ? -1 : 1;
  const [oh, om = '0'] = off.slice(1).split(':').length > 1 ? off.slice(1).split(':') : [off.slice(1, 3), off.slice(3) || '0'];
  const offsetMicros = BigInt(sign * (Number(oh) * 3600 + Number(om) * 60)) * 1_000_000n;
  const local = timestampToMicros(`${y}-${mo}-${d} ${h}:${mi}:${s}.${micros}`);
  return microsToTimestamp(local - offsetMicros);
}

/** timestampToMicros through TS_RE and utcMillis (the reference). */
export function timestampToMicrosByRegex(canonical: string): bigint {
  const m = TS_RE.exec(canonical);
  if (!m) throw new DataError(`not a timestamp: "${canonical}"`);
  const [, y, mo, d, h, mi, s, frac = ''] = m;
  const ms = utcMillis(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(ms)) throw new DataError(`not a timestamp: "${canonical}"`);
  return BigInt(ms) * 1000n + BigInt((frac + '000000').slice(0, 6));
}

/** microsToTimestamp in bigint arithmetic, for any value (the reference). */
export function microsToTimestampByBigint(micros: bigint): string {
  let ms = micros / 1000n;
  let rest = micros % 1000n;
  if (rest < 0n) { rest += 1000n; ms -= 1n; }
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${rest.toString().padStart(3, '0')}`;
}

export function canonicalDate(text: string): string {
  const m = /^(\d{4,})-(\d{2})-(\d{2})/.exec(text.trim());
  if (!m) throw new DataError(`not a date: "${text}"`);
  return `${m[1]}-${m[2]}-${m[3]}`;
}

export function dateToDays(canonical: string): number {
  const [y, m, d] = canonical.split('-').map(Number);
  return Math.round(utcMillis(y!, m! - 1, d!) / 86_400_000);
}

export function daysToDate(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

export function canonicalTime(text: string): string {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/.exec(text.trim());
  if (!m) throw new DataError(`not a time of day: "${text}"`);
  return `${m[1]}:${m[2]}:${m[3]}.${((m[4] ?? '') + '000000').slice(0, 6)}`;
}

export function timeToMicros(canonical: string): bigint {
  const [hms = '', frac = '0'] = canonical.split('.');
  const [h, m, s] = hms.split(':').map(Number);
  return BigInt((h! * 3600 + m! * 60 + s!)) * 1_000_000n + BigInt((frac + '000000').slice(0, 6));
}

export function microsToTime(micros: bigint): string {
  const secs = micros / 1_000_000n;
  const frac = (micros % 1_000_000n).toString().padStart(6, '0');
  const h = (secs / 3600n).toString().padStart(2, '0');
  const m = ((secs / 60n) % 60n).toString().padStart(2, '0');
  const s = (secs % 60n).toString().padStart(2, '0');
  return `${h}:${m}:${s}.${frac}`;
}

/** Decimal text → plain notation with exactly `scale` fractional digits; rejects overflow. */
export function canonicalDecimal(text: string, precision: number, scale: number): string {
  if (isCanonicalDecimal(text, precision, scale)) return text;
  const unscaled = decimalToUnscaled(text, scale);
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString();
  if (digits.length > precision) throw new DataError(`decimal ${text} does not fit decimal(${precision},${scale})`);
  return unscaledToDecimal(unscaled, scale);
}

/**
 * True when `text` is already what unscaledToDecimal prints for its value and fits the
 * precision: optional "-", no leading zeros, exactly `scale` fraction digits, not -0.
 */
function isCanonicalDecimal(s: string, precision: number, scale: number): boolean {
  const neg = s.charCodeAt(0) === 45 ? 1 : 0;
  const point = scale > 0 ? s.length - scale - 1 : s.length;
  if (point - neg < 1 || (scale > 0 && s.charCodeAt(point) !== 46)) return false;
  if (point - neg + scale > precision) return false;
  if (s.charCodeAt(neg) === 48 && point - neg > 1) return false; // leading zero
  let nonZero = false;
  for (let i = neg; i < s.length; i++) {
    if (i === point) continue;
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return false;
    if (c !== 0) nonZero = true;
  }
  return nonZero || !neg;
}

/**
 * The unscaled value as a number when `text` is a plain decimal ("-12.5", no exponent)
 * whose unscaled value is a safe integer; undefined otherwise (use decimalToUnscaled).
 * A value with more than `scale` fraction digits is left to decimalToUnscaled to judge.
 */
export function smallUnscaled(s: string, scale: number): number | undefined {
  let i = 0;
  const c0 = s.charCodeAt(0);
  const neg = c0 === 45;
  if (neg || c0 === 43) i = 1;
  let n = 0;
  let digits = 0;
  let frac = -1;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (frac >= 0) return undefined;
      frac = 0;
      continue;
    }
    const dgt = c - 48;
    if (dgt < 0 || dgt > 9) return undefined;
    n = n * 10 + dgt;
    digits++;
    if (frac >= 0) frac++;
  }
  if (digits === 0 || digits > 15 || frac > scale) return undefined;
  for (let k = frac < 0 ? 0 : frac; k < scale; k++) n *= 10;
  if (!Number.isSafeInteger(n)) return undefined;
  return neg ? -n : n;
}

export function decimalToUnscaled(text: string, scale: number): bigint {
  const small = smallUnscaled(text, scale);
  return small !== undefined ? BigInt(small) : decimalToUnscaledByRegex(text, scale);
}

/** decimalToUnscaled for any decimal text, exponents included (the reference). */
export function decimalToUnscaledByRegex(text: string, scale: number): bigint {
  const m = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new DataError(`not a decimal: "${text}"`);
  const [, sign, intPart = '', fracPart = '', exp = '0'] = m;
  let digits = intPart + fracPart;
  let pointShift = -fracPart.length + Number(exp) + scale; // power of ten to apply to `digits`
  if (pointShift < 0) {
    const dropped = digits.slice(digits.length + pointShift);
    if (/[1-9]/.test(dropped)) throw new DataError(`decimal ${text} has more than ${scale} fractional digits`);
    digits = digits.slice(0, digits.length + pointShift);
    pointShift = 0;
  }
  const v = BigInt((digits || '0') + '0'.repeat(pointShift));
  return sign === '-' ? -v : v;
}

export function unscaledToDecimal(unscaled: bigint | number, scale: number): string {
  // a safe integer (small decimals, decoded without bigint) prints the same digits
  const neg = unscaled < 0;
  const digits = (typeof unscaled === 'bigint' ? (neg ? -unscaled : unscaled) : Math.abs(unscaled)).toString().padStart(scale + 1, '0');
  const out = scale > 0 ? `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}` : digits;
  return neg ? `-${out}` : out;
}

/** Coerce a driver or decoded value into canonical form for a column type. */
export function canonicalValue(v: unknown, t: ColumnType, column = '?'): Value {
  if (v === null || v === undefined) return null;
  try {
    switch (t.kind) {
      case 'int':
        if (t.bits === 64) return typeof v === 'bigint' ? v : BigInt(String(v));
        return typeof v === 'number' ? v : Number(v);
      case 'float':
        return typeof v === 'number' ? v : Number(v);
      case 'decimal':
        return canonicalDecimal(String(v), t.precision, t.scale);
      case 'bool':
        if (typeof v === 'boolean') return v;
        if (Buffer.isBuffer(v)) return v[0] === 1;
        return v === 1 || v === '1' || v === 't' || v === 'true' || v === 1n;
      case 'string':
        return String(v);
      case 'json':
        return typeof v === 'string' ? v : JSON.stringify(v);
      case 'uuid':
        return String(v).toLowerCase();
      case 'bytes':
        if (Buffer.isBuffer(v)) return v;
        if (v instanceof Uint8Array) return Buffer.from(v);
        throw new DataError(`expected binary, got ${typeof v}`);
      case 'date':
        return v instanceof Date ? v.toISOString().slice(0, 10) : canonicalDate(String(v));
      case 'time':
        return canonicalTime(String(v));
      case 'timestamp':
        return v instanceof Date ? microsToTimestamp(BigInt(v.getTime()) * 1000n) : canonicalTimestamp(String(v));
    }
  } catch (e) {
    if (e instanceof DataError) throw new DataError(`column "${column}": ${e.message}`, e);
    throw e;
  }
}

/** Equality of canonical values (Buffers by content). */
export function valuesEqual(a: Value, b: Value): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return a === b;
}
