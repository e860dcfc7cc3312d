/**
 * SQL Server: quoting ([brackets]), catalog types → the shared type model, and the
 * values the `mssql` (tedious) driver returns → canonical values (lib/types.ts).
 *
 * What the driver returns and how it becomes canonical:
 *   tinyint/smallint/int → number; bigint → string (exact) → bigint
 *   decimal/numeric/money/smallmoney → number (a double: lossy past 15 digits), so
 *     fieldsync's own queries select them through `readExpression` as exact text
 *   bit → boolean; uniqueidentifier → upper-case string → lower-case
 *   binary/varbinary/image/rowversion → Buffer
 *   datetime/datetime2/smalldatetime → Date whose UTC fields are the stored wall clock
 *     (pools are opened with useUTC: true), datetime2's digits below the millisecond in
 *     the non-enumerable `nanosecondsDelta` (seconds); datetimeoffset → Date at the UTC
 *     instant (plus nanosecondsDelta); date → Date at UTC midnight; time → Date on
 *     1970-01-01 UTC (plus nanosecondsDelta)
 * Columns without a time zone are taken as UTC, like everywhere in fieldsync.
 *
 * LOB columns ((n)varchar(max), varbinary(max), xml, and the legacy text/ntext/image)
 * are flagged `lob: true` in their ColumnSpec: CDC reports them as NULL in update rows
 * that did not change them, so the CDC source treats them specially (see cdc-rows.ts).
 */
import { canonicalDecimal, canonicalTime, canonicalTimestamp, canonicalValue, microsToTimestamp } from '../../canonical.js';
import { DataError } from '../../errors.js';
import type { ColumnType, Value } from '../../types.js';
import type { NativeColumn, SqlDialect } from '../dialect.js';

/** How CDC reports a column in update rows: ordinary, (max)-style LOB, or legacy text/ntext/image. */
export type LobKind = 'none' | 'max' | 'legacy';

const LEGACY_LOB = new Set(['text', 'ntext', 'image']);
const MAX_CAPABLE = new Set(['varchar', 'nvarchar', 'varbinary']);

export function lobKindOf(c: Pick<NativeColumn, 'dataType' | 'charMaxLength'>): LobKind {
  const t = c.dataType.toLowerCase();
  if (LEGACY_LOB.has(t)) return 'legacy';
  if (t === 'xml') return 'max';
  if (MAX_CAPABLE.has(t) && c.charMaxLength === -1) return 'max';
  return 'none';
}

/** Milliseconds since the epoch plus the driver's sub-millisecond digits, in microseconds. */
function dateMicros(d: Date): bigint {
  const delta = (d as Date & { nanosecondsDelta?: number }).nanosecondsDelta;
  // nanosecondsDelta is in seconds (ticks of 100 ns / 1e7); round to whole ticks first so
  // floating point noise (0.0001234 * 1e7 = 1233.9999…) never loses a microsecond.
  const ticks = typeof delta === 'number' && Number.isFinite(delta) ? Math.round(delta * 1e7) : 0;
  return BigInt(d.getTime()) * 1000n + BigInt(Math.floor(ticks / 10));
}

/** SQL Server writes datetimeoffset text as "YYYY-MM-DD hh:mm:ss.fffffff +hh:mm". */
function timestampText(s: string): string {
  return canonicalTimestamp(s.trim().replace(/\s+([+-]\d{2}:?\d{2})$/, '$1'));
}

