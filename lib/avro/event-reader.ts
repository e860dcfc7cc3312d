/**
 * Reads a fieldsync change envelope (table-avro.ts's valueSchema) from Avro binary straight
 * into canonical values, without avsc: the applier's side of event-writer.ts.
 *
 * avsc first builds an Avro record per message (a BigInt per long, a Buffer per decimal)
 * which rowFromAvro then turns into canonical values (a Date and its ISO string per
 * timestamp). The applier decodes every message it merges, so it reads each field once
 * here, with one reader per column chosen once per writer schema.
 *
 * The rules this file keeps:
 *   - it is used only for a writer schema whose envelope is exactly what valueSchema()
 *     generates for the table that schema describes (envelopeReaderFor checks); any other
 *     schema is read by avsc;
 *   - the result equals avsc + rowFromAvro on the same bytes (event-reader.test.ts checks
 *     it on random tables and events);
 *   - bytes avsc would refuse (a truncated message, an unknown union branch or enum
 *     symbol, bytes left over) are refused with a DataError: never a partial event.
 */
import { daysToDate, microsToTime, microsToTimestamp } from '../canonical.js';
import { DataError } from '../errors.js';
import type { ChangeOp } from '../event/change-event.js';
import type { ColumnType, Row, TableSchema, Value } from '../types.js';
import { decimalFromTwosComplement, ENVELOPE_OPS, valueSchema, type AvroSchema } from './table-avro.js';

/** Node's Buffer method behind toString('utf8', start, end), not in its type declarations. */
interface Utf8Sliceable { utf8Slice(start: number, end: number): string }

/** Thrown (this one object) when a read runs past the end: the caller turns it into a DataError. */
const TRUNCATED: unique symbol = Symbol('avro message truncated');

/** The buffer being read and the position in it. */
export class AvroIn {
  constructor(public buf: Buffer, public pos: number, public end: number) {}

  private need(n: number): void {
    if (this.pos + n > this.end) throw TRUNCATED;
  }

  /** A zig-zag varint as a number when it is a safe integer, else as a bigint. */
  private varint(): number | bigint {
    const buf = this.buf;
    let pos = this.pos;
    let n = 0;
    let scale = 1;
    for (let shift = 0; shift < 49; shift += 7) { // 7 groups: 49 bits, exact in a double
      if (pos >= this.end) throw TRUNCATED;
      const b = buf[pos++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.pos = pos;
        return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
      }
      scale *= 128;
    }
    // longer: 64-bit arithmetic
    let z = BigInt(n);
    for (let shift = 49n; shift < 70n; shift += 7n) {
      if (pos >= this.end) throw TRUNCATED;
      const b = buf[pos++]!;
      z |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        z = BigInt.asUintN(64, z);
        const v = (z >> 1n) ^ -(z & 1n);
        return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
    }
    throw new DataError('Avro varint longer than 10 bytes');
  }

  /** An int, or a long known to be small (a length, an index, a count). */
  int(): number {
    const v = this.varint();
    if (typeof v !== 'number') throw new DataError(`Avro length or index ${v} out of range`);
    return v;
  }

  /** A long as a bigint (the canonical form of int64 and of the stamps). */
  long(): bigint {
    const v = this.varint();
    return typeof v === 'bigint' ? v : BigInt(v);
  }

  /** A long as a number while it is a safe integer (no BigInt to make), else as a bigint. */
  longOrNumber(): number | bigint {
    return this.varint();
  }

