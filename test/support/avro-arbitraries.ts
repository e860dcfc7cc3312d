/**
 * fast-check arbitraries for the Avro tests: random table schemas (every column type) and
 * change events over them in canonical values (lib/types.ts).
 */
import fc from 'fast-check';
import { microsToTimestamp, unscaledToDecimal } from '../../lib/canonical.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import type { ColumnSpec, ColumnType, Row, TableSchema, Value } from '../../lib/types.js';

export const columnType: fc.Arbitrary<ColumnType> = fc.oneof(
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
export function valueOf(t: ColumnType): fc.Arbitrary<Exclude<Value, null>> {
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

export const tableSchema: fc.Arbitrary<TableSchema> = fc.array(columnType, { minLength: 1, maxLength: 12 }).chain((types) => {
  const columns: ColumnSpec[] = types.map((type, i) => ({ name: i === 1 ? 'Full Name' : `c${i}`, type, nullable: i > 0 }));
  return fc.subarray(columns.map((c) => c.name), { minLength: 1 }).map((key) => ({ schema: 's', name: 't', columns, key }));
});

export function eventOf(t: TableSchema): fc.Arbitrary<ChangeEvent> {
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