export const mssqlDialect: SqlDialect = {
  name: 'mssql',
  quote: (id) => `[${id.replace(/]/g, ']]')}]`,
  qualified(t) {
    return t.schema ? `${this.quote(t.schema)}.${this.quote(t.name)}` : this.quote(t.name);
  },
  param: (i) => `@p${i}`,

  columnType(c: NativeColumn): ColumnType {
    const len = c.charMaxLength ?? undefined;
    const bounded = len !== undefined && len !== null && len > 0 ? len : undefined;
    const p = c.datetimePrecision ?? 7;
    switch (c.dataType.toLowerCase()) {
      // tinyint is unsigned (0..255): it does not fit a signed 8-bit integer.
      case 'tinyint': return { kind: 'int', bits: 16 };
      case 'smallint': return { kind: 'int', bits: 16 };
      case 'int': return { kind: 'int', bits: 32 };
      case 'bigint': return { kind: 'int', bits: 64 };
      case 'bit': return { kind: 'bool' };
      case 'decimal': case 'numeric': return { kind: 'decimal', precision: c.numericPrecision ?? 18, scale: c.numericScale ?? 0 };
      case 'money': return { kind: 'decimal', precision: 19, scale: 4 };
      case 'smallmoney': return { kind: 'decimal', precision: 10, scale: 4 };
      case 'real': return { kind: 'float', bits: 32 };
      // float(n): n ≤ 24 is a 4-byte real, otherwise 8 bytes; the catalog reports precision 24 or 53.
      case 'float': return { kind: 'float', bits: (c.numericPrecision ?? 53) <= 24 ? 32 : 64 };
      case 'char': case 'varchar': case 'nchar': case 'nvarchar': case 'sysname':
        return { kind: 'string', maxLength: bounded };
      case 'text': case 'ntext': case 'xml': return { kind: 'string' };
      case 'uniqueidentifier': return { kind: 'uuid' };
      case 'binary': case 'varbinary': return { kind: 'bytes', maxLength: bounded };
      case 'image': return { kind: 'bytes' };
      case 'timestamp': case 'rowversion': return { kind: 'bytes', maxLength: 8 };
      case 'date': return { kind: 'date' };
      case 'time': return { kind: 'time', precision: Math.min(p, 7) };
      case 'datetime': return { kind: 'timestamp', precision: 3, tz: false };
      case 'smalldatetime': return { kind: 'timestamp', precision: 0, tz: false };
      case 'datetime2': return { kind: 'timestamp', precision: Math.min(p, 7), tz: false };
      case 'datetimeoffset': return { kind: 'timestamp', precision: Math.min(p, 7), tz: true };
      default: throw new DataError(`column "${c.name}": SQL Server type "${c.dataType}" is not supported`);
    }
  },

  nativeType(t: ColumnType): string {
    switch (t.kind) {
      // A signed 8-bit value does not fit tinyint (0..255).
      case 'int': return t.bits === 64 ? 'BIGINT' : t.bits === 32 ? 'INT' : 'SMALLINT';
      case 'float': return t.bits === 32 ? 'REAL' : 'FLOAT';
      case 'decimal': return `DECIMAL(${Math.min(t.precision, 38)},${Math.min(t.scale, 38)})`;
      case 'bool': return 'BIT';
      case 'string': return t.maxLength && t.maxLength <= 4000 ? `NVARCHAR(${t.maxLength})` : 'NVARCHAR(MAX)';
      case 'json': return 'NVARCHAR(MAX)';
      case 'uuid': return 'UNIQUEIDENTIFIER';
      case 'bytes': return t.maxLength && t.maxLength <= 8000 ? `VARBINARY(${t.maxLength})` : 'VARBINARY(MAX)';
      case 'date': return 'DATE';
      case 'time': return `TIME(${Math.min(t.precision, 7)})`;
      case 'timestamp': return t.tz ? `DATETIMEOFFSET(${Math.min(t.precision, 7)})` : `DATETIME2(${Math.min(t.precision, 7)})`;
    }
  },

  toDb(v: Value, t: ColumnType): unknown {
    if (v === null) return null;
    if (typeof v === 'bigint') return v.toString();
    // Canonical timestamps are UTC wall clocks; datetimeoffset needs the zone spelled out.
    if (t.kind === 'timestamp' && t.tz && typeof v === 'string') return `${v}+00:00`;
    return v;
  },

  fromDb(v: unknown, t: ColumnType): Value {
    if (v === null || v === undefined) return null;
    switch (t.kind) {
      case 'timestamp':
        if (v instanceof Date) return microsToTimestamp(dateMicros(v));
        if (typeof v === 'string') return timestampText(v);
        break;
      case 'date':
        if (v instanceof Date) return v.toISOString().slice(0, 10);
        break;
      case 'time':
        if (v instanceof Date) return microsToTimestamp(dateMicros(v)).slice(11);
        if (typeof v === 'string') return canonicalTime(v);
        break;
      case 'decimal':
        // A double from the driver is exact only to ~15 digits; fieldsync's own queries
        // read decimals through readExpression (text). A number is formatted at the
        // column's scale, which is exact for every value a double can hold exactly.
        if (typeof v === 'number') return canonicalDecimal(v.toFixed(Math.min(t.scale, 100)), t.precision, t.scale);
        break;
      case 'uuid':
        return String(v).toLowerCase();
      default:
        break;
    }
    return canonicalValue(v, t);
  },
};

/**
 * The select expression that reads a column exactly through the driver: decimals
 * (and money, whose text style 0 would round to 2 digits) as plain decimal text; every
 * other type as itself. `column` is an already quoted column reference.
 */
export function readExpression(column: string, t: ColumnType, alias: string): string {
  const as = mssqlDialect.quote(alias);
  if (t.kind === 'decimal') return `CONVERT(varchar(64), CAST(${column} AS decimal(${Math.min(t.precision, 38)},${Math.min(t.scale, 38)}))) AS ${as}`;
  return `${column} AS ${as}`;
}
