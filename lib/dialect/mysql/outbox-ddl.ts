/**
 * MySQL / MariaDB trigger outbox DDL (see lib/capture/outbox-layout.ts for the row layout).
 *
 * MySQL has no generic "row to JSON", so each table gets three generated triggers
 * (AFTER INSERT / UPDATE / DELETE) that list its columns. The value expressions keep every
 * value exact inside JSON_OBJECT:
 *   DECIMAL           CAST(col AS CHAR)          digits as stored (no double rounding)
 *   BINARY/BLOB       HEX(col)                   JSON cannot hold bytes
 *   TIMESTAMP         UNIX_TIMESTAMP(col) text   independent of the writer's session time zone
 *   DATETIME/DATE/TIME, JSON, UUID  CAST(col AS CHAR)
 *   BOOL / BIT(1)     col + 0                    a number, never a bit string
 *   FLOAT/DOUBLE/INT  col                        JSON numbers print as the text protocol does
 *   strings           col                        converted to utf8mb4 by JSON_OBJECT
 *
 * The update trigger compares each column NULL-safely (`<=>`); strings are compared as
 * BINARY so that a change of case or of trailing spaces under a case-insensitive / PAD SPACE
 * collation still counts as a change. An update that changes nothing records nothing.
 * Writes of a fieldsync applier session are skipped (echo prevention).
 *
 * commit_micros is the statement time (NOW(6)), the clock of the local-edit triggers.
 *
 * Because the column list is baked in, a column added to the table is captured only after
 * the triggers are regenerated: the capture service re-checks the columns every
 * schemaCheckIntervalMs and regenerates them (see outbox-source.ts); `fieldsync capture
 * install` does the same by hand — run it in the same migration as the ALTER TABLE, because
 * an update between the two that touches only the new column is not recorded, and a
 * DROP COLUMN makes the old triggers fail every write to the table until they are regenerated.
 * Re-run safe: MariaDB replaces each trigger atomically with CREATE OR REPLACE TRIGGER;
 * MySQL 8 drops and recreates it under LOCK TABLES … WRITE, so no write is missed.
 */
import { createHash } from 'node:crypto';
import { CHECKPOINT_TABLE, OUTBOX_TABLE, TRIGGER_PREFIX, sqlLiteral } from '../../capture/outbox-layout.js';
import { applierSessionSql } from '../../merge/clock-layout.js';
import type { ColumnSpec, TableSchema } from '../../types.js';
import { mysqlDialect as d } from './dialect.js';
import { triggerNameForms } from './trigger-names.js';

const lit = (s: string) => sqlLiteral(s, true);
const MAX_IDENTIFIER = 64;

/** The outbox table qualified with the database that holds it (triggers may live in another database). */
export function mysqlOutboxTable(database: string): string {
  return `${d.quote(database)}.${d.quote(`fieldsync_${OUTBOX_TABLE}`)}`;
}

export function mysqlCheckpointTable(database: string): string {
  return `${d.quote(database)}.${d.quote(`fieldsync_${CHECKPOINT_TABLE}`)}`;
}

export function mysqlInstallOutboxSql(database: string): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${mysqlOutboxTable(database)} (
       seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
       table_schema VARCHAR(64) NOT NULL,
       table_name VARCHAR(64) NOT NULL,
       op CHAR(1) NOT NULL,
       key_values LONGTEXT NOT NULL,
       changed LONGTEXT NULL,
       old_row LONGTEXT NULL,
       new_row LONGTEXT NULL,
       origin VARCHAR(128) NOT NULL,
       commit_micros BIGINT NOT NULL
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    `CREATE TABLE IF NOT EXISTS ${mysqlCheckpointTable(database)} (
       stream VARCHAR(255) NOT NULL PRIMARY KEY,
       position LONGTEXT NOT NULL,
       updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  ];
}

export function mysqlDropOutboxSql(database: string): string[] {
  return [`DROP TABLE IF EXISTS ${mysqlOutboxTable(database)}`, `DROP TABLE IF EXISTS ${mysqlCheckpointTable(database)}`];
}

export type TriggerEvent = 'INSERT' | 'UPDATE' | 'DELETE';
const EVENTS: TriggerEvent[] = ['INSERT', 'UPDATE', 'DELETE'];

/**
 * Trigger base name, unique per database and at most 64 characters. On a table the
 * reconciler refreshes, the trigger may carry its alternate name instead (trigger-names.ts).
 */
export function mysqlTriggerName(table: string, event: TriggerEvent): string {
  const name = `${TRIGGER_PREFIX}_${event[0]!.toLowerCase()}_${table}`;
  if (name.length <= MAX_IDENTIFIER) return name;
  const hash = createHash('sha1').update(table).digest('hex').slice(0, 10);
  return `${name.slice(0, MAX_IDENTIFIER - 11)}_${hash}`;
}

/** The JSON_OBJECT value expression of one column (see the table above). */
export function mysqlJsonValueExpr(ref: string, c: ColumnSpec): string {
  switch (c.type.kind) {
    case 'decimal': case 'date': case 'time': case 'json': case 'uuid': return `CAST(${ref} AS CHAR)`;
    case 'bytes': return `HEX(${ref})`;
    case 'bool': return `(${ref} + 0)`;
    case 'timestamp': return c.type.tz ? `CAST(UNIX_TIMESTAMP(${ref}) AS CHAR)` : `CAST(${ref} AS CHAR)`;
    case 'int': case 'float': case 'string': return ref;
  }
}

function rowJson(alias: 'NEW' | 'OLD', columns: ColumnSpec[]): string {
  return `JSON_OBJECT(${columns.map((c) => `${lit(c.name)}, ${mysqlJsonValueExpr(`${alias}.${d.quote(c.name)}`, c)}`).join(', ')})`;
}

function changedTest(c: ColumnSpec): string {
  const o = `OLD.${d.quote(c.name)}`;
  const n = `NEW.${d.quote(c.name)}`;
  return c.type.kind === 'string' || c.type.kind === 'json' ? `NOT (BINARY ${o} <=> BINARY ${n})` : `NOT (${o} <=> ${n})`;
}

/**
 * The body of one trigger. `tableDatabase` is the database of the table (the trigger lives
 * there), `outboxDatabase` the one of the outbox (the capture's connection database).
 */
export function mysqlTriggerBody(event: TriggerEvent, table: TableSchema, tableDatabase: string, outboxDatabase: string, origin: string): string {
  const keyCols = table.key.map((k) => table.columns.find((c) => c.name === k)!);
  const row = event === 'DELETE' ? 'OLD' : 'NEW';
  const insert = (changed: string, oldRow: string, newRow: string) =>
    `INSERT INTO ${mysqlOutboxTable(outboxDatabase)} (table_schema, table_name, op, key_values, changed, old_row, new_row, origin, commit_micros)
       VALUES (${lit(tableDatabase)}, ${lit(table.name)}, ${lit(event[0]!)}, ${rowJson(row, keyCols)}, ${changed}, ${oldRow}, ${newRow}, ${lit(origin)},
               CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED));`;
  if (event === 'INSERT') {
    return `BEGIN
  IF NOT (${applierSessionSql(d)}) THEN
    ${insert('NULL', 'NULL', rowJson('NEW', table.columns))}
  END IF;
