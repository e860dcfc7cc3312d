/**
 * Reads the row JSON that outbox triggers write (PostgreSQL `to_json(NEW)`, MySQL
 * `JSON_OBJECT(...)`) back into canonical values without losing exactness.
 *
 * JSON.parse would turn numbers into doubles (a numeric(38,10) or a bigint would be
 * rounded), so the object is scanned by hand: each top-level member keeps the raw source
 * text of its value, and the conversion to the canonical form is done per column with the
 * column type from introspection:
 *
 *   number text   → int / bigint / decimal / float from the digits as written
 *   "string"      → the JSON-unescaped string (timestamps, dates, uuids, text)
 *   object/array  → kept as its JSON text (json / jsonb columns)
 *   bytes         → PostgreSQL "\x0a0b" (bytea hex output) or escape output; MySQL HEX() text
 *   MySQL TIMESTAMP columns arrive as UNIX_TIMESTAMP(col) text (seconds with fraction), so
 *   the writer's session time zone cannot shift them.
 */
import { canonicalValue, decimalToUnscaled, microsToTimestamp } from '../canonical.js';
import { DataError } from '../errors.js';
import type { DialectName } from '../dialect/dialect.js';
import type { ColumnSpec, Row, Value } from '../types.js';

/** Top-level members of a JSON object, each value as its raw JSON text. */
export type RawObject = Map<string, string>;

function skipWs(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 10 || c === 13 || c === 9) i++;
    else return i;
  }
}

/** Index just after the JSON string starting at i (s[i] === '"'). */
function endOfString(s: string, i: number): number {
  // the next quote by indexOf (native, far faster than a loop over the characters), and it
  // ends the string unless an odd number of backslashes escapes it
  for (let j = i + 1; ;) {
    const q = s.indexOf('"', j);
    if (q < 0) throw new DataError('row JSON: unterminated string');
    let b = q - 1;
    while (b > i && s.charCodeAt(b) === 92) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    j = q + 1;
  }
}

/** Index just after the JSON value starting at i. */
function endOfValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 34) return endOfString(s, i);
  if (c === 123 || c === 91) {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const d = s.charCodeAt(j);
      if (d === 34) { j = endOfString(s, j) - 1; continue; }
      if (d === 123 || d === 91) depth++;
      else if (d === 125 || d === 93) {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new DataError('row JSON: unbalanced brackets');
  }
  // a number or a literal: up to whitespace, ',', '}' or ']'
  let j = i;
  for (; j < s.length; j++) {
    const d = s.charCodeAt(j);
    if (d === 44 || d === 125 || d === 93 || d === 32 || d === 10 || d === 13 || d === 9) break;
  }
  if (j === i) throw new DataError(`row JSON: unexpected character at ${i}`);
  return j;
}

/** The string of a JSON string literal s[from, to): sliced when it has no escapes. */
export function jsonStringAt(s: string, from: number, to: number): string {
  const inner = s.slice(from + 1, to - 1);
  return inner.includes('\\') ? (JSON.parse(s.slice(from, to)) as string) : inner;
}

/**
 * Walks the top-level members of `{"k": <value>, ...}` in order: after each next() that
 * returns true, `key` is the member's name and `value` its raw JSON text.
 */
class MemberScanner {
  key = '';
  value = '';
  private i: number;
  private done = false;

  constructor(private readonly text: string) {
    let i = skipWs(text, 0);
    if (text.charCodeAt(i) !== 123) throw new DataError('row JSON: not an object');
    i = skipWs(text, i + 1);
    if (text.charCodeAt(i) === 125) this.done = true;
    this.i = i;
  }

