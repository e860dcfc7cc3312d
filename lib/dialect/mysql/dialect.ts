/** MySQL 8 and MariaDB 10.11: quoting, types and value conversion. */
import { canonicalValue } from '../../canonical.js';
import { DataError } from '../../errors.js';
import type { ColumnType, Value } from '../../types.js';
import type { NativeColumn, SqlDialect } from '../dialect.js';

export const mysqlDialect: SqlDialect = {
  name: 'mysql',
  quote: (id) => `\`${id.replace(/`/g, '``')}\``,
  qualified(t) {
    return t.schema ? `${this.quote(t.schema)}.${this.quote(t.name)}` : this.quote(t.name);
  },
  param: () => '?',

  columnType(c: NativeColumn): ColumnType {
    const full = (c.columnType ?? c.dataType).toLowerCase();
    const unsigned = full.includes('unsigned');
    const p = c.datetimePrecision ?? 0;
    switch (c.dataType) {
      case 'tinyint': return full.startsWith('tinyint(1)') ? { kind: 'bool' } : { kind: 'int', bits: unsigned ? 16 : 8 };
      case 'bit': return (c.numericPrecision ?? 1) === 1 ? { kind: 'bool' } : { kind: 'bytes' };
      case 'smallint': return { kind: 'int', bits: unsigned ? 32 : 16 };
      case 'mediumint': return { kind: 'int', bits: 32 };
      case 'int': case 'integer': return { kind: 'int', bits: unsigned ? 64 : 32 };
      case 'bigint': return unsigned ? { kind: 'decimal', precision: 20, scale: 0 } : { kind: 'int', bits: 64 };
      case 'float': return { kind: 'float', bits: 32 };
      case 'double': case 'real': return { kind: 'float', bits: 64 };
      case 'decimal': case 'numeric': return { kind: 'decimal', precision: c.numericPrecision ?? 10, scale: c.numericScale ?? 0 };
      case 'char': case 'varchar': case 'tinytext': case 'text': case 'mediumtext': case 'longtext': case 'enum': case 'set':
        return { kind: 'string', maxLength: c.charMaxLength && c.charMaxLength < 65536 ? c.charMaxLength : undefined };
      case 'json': return { kind: 'json' };
      case 'uuid': return { kind: 'uuid' };
      case 'binary': case 'varbinary': case 'tinyblob': case 'blob': case 'mediumblob': case 'longblob':
        return { kind: 'bytes', maxLength: c.charMaxLength && c.charMaxLength < 65536 ? c.charMaxLength : undefined };
      case 'date': return { kind: 'date' };
      case 'time': return { kind: 'time', precision: p };
      case 'datetime': return { kind: 'timestamp', precision: p, tz: false };
      case 'timestamp': return { kind: 'timestamp', precision: p, tz: true };
      default: throw new DataError(`column "${c.name}": MySQL type "${c.dataType}" is not supported`);
    }
  },

  nativeType(t: ColumnType): string {
    switch (t.kind) {
      case 'int': return t.bits === 64 ? 'BIGINT' : t.bits === 32 ? 'INT' : t.bits === 16 ? 'SMALLINT' : 'TINYINT';
      case 'float': return t.bits === 32 ? 'FLOAT' : 'DOUBLE';
      case 'decimal': return `DECIMAL(${Math.min(t.precision, 65)},${Math.min(t.scale, 30)})`;
      case 'bool': return 'BOOLEAN';
      // Keys cannot be TEXT in MySQL: an unbounded string becomes VARCHAR(768) (3072 bytes of utf8mb4 max key).
      case 'string': return t.maxLength && t.maxLength <= 16383 ? `VARCHAR(${t.maxLength})` : 'LONGTEXT';
      case 'json': return 'JSON';
      case 'uuid': return 'CHAR(36)';
      case 'bytes': return t.maxLength && t.maxLength <= 65535 ? `VARBINARY(${t.maxLength})` : 'LONGBLOB';
      case 'date': return 'DATE';
      case 'time': return `TIME(${Math.min(t.precision, 6)})`;
      // DATETIME, not TIMESTAMP: no session time-zone conversion and no 2038 limit; values are UTC.
      case 'timestamp': return `DATETIME(${Math.min(t.precision, 6)})`;
    }
  },

  toDb(v: Value, t: ColumnType): unknown {
    if (v === null) return null;
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (t.kind === 'json' && typeof v === 'string') return v;
    return v;
  },

  fromDb(v: unknown, t: ColumnType): Value {
    return canonicalValue(v, t);
  },
};

/** Key-safe DDL type: MySQL cannot index TEXT/BLOB without a prefix length. */
export function mysqlKeyType(t: ColumnType): string {
  if (t.kind === 'string' && !(t.maxLength && t.maxLength <= 768)) return 'VARCHAR(768)';
  if (t.kind === 'bytes' && !(t.maxLength && t.maxLength <= 3072)) return 'VARBINARY(3072)';
  return mysqlDialect.nativeType(t);
}
