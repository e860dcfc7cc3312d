/** PostgreSQL: quoting, types and value conversion. */
import { canonicalValue } from '../../canonical.js';
import { DataError } from '../../errors.js';
import type { ColumnType, Value } from '../../types.js';
import type { NativeColumn, SqlDialect } from '../dialect.js';

export const postgresDialect: SqlDialect = {
  name: 'postgres',
  quote: (id) => `"${id.replace(/"/g, '""')}"`,
  qualified(t) {
    return t.schema ? `${this.quote(t.schema)}.${this.quote(t.name)}` : this.quote(t.name);
  },
  param: (i) => `$${i}`,

  columnType(c: NativeColumn): ColumnType {
    const p = c.datetimePrecision ?? 6;
    switch (c.dataType) {
      case 'smallint': return { kind: 'int', bits: 16 };
      case 'integer': return { kind: 'int', bits: 32 };
      case 'bigint': return { kind: 'int', bits: 64 };
      case 'real': return { kind: 'float', bits: 32 };
      case 'double precision': return { kind: 'float', bits: 64 };
      // An unconstrained numeric has no fixed scale; it is carried as decimal(38,10).
      case 'numeric': return { kind: 'decimal', precision: c.numericPrecision ?? 38, scale: c.numericScale ?? 10 };
      case 'money': return { kind: 'decimal', precision: 19, scale: 2 };
      case 'boolean': return { kind: 'bool' };
      case 'character varying': case 'character': case 'text': case 'citext':
        return { kind: 'string', maxLength: c.charMaxLength ?? undefined };
      case 'json': case 'jsonb': return { kind: 'json' };
      case 'uuid': return { kind: 'uuid' };
      case 'bytea': return { kind: 'bytes' };
      case 'date': return { kind: 'date' };
      case 'time without time zone': return { kind: 'time', precision: p };
      case 'timestamp without time zone': return { kind: 'timestamp', precision: p, tz: false };
      case 'timestamp with time zone': return { kind: 'timestamp', precision: p, tz: true };
      default: throw new DataError(`column "${c.name}": PostgreSQL type "${c.dataType}" is not supported`);
    }
  },

  nativeType(t: ColumnType): string {
    switch (t.kind) {
      case 'int': return t.bits === 64 ? 'bigint' : t.bits === 32 ? 'integer' : 'smallint';
      case 'float': return t.bits === 32 ? 'real' : 'double precision';
      case 'decimal': return `numeric(${t.precision},${t.scale})`;
      case 'bool': return 'boolean';
      case 'string': return t.maxLength && t.maxLength <= 10485760 ? `varchar(${t.maxLength})` : 'text';
      case 'json': return 'jsonb';
      case 'uuid': return 'uuid';
      case 'bytes': return 'bytea';
      case 'date': return 'date';
      case 'time': return `time(${Math.min(t.precision, 6)})`;
      case 'timestamp': return `${t.tz ? 'timestamptz' : 'timestamp'}(${Math.min(t.precision, 6)})`;
    }
  },

  toDb(v: Value, t: ColumnType): unknown {
    if (v === null) return null;
    if (typeof v === 'bigint') return v.toString();
    if (t.kind === 'timestamp' && t.tz) return `${String(v)}+00`;
    return v;
  },

  fromDb(v: unknown, t: ColumnType): Value {
    return canonicalValue(v, t);
  },
};
