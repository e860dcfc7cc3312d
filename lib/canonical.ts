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

export function timestampToMicros(canonical: string): bigint {
  const m = TS_RE.exec(canonical);
  if (!m) throw new DataError(`not a timestamp: "${canonical}"`);
  const [, y, mo, d, h, mi, s, frac = ''] = m;
  const ms = utcMillis(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(ms)) throw new DataError(`not a timestamp: "${canonical}"`);
  return BigInt(ms) * 1000n + BigInt((frac + '000000').slice(0, 6));
}

export function microsToTimestamp(micros: bigint): string {
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
  const unscaled = decimalToUnscaled(text, scale);
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString();
  if (digits.length > precision) throw new DataError(`decimal ${text} does not fit decimal(${precision},${scale})`);
  return unscaledToDecimal(unscaled, scale);
}

export function decimalToUnscaled(text: string, scale: number): bigint {
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

export function unscaledToDecimal(unscaled: bigint, scale: number): string {
  const neg = unscaled < 0n;
  const digits = (neg ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
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
