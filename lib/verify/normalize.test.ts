import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mssqlDialect } from '../dialect/mssql/dialect.js';
import { mysqlDialect } from '../dialect/mysql/dialect.js';
import { postgresDialect } from '../dialect/postgres/dialect.js';
import type { ColumnSpec } from '../types.js';
import { rangeSelect } from './keyset.js';
import { ChunkChecksum, compareKind, comparisonText, normalizeJsonText, normalizeNumberText, rowDigest } from './normalize.js';

describe('verify value normalisation', () => {
  it('renders decimals of different scales and integers alike', () => {
    expect(normalizeNumberText('12.3400')).toBe('12.34');
    expect(normalizeNumberText('0012')).toBe('12');
    expect(normalizeNumberText('-0.000')).toBe('0');
    expect(normalizeNumberText('-1.50')).toBe('-1.5');
    expect(comparisonText('12.3400000000', 'number')).toBe(comparisonText(12.34, 'number'));
    expect(comparisonText(9007199254740993n, 'number')).toBe('D9007199254740993');
  });

  it('renders PostgreSQL jsonb and MariaDB JSON text of the same document alike', () => {
    expect(normalizeJsonText('{"n": 1, "tag": "t1"}')).toBe(normalizeJsonText('{"tag":"t1","n":1}'));
    expect(normalizeJsonText('{"a": [1, {"c": 2, "b": 3}]}')).toBe('{"a":[1,{"b":3,"c":2}]}');
  });

  it('keeps NULL, the empty string and the text "null" apart', () => {
    const texts = [comparisonText(null, 'text'), comparisonText('', 'text'), comparisonText('null', 'text'), comparisonText('N', 'text')];
    expect(new Set(texts).size).toBe(4);
  });

  it('chooses one comparison per column pair', () => {
    expect(compareKind({ kind: 'json' }, { kind: 'string' })).toBe('json');
    expect(compareKind({ kind: 'uuid' }, { kind: 'string', maxLength: 36 })).toBe('text');
    expect(compareKind({ kind: 'int', bits: 64 }, { kind: 'decimal', precision: 20, scale: 0 })).toBe('number');
    expect(compareKind({ kind: 'float', bits: 32 }, { kind: 'float', bits: 64 })).toBe('float32');
    expect(comparisonText(1.100000023841858, 'float32')).toBe(comparisonText(1.1, 'float32'));
  });

  it('sums row digests into a checksum that ignores row order but not duplicates', () => {
    fc.assert(fc.property(fc.array(fc.array(fc.string(), { minLength: 1, maxLength: 4 }), { maxLength: 30 }), (rows) => {
      const digests = rows.map((r) => rowDigest(r));
      const a = new ChunkChecksum();
      const b = new ChunkChecksum();
      digests.forEach((d) => a.add(d));
      [...digests].reverse().forEach((d) => b.add(d));
      expect(a.equals(b)).toBe(true);
      if (digests.length) {
        const c = new ChunkChecksum();
        [...digests, digests[0]!, digests[0]!].forEach((d) => c.add(d));
        expect(c.equals(a)).toBe(false);
      }
    }));
    expect(rowDigest(['ab', 'c'])).not.toBe(rowDigest(['a', 'bc']));
  });
});

describe('verify keyset SQL', () => {
  const key: ColumnSpec[] = [
    { name: 'tenant', type: { kind: 'string', maxLength: 20 }, nullable: false },
    { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
  ];
  it('walks a composite key by byte order in PostgreSQL', () => {
    const q = rangeSelect(postgresDialect, { table: '"s"."t"', columns: ['tenant', 'id', 'x"y'], key, after: ['a', 5n], upTo: ['b', 1n], limit: 100 });
    expect(q.sql).toBe('SELECT "tenant", "id", "x""y" FROM "s"."t" WHERE ("tenant" COLLATE "C" > $1 OR ("tenant" COLLATE "C" = $2 AND "id" > $3))'
      + ' AND NOT ("tenant" COLLATE "C" > $4 OR ("tenant" COLLATE "C" = $5 AND "id" > $6)) ORDER BY "tenant" COLLATE "C", "id" LIMIT 100');
    expect(q.params).toEqual(['a', 'a', '5', 'b', 'b', '1']);
  });
  it('walks a composite key by byte order in MySQL, with exact integer comparison', () => {
    const q = rangeSelect(mysqlDialect, { table: '`t`', columns: ['tenant', 'id'], key, after: ['a', 5n], limit: 10 });
    expect(q.sql).toBe('SELECT `tenant`, `id` FROM `t` WHERE (BINARY `tenant` > ? OR (BINARY `tenant` = ? AND `id` > CAST(? AS SIGNED))) ORDER BY BINARY `tenant`, `id` LIMIT 10');
    expect(rangeSelect(mysqlDialect, { table: '`t`', columns: ['id'], key: [key[1]!], limit: 10 }).sql).toBe('SELECT `id` FROM `t` ORDER BY `id` LIMIT 10');
  });
  it('uses TOP and a BIN2 collation in SQL Server', () => {
    const q = rangeSelect(mssqlDialect, { table: '[dbo].[t]', columns: ['tenant', 'id'], key, after: ['a', 5n], limit: 10 });
    expect(q.sql).toBe('SELECT TOP (10) [tenant], [id] FROM [dbo].[t] WHERE ([tenant] COLLATE Latin1_General_100_BIN2 > @p1 OR ([tenant] COLLATE Latin1_General_100_BIN2 = @p2 AND [id] > @p3))'
      + ' ORDER BY [tenant] COLLATE Latin1_General_100_BIN2, [id]');
  });
});
