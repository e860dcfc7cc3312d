/**
 * Writes a table's change events (the key record and the envelope of table-avro.ts) as Avro
 * binary straight from canonical values, without avsc.
 *
 * avsc needs each row rebuilt as an Avro record first (rowToAvro: a new object, a BigInt per
 * timestamp, a Buffer per decimal) and then looks at every value again to pick its union
 * branch and packs each long through an 8-byte buffer. The capture encodes every event it
 * publishes, so it writes the bytes here in one pass over the row instead: one writer per
 * column, chosen once per table schema, each writing the union branch and the value.
 *
 * The rule this file keeps: the bytes are exactly those avsc writes for the same event with
 * the schemas of table-avro.ts (event-writer.test.ts checks it on random tables and rows,
 * avsc being the reference), and a value avsc would refuse is refused too, as a DataError
 * naming the column.
 *
 * Avro binary, as used here: int and long are zig-zag varints; float and double are
 * little-endian IEEE 754; boolean one byte; string and bytes a long length, then the bytes
 * (UTF-8 for strings); a union the branch index as a long, then the value; an enum its
 * symbol index; an array blocks of (count, items) ended by a count of 0; a record its fields
 * in order.
 */
import { dateToDays, decimalToUnscaled, smallUnscaled, timeToMicros, timestampToMicros, timestampToSafeMicros } from '../canonical.js';
import { DataError } from '../errors.js';
import type { ChangeEvent, ChangeOp } from '../event/change-event.js';
import { columnOf, type ColumnType, type Row, type TableSchema, type Value } from '../types.js';
import { ENVELOPE_OPS, twosComplement } from './table-avro.js';

/** Thrown (this one object, never wrapped) when the buffer has no room left: the caller retries in a larger one. */
export const NO_ROOM: unique symbol = Symbol('avro buffer full');

/** The buffer being written and the position in it. */
export class AvroOut {
  constructor(public buf: Buffer, public pos: number) {}

  /** Make room for n more bytes, or throw NO_ROOM. */
  room(n: number): void {
    if (this.pos + n > this.buf.length) throw NO_ROOM;
  }

  /** A long (or int) that is a safe integer, zig-zag varint. */
  long(n: number): void {
    // the zig-zag value 2|n| (- 1) must be exact in a double: beyond 2^52, through bigint
    if (n >= TWO_52 || n <= -TWO_52) { this.bigLong(BigInt(n)); return; }
    this.room(10);
    const buf = this.buf;
    let pos = this.pos;
    if (n >= -1073741824 && n < 1073741824) {
      let m = n >= 0 ? n << 1 : (~n << 1) | 1;
      while (m > 0x7f) {
        buf[pos++] = (m & 0x7f) | 0x80;
        m >>>= 7;
      }
      buf[pos++] = m;
    } else {
      let f = n >= 0 ? n * 2 : -n * 2 - 1; // exact: |n| < 2^52
      while (f > 0x7f) {
        const low = f % 128;
        buf[pos++] = low | 0x80;
        f = (f - low) / 128;
      }
      buf[pos++] = f;
    }
    this.pos = pos;
  }

