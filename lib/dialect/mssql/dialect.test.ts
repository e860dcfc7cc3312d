import { describe, expect, it } from 'vitest';
import type { NativeColumn } from '../dialect.js';
import { lobKindOf, mssqlDialect as d, readExpression } from './dialect.js';
import { classifyMssqlError, mssqlConfig } from './db.js';

const col = (dataType: string, extra: Partial<NativeColumn> = {}): NativeColumn => ({ name: 'c', dataType, nullable: true, ...extra });

/** A Date as tedious builds it for datetime2/time/datetimeoffset: ms in the Date, the rest in nanosecondsDelta (seconds). */
function driverDate(ms: number, ticksBelowMs: number): Date {
  const dt = new Date(ms);
  Object.defineProperty(dt, 'nanosecondsDelta', { enumerable: false, value: ticksBelowMs / 1e7 });
  return dt;
}

describe('mssqlDialect', () => {
  it('quotes with brackets, doubling a closing bracket', () => {
    expect(d.quote('a b')).toBe('[a b]');
    expect(d.quote('x]; DROP TABLE t; --')).toBe('[x]]; DROP TABLE t; --]');
    expect(d.qualified({ schema: 'dbo', name: 'clients' })).toBe('[dbo].[clients]');
    expect(d.param(3)).toBe('@p3');
  });

  it('maps SQL Server catalog types to the shared model', () => {
    expect(d.columnType(col('tinyint'))).toEqual({ kind: 'int', bits: 16 });
    expect(d.columnType(col('smallint'))).toEqual({ kind: 'int', bits: 16 });
    expect(d.columnType(col('int'))).toEqual({ kind: 'int', bits: 32 });
    expect(d.columnType(col('bigint'))).toEqual({ kind: 'int', bits: 64 });
    expect(d.columnType(col('bit'))).toEqual({ kind: 'bool' });
    expect(d.columnType(col('decimal', { numericPrecision: 12, numericScale: 2 }))).toEqual({ kind: 'decimal', precision: 12, scale: 2 });
    expect(d.columnType(col('numeric', { numericPrecision: 38, numericScale: 10 }))).toEqual({ kind: 'decimal', precision: 38, scale: 10 });
    expect(d.columnType(col('money'))).toEqual({ kind: 'decimal', precision: 19, scale: 4 });
    expect(d.columnType(col('smallmoney'))).toEqual({ kind: 'decimal', precision: 10, scale: 4 });
    expect(d.columnType(col('real', { numericPrecision: 24 }))).toEqual({ kind: 'float', bits: 32 });
    expect(d.columnType(col('float', { numericPrecision: 53 }))).toEqual({ kind: 'float', bits: 64 });
    expect(d.columnType(col('float', { numericPrecision: 24 }))).toEqual({ kind: 'float', bits: 32 });
    expect(d.columnType(col('nvarchar', { charMaxLength: 200 }))).toEqual({ kind: 'string', maxLength: 200 });
    expect(d.columnType(col('varchar', { charMaxLength: -1 }))).toEqual({ kind: 'string', maxLength: undefined });
    expect(d.columnType(col('ntext', { charMaxLength: 1073741823 }))).toEqual({ kind: 'string' });
    expect(d.columnType(col('uniqueidentifier'))).toEqual({ kind: 'uuid' });
    expect(d.columnType(col('binary', { charMaxLength: 16 }))).toEqual({ kind: 'bytes', maxLength: 16 });
    expect(d.columnType(col('varbinary', { charMaxLength: -1 }))).toEqual({ kind: 'bytes', maxLength: undefined });
    expect(d.columnType(col('image'))).toEqual({ kind: 'bytes' });
    expect(d.columnType(col('date'))).toEqual({ kind: 'date' });
    expect(d.columnType(col('time', { datetimePrecision: 7 }))).toEqual({ kind: 'time', precision: 7 });
    expect(d.columnType(col('datetime', { datetimePrecision: 3 }))).toEqual({ kind: 'timestamp', precision: 3, tz: false });
    expect(d.columnType(col('smalldatetime', { datetimePrecision: 0 }))).toEqual({ kind: 'timestamp', precision: 0, tz: false });
    expect(d.columnType(col('datetime2', { datetimePrecision: 7 }))).toEqual({ kind: 'timestamp', precision: 7, tz: false });
    expect(d.columnType(col('datetimeoffset', { datetimePrecision: 3 }))).toEqual({ kind: 'timestamp', precision: 3, tz: true });
    expect(() => d.columnType(col('geography'))).toThrow(/"c": SQL Server type "geography" is not supported/);
  });

  it('classifies LOB columns: (max) and xml vs legacy text/ntext/image', () => {
    expect(lobKindOf({ dataType: 'nvarchar', charMaxLength: -1 })).toBe('max');
    expect(lobKindOf({ dataType: 'varbinary', charMaxLength: -1 })).toBe('max');
    expect(lobKindOf({ dataType: 'xml', charMaxLength: -1 })).toBe('max');
    expect(lobKindOf({ dataType: 'nvarchar', charMaxLength: 4000 })).toBe('none');
    for (const t of ['text', 'ntext', 'image']) expect(lobKindOf({ dataType: t, charMaxLength: 2147483647 })).toBe('legacy');
  });

  it('converts what the mssql driver returns into canonical values', () => {
    // datetime2(7) 2025-01-02 03:04:05.1234567 with useUTC: ms in the Date, 4567 ticks of 100 ns below.
    expect(d.fromDb(driverDate(Date.UTC(2025, 0, 2, 3, 4, 5, 123), 4567), { kind: 'timestamp', precision: 7, tz: false })).toBe('2025-01-02 03:04:05.123456');
    // datetime (1/300 s) arrives rounded to ms without a delta.
    expect(d.fromDb(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 997)), { kind: 'timestamp', precision: 3, tz: false })).toBe('2025-01-02 03:04:05.997000');
    // datetimeoffset: the Date is the UTC instant already.
    expect(d.fromDb(driverDate(Date.UTC(2025, 0, 2, 1, 4, 5, 0), 10), { kind: 'timestamp', precision: 7, tz: true })).toBe('2025-01-02 01:04:05.000001');
    expect(d.fromDb('2025-01-02 03:04:05.1234567 +02:00', { kind: 'timestamp', precision: 7, tz: true })).toBe('2025-01-02 01:04:05.123456');
    expect(d.fromDb(new Date(Date.UTC(2025, 5, 30)), { kind: 'date' })).toBe('2025-06-30');
    expect(d.fromDb(driverDate(Date.UTC(1970, 0, 1, 23, 59, 58, 999), 9990), { kind: 'time', precision: 7 })).toBe('23:59:58.999999');
    expect(d.fromDb('-12345678901234567890.1234', { kind: 'decimal', precision: 38, scale: 4 })).toBe('-12345678901234567890.1234');
    expect(d.fromDb(12.5, { kind: 'decimal', precision: 10, scale: 2 })).toBe('12.50');
    expect(d.fromDb('9223372036854775807', { kind: 'int', bits: 64 })).toBe(9223372036854775807n);
    expect(d.fromDb(255, { kind: 'int', bits: 16 })).toBe(255);
    expect(d.fromDb(true, { kind: 'bool' })).toBe(true);
    expect(d.fromDb('A1B2C3D4-0000-4000-8000-00000000000F', { kind: 'uuid' })).toBe('a1b2c3d4-0000-4000-8000-00000000000f');
    expect(d.fromDb(Buffer.from([1, 2]), { kind: 'bytes' })).toEqual(Buffer.from([1, 2]));
    expect(d.fromDb('zoë 例え', { kind: 'string' })).toBe('zoë 例え');
    expect(d.fromDb(null, { kind: 'string' })).toBeNull();
  });

  it('binds canonical values in forms SQL Server converts exactly', () => {
    expect(d.toDb(9007199254740993n, { kind: 'int', bits: 64 })).toBe('9007199254740993');
    expect(d.toDb('2025-01-02 03:04:05.123456', { kind: 'timestamp', precision: 6, tz: true })).toBe('2025-01-02 03:04:05.123456+00:00');
    expect(d.toDb('2025-01-02 03:04:05.123456', { kind: 'timestamp', precision: 6, tz: false })).toBe('2025-01-02 03:04:05.123456');
  });

  it('renders DDL types and reads decimals as exact text', () => {
    expect(d.nativeType({ kind: 'int', bits: 8 })).toBe('SMALLINT');
    expect(d.nativeType({ kind: 'timestamp', precision: 6, tz: true })).toBe('DATETIMEOFFSET(6)');
    expect(d.nativeType({ kind: 'string', maxLength: 5000 })).toBe('NVARCHAR(MAX)');
    expect(readExpression('c.[amount]', { kind: 'decimal', precision: 19, scale: 4 }, 'amount')).toBe('CONVERT(varchar(64), CAST(c.[amount] AS decimal(19,4))) AS [amount]');
    expect(readExpression('c.[id]', { kind: 'int', bits: 32 }, 'id')).toBe('c.[id] AS [id]');
  });
});

