/**
 * Avro schemas for one table's topic, generated from its columns, and the value
 * conversions between canonical values (types.ts) and Avro.
 *
 * Key   = record of the key columns (non-null).
 * Value = the envelope: op, origin, commit time, position, changed columns, and the row
 *         after the change (null for a delete), every row field nullable with default null
 *         so that adding a nullable column is a BACKWARD-compatible schema change.
 *
 * Every field carries a `fieldsync.type` attribute with the shared ColumnType (and
 * `fieldsync.column` with the original column name when it is not a valid Avro name), so
 * a consumer rebuilds the exact TableSchema from the writer's schema alone.
 */
import avro from 'avsc';
import { dateToDays, daysToDate, decimalToUnscaled, smallUnscaled, microsToTime, microsToTimestamp, timeToMicros, timestampToMicros, unscaledToDecimal } from '../canonical.js';
import { DataError } from '../errors.js';
import type { ChangeOp } from '../event/change-event.js';
import { checkColumnNames, type ColumnSpec, type ColumnType, type Row, type TableSchema, type Value } from '../types.js';

export type AvroSchema = Record<string, unknown>;

const AVRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Avro field name for a column: the column name when valid, else a stable hex form. */
export function avroFieldName(column: string): string {
  return AVRO_NAME.test(column) ? column : `_x${Buffer.from(column, 'utf8').toString('hex')}`;
}

function namespaceOf(topic: string): string {
  return topic.split('.').map((p) => p.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(\d)/, '_$1')).join('.');
}

/** The change operations in the order of the envelope's `Op` enum: index i is symbol i. */
export const ENVELOPE_OPS: readonly ChangeOp[] = ['insert', 'update', 'delete', 'snapshot'];

function avroType(t: ColumnType): unknown {
  switch (t.kind) {
    case 'int': return t.bits === 64 ? 'long' : 'int';
    case 'float': return t.bits === 32 ? 'float' : 'double';
    case 'decimal': return { type: 'bytes', logicalType: 'decimal', precision: t.precision, scale: t.scale };
    case 'bool': return 'boolean';
    case 'string': case 'json': return 'string';
    case 'uuid': return { type: 'string', logicalType: 'uuid' };
    case 'bytes': return 'bytes';
    case 'date': return { type: 'int', logicalType: 'date' };
    case 'time': return { type: 'long', logicalType: 'time-micros' };
    case 'timestamp': return { type: 'long', logicalType: t.tz ? 'timestamp-micros' : 'local-timestamp-micros' };
  }
}

function fieldOf(c: ColumnSpec, nullable: boolean): AvroSchema {
  const f: AvroSchema = {
    name: avroFieldName(c.name),
    type: nullable ? ['null', avroType(c.type)] : avroType(c.type),
    'fieldsync.type': c.type,
  };
  if (nullable) f.default = null;
  if (f.name !== c.name) f['fieldsync.column'] = c.name;
  if (c.lob) f['fieldsync.lob'] = true;
  return f;
}

export function keySchema(topic: string, table: TableSchema): AvroSchema {
  const cols = table.key.map((k) => table.columns.find((c) => c.name === k)!);
  return { type: 'record', name: 'Key', namespace: namespaceOf(topic), fields: cols.map((c) => fieldOf(c, false)) };
}

export function valueSchema(topic: string, table: TableSchema): AvroSchema {
  return {
    type: 'record',
    name: 'Envelope',
    namespace: namespaceOf(topic),
    'fieldsync.table': { schema: table.schema, name: table.name, key: table.key },
    fields: [
      { name: 'op', type: { type: 'enum', name: 'Op', symbols: ENVELOPE_OPS.map((op) => op.toUpperCase()) } },
      { name: 'origin', type: 'string' },
      { name: 'commitTimeMicros', type: { type: 'long', logicalType: 'timestamp-micros' } },
      { name: 'position', type: 'string' },
      { name: 'changed', type: { type: 'array', items: 'string' } },
      { name: 'after', type: ['null', { type: 'record', name: 'Row', fields: table.columns.map((c) => fieldOf(c, true)) }], default: null },
    ],
  };
}

/** Rebuild the TableSchema a value schema was generated from. */
export function tableFromValueSchema(schema: AvroSchema): TableSchema {
  const meta = schema['fieldsync.table'] as { schema: string; name: string; key: string[] } | undefined;
  const fields = schema.fields as AvroSchema[] | undefined;
  const after = fields?.find((f) => f.name === 'after');
  const rowType = Array.isArray(after?.type) ? (after.type as AvroSchema[])[1] : undefined;
  if (!meta || !rowType || !Array.isArray(rowType.fields)) throw new DataError('schema is not a fieldsync envelope (no fieldsync.table / after row)');
  const columns: ColumnSpec[] = (rowType.fields as AvroSchema[]).map((f) => {
    const type = f['fieldsync.type'] as ColumnType | undefined;
    if (!type) throw new DataError(`envelope field ${String(f.name)} has no fieldsync.type`);
    const col: ColumnSpec = { name: (f['fieldsync.column'] as string | undefined) ?? String(f.name), type, nullable: true };
    if (f['fieldsync.lob']) col.lob = true;
    return col;
  });
  checkColumnNames(`${meta.schema ? `${meta.schema}.` : ''}${meta.name}`, columns.map((c) => c.name));
  return { schema: meta.schema, name: meta.name, columns, key: meta.key };
}

// ---------- values ----------

