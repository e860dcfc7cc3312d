/**
 * Names of the trigger outbox's objects in a source database, shared by the DDL
 * generators (lib/dialect/<dialect>/outbox-ddl.ts), the outbox source and the checkpoint
 * store. The outbox and the checkpoint table are fieldsync system tables (systemTable() in
 * lib/merge/clock-layout.ts): `<fieldsyncSchema>.outbox` in PostgreSQL and SQL Server,
 * `fieldsync_outbox` in the MySQL database of the connection.
 *
 * Outbox row (one per changed row, written by the per-table AFTER triggers):
 *   seq            monotonic sequence (assigned at insert time, NOT at commit time: see
 *                  outbox-source.ts for how the reader never passes an in-flight one)
 *   table_schema   schema (PostgreSQL, SQL Server) or database (MySQL) of the changed table
 *   table_name     the changed table
 *   op             'I' insert, 'U' update, 'D' delete
 *   key_values     the key columns as a JSON object (new key; old key for a delete)
 *   changed        update only: names of the columns whose value changed (NULL-safe), or
 *                  NULL for the capture to compare old_row and new_row (the PostgreSQL
 *                  trigger's choice: outbox-ddl.ts)
 *   old_row        delete: the row before, as JSON built by the database; update: the
 *                  same (PostgreSQL, SQL Server), or only when the key changed (MySQL,
 *                  whose trigger lists `changed` itself)
 *   new_row        insert/update: the row after, as JSON built by the database
 *   origin         the configured origin id of this database (baked into the trigger)
 *   commit_micros  statement time of the change, UTC microseconds since the Unix epoch
 *                  (statement time, not commit time: triggers cannot see the commit time)
 */
export const OUTBOX_TABLE = 'outbox';
export const OUTBOX_SEQUENCE = 'outbox_seq';
export const CHECKPOINT_TABLE = 'capture_checkpoint';
/** Name of the generic PostgreSQL trigger function. */
export const PG_TRIGGER_FUNCTION = 'capture_outbox';
/** Trigger name prefix; PostgreSQL trigger names are per table, MySQL/SQL Server ones per schema. */
export const TRIGGER_PREFIX = 'fieldsync_outbox';
/** The checkpoint row of the outbox stream of one capture entry. */
export const STREAM_CHECKPOINT = 'outbox';
/** The checkpoint row of the initial snapshot of one table. */
export const snapshotCheckpoint = (table: { schema: string; name: string }): string => `snapshot:${table.schema ? `${table.schema}.` : ''}${table.name}`;

/** A SQL string literal for DDL (trigger arguments and bodies cannot take bind parameters). */
export function sqlLiteral(s: string, backslashEscapes = false): string {
  const body = backslashEscapes ? s.replace(/\\/g, '\\\\') : s;
  return `'${body.replace(/'/g, "''")}'`;
}