  next(): boolean {
    if (this.done) return false;
    const text = this.text;
    let i = this.i;
    if (text.charCodeAt(i) !== 34) throw new DataError(`row JSON: expected a member name at ${i}`);
    const keyEnd = endOfString(text, i);
    this.key = jsonStringAt(text, i, keyEnd);
    i = skipWs(text, keyEnd);
    if (text.charCodeAt(i) !== 58) throw new DataError(`row JSON: expected ":" at ${i}`);
    i = skipWs(text, i + 1);
    const valueEnd = endOfValue(text, i);
    this.value = text.slice(i, valueEnd);
    i = skipWs(text, valueEnd);
    const c = text.charCodeAt(i);
    if (c === 44) this.i = skipWs(text, i + 1);
    else if (c === 125) this.done = true;
    else throw new DataError(`row JSON: expected "," or "}" at ${i}`);
    return true;
  }
}

/** Parse `{"k": <value>, ...}` keeping every value's raw text. */
export function parseRawObject(text: string): RawObject {
  const out: RawObject = new Map();
  const members = new MemberScanner(text);
  while (members.next()) out.set(members.key, members.value);
  return out;
}

/** PostgreSQL bytea text output: hex ("\x0aff") or the legacy escape format. */
function pgBytea(text: string): Buffer {
  if (text.startsWith('\\x')) return Buffer.from(text.slice(2), 'hex');
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (text[i] === '\\') {
      if (text[i + 1] === '\\') { bytes.push(0x5c); i++; continue; }
      bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes);
}

/** One raw JSON value of column `col` → canonical value. */
export function rawToValue(raw: string, col: ColumnSpec, dialect: DialectName): Value {
  return valueAt(raw, 0, raw.length, col, dialect);
}

/** The JSON value text[from, to) of column `col` → canonical value (no slice of the raw text first). */
function valueAt(text: string, from: number, to: number, col: ColumnSpec, dialect: DialectName): Value {
  if (to - from === 4 && text.startsWith('null', from)) return null;
  const t = col.type;
  try {
    // json columns carry their JSON text as written (an object, array, scalar or, from MySQL, a string of JSON text)
    if (t.kind === 'json') {
      const raw = text.slice(from, to);
      return dialect === 'mysql' && raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    }
    const scalar = text.charCodeAt(from) === 34 ? jsonStringAt(text, from, to) : text.slice(from, to);
    switch (t.kind) {
      case 'bytes':
        return dialect === 'postgres' ? pgBytea(scalar) : Buffer.from(scalar, 'hex');
      case 'float':
        return Number(scalar); // "NaN", "Infinity" arrive as strings, finite values as shortest round-trip text
      case 'bool':
        return scalar === 'true' || scalar === '1' || scalar === 't';
      case 'timestamp':
        if (dialect === 'mysql' && t.tz) return microsToTimestamp(decimalToUnscaled(scalar, 6));
        return canonicalValue(scalar, t, col.name);
      default:
        return canonicalValue(scalar, t, col.name);
    }
  } catch (e) {
    if (e instanceof DataError) throw new DataError(`column "${col.name}": ${e.message}`, e);
    throw e;
  }
}

export interface DecodedRow {
  row: Row;
  /** Members of the JSON that are not known columns (a column added at the source). */
  unknown: string[];
  /** Known columns the JSON lacks (a column dropped at the source, or a trigger older than the column). */
  missing: string[];
}

/**
 * Per column list (cached: a table's columns are one array until it changes): each name as
 * the JSON string the triggers write for it, the names in order and as a set, and a
 * function that makes a row of the values in column order.
 */
interface ColumnLayout { quoted: string[]; names: string[]; known: Set<string>; makeRow: (values: Value[]) => Row }
const layouts = new WeakMap<ColumnSpec[], ColumnLayout>();

function layoutOf(columns: ColumnSpec[]): ColumnLayout {
  let l = layouts.get(columns);
  if (!l) {
    const names = columns.map((c) => c.name);
    // frozen: events of complete rows share it as their `changed` list (decodeOutboxRow)
    l = { quoted: names.map((n) => JSON.stringify(n)), names: Object.freeze(names) as string[], known: new Set(names), makeRow: rowMaker(names) };
    layouts.set(columns, l);
  }
  return l;
}

