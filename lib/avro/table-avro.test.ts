import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TableSchema } from '../types.js';
import { avroFieldName, avroTypeOf, fromTwosComplement, rowFromAvro, rowToAvro, tableFromValueSchema, twosComplement, valueSchema } from './table-avro.js';

const table: TableSchema = {
  schema: 'dbo', name: 'Clients', key: ['id'],
  columns: [
    { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
    { name: 'Full Name', type: { kind: 'string' }, nullable: true },
    { name: 'amount', type: { kind: 'decimal', precision: 19, scale: 4 }, nullable: true },
    { name: 'born', type: { kind: 'date' }, nullable: true },
    { name: 'at', type: { kind: 'timestamp', precision: 7, tz: true }, nullable: true },
    { name: 'wake', type: { kind: 'time', precision: 6 }, nullable: true },
    { name: 'doc', type: { kind: 'json' }, nullable: true },
    { name: 'photo', type: { kind: 'bytes' }, nullable: true, lob: true },
    { name: 'ok', type: { kind: 'bool' }, nullable: true },
  ],
};

describe('table Avro schemas', () => {
  it('decimal bytes are two\'s complement big-endian', () => {
    expect(twosComplement(0n)).toEqual(Buffer.from([0]));
    expect(twosComplement(127n)).toEqual(Buffer.from([0x7f]));
    expect(twosComplement(128n)).toEqual(Buffer.from([0x00, 0x80]));
    expect(twosComplement(-1n)).toEqual(Buffer.from([0xff]));
    expect(twosComplement(-128n)).toEqual(Buffer.from([0x80]));
    expect(twosComplement(-129n)).toEqual(Buffer.from([0xff, 0x7f]));
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 130n), max: 2n ** 130n }), (n) => {
      expect(fromTwosComplement(twosComplement(n))).toBe(n);
    }));
  });

  it('names invalid Avro field names stably and keeps the column name', () => {
    expect(avroFieldName('Full Name')).toMatch(/^_x[0-9a-f]+$/);
    expect(tableFromValueSchema(valueSchema('p.s.dbo.Clients', table))).toEqual({ ...table, columns: table.columns.map((c) => ({ ...c, nullable: true })) });
  });

  it('round-trips a row through the generated schema', () => {
    const type = avroTypeOf(valueSchema('p.s.dbo.Clients', table));
    const row = { id: 2n ** 62n, 'Full Name': 'Zoë 🚀', amount: '-922337203685477.5808', born: '1900-02-28', at: '2038-01-19 03:14:08.999999', wake: '06:30:00.000001', doc: '{"a":[1,2]}', photo: Buffer.from([1, 2, 3]), ok: false };
    const buf = type.toBuffer({ op: 'INSERT', origin: 'x', commitTimeMicros: 1n, position: 'p', changed: ['id'], after: rowToAvro(row, table.columns) });
    const back = type.fromBuffer(buf) as { after: Record<string, unknown> };
    expect(rowFromAvro(back.after, table.columns)).toEqual(row);
  });
});

describe('Avro long as bigint', () => {
  it('writes every int64 as the zigzag varint of its value and reads it back exactly (property)', () => {
    const long = avroTypeOf({ type: 'long' });
    const ref = (n: bigint): Buffer => {
      // the Avro spec's encoding: zigzag, then 7 bits at a time, low first
      let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
      const out: number[] = [];
      while (z >= 0x80n) { out.push(Number(z & 0x7fn) | 0x80); z >>= 7n; }
      out.push(Number(z));
      return Buffer.from(out);
    };
    const edges = [0n, 1n, -1n, 2n ** 31n, -(2n ** 31n), 2n ** 32n - 1n, BigInt(Number.MAX_SAFE_INTEGER), -BigInt(Number.MAX_SAFE_INTEGER), 2n ** 53n, 2n ** 63n - 1n, -(2n ** 63n)];
    fc.assert(fc.property(fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.maxSafeInteger().map(BigInt), fc.constantFrom(...edges)), (n) => {
      const bytes = long.toBuffer(n);
      expect(bytes.equals(ref(n))).toBe(true);
      expect(long.fromBuffer(bytes)).toBe(n);
    }), { numRuns: 3_000 });
  });
});