  string(): string {
    const len = this.int();
    if (len < 0) throw new DataError(`Avro string of length ${len}`);
    this.need(len);
    // utf8Slice, as avsc reads strings: toString('utf8', …) first checks its arguments and
    // looks up the encoding, which cost about as much as the decoding for short strings
    const s = (this.buf as Buffer & Utf8Sliceable).utf8Slice(this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /**
   * A string that is most likely `expected` (a column name in `changed`, the origin): its
   * bytes are compared in place and `expected` itself is returned when they match, so the
   * applier does not make the same strings again for every event.
   */
  knownString(expected: string, expectedBytes: Buffer): string {
    const start = this.pos;
    const len = this.int();
    if (len === expectedBytes.length && this.pos + len <= this.end) {
      // by hand: Buffer.compare with offsets costs more than these few bytes
      const buf = this.buf;
      let i = 0;
      while (i < len && buf[this.pos + i] === expectedBytes[i]) i++;
      if (i === len) {
        this.pos += len;
        return expected;
      }
    }
    this.pos = start;
    return this.string();
  }

  /** Decimal bytes (big-endian two's complement), read in place, as unscaled → text. */
  decimal(scale: number): string {
    const len = this.int();
    if (len < 0) throw new DataError(`Avro bytes of length ${len}`);
    this.need(len);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return decimalFromTwosComplement(b, scale);
  }

  /** Bytes, copied (the message buffer is not kept alive by the row). */
  bytes(): Buffer {
    const len = this.int();
    if (len < 0) throw new DataError(`Avro bytes of length ${len}`);
    this.need(len);
    const b = Buffer.from(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return b;
  }

  float(): number {
    this.need(4);
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  boolean(): boolean {
    this.need(1);
    return this.buf[this.pos++] !== 0;
  }
}

type ValueReader = (input: AvroIn) => Value;

function readerOf(t: ColumnType): ValueReader {
  switch (t.kind) {
    case 'int':
      return t.bits === 64 ? (input) => input.long() : (input) => input.int();
    case 'float':
      return t.bits === 32 ? (input) => input.float() : (input) => input.double();
    case 'decimal': {
      const scale = t.scale;
      return (input) => input.decimal(scale);
    }
    case 'bool': return (input) => input.boolean();
    case 'date': return (input) => daysToDate(input.int());
    case 'time': return (input) => microsToTime(input.long());
    case 'timestamp': return (input) => microsToTimestamp(input.longOrNumber());
    case 'bytes': return (input) => input.bytes();
    case 'string': case 'json': case 'uuid': return (input) => input.string();
  }
}

export interface ReadEnvelope {
  op: ChangeOp;
  origin: string;
  commitTimeMicros: bigint;
  position: string;
  changed: string[];
  /** The row after the change, in canonical values; null for a delete. */
  after: Row | null;
}

export type EnvelopeReader = (body: Buffer) => ReadEnvelope;

/** The reader of `table`'s envelope (valueSchema(…, table)), reading a whole message body. */
export function compileEnvelopeReader(table: TableSchema): EnvelopeReader {
  const names = table.columns.map((c) => c.name);
  const nameBytes = names.map((n) => Buffer.from(n, 'utf8'));
  const readers = table.columns.map((c) => readerOf(c.type));
  const input = new AvroIn(Buffer.alloc(0), 0, 0);
  // the origin of the last event: a topic's events mostly come from one source
  let origin = '';
  let originBytes = Buffer.alloc(0);

  function readRow(): Row {
    const row: Row = {};
    for (let i = 0; i < readers.length; i++) {
      const branch = input.int();
      if (branch === 0) row[names[i]!] = null;
      else if (branch === 1) row[names[i]!] = readers[i]!(input);
      else throw new DataError(`union branch ${branch} of field ${names[i]!}`);
    }
    return row;
  }

  function read(): ReadEnvelope {
    const opIndex = input.int();
    const op = ENVELOPE_OPS[opIndex];
    if (op === undefined) throw new DataError(`unknown operation symbol ${opIndex}`);
    const eventOrigin = input.knownString(origin, originBytes);
    if (eventOrigin !== origin) { origin = eventOrigin; originBytes = Buffer.from(origin, 'utf8'); }
    const commitTimeMicros = input.long();
    const position = input.string();
    const changed: string[] = [];
    for (;;) {
      let count = input.int();
      if (count === 0) break;
      if (count < 0) { count = -count; input.int(); } // a block with its size in bytes
      // the names are the columns', and an insert lists them all in column order: try the
      // column at the same place first
      for (let i = 0; i < count; i++) {
        const k = changed.length < names.length ? changed.length : 0;
        changed.push(input.knownString(names[k]!, nameBytes[k]!));
      }
    }
    const branch = input.int();
    if (branch !== 0 && branch !== 1) throw new DataError(`union branch ${branch} of field after`);
    return { op, origin: eventOrigin, commitTimeMicros, position, changed, after: branch === 1 ? readRow() : null };
  }

  return (body) => {
    input.buf = body;
    input.pos = 0;
    input.end = body.length;
    let out: ReadEnvelope;
    try {
      out = read();
    } catch (e) {
      if (e === TRUNCATED) throw new DataError('truncated Avro message');
      throw e;
    }
    if (input.pos !== input.end) throw new DataError(`${input.end - input.pos} bytes after the Avro message`);
    return out;
  };
}

/**
 * The compiled reader for a writer schema, or undefined when the schema is not exactly the
 * envelope valueSchema() generates for `table` (a schema written otherwise is left to avsc).
 */
export function envelopeReaderFor(schema: AvroSchema, table: TableSchema): EnvelopeReader | undefined {
  const generated = valueSchema('x', table);
  const same = schema.type === 'record' && schema.name === 'Envelope' && sameJson(schema.fields, generated.fields);
  return same ? compileEnvelopeReader(table) : undefined;
}

/** Deep equality of two JSON values, whatever the order of object keys (a registry may reorder them). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}