/**
 * A function that returns `{ [names[0]]: values[0], … }`. A row built by assigning each
 * column in turn (`row[name] = v`) goes through a generic keyed store and a hidden-class
 * transition per column; an object literal with the table's names is one allocation of a
 * shape made once, and every row of the table shares it (measured: 2–12% less time to
 * decode the benchmark table's rows). The names are written as JSON string literals, so
 * any name is quoted exactly; `__proto__` (which a literal would take as the prototype)
 * keeps the generic form.
 */
function rowMaker(names: string[]): (values: Value[]) => Row {
  if (names.includes('__proto__')) {
    return (values) => {
      const row: Row = {};
      for (let i = 0; i < names.length; i++) Object.defineProperty(row, names[i]!, { value: values[i], enumerable: true, writable: true, configurable: true });
      return row;
    };
  }
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the body is made of JSON string literals and indexes only
  return new Function('v', `return { ${names.map((n, i) => `${JSON.stringify(n)}: v[${i}]`).join(', ')} };`) as (values: Value[]) => Row;
}

/** Values of the row being decoded, in column order (reused: decoding is synchronous). */
const scratch: Value[] = [];

/** The names of `columns` in order: one shared, frozen array per column list. */
export function columnNamesOf(columns: ColumnSpec[]): string[] {
  return layoutOf(columns).names;
}

/** A whole row JSON → canonical row over `columns`. */
export function decodeRowJson(text: string, columns: ColumnSpec[], dialect: DialectName): DecodedRow {
  // The triggers write the members in column order: then each member is converted as it is
  // scanned, its name compared in place with the column's, with no map and no name string
  // in between. Any other layout (another order, a missing or an extra member, a name
  // escaped differently) is decoded by name below, from the start.
  const row = decodeInColumnOrder(text, columns, dialect);
  return row ? { row, unknown: [], missing: [] } : decodeRowJsonByName(text, columns, dialect);
}

/** text.startsWith(q, i), by hand: for names this short, measured faster than startsWith with a position. */
function matchesAt(text: string, i: number, q: string): boolean {
  if (i + q.length > text.length) return false;
  for (let k = 0; k < q.length; k++) if (text.charCodeAt(i + k) !== q.charCodeAt(k)) return false;
  return true;
}

/** The row when `text` has exactly the columns' members, in column order; else undefined. */
function decodeInColumnOrder(text: string, columns: ColumnSpec[], dialect: DialectName): Row | undefined {
  const layout = layoutOf(columns);
  const quoted = layout.quoted;
  let i = skipWs(text, 0);
  if (text.charCodeAt(i) !== 123) return undefined; // the by-name path reports what is wrong
  i = skipWs(text, i + 1);
  const values = scratch;
  values.length = columns.length;
  for (let n = 0; n < columns.length; n++) {
    const q = quoted[n]!;
    if (!matchesAt(text, i, q)) return undefined;
    i = skipWs(text, i + q.length);
    if (text.charCodeAt(i) !== 58) return undefined;
    i = skipWs(text, i + 1);
    const end = endOfValue(text, i);
    const c = columns[n]!;
    values[n] = valueAt(text, i, end, c, dialect);
    i = skipWs(text, end);
    const sep = text.charCodeAt(i);
    if (sep === 125) return n === columns.length - 1 && skipWs(text, i + 1) === text.length ? layout.makeRow(values) : undefined;
    if (sep !== 44) return undefined;
    i = skipWs(text, i + 1);
  }
  return undefined; // more members than columns
}

function decodeRowJsonByName(text: string, columns: ColumnSpec[], dialect: DialectName): DecodedRow {
  const raw = parseRawObject(text);
  const row: Row = {};
  const missing: string[] = [];
  for (const c of columns) {
    const v = raw.get(c.name);
    if (v === undefined) { missing.push(c.name); continue; }
    row[c.name] = rawToValue(v, c, dialect);
  }
  // every member matched a column: nothing unknown (the common case, no allocation)
  if (raw.size === columns.length - missing.length) return { row, unknown: [], missing };
  const known = layoutOf(columns).known;
  const unknown = [...raw.keys()].filter((k) => !known.has(k));
  return { row, unknown, missing };
}
