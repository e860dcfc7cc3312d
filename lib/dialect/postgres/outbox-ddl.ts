/**
 * PostgreSQL trigger outbox DDL (see lib/capture/outbox-layout.ts for the row layout).
 *
 * One generic plpgsql trigger function serves every captured table: it serialises the row
 * with to_json(NEW/OLD), so a column added to the table later is captured without
 * reinstalling anything (the capture notices the new JSON member and re-registers the
 * schema). Trigger arguments carry what differs per table: the origin id and the key
 * column names.
 *
 * - An update whose row JSON text is unchanged records nothing (comparing the JSON text is
 *   NULL-safe and works for types without an equality operator, json). Otherwise the row
 *   records both images and leaves `changed` NULL: the capture lists the changed columns
 *   by comparing the decoded images (outbox-events.ts), as it does for SQL Server CDC.
 *   Listing them here (a json_each join of the two images per row) took about half the
 *   trigger's time per updated row. Rows an earlier trigger wrote with `changed` filled
 *   still load as they are.
 * - Writes of a fieldsync applier session (applierSessionSql) are skipped: echo prevention.
 * - commit_micros is the statement time (statement_timestamp()), the same clock the
 *   local-edit stamping triggers use.
 * - The sequence has CACHE 1 (the default, stated explicitly): the reader's visibility
 *   barrier reads the sequence's last_value and needs it to cover every value handed out.
 *
 * Every statement is re-run safe (IF NOT EXISTS / CREATE OR REPLACE / DROP IF EXISTS); the
 * trigger is dropped and created in one transaction (PostgreSQL DDL is transactional), so
 * no write slips through uncaptured while it is replaced.
 */
import { CHECKPOINT_TABLE, OUTBOX_SEQUENCE, OUTBOX_TABLE, PG_TRIGGER_FUNCTION, TRIGGER_PREFIX, sqlLiteral } from '../../capture/outbox-layout.js';
import { applierSessionSql, systemTable } from '../../merge/clock-layout.js';
import { postgresDialect as d } from './dialect.js';

const sys = (fs: string, name: string) => systemTable(d, fs, name);

/** Schema, sequence, outbox, checkpoint table and the trigger function. */
export function pgInstallOutboxSql(fieldsyncSchema: string): string[] {
  const fs = fieldsyncSchema;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${d.quote(fs)}`,
    `CREATE SEQUENCE IF NOT EXISTS ${sys(fs, OUTBOX_SEQUENCE)} AS bigint CACHE 1`,
    `CREATE TABLE IF NOT EXISTS ${sys(fs, OUTBOX_TABLE)} (
       seq bigint PRIMARY KEY DEFAULT nextval(${sqlLiteral(sys(fs, OUTBOX_SEQUENCE))}),
       table_schema text NOT NULL,
       table_name text NOT NULL,
       op char(1) NOT NULL,
       key_values json NOT NULL,
       changed text[],
       old_row json,
       new_row json,
       origin text NOT NULL,
       commit_micros bigint NOT NULL)`,
    `ALTER SEQUENCE ${sys(fs, OUTBOX_SEQUENCE)} OWNED BY ${sys(fs, OUTBOX_TABLE)}.seq`,
    `CREATE TABLE IF NOT EXISTS ${sys(fs, CHECKPOINT_TABLE)} (
       stream text PRIMARY KEY,
       position text NOT NULL,
       updated_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE OR REPLACE FUNCTION ${sys(fs, PG_TRIGGER_FUNCTION)}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  n json;
  o json;
  k json;
BEGIN
  -- echo prevention: what a fieldsync applier wrote came from elsewhere and is not re-published
  IF ${applierSessionSql(d)} THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    n := to_json(NEW);
    o := to_json(OLD);
    -- an update that changes nothing records nothing
    IF n::text = o::text THEN
      RETURN NULL;
    END IF;
    -- changed stays NULL: the capture compares the two images (outbox-events.ts); the
    -- per-member comparison that listed them here was about half the trigger's cost per update
  ELSIF TG_OP = 'INSERT' THEN
    n := to_json(NEW);
  ELSE
    o := to_json(OLD);
  END IF;
  -- a one-column key is built by an expression, not a query: about a quarter of the trigger's cost
  IF TG_NARGS = 2 THEN
    k := json_build_object(TG_ARGV[1], coalesce(n, o) -> TG_ARGV[1]);
  ELSE
    SELECT json_object_agg(a, coalesce(n, o) -> a) INTO k FROM unnest(TG_ARGV[1:TG_NARGS - 1]) a;
  END IF;
  INSERT INTO ${sys(fs, OUTBOX_TABLE)} (table_schema, table_name, op, key_values, changed, old_row, new_row, origin, commit_micros)
  VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, left(TG_OP, 1), k, NULL, o, n, TG_ARGV[0],
          floor(extract(epoch from statement_timestamp()) * 1000000)::bigint);
  RETURN NULL;
END
$fn$`,
  ];
}

/** Statements (run in one transaction) that (re)create the outbox trigger of one table. */
export function pgInstallTriggerSql(fieldsyncSchema: string, table: { schema: string; name: string }, origin: string, key: string[]): string[] {
  const args = [origin, ...key].map((a) => sqlLiteral(a)).join(', ');
  return [
    ...pgUninstallTriggerSql(table),
    `CREATE TRIGGER ${d.quote(TRIGGER_PREFIX)} AFTER INSERT OR UPDATE OR DELETE ON ${d.qualified(table)}
       FOR EACH ROW WHEN (NOT (${applierSessionSql(d)})) EXECUTE FUNCTION ${sys(fieldsyncSchema, PG_TRIGGER_FUNCTION)}(${args})`,
  ];
}

export function pgUninstallTriggerSql(table: { schema: string; name: string }): string[] {
  return [`DROP TRIGGER IF EXISTS ${d.quote(TRIGGER_PREFIX)} ON ${d.qualified(table)}`];
}

/** Removes the outbox data (after every trigger is gone). */
export function pgDropOutboxSql(fieldsyncSchema: string): string[] {
  const fs = fieldsyncSchema;
  return [
    `DROP FUNCTION IF EXISTS ${sys(fs, PG_TRIGGER_FUNCTION)}() CASCADE`,
    `DROP TABLE IF EXISTS ${sys(fs, OUTBOX_TABLE)}`,
    `DROP SEQUENCE IF EXISTS ${sys(fs, OUTBOX_SEQUENCE)}`,
    `DROP TABLE IF EXISTS ${sys(fs, CHECKPOINT_TABLE)}`,
  ];
}

/** Does the table carry the outbox trigger? (checked at capture start) */
export const pgTriggerExistsSql = `SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE t.tgname = $1 AND n.nspname = $2 AND c.relname = $3`;
