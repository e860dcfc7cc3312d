/**
 * Turns one outbox row (written by the generated triggers) into change events.
 *
 *   'I' insert  after = the new row, changed = every column the row JSON carries
 *   'U' update  after = the new row, changed = the columns whose value differs between
 *               the old and the new image (valuesEqual on decoded values, as for SQL
 *               Server CDC; a member only the new image has counts as changed). The
 *               PostgreSQL trigger leaves `changed` NULL for this; a row that carries a
 *               list (the MySQL and SQL Server triggers, and PostgreSQL rows written before
 *               the trigger stopped listing them) is taken as it is. An update that
 *               changes a key column becomes a delete of the old key followed by an
 *               insert of the new row (a different message key, so the old key's
 *               partition learns the row is gone)
 *   'D' delete  after = null, key = the old row's key, changed = []
 *
 * Values are decoded exactly with the column types (row-json.ts). A row JSON member that
 * is not a known column means the table gained a column: the caller re-introspects the
 * table and decodes again (decodeOutboxRow reports it instead of dropping the value).
 */
import type { DialectName } from '../dialect/dialect.js';
import type { ChangeEvent, TableChange } from '../event/change-event.js';
import { valuesEqual } from '../canonical.js';
import { DataError } from '../errors.js';
import type { Row, TableSchema } from '../types.js';
import { columnNamesOf, decodeRowJson, type DecodedRow } from './row-json.js';

export interface OutboxRow {
  seq: bigint;
  tableSchema: string;
  tableName: string;
  op: 'I' | 'U' | 'D';
  changed: string[] | null;
  oldRow: string | null;
  newRow: string | null;
  origin: string;
  commitMicros: bigint;
}

/** The outbox columns in the order outboxRowFromArray reads them. */
export const OUTBOX_COLUMNS = ['seq', 'table_schema', 'table_name', 'op', 'changed', 'old_row', 'new_row', 'origin', 'commit_micros'] as const;

/** A driver row of OUTBOX_COLUMNS read as an array (Db.queryArrays). */
export function outboxRowFromArray(a: readonly unknown[]): OutboxRow {
  return outboxRow(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]);
}

// Module-level helpers, not closures per row: the capture calls these for every outbox row
// (and a closure per call is a function object per row, plus tsx's name-keeping wrapper).
const text = (v: unknown): string | null => (v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

function changeOf(r: OutboxRow, table: TableSchema, source: string, position: string, op: ChangeEvent['op'], key: Row, after: Row | null, changed: string[]): TableChange {
  return { table, source, event: { op, origin: r.origin, commitTimeMicros: r.commitMicros, position, key, after, changed } };
}

/** Normalise a driver row of the outbox table. */
export function outboxRowFromDb(r: Record<string, unknown>): OutboxRow {
  return outboxRow(r.seq, r.table_schema, r.table_name, r.op, r.changed, r.old_row, r.new_row, r.origin, r.commit_micros);
}

const str = (v: unknown): string => (typeof v === 'string' ? v : String(v));
const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(str(v)));

function outboxRow(seq: unknown, tableSchema: unknown, tableName: unknown, op: unknown, changed: unknown, oldRow: unknown, newRow: unknown, origin: unknown, commitMicros: unknown): OutboxRow {
  const o = str(op);
  if (o !== 'I' && o !== 'U' && o !== 'D') throw new DataError(`outbox row ${String(seq)}: unknown op "${o}"`);
  let names: string[] | null = null;
  if (Array.isArray(changed)) names = changed.map(String);
  else if (typeof changed === 'string') names = JSON.parse(changed) as string[];
  return {
    seq: big(seq), tableSchema: str(tableSchema), tableName: str(tableName), op: o, changed: names,
    oldRow: text(oldRow), newRow: text(newRow), origin: str(origin), commitMicros: big(commitMicros),
  };
}

export interface DecodedOutboxRow {
  changes: TableChange[];
  /** Row JSON members that are not columns of `table` (the table has gained columns). */
  unknownColumns: string[];
}

function keyOf(row: Row, table: TableSchema, seq: bigint): Row {
  const key: Row = {};
  for (const k of table.key) {
    const v = row[k];
    if (v === undefined || v === null) throw new DataError(`outbox row ${seq} of ${table.name}: key column "${k}" is missing or NULL`);
    key[k] = v;
  }
  return key;
}

/** The JSON of one row image, decoded; unknown members are collected into `unknown`. */
function decodeImage(r: OutboxRow, text: string | null, what: string, table: TableSchema, dialect: DialectName, unknown: string[]): DecodedRow {
  if (text === null) throw new DataError(`outbox row ${r.seq} of ${table.name}: ${what} row is missing`);
  const d = decodeRowJson(text, table.columns, dialect);
  for (const u of d.unknown) unknown.push(u);
  return d;
}

/** The columns a row image holds, in column order: the table's shared list when it has them all. */
function columnsOf(d: DecodedRow, table: TableSchema): string[] {
  return d.missing.length === 0 ? columnNamesOf(table.columns) : Object.keys(d.row);
}

/**
 * The columns of the new image whose value differs from the old one's, in column order. A
 * column the old image lacks (added to the table between the two) counts as changed, as
 * it did when the trigger compared the JSON members.
 */
function changedColumns(o: Row, n: Row, table: TableSchema): string[] {
  const changed: string[] = [];
  for (const c of table.columns) {
    const name = c.name;
    if (!Object.hasOwn(n, name)) continue;
    if (!Object.hasOwn(o, name) || !valuesEqual(o[name]!, n[name]!)) changed.push(name);
  }
  return changed;
}

export function decodeOutboxRow(r: OutboxRow, table: TableSchema, source: string, dialect: DialectName): DecodedOutboxRow {
  const position = `outbox:${r.seq}`;
  const unknown: string[] = []; // rarely filled: no Set per row
  const changes: TableChange[] = [];
  if (r.op === 'I') {
    const d = decodeImage(r, r.newRow, 'new', table, dialect, unknown);
    changes.push(changeOf(r, table, source, position, 'insert', keyOf(d.row, table, r.seq), d.row, columnsOf(d, table)));
  } else if (r.op === 'D') {
    const o = decodeImage(r, r.oldRow, 'old', table, dialect, unknown).row;
    changes.push(changeOf(r, table, source, position, 'delete', keyOf(o, table, r.seq), null, []));
  } else {
    const d = decodeImage(r, r.newRow, 'new', table, dialect, unknown);
    const n = d.row;
    let changed: string[];
    let old: Row | undefined;
    if (r.changed === null) {
      // the trigger left the comparison to us: both images, column by column
      old = decodeImage(r, r.oldRow, 'old', table, dialect, unknown).row;
      changed = changedColumns(old, n, table);
    } else {
      changed = [];
      for (const c of r.changed) {
        if (c in n) changed.push(c);
        else unknown.push(c);
      }
    }
    if (changed.some((c) => table.key.includes(c))) {
      const o = old ?? decodeImage(r, r.oldRow, 'old', table, dialect, unknown).row;
      changes.push(changeOf(r, table, source, position, 'delete', keyOf(o, table, r.seq), null, []));
      changes.push(changeOf(r, table, source, position, 'insert', keyOf(n, table, r.seq), n, columnsOf(d, table)));
    } else {
      changes.push(changeOf(r, table, source, position, 'update', keyOf(n, table, r.seq), n, changed));
    }
  }
  return { changes, unknownColumns: unknown.length === 0 ? unknown : [...new Set(unknown)] };
}
