/**
 * MySQL / MariaDB: the live table's outgoing foreign keys follow it through the atomic
 * swap (refresh and rollback, swap.ts), under the same names.
 *
 * `CREATE TABLE … LIKE` copies indexes but not foreign keys, and InnoDB constraint names
 * are unique per schema: the incoming table cannot carry a copy while the outgoing one has
 * the name, and a copy under another name would drift night after night. So the FKs MOVE,
 * inside the swap's LOCK TABLES, just before the RENAME:
 *
 *   before the lock (swapGenerations):
 *     - read them (information_schema: name, columns in order, parent schema/table/columns,
 *       ON UPDATE / ON DELETE);
 *     - check the incoming rows against them (`foreignKeyOrphans`, an anti-join per FK):
 *       under the lock they are added without checking, so rows without a parent abort the
 *       swap here, with the reason, and live stays as it is;
 *     - make the incoming table's indexes on FK columns plain (`RENAME INDEX i TO i`,
 *       instant): an index InnoDB generated for an FK keeps that mark through LIKE, and ADD
 *       FOREIGN KEY replaces a generated index by a new one named after the constraint, so
 *       the index would silently change its name (breaking index hints);
 *     - record the definitions in T__fs_fk, before anything is dropped;
 *   under the lock, with foreign_key_checks = 0 (`moveForeignKeys`):
 *     - ONE ALTER drops them from the outgoing table, ONE ALTER adds them to the incoming
 *       one under the same names. Without checks InnoDB adds an FK in place, metadata only:
 *       no scan, no index build (the index came with LIKE), ~10 ms each whatever the size.
 *       A self-reference is made to point at the incoming table itself (InnoDB repoints it
 *       at T when the RENAME renames its parent);
 *   after the RENAME: T__fs_fk is dropped.
 *
 * MariaDB 10.11 allows ALTER TABLE on a WRITE-locked table under LOCK TABLES, and the parent
 * tables need not be in the lock list: LOCK TABLES of a table with FKs prelocks its parents
 * (which is also why writes to a parent wait for the swap's lock, as they always did).
 *
 * The outgoing table, now a backup, keeps no FKs: a backup needs none, and a rollback moves
 * the FKs of the table it replaces onto the backup it brings back, in the same way.
 *
 * A killed run leaves each recorded FK on live, on a companion table (the incoming one), or
 * — killed between the two ALTERs — nowhere; T__fs_fk has all of them. The next run
 * (cleanupLeftovers) puts every recorded FK that live lacks back on live, taking it off the
 * companion that holds it (`restoreForeignKeys`), then drops the record. A failed RENAME
 * puts them back at once, still under the lock (and takes off the companion the copies
 * InnoDB renamed while undoing the RENAME: see `restoreForeignKeys`).
 *
 * Identifiers are quoted by the dialect, values bound; the rules come from an allow-list.
 */
import { FieldsyncError } from '../../errors.js';
import type { DbRow } from '../dialect.js';
import { mysqlDialect } from './dialect.js';

export interface FkTableRef { schema: string; name: string }

export interface FkRunner {
  query(sql: string, params?: readonly unknown[]): Promise<DbRow[]>;
  execute(sql: string, params?: readonly unknown[]): Promise<number>;
}

export interface ForeignKeyDef {
  name: string;
  /** Columns of the table carrying the FK, in constraint order. */
  columns: string[];
  /** The referenced table (for a self-reference: the table that carried it when read). */
  parent: FkTableRef;
  /** The FK references its own table: on another table it references that table. */
  self: boolean;
  parentColumns: string[];
  onUpdate: string;
  onDelete: string;
}

const d = mysqlDialect;
const RULES = new Set(['RESTRICT', 'CASCADE', 'SET NULL', 'NO ACTION', 'SET DEFAULT']);