  /** A long given as a bigint (any value of int64). */
  bigLong(n: bigint): void {
    if (n < TWO_52_BIG && n > -TWO_52_BIG) { this.long(Number(n)); return; }
    this.room(10);
    let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
    const buf = this.buf;
    let pos = this.pos;
    while (z > 0x7fn) {
      buf[pos++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    buf[pos++] = Number(z);
    this.pos = pos;
  }

  string(s: string): void {
    const n = s.length;
    // short strings: one length byte when the UTF-8 is under 64 bytes, written by hand
    // while they are ASCII (a native call costs more than the copy)
    if (n < 22) {
      this.room(1 + 3 * n);
      const buf = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      const len = i === n ? n : i + buf.write(s.slice(i), start + i, 'utf8');
      buf[this.pos] = len << 1; // len < 64: a one-byte zig-zag varint
      this.pos = start + len;
      return;
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.long(len);
    this.room(len);
    this.buf.write(s, this.pos, len, 'utf8');
    this.pos += len;
  }

  bytes(b: Buffer): void {
    this.long(b.length);
    this.room(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  /** Decimal bytes: the unscaled value, big-endian two's complement in the fewest bytes. */
  unscaled(n: number): void {
    let width = 1;
    while (n >= WIDTH_LIMIT[width]! || n < -WIDTH_LIMIT[width]!) width++;
    this.long(width);
    this.room(width);
    let v = n < 0 ? 2 ** (8 * width) + n : n;
    const buf = this.buf;
    for (let i = this.pos + width - 1; i >= this.pos; i--) {
      buf[i] = v % 256;
      v = Math.floor(v / 256);
    }
    this.pos += width;
  }
}

const TWO_52 = 2 ** 52;
const TWO_52_BIG = 2n ** 52n;
/** Beyond 6 bytes, 2^(8w) + n is no longer exact in a double: such unscaled values go through bigint. */
const SMALL_UNSCALED = 2 ** 47;
/** WIDTH_LIMIT[w] = 2^(8w - 1): w bytes of two's complement hold -2^(8w-1) <= n < 2^(8w-1). */
const WIDTH_LIMIT = [0, 2 ** 7, 2 ** 15, 2 ** 23, 2 ** 31, 2 ** 39, 2 ** 47];

type ValueWriter = (out: AvroOut, v: Exclude<Value, null>, column: string) => void;

function invalid(column: string, v: unknown, what: string): DataError {
  return new DataError(`column "${column}": ${typeof v === 'bigint' ? `${v}n` : String(v)} is not ${what}`);
}

function writerOf(t: ColumnType): ValueWriter {
  switch (t.kind) {
    case 'int':
      if (t.bits === 64) {
        return (out, v, column) => {
          if (typeof v === 'bigint') {
            if (v !== BigInt.asIntN(64, v)) throw invalid(column, v, 'a 64-bit integer');
            out.bigLong(v);
          } else if (typeof v === 'number' && Number.isSafeInteger(v)) {
            out.long(v);
          } else {
            out.bigLong(int64Of(v, column)); // as rowToAvro: BigInt() of what the row holds
          }
        };
      }
      return (out, v, column) => {
        const n = Number(v);
        if (!Number.isInteger(n)) throw invalid(column, v, 'an integer');
        if (n !== (n | 0)) throw invalid(column, v, 'a 32-bit integer');
        out.long(n);
      };
    case 'float':
      if (t.bits === 32) return (out, v) => { out.room(4); out.pos = out.buf.writeFloatLE(Number(v), out.pos); };
      return (out, v) => { out.room(8); out.pos = out.buf.writeDoubleLE(Number(v), out.pos); };
    case 'decimal': {
      const scale = t.scale;
      return (out, v) => {
        const text = String(v);
        const small = smallUnscaled(text, scale);
        if (small !== undefined && small < SMALL_UNSCALED && small >= -SMALL_UNSCALED) out.unscaled(small);
        else out.bytes(twosComplement(small !== undefined ? BigInt(small) : decimalToUnscaled(text, scale)));
      };
    }
    case 'bool':
      return (out, v) => { out.room(1); out.buf[out.pos++] = v ? 1 : 0; };
    case 'date':
      return (out, v, column) => {
        const days = dateToDays(String(v));
        if (days !== (days | 0)) throw invalid(column, v, 'a date');
        out.long(days);
      };
    case 'time':
      return (out, v) => out.bigLong(timeToMicros(String(v)));
    case 'timestamp':
      return (out, v) => {
        const text = String(v);
        const micros = timestampToSafeMicros(text);
        if (micros !== undefined) out.long(micros);
        else out.bigLong(timestampToMicros(text));
      };
    case 'bytes':
      return (out, v) => out.bytes(Buffer.isBuffer(v) ? v : Buffer.from(String(v)));
    case 'string': case 'json': case 'uuid':
      return (out, v) => out.string(typeof v === 'string' ? v : String(v));
  }
}

function int64Of(v: Exclude<Value, null>, column: string): bigint {
  let n: bigint;
  try {
    n = BigInt(v as string | number | boolean);
  } catch {
    throw invalid(column, v, 'an integer');
  }
  if (n !== BigInt.asIntN(64, n)) throw invalid(column, v, 'a 64-bit integer');
  return n;
}

const OP_INDEX = Object.fromEntries(ENVELOPE_OPS.map((op, i) => [op, i])) as Record<ChangeOp, number>;

export interface EventWriter {
  /** The key record of an event (its key columns, in key order, none nullable). */
  key(out: AvroOut, key: Row): void;
  /** The envelope of an event. */
  value(out: AvroOut, e: ChangeEvent): void;
}

/** The writers of one table schema's key and envelope. */
export function compileEventWriter(table: TableSchema): EventWriter {
  const columns = table.columns;
  const names = columns.map((c) => c.name);
  const writers = columns.map((c) => writerOf(c.type));
  const keyColumns = table.key.map((k) => columnOf(table, k));
  const keyNames = keyColumns.map((c) => c.name);
  const keyWriters = keyColumns.map((c) => writerOf(c.type));

  return {
    key(out, key) {
      for (let i = 0; i < keyWriters.length; i++) {
        const v = key[keyNames[i]!];
        if (v === null || v === undefined) throw new DataError(`key column "${keyNames[i]!}" is NULL`);
        keyWriters[i]!(out, v, keyNames[i]!);
      }
    },
    value(out, e) {
      const op = OP_INDEX[e.op];
      if (op === undefined) throw new DataError(`unknown operation ${String(e.op)}`);
      out.long(op);
      out.string(e.origin);
      out.bigLong(e.commitTimeMicros);
      out.string(e.position);
      const changed = e.changed;
      if (changed.length > 0) {
        out.long(changed.length);
        for (const c of changed) out.string(c);
      }
      out.long(0);
      const after = e.after;
      if (after === null) { out.long(0); return; }
      out.long(1);
      for (let i = 0; i < writers.length; i++) {
        const v = after[names[i]!];
        out.room(1);
        if (v === null || v === undefined) { out.buf[out.pos++] = 0; continue; } // union branch 0: null
        out.buf[out.pos++] = 2; // union branch 1, zig-zag
        writers[i]!(out, v, names[i]!);
      }
    },
  };
}