END`;
  }
  if (event === 'DELETE') {
    return `BEGIN
  IF NOT (${applierSessionSql(d)}) THEN
    ${insert('NULL', rowJson('OLD', table.columns), 'NULL')}
  END IF;
END`;
  }
  const tests = table.columns.map((c) => `    IF ${changedTest(c)} THEN SET ch = JSON_ARRAY_APPEND(ch, '$', ${lit(c.name)}); END IF;`).join('\n');
  // The old image is read by the capture only when the key changed (the delete of the old
  // key); building it for every update cost about a tenth of an updated row's trigger time.
  const keyChanged = keyCols.map(changedTest).join(' OR ');
  return `BEGIN
  DECLARE ch LONGTEXT DEFAULT '[]';
  IF NOT (${applierSessionSql(d)}) THEN
${tests}
    IF ch <> '[]' THEN
      IF ${keyChanged} THEN
        ${insert('ch', rowJson('OLD', table.columns), rowJson('NEW', table.columns))}
      ELSE
        ${insert('ch', 'NULL', rowJson('NEW', table.columns))}
      END IF;
    END IF;
  END IF;
END`;
}

/**
 * Statements that (re)create the three triggers of a table under their base names.
 * `mariadb` selects CREATE OR REPLACE (atomic); for MySQL 8 the statements are to be run
 * on one connection in order (LOCK TABLES … DROP … CREATE … UNLOCK TABLES). A copy the
 * reconciler's swap left under the alternate name is dropped after the base one exists
 * (a write in between is recorded twice, never missed; trigger-names.ts).
 */
export function mysqlInstallTriggerSql(table: TableSchema, tableDatabase: string, outboxDatabase: string, origin: string, mariadb: boolean): string[] {
  const target = `${d.quote(tableDatabase)}.${d.quote(table.name)}`;
  const ref = (name: string) => `${d.quote(tableDatabase)}.${d.quote(name)}`;
  const create = (e: TriggerEvent, orReplace: boolean) =>
    `CREATE ${orReplace ? 'OR REPLACE ' : ''}TRIGGER ${ref(mysqlTriggerName(table.name, e))} AFTER ${e} ON ${target} FOR EACH ROW\n${mysqlTriggerBody(e, table, tableDatabase, outboxDatabase, origin)}`;
  const dropAlternates = (e: TriggerEvent) => triggerNameForms(mysqlTriggerName(table.name, e)).slice(1).map((n) => `DROP TRIGGER IF EXISTS ${ref(n)}`);
  if (mariadb) return EVENTS.flatMap((e) => [create(e, true), ...dropAlternates(e)]);
  return [
    `LOCK TABLES ${target} WRITE, ${mysqlOutboxTable(outboxDatabase)} WRITE`,
    ...EVENTS.flatMap((e) => [`DROP TRIGGER IF EXISTS ${ref(mysqlTriggerName(table.name, e))}`, create(e, false), ...dropAlternates(e)]),
    'UNLOCK TABLES',
  ];
}

/** Drops the three triggers under either of their names. */
export function mysqlUninstallTriggerSql(table: { name: string }, tableDatabase: string): string[] {
  return EVENTS.flatMap((e) => triggerNameForms(mysqlTriggerName(table.name, e)).map((n) => `DROP TRIGGER IF EXISTS ${d.quote(tableDatabase)}.${d.quote(n)}`));
}

/** The base names of a table's three outbox triggers. */
export function mysqlTriggerBaseNames(table: string): string[] {
  return EVENTS.map((e) => mysqlTriggerName(table, e));
}

/** Names of the outbox triggers present on a table (checked at capture start). */
export const mysqlTriggersOfTableSql = `SELECT trigger_name AS name FROM information_schema.triggers WHERE event_object_schema = ? AND event_object_table = ?`;