describe('SQL Server connections', () => {
  it('parses mssql:// URLs and ADO.NET connection strings, always with useUTC', () => {
    const u = mssqlConfig('mssql://sa:p%40ss@db.example:14330/billing?encrypt=false&trustServerCertificate=true', 6);
    expect(u).toMatchObject({ server: 'db.example', port: 14330, user: 'sa', password: 'p@ss', database: 'billing', pool: { max: 6 } });
    expect(u.options).toMatchObject({ encrypt: false, trustServerCertificate: true, useUTC: true });
    const a = mssqlConfig('Server=db.example,1433;Database=billing;User Id=sa;Password=secret;Encrypt=true;TrustServerCertificate=true');
    expect(a).toMatchObject({ server: 'db.example', port: 1433, user: 'sa', password: 'secret', database: 'billing' });
    expect(a.options).toMatchObject({ useUTC: true });
  });

  it('marks transient driver errors retriable and others not', () => {
    expect(classifyMssqlError('x', Object.assign(new Error('deadlock'), { number: 1205 })).retriable).toBe(true);
    expect(classifyMssqlError('x', Object.assign(new Error('gone'), { code: 'ESOCKET' })).retriable).toBe(true);
    expect(classifyMssqlError('x', Object.assign(new Error('bad'), { number: 313 })).retriable).toBe(false);
    expect(classifyMssqlError('unable to read', new Error('boom')).message).toBe('unable to read: boom');
  });
});
