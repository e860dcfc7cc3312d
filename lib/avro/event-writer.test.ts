import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataError } from '../errors.js';
import type { ChangeEvent } from '../event/change-event.js';
import type { Row, TableSchema } from '../types.js';
import { eventOf, tableSchema } from '../../test/support/avro-arbitraries.js';
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

describe('compiled event writer', () => {
  it('writes the same key and envelope bytes as avsc for any table and event (property)', () => {
    fc.assert(fc.property(tableSchema.chain((t) => fc.tuple(fc.constant(t), eventOf(t))), ([t, e]) => {
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
