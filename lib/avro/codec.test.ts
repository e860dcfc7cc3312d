import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../event/change-event.js';
import type { TableSchema } from '../types.js';
import { EventCodec, type RegisteredTable, unframe } from './codec.js';
import { compileEventWriter } from './event-writer.js';
import { avroTypeOf, keySchema, rowFromAvro, valueSchema } from './table-avro.js';

const table: TableSchema = {
  schema: 'public', name: 'items', key: ['id'],
  columns: [
    { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
    { name: 'note', type: { kind: 'string' }, nullable: true },
    { name: 'amount', type: { kind: 'decimal', precision: 38, scale: 4 }, nullable: true },
    { name: 'at', type: { kind: 'timestamp', precision: 6, tz: false }, nullable: true },
  ],
};

function registered(): RegisteredTable {
  return { topic: 't', table, keyId: 7, valueId: 8, keyType: avroTypeOf(keySchema('t', table)), valueType: avroTypeOf(valueSchema('t', table)), writer: compileEventWriter(table) };
}

// encode() needs no registry: the schemas are registered already
const codec = () => new EventCodec({ url: 'http://127.0.0.1:9', compatibility: 'BACKWARD' } as ConstructorParameters<typeof EventCodec>[0]);

const event = (id: bigint, note: string, amount: string): ChangeEvent => ({
  op: 'update', origin: 'src', commitTimeMicros: 1_700_000_000_000_000n + id, position: `outbox:${id}`,
  key: { id }, after: { id, note, amount, at: '2024-02-03 04:05:06.123456' }, changed: ['note'],
});

describe('EventCodec.encode', () => {
  it('writes messages into shared slabs without ever overwriting one handed out (property)', () => {
    const reg = registered();
    const c = codec();
    fc.assert(fc.property(fc.array(fc.tuple(fc.bigInt({ min: 1n, max: 2n ** 62n }), fc.string({ maxLength: 3000 }), fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n })), { minLength: 1, maxLength: 400 }), (rows) => {
      const events = rows.map(([id, note, unscaled]) => event(id, note, `${unscaled < 0n ? '-' : ''}${(unscaled < 0n ? -unscaled : unscaled) / 10000n}.${((unscaled < 0n ? -unscaled : unscaled) % 10000n).toString().padStart(4, '0')}`));
      const encoded = events.map((e) => c.encode(reg, e));
      // decoded only after all were encoded: a later message must not have overwritten an earlier one
      encoded.forEach(({ key, value }, i) => {
        const e = events[i]!;
        const k = unframe(key);
        const v = unframe(value);
        expect([k.schemaId, v.schemaId]).toEqual([7, 8]);
        expect(rowFromAvro(reg.keyType.fromBuffer(k.body) as Record<string, unknown>, [table.columns[0]!])).toEqual(e.key);
        const rec = reg.valueType.fromBuffer(v.body) as { op: string; position: string; after: Record<string, unknown> };
        expect(rec.op).toBe('UPDATE');
        expect(rec.position).toBe(e.position);
        expect(rowFromAvro(rec.after, table.columns)).toEqual({ ...e.after, amount: e.after!.amount === '-0.0000' ? '0.0000' : e.after!.amount });
      });
    }), { numRuns: 60 });
  });

  it('encodes a message larger than a slab on its own', () => {
    const reg = registered();
    const big = 'x'.repeat(600 * 1024);
    const { value } = codec().encode(reg, event(1n, big, '1.0000'));
    const rec = reg.valueType.fromBuffer(unframe(value).body) as { after: { note: string } };
    expect(rec.after.note).toBe(big);
  });
});