const schemaExpr = (t: FkTableRef) => (t.schema ? '?' : 'DATABASE()');
const schemaParams = (t: FkTableRef) => (t.schema ? [t.schema] : []);

/** The outgoing foreign keys of `t` (constraints of `t` that reference a table). */
export async function foreignKeysOf(s: FkRunner, t: FkTableRef): Promise<ForeignKeyDef[]> {
  // Two lookups by schema and table (information_schema fills them from that one table).
  const rules = await s.query(
    `SELECT CONSTRAINT_NAME AS name, UPDATE_RULE AS upd, DELETE_RULE AS del FROM information_schema.REFERENTIAL_CONSTRAINTS
      WHERE CONSTRAINT_SCHEMA = ${schemaExpr(t)} AND TABLE_NAME = ?`, [...schemaParams(t), t.name]);
  if (rules.length === 0) return [];
  const cols = await s.query(
    `SELECT CONSTRAINT_NAME AS name, TABLE_SCHEMA AS tschema, COLUMN_NAME AS col, REFERENCED_TABLE_SCHEMA AS pschema,
            REFERENCED_TABLE_NAME AS ptable, REFERENCED_COLUMN_NAME AS pcol
       FROM information_schema.KEY_COLUMN_USAGE
      WHERE TABLE_SCHEMA = ${schemaExpr(t)} AND TABLE_NAME = ? AND REFERENCED_TABLE_NAME IS NOT NULL
      ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION`, [...schemaParams(t), t.name]);
  const out: ForeignKeyDef[] = [];
  for (const r of rules) {
    const name = String(r.name);
    const mine = cols.filter((c) => String(c.name) === name);
    const first = mine[0];
    if (!first) throw new FieldsyncError(`foreign key ${name} of ${d.qualified(t)} has no columns in information_schema.KEY_COLUMN_USAGE`);
    const parent = { schema: String(first.pschema), name: String(first.ptable) };
    out.push({
      name,
      columns: mine.map((c) => String(c.col)),
      parent,
      self: parent.schema === String(first.tschema) && parent.name === t.name,
      parentColumns: mine.map((c) => String(c.pcol)),
      onUpdate: checkedRule(String(r.upd), name),
      onDelete: checkedRule(String(r.del), name),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function checkedRule(rule: string, fk: string): string {
  if (!RULES.has(rule)) throw new FieldsyncError(`foreign key ${fk} has an unexpected referential action "${rule}"`);
  return rule;
}

/** The referenced table of `fk` when it is carried by `on`. */
const parentOf = (fk: ForeignKeyDef, on: FkTableRef): FkTableRef => (fk.self ? on : fk.parent);

/** `ADD CONSTRAINT … FOREIGN KEY …` of `fk` for table `on` (RESTRICT is the default: not spelled out). */
export function addForeignKeyClause(fk: ForeignKeyDef, on: FkTableRef): string {
  if (fk.columns.length === 0 || fk.columns.length !== fk.parentColumns.length) throw new FieldsyncError(`foreign key ${fk.name} has ${fk.columns.length} columns but references ${fk.parentColumns.length}`);
  const list = (cols: readonly string[]) => cols.map((c) => d.quote(c)).join(', ');
  const rule = (what: string, r: string) => (checkedRule(r, fk.name) === 'RESTRICT' ? '' : ` ON ${what} ${r}`);
  return `ADD CONSTRAINT ${d.quote(fk.name)} FOREIGN KEY (${list(fk.columns)}) REFERENCES ${d.qualified(parentOf(fk, on))} (${list(fk.parentColumns)})`
    + `${rule('DELETE', fk.onDelete)}${rule('UPDATE', fk.onUpdate)}`;
}

export function addForeignKeysSql(fks: readonly ForeignKeyDef[], on: FkTableRef): string {
  return `ALTER TABLE ${d.qualified(on)} ${fks.map((fk) => addForeignKeyClause(fk, on)).join(', ')}`;
}

export function dropForeignKeysSql(names: readonly string[], on: FkTableRef): string {
  return `ALTER TABLE ${d.qualified(on)} ${names.map((n) => `DROP FOREIGN KEY ${d.quote(n)}`).join(', ')}`;
}

/** Run fn with foreign_key_checks off on this session (FKs are then added in place, unchecked). */
async function withoutChecks<T>(s: FkRunner, fn: () => Promise<T>): Promise<T> {
  const [prev] = await s.query('SELECT @@SESSION.foreign_key_checks AS c');
  await s.execute('SET SESSION foreign_key_checks = 0');
  try {
    return await fn();
  } finally {
    await s.execute('SET SESSION foreign_key_checks = ?', [Number(prev?.c ?? 1)]);
  }
}

/** Under the swap's lock: drop `fks` from `from`, add them to `to` under the same names (two ALTERs). */
export async function moveForeignKeys(s: FkRunner, fks: readonly ForeignKeyDef[], from: FkTableRef, to: FkTableRef): Promise<void> {
  if (fks.length === 0) return;
  await withoutChecks(s, async () => {
    await s.execute(dropForeignKeysSql(fks.map((f) => f.name), from));
    await s.execute(addForeignKeysSql(fks, to));
  });
}

/**
 * After a swap that was killed or failed: take the copies of `fks` off the `others` (the
 * companion tables it involved) and put the FKs that `onto` (live) lacks back on it.
 * Returns the FKs put back.
 *
 * A copy is an FK of the same name, or — for InnoDB's generated names T_ibfk_N — the same
 * FK renamed with its table: when a failed RENAME TABLE is undone, InnoDB renames T_ibfk_N
 * to S_ibfk_N as it renames T back to S, so a stage or backup can hold live's FK under
 * its own name (and would clash with it after a later successful rename).
 */
export async function restoreForeignKeys(s: FkRunner, fks: readonly ForeignKeyDef[], onto: FkTableRef, others: readonly FkTableRef[]): Promise<ForeignKeyDef[]> {
  const names = new Set(fks.map((f) => f.name));
  const isCopy = (name: string, on: FkTableRef) => {
    const renamed = `${on.name}_ibfk_`;
    return names.has(name) || (name.startsWith(renamed) && names.has(`${onto.name}_ibfk_${name.slice(renamed.length)}`));
  };
  const present = new Set((await foreignKeysOf(s, onto)).map((f) => f.name));
  const missing = fks.filter((f) => !present.has(f.name));
  const copies: [FkTableRef, string[]][] = [];
  for (const t of others) {
    const held = (await foreignKeysOf(s, t)).map((f) => f.name).filter((n) => isCopy(n, t));
    if (held.length) copies.push([t, held]);
  }
  if (missing.length === 0 && copies.length === 0) return [];
  await withoutChecks(s, async () => {
    for (const [t, held] of copies) await s.execute(dropForeignKeysSql(held, t));
    if (missing.length === 0) return;
    await plainForeignKeyIndexes(s, onto, missing);
    await s.execute(addForeignKeysSql(missing, onto));
  });
  return missing;
}

/**
 * Mark the indexes of `t` that could back one of `fks` (non-unique, columns a prefix of the
 * FK's) as plain indexes: `RENAME INDEX i TO i` is instant and drops the "generated for a
 * foreign key" mark, so ADD FOREIGN KEY keeps them as they are (see the header). Returns
 * the indexes renamed.
 */
export async function plainForeignKeyIndexes(s: FkRunner, t: FkTableRef, fks: readonly ForeignKeyDef[]): Promise<string[]> {
  if (fks.length === 0) return [];
  const rows = await s.query(
    `SELECT INDEX_NAME AS name, NON_UNIQUE AS nu, COLUMN_NAME AS col FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = ${schemaExpr(t)} AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`, [...schemaParams(t), t.name]);
  const indexes = new Map<string, string[]>();
  for (const r of rows) {
    if (Number(r.nu) !== 1) continue;
    const name = String(r.name);
    indexes.set(name, [...(indexes.get(name) ?? []), String(r.col).toLowerCase()]);
  }
  const fkColumns = fks.map((f) => f.columns.map((c) => c.toLowerCase()));
  const names = [...indexes].filter(([, cols]) => fkColumns.some((fc) => cols.length <= fc.length && cols.every((c, i) => c === fc[i]))).map(([n]) => n);
  if (names.length) await s.execute(`ALTER TABLE ${d.qualified(t)} ${names.map((n) => `RENAME INDEX ${d.quote(n)} TO ${d.quote(n)}`).join(', ')}`);
  return names;
}

/** Rows of `t` that `fk` (carried by `t`) would reject: every FK column set and no parent row. */
export async function foreignKeyOrphans(s: FkRunner, t: FkTableRef, fk: ForeignKeyDef): Promise<number> {
  const set = fk.columns.map((c) => `c.${d.quote(c)} IS NOT NULL`).join(' AND ');
  const match = fk.columns.map((c, i) => `p.${d.quote(fk.parentColumns[i]!)} = c.${d.quote(c)}`).join(' AND ');
  const [r] = await s.query(`SELECT COUNT(*) AS n FROM ${d.qualified(t)} c WHERE ${set} AND NOT EXISTS (SELECT 1 FROM ${d.qualified(parentOf(fk, t))} p WHERE ${match})`);
  return Number(r?.n ?? 0);
}

/** Write the record of the FKs a swap is about to move (read back by `readForeignKeyRecord`). */
export async function writeForeignKeyRecord(s: FkRunner, record: FkTableRef, fks: readonly ForeignKeyDef[]): Promise<void> {
  await s.execute(`DROP TABLE IF EXISTS ${d.qualified(record)}`);
  await s.execute(`CREATE TABLE ${d.qualified(record)} (position INT NOT NULL PRIMARY KEY, definition LONGTEXT NOT NULL) ENGINE=InnoDB`);
  if (fks.length === 0) return;
  await s.execute(`INSERT INTO ${d.qualified(record)} (position, definition) VALUES ${fks.map(() => '(?, ?)').join(', ')}`,
    fks.flatMap((f, i) => [i, JSON.stringify(f)]));
}

export async function readForeignKeyRecord(s: FkRunner, record: FkTableRef): Promise<ForeignKeyDef[]> {
  const rows = await s.query(`SELECT definition FROM ${d.qualified(record)} ORDER BY position`);
  return rows.map((r) => parseDefinition(String(r.definition), record));
}

export async function dropForeignKeyRecord(s: FkRunner, record: FkTableRef): Promise<void> {
  await s.execute(`DROP TABLE IF EXISTS ${d.qualified(record)}`);
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function parseDefinition(text: string, record: FkTableRef): ForeignKeyDef {
  const v: unknown = JSON.parse(text);
  const bad = () => new FieldsyncError(`unreadable foreign key definition in ${d.qualified(record)}: ${text}`);
  if (typeof v !== 'object' || v === null) throw bad();
  const o = v as Record<string, unknown>;
  const parent = o.parent as Record<string, unknown> | null | undefined;
  if (typeof o.name !== 'string' || !isStrings(o.columns) || !isStrings(o.parentColumns) || typeof o.self !== 'boolean'
    || typeof o.onUpdate !== 'string' || typeof o.onDelete !== 'string' || typeof parent !== 'object' || parent === null
    || typeof parent.schema !== 'string' || typeof parent.name !== 'string') throw bad();
  return {
    name: o.name, columns: o.columns, parent: { schema: parent.schema, name: parent.name }, self: o.self,
    parentColumns: o.parentColumns, onUpdate: checkedRule(o.onUpdate, o.name), onDelete: checkedRule(o.onDelete, o.name),
  };
}
