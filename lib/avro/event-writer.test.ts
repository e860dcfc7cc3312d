import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { microsToTimestamp, unscaledToDecimal } from '../canonical.js';
import { DataError } from '../errors.js';
import type { ChangeEvent } from '../event/change-event.js';
import type { ColumnSpec, ColumnType, Row, TableSchema, Value } from '../types.js';
import { AvroOut, NO_ROOM, compileEventWriter } from './event-writer.js';
import { avroTypeOf, keySchema, rowToAvro, valueSchema } from './table-avro.js';

const OP_SYMBOLS = { insert: 'INSERT', update: 'UPDATE', delete: 'DELETE', snapshot: 'SNAPSHOT' } as const;

/** avsc's bytes for an event: the reference the writer must match. */
function reference(table: TableSchema, e: ChangeEvent): { key: Buffer; value: Buffer } {
  const keyColumns = table.key.map((k) => table.columns.find((c) => c.name === k)!);
  return {
    key: avroTypeOf(keySchema('t.x', table)).toBuffer(rowToAvro(e.key, keyColumns)),
    value: avroTypeOf(valueSchema('t.x', table)).toBuffer({
      op: OP_SYMBOLS[e.op], origin: e.origin, commitTimeMicros: e.commitTimeMicros, position: e.position, changed: e.changed,
      after: e.after ? rowToAvro(e.after, table.columns) : null,
    }),
  };
}

function written(write: (out: AvroOut) => void, size = 1 << 16): Buffer {
  const out = new AvroOut(Buffer.alloc(size), 3); // not at 0: the codec writes after earlier messages
  write(out);
  return out.buf.subarray(3, out.pos);
}

const columnType: fc.Arbitrary<ColumnType> = fc.oneof(
  fc.constantFrom<ColumnType>(
    { kind: 'int', bits: 16 }, { kind: 'int', bits: 32 }, { kind: 'int', bits: 64 }, { kind: 'float', bits: 32 }, { kind: 'float', bits: 64 },
    { kind: 'bool' }, { kind: 'string' }, { kind: 'json' }, { kind: 'uuid' }, { kind: 'bytes' }, { kind: 'date' }, { kind: 'time', precision: 6 },
    { kind: 'timestamp', precision: 6, tz: false }, { kind: 'timestamp', precision: 3, tz: true },
  ),
  fc.integer({ min: 1, max: 38 }).chain((precision) => fc.integer({ min: 0, max: precision }).map((scale): ColumnType => ({ kind: 'decimal', precision, scale }))),
);

const text = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ unit: 'grapheme', minLength: 20, maxLength: 400 }));
const MICROS = { min: -62135596800000000n, max: 253402300799999999n }; // years 1..9999

/** A canonical value of a column type (types.ts), never null. */
function valueOf(t: ColumnType): fc.Arbitrary<Exclude<Value, null>> {
  switch (t.kind) {
    case 'int':
      if (t.bits === 64) return fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: -1000n, max: 1000n }), fc.constantFrom(2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n));
      return fc.integer({ min: -(2 ** (t.bits - 1)), max: 2 ** (t.bits - 1) - 1 });
    case 'float': return t.bits === 32 ? fc.float({ noNaN: true }).map((f) => Math.fround(f)) : fc.double();
    case 'decimal': {
      const limit = 10n ** BigInt(t.precision) - 1n;
      return fc.oneof(fc.bigInt({ min: -limit, max: limit }), fc.bigInt({ min: -99999n, max: 99999n })).map((u) => unscaledToDecimal(u, t.scale));
    }
    case 'bool': return fc.boolean();
    case 'string': case 'json': return text;
    case 'uuid': return fc.uuid();
    case 'bytes': return fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
    case 'date': return fc.bigInt(MICROS).map((us) => microsToTimestamp(us).slice(0, 10));
    case 'time': return fc.integer({ min: 0, max: 86_399_999_999 }).map((us) => microsToTimestamp(BigInt(us)).slice(11));
    case 'timestamp': return fc.oneof(fc.bigInt(MICROS), fc.bigInt({ min: 1_600_000_000_000_000n, max: 1_900_000_000_000_000n })).map(microsToTimestamp);
  }
}

const table: fc.Arbitrary<TableSchema> = fc.array(columnType, { minLength: 1, maxLength: 12 }).chain((types) => {
  const columns: ColumnSpec[] = types.map((type, i) => ({ name: i === 1 ? 'Full Name' : `c${i}`, type, nullable: i > 0 }));
  return fc.subarray(columns.map((c) => c.name), { minLength: 1 }).map((key) => ({ schema: 's', name: 't', columns, key }));
});

