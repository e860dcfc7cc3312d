import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventOf, tableSchema } from '../../test/support/avro-arbitraries.js';
import { DataError } from '../errors.js';
import type { ChangeEvent } from '../event/change-event.js';
import type { TableSchema } from '../types.js';
import { compileEnvelopeReader, envelopeReaderFor, type ReadEnvelope } from './event-reader.js';
import { AvroOut, compileEventWriter } from './event-writer.js';
import { avroTypeOf, rowFromAvro, valueSchema } from './table-avro.js';

const OPS = { INSERT: 'insert', UPDATE: 'update', DELETE: 'delete', SNAPSHOT: 'snapshot' } as const;

function body(t: TableSchema, e: ChangeEvent): Buffer {
  const out = new AvroOut(Buffer.alloc(1 << 16), 0);
  compileEventWriter(t).value(out, e);
  return Buffer.from(out.buf.subarray(0, out.pos));
}

/** avsc and rowFromAvro on the same bytes: the reference the reader must equal. */
function reference(t: TableSchema, bytes: Buffer): ReadEnvelope {
  const rec = avroTypeOf(valueSchema('t.x', t)).fromBuffer(bytes) as { op: keyof typeof OPS; origin: string; commitTimeMicros: bigint; position: string; changed: string[]; after: Record<string, unknown> | null };
  return { op: OPS[rec.op], origin: rec.origin, commitTimeMicros: rec.commitTimeMicros, position: rec.position, changed: rec.changed, after: rec.after ? rowFromAvro(rec.after, t.columns) : null };
}

describe('compiled envelope reader', () => {
  it('reads what avsc and rowFromAvro read, for any table and events (property)', () => {
    // one reader for several events in turn: what it remembers of one (the origin) must not leak into the next
    const origins = fc.constantFrom('billing', 'invoice', 'Zürich-1', '');
    fc.assert(fc.property(tableSchema.chain((t) => fc.tuple(fc.constant(t), fc.array(fc.tuple(eventOf(t), origins), { minLength: 1, maxLength: 4 }))), ([t, events]) => {
      const reader = compileEnvelopeReader(t);
      for (const [event, origin] of events) {
        const e = { ...event, origin };
        const bytes = body(t, e);
        const read = reader(bytes);
        expect(read).toEqual(reference(t, bytes));
        expect(read.origin).toBe(origin);
        expect(read.after).toEqual(e.after === null ? null : Object.fromEntries(t.columns.map((c) => [c.name, e.after![c.name] ?? null])));
      }
    }), { numRuns: 1_000 });
  });

  it('reads array blocks written with their byte size (negative counts), as Avro allows', () => {
    const t: TableSchema = { schema: '', name: 't', key: ['id'], columns: [{ name: 'id', type: { kind: 'int', bits: 32 }, nullable: false }] };
    // op UPDATE (1 → 0x02), origin "o", commit 5, position "p", changed: a block of -2 items of 4 bytes, then 0; after: null
    const bytes = Buffer.from([0x02, 0x02, 0x6f, 0x0a, 0x02, 0x70, 0x03, 0x08, 0x02, 0x61, 0x02, 0x62, 0x00, 0x00]);
    expect(compileEnvelopeReader(t)(bytes)).toEqual(reference(t, bytes));
    expect(compileEnvelopeReader(t)(bytes).changed).toEqual(['a', 'b']);
  });

  it('refuses a truncated message at every length, bytes left over and unknown branches, as DataError', () => {
    const t: TableSchema = { schema: '', name: 't', key: ['id'], columns: [
      { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false }, { name: 'note', type: { kind: 'string' }, nullable: true },
      { name: 'amount', type: { kind: 'decimal', precision: 30, scale: 2 }, nullable: true }, { name: 'at', type: { kind: 'timestamp', precision: 6, tz: true }, nullable: true },
    ] };
    const e: ChangeEvent = { op: 'insert', origin: 'src', commitTimeMicros: 1_700_000_000_000_000n, position: 'outbox:7', key: { id: 7n },
      after: { id: 7n, note: 'Zürich', amount: '123456789012345678.25', at: '2024-02-03 04:05:06.123456' }, changed: ['id', 'note'] };
    const bytes = body(t, e);
    const read = compileEnvelopeReader(t);
    expect(read(bytes)).toEqual(reference(t, bytes));
    for (let n = 0; n < bytes.length; n++) {
      expect(() => read(bytes.subarray(0, n))).toThrow(DataError);
      expect(() => reference(t, bytes.subarray(0, n))).toThrow(); // avsc refuses these too
    }
    expect(() => read(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(/1 bytes after/);
    expect(() => read(Buffer.from([0x08]))).toThrow(/unknown operation symbol 4/);
    const deleted = body(t, { ...e, op: 'delete', after: null, changed: [] });
    expect(deleted[deleted.length - 1]).toBe(0x00); // the after union's branch: null
    deleted[deleted.length - 1] = 0x04; // branch 2: there is none
    expect(() => read(deleted)).toThrow(/union branch 2 of field after/);
    expect(() => reference(t, deleted)).toThrow();
  });

  it('is used only for the envelope fieldsync generates for the table (any key order), else avsc reads', () => {
    const t: TableSchema = { schema: 's', name: 't', key: ['id'], columns: [{ name: 'id', type: { kind: 'int', bits: 64 }, nullable: false }, { name: 'n', type: { kind: 'string' }, nullable: true }] };
    const schema = valueSchema('topic.s.t', t);
    expect(envelopeReaderFor(schema, t)).toBeTypeOf('function');
    // the registry may hand the schema back with its keys in another order
    const reordered = JSON.parse(JSON.stringify(schema, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v))) as typeof schema;
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(schema));
    expect(envelopeReaderFor(reordered, t)).toBeTypeOf('function');
    const extraField = { ...schema, fields: [...(schema.fields as unknown[]), { name: 'extra', type: 'string' }] };
    expect(envelopeReaderFor(extraField, t)).toBeUndefined();
    const otherType = JSON.parse(JSON.stringify(schema).replace('"long"', '"int"')) as typeof schema;
    expect(envelopeReaderFor(otherType, t)).toBeUndefined();
  });
});
