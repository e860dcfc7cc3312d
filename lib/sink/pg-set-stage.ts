/**
 * The stage of the PostgreSQL set-based merge as array parameters (postgres-set-sql.ts):
 * one PostgreSQL array literal per stage column, built here directly from the folded rows.
 *
 * Why literals and not JS arrays: the driver turns a JS array into the same text, but
 * prepares and escapes every element through generic code (measured: a large share of the
 * sink's CPU on wide batches); here keys and stamps (bigints) need no quoting, and a
 * string is scanned once. Values first go through the dialect's toDb, as on the row path,
 * so both paths send PostgreSQL the same text for every value.
 */
import { postgresDialect as d } from '../dialect/postgres/dialect.js';
import type { FoldedRow, FoldedTable } from '../merge/fold.js';
import type { ColumnType, Value } from '../types.js';
import type { PgSetTable, StampMode } from './postgres-set-sql.js';
import { stageColumns } from './postgres-set-sql.js';

const QUOTE_OR_BACKSLASH = /["\\]/;
const QUOTE_OR_BACKSLASH_ALL = /["\\]/g;

/** A string element: double-quoted, its quotes and backslashes escaped. */
const quoted = (s: string) => `"${QUOTE_OR_BACKSLASH.test(s) ? s.replace(QUOTE_OR_BACKSLASH_ALL, (c) => `\\${c}`) : s}"`;

/** One element of an array literal: NULL, bare (numbers, booleans), else double-quoted. */
function element(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return quoted(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? 't' : 'f';
  // String(NaN), String(-Infinity): the spellings PostgreSQL reads; a finite number has no special character
  if (typeof v === 'number') return String(v);
  // bytea's hex form: its backslash is escaped inside the quotes
  if (Buffer.isBuffer(v)) return `"\\\\x${v.toString('hex')}"`;
  return quoted(String(v));
}

/**
 * The array literal of one value column over the rows, each value through the dialect's
 * toDb. Built by appending to one string (no array per column): this runs for every value
 * of a batch.
 */
function valueArray(rows: readonly FoldedRow[], value: (r: FoldedRow) => Value, t: ColumnType): string {
  let out = '{';
  for (let i = 0; i < rows.length; i++) {
    if (i > 0) out += ',';
    const v = value(rows[i]!);
    // a bigint's toDb is its decimal text: bare, not quoted (keys and int columns)
    out += typeof v === 'bigint' ? v.toString() : element(d.toDb(v, t));
  }
  return `${out}}`;
}

/** A stamp column: how it travels (StampMode) given each row's stamp and row stamp. */
function stampMode(stamps: readonly (bigint | null)[], refs: readonly (bigint | null)[]): StampMode {
  let anyStamp = false;
  let allRef = true;
  let flag = true;
  for (let i = 0; i < stamps.length && flag; i++) {
    const s = stamps[i];
    if (s === null || s === undefined) {
      allRef = false;
      continue;
    }
    anyStamp = true;
    if (s !== refs[i]) flag = false;
  }
  if (!anyStamp) return 'null';
  if (!flag) return 'own';
  return allRef ? 'ref' : 'flag';
}

function stampArray(stamps: readonly (bigint | null)[], mode: StampMode): string | undefined {
  if (mode === 'null' || mode === 'ref') return undefined;
  let out = '{';
  for (let i = 0; i < stamps.length; i++) {
    if (i > 0) out += ',';
    const s = stamps[i] ?? null;
    out += mode === 'flag' ? (s === null ? 'f' : 't') : s === null ? 'NULL' : s.toString();
  }
  return `${out}}`;
}

export interface PgSetStage {
  table: PgSetTable;
  /** One array literal per stageColumns(table) entry. */
  params: string[];
}

/** The stage of a folded table batch: its shape (which fields are active, how stamps travel) and its arrays. */
export function setStage(folded: FoldedTable, m: { target: { schema: string; name: string }; allFields: PgSetTable['allFields'] }): PgSetStage {
  const rows = [...folded.rows.values()];
  const activeIndex = folded.fields.flatMap((_f, j) => (rows.some((r) => r.fields[j] !== undefined) ? [j] : []));
  // the row stamp: the insert stamp, else the delete stamp, else the first field stamp
  const refs = rows.map((r) => {
    let ref = r.ins ?? r.del;
    for (let n = 0; ref === null && n < activeIndex.length; n++) ref = r.fields[activeIndex[n]!]?.stamp ?? null;
    return ref;
  });
  const ins = rows.map((r) => r.ins);
  const del = rows.map((r) => r.del);
  const fieldStamps = activeIndex.map((j) => rows.map((r) => r.fields[j]?.stamp ?? null));
  const table: PgSetTable = {
    target: m.target, key: folded.keyCols, fields: folded.fields, allFields: m.allFields,
    active: activeIndex.map((j) => folded.fields[j]!),
    ins: stampMode(ins, refs), del: stampMode(del, refs), stamps: fieldStamps.map((s) => stampMode(s, refs)),
  };
  const params: string[] = [];
  folded.keyCols.forEach((k, i) => params.push(valueArray(rows, (r) => r.key[i] ?? null, k.type)));
  params.push(stampArray(refs, 'own')!);
  for (const [stamps, mode] of [[ins, table.ins], [del, table.del], ...fieldStamps.map((s, j) => [s, table.stamps[j]!] as const)] as const) {
    const a = stampArray(stamps, mode);
    if (a !== undefined) params.push(a);
  }
  activeIndex.forEach((j) => params.push(valueArray(rows, (r) => r.fields[j]?.value ?? null, folded.fields[j]!.type)));
  if (params.length !== stageColumns(table).length) throw new Error(`set-based stage: ${params.length} arrays for ${stageColumns(table).length} columns`);
  return { table, params };
}