function event(t: TableSchema): fc.Arbitrary<ChangeEvent> {
  const row: fc.Arbitrary<Row> = fc.tuple(...t.columns.map((c) => (t.key.includes(c.name) ? valueOf(c.type) : fc.option(valueOf(c.type), { freq: 4 }))))
    .map((values) => Object.fromEntries(t.columns.map((c, i) => [c.name, values[i]!])));
  return fc.record({
    op: fc.constantFrom('insert', 'update', 'delete', 'snapshot' as const),
    origin: text,
    commitTimeMicros: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    position: fc.string({ maxLength: 60 }),
    row,
    changed: fc.subarray(t.columns.map((c) => c.name)),
  }).map(({ row: r, ...e }): ChangeEvent => ({
    ...e,
    key: Object.fromEntries(t.key.map((k) => [k, r[k]!])),
    after: e.op === 'delete' ? null : r,
    changed: e.op === 'delete' ? [] : e.changed,
  }));
}

describe('compiled event writer', () => {
  it('writes the same key and envelope bytes as avsc for any table and event (property)', () => {
    fc.assert(fc.property(table.chain((t) => fc.tuple(fc.constant(t), event(t))), ([t, e]) => {
      const w = compileEventWriter(t);
      const ref = reference(t, e);
      expect(written((out) => w.key(out, e.key)).equals(ref.key)).toBe(true);
      expect(written((out) => w.value(out, e)).equals(ref.value)).toBe(true);
    }), { numRuns: 1_500 });
  });

  it('writes a row with missing members as NULLs, as rowToAvro does', () => {
    const t: TableSchema = { schema: '', name: 't', key: ['id'], columns: [{ name: 'id', type: { kind: 'int', bits: 32 }, nullable: false }, { name: 'note', type: { kind: 'string' }, nullable: true }] };
    const e: ChangeEvent = { op: 'update', origin: 'o', commitTimeMicros: 5n, position: 'outbox:1', key: { id: 1 }, after: { id: 1 }, changed: ['id'] };
    expect(written((out) => compileEventWriter(t).value(out, e)).equals(reference(t, e).value)).toBe(true);
  });

  it('refuses what avsc refuses, naming the column', () => {
    const t: TableSchema = { schema: '', name: 't', key: ['id'], columns: [
      { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false }, { name: 'n', type: { kind: 'int', bits: 32 }, nullable: true }, { name: 'd', type: { kind: 'date' }, nullable: true },
    ] };
    const w = compileEventWriter(t);
    const e = (after: Row): ChangeEvent => ({ op: 'insert', origin: 'o', commitTimeMicros: 1n, position: 'p', key: { id: 1n }, after, changed: [] });
    expect(() => written((out) => w.value(out, e({ id: 1n, n: 2 ** 31 })))).toThrow(/column "n".*32-bit/);
    expect(() => written((out) => w.value(out, e({ id: 1n, n: 1.5 })))).toThrow(DataError);
    expect(() => written((out) => w.value(out, e({ id: 2n ** 63n })))).toThrow(/column "id".*64-bit/);
    expect(() => written((out) => w.value(out, e({ id: 1n, d: 'someday' })))).toThrow(/column "d"/);
    expect(() => written((out) => w.key(out, { id: null }))).toThrow(/key column "id" is NULL/);
    for (const bad of [{ id: 1n, n: 2 ** 31 }, { id: 2n ** 63n }] as Row[]) {
      expect(() => reference(t, e(bad))).toThrow(); // avsc refuses these as well
    }
  });

  it('throws NO_ROOM, and nothing else, when the buffer is too small, at every size', () => {
    const t: TableSchema = { schema: '', name: 't', key: ['id'], columns: [
      { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false }, { name: 's', type: { kind: 'string' }, nullable: true },
      { name: 'b', type: { kind: 'bytes' }, nullable: true }, { name: 'x', type: { kind: 'decimal', precision: 38, scale: 2 }, nullable: true },
    ] };
    const e: ChangeEvent = { op: 'insert', origin: 'origin', commitTimeMicros: 1n, position: 'outbox:9', key: { id: 7n },
      after: { id: 7n, s: 'Zürich '.repeat(20), b: Buffer.alloc(100, 1), x: '123456789012345678901234567890.25' }, changed: ['id', 's'] };
    const full = written((out) => compileEventWriter(t).value(out, e));
    expect(full.equals(reference(t, e).value)).toBe(true);
    for (let size = 3; size < full.length + 3; size++) {
      let thrown: unknown;
      try { written((out) => compileEventWriter(t).value(out, e), size); } catch (err) { thrown = err; }
      expect(thrown).toBe(NO_ROOM);
    }
    // room() asks for a long's 10 bytes at most, so the last long may need a few spare bytes
    expect(written((out) => compileEventWriter(t).value(out, e), full.length + 3 + 10).equals(full)).toBe(true);
  });
});
