/**
 * Row identity inside the merge: a primary key (one canonical value per key column, in
 * key order) becomes one string so that a batch can be folded and matched against the
 * clocks read back from the target with a plain Map.
 *
 * The string is injective on canonical values: every component carries its kind, so the
 * int 1, the bigint 1n and the string "1" never collide. Key values are canonicalised
 * with the TARGET column's type first (canonicalKey), so an int32 key from one source and
 * the bigint the target returns for the same column become the same id.
 */
import { canonicalValue } from '../canonical.js';
import { DataError } from '../errors.js';
import type { ColumnSpec, Row, TableSchema, Value } from '../types.js';
import { qualifiedName } from '../types.js';

function component(v: Value): string {
  if (v === null) return 'z';
  if (typeof v === 'bigint') return `n${v.toString()}`;
  if (typeof v === 'number') return `d${String(v)}`;
  if (typeof v === 'boolean') return v ? 'T' : 'F';
  if (Buffer.isBuffer(v)) return `b${v.toString('hex')}`;
  return `s${v}`;
}

/** One id per key; components are separated by a character no component can start with. */
export function keyId(values: readonly Value[]): string {
  if (values.length === 1) return component(values[0]!);
  return values.map((v) => component(v).replace(/\\/g, '\\\\').replace(/\u0000/g, '\\0')).join('\u0000');
}

/** The key columns of a table, in key order. */
export function keyColumns(table: TableSchema): ColumnSpec[] {
  return table.key.map((k) => {
    const c = table.columns.find((col) => col.name === k);
    if (!c) throw new DataError(`table ${qualifiedName(table)}: key column "${k}" is not among its columns`);
    return c;
  });
}

/** The key values of an event's key row, canonical for the target's key column types. */
export function canonicalKey(table: TableSchema, keyCols: readonly ColumnSpec[], key: Row): Value[] {
  return keyCols.map((c) => {
    const v = key[c.name];
    if (v === undefined || v === null) throw new DataError(`table ${qualifiedName(table)}: change event has no value for key column "${c.name}"`);
    try {
      return canonicalValue(v, c.type, c.name);
    } catch (e) {
      // e.g. BigInt("abc"): a key that is no value of its column is bad data, not a bug
      if (e instanceof DataError) throw e;
      throw new DataError(`table ${qualifiedName(table)}: key column "${c.name}": ${e instanceof Error ? e.message : String(e)}`, e);
    }
  });
}

/** A key for error messages: {"id":"42"} (bigints and binary printed as text). */
export function describeKey(keyCols: readonly { name: string }[], values: readonly Value[]): string {
  const o: Record<string, string | number | boolean | null> = {};
  keyCols.forEach((c, i) => {
    const v = values[i] ?? null;
    o[c.name] = typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? `0x${v.toString('hex')}` : v;
  });
  return JSON.stringify(o);
}