/** avsc `long` as JavaScript bigint, so int64 values and stamps are exact. */
const longScratch = Buffer.alloc(8);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const BigLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  // one scratch buffer: avsc packs the 8 bytes into the output at once (Tap.packLongBytes)
  toBuffer: (n: bigint) => {
    // safe integers as two 32-bit halves: writeBigInt64LE makes several bigints per value
    if (n <= MAX_SAFE && n >= -MAX_SAFE) {
      const x = Number(n);
      const high = Math.floor(x / 4294967296);
      longScratch.writeUInt32LE(x - high * 4294967296, 0);
      longScratch.writeInt32LE(high, 4);
    } else {
      longScratch.writeBigInt64LE(n);
    }
    return longScratch;
  },
  fromJSON: (v: unknown) => BigInt(v as string),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/** `{type: 'long', logicalType}` → `'long'`, so avsc resolves it through the bigint registry entry. */
function plainLongs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(plainLongs);
  if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o.type === 'long' && Object.keys(o).every((k) => k === 'type' || k === 'logicalType')) return 'long';
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, k === 'fieldsync.type' ? v : plainLongs(v)]));
  }
  return node;
}

export function avroTypeOf(schema: AvroSchema): avro.Type {
  return avro.Type.forSchema(plainLongs(schema) as avro.Schema, { registry: { long: BigLong } as unknown as Record<string, avro.Type>, wrapUnions: false });
}

function toAvro(v: Value, t: ColumnType, column: string): unknown {
  if (v === null) return null;
  switch (t.kind) {
    case 'int': {
      if (t.bits === 64) return typeof v === 'bigint' ? v : BigInt(v as number);
      const n = Number(v);
      if (!Number.isInteger(n)) throw new DataError(`column "${column}": ${String(v)} is not an integer`);
      return n;
    }
    case 'decimal': {
      const text = String(v);
      const small = smallUnscaled(text, t.scale);
      return small !== undefined ? smallTwosComplement(small) : twosComplement(decimalToUnscaled(text, t.scale));
    }
    case 'date': return dateToDays(String(v));
    case 'time': return timeToMicros(String(v));
    case 'timestamp': return timestampToMicros(String(v));
    case 'bytes': return Buffer.isBuffer(v) ? v : Buffer.from(String(v));
    case 'float': return Number(v);
    case 'bool': return Boolean(v);
    default: return String(v);
  }
}

function fromAvro(v: unknown, t: ColumnType): Value {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'int': return t.bits === 64 ? (v as bigint) : (v as number);
    case 'decimal': return decimalFromTwosComplement(v as Buffer, t.scale);
    case 'date': return daysToDate(v as number);
    case 'time': return microsToTime(v as bigint);
    case 'timestamp': return microsToTimestamp(v as bigint);
    default: return v as Value;
  }
}

/** Avro field names of a column list (cached per list: a table's columns are one array until it changes). */
const fieldNames = new WeakMap<ColumnSpec[], string[]>();

/**
 * A row as the Avro record avsc encodes. The codec writes its bytes with event-writer.ts
 * instead; this stays as the reference that writer's test compares with.
 */
export function rowToAvro(row: Row, columns: ColumnSpec[]): Record<string, unknown> {
  let names = fieldNames.get(columns);
  if (!names) { names = columns.map((c) => avroFieldName(c.name)); fieldNames.set(columns, names); }
  const out: Record<string, unknown> = {};
  for (let i = 0; i < columns.length; i++) {
    const c = columns[i]!;
    out[names[i]!] = toAvro(row[c.name] ?? null, c.type, c.name);
  }
  return out;
}

/** Decode an Avro row with the writer's columns; columns not in the writer schema are absent. */
export function rowFromAvro(rec: Record<string, unknown>, columns: ColumnSpec[]): Row {
  const out: Row = {};
  for (const c of columns) out[c.name] = fromAvro(rec[avroFieldName(c.name)], c.type);
  return out;
}

/** Decimal bytes (big-endian two's complement of the unscaled value) → canonical decimal text. */
export function decimalFromTwosComplement(b: Buffer, scale: number): string {
  return b.length <= 6 ? unscaledToDecimal(smallFromTwosComplement(b), scale) : unscaledToDecimal(fromTwosComplement(b), scale);
}

/** twosComplement for a safe integer, without bigint arithmetic (same bytes). */
export function smallTwosComplement(n: number): Buffer {
  // beyond 6 bytes, 2^(8w) + n is no longer exact in a double
  if (n >= 2 ** 47 || n < -(2 ** 47)) return twosComplement(BigInt(n));
  let width = 1;
  while (n >= 2 ** (8 * width - 1) || n < -(2 ** (8 * width - 1))) width++;
  let v = n < 0 ? 2 ** (8 * width) + n : n;
  const out = Buffer.allocUnsafe(width);
  for (let i = width - 1; i >= 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

export function twosComplement(n: bigint): Buffer {
  // Minimal width w such that -2^(8w-1) <= n < 2^(8w-1).
  let width = 1;
  while (n >= 1n << BigInt(8 * width - 1) || n < -(1n << BigInt(8 * width - 1))) width++;
  const v = n < 0n ? (1n << BigInt(8 * width)) + n : n;
  return Buffer.from(v.toString(16).padStart(width * 2, '0'), 'hex');
}

/** fromTwosComplement of at most 6 bytes, as a number (exact: below 2^48). */
export function smallFromTwosComplement(b: Buffer): number {
  let v = 0;
  for (let i = 0; i < b.length; i++) v = v * 256 + b[i]!;
  return b.length > 0 && b[0]! & 0x80 ? v - 2 ** (8 * b.length) : v;
}

export function fromTwosComplement(b: Buffer): bigint {
  if (b.length === 0) return 0n;
  const v = BigInt(`0x${b.toString('hex')}`);
  return b[0]! & 0x80 ? v - (1n << BigInt(b.length * 8)) : v;
}
