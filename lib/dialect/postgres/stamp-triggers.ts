/**
 * Local-edit stamping triggers for a PostgreSQL target table T: writes made by the
 * target's own users (any session that is not a fieldsync applier session) stamp
 * T__fs_clock, so the merge knows they are newer than older incoming changes.
 *
 *   INSERT  → _fs_ins and every field stamp; a tomb row for the key is dropped
 *   UPDATE  → the stamps of the columns whose value changed (IS DISTINCT FROM: NULL-safe)
 *   DELETE  → _fs_del; the row's field values move to T__fs_tomb
 *   UPDATE of a key column = DELETE of the old key + INSERT of the new one
 *
 * The stamp is nowStampSql() (statement time + this database's origin), but never lower
 * than one tick above the stamp it replaces: a local edit is causally after the value
 * the user saw, so the value T holds and the clock always agree even when an origin's
 * clock ran ahead. (A tick is one unit of stamp time: ORIGIN_SPACE.)
 *
 * One plpgsql function per table, (re)created with CREATE OR REPLACE whenever the table's
 * columns change, and one AFTER … FOR EACH ROW trigger calling it.
 */
import { DELETE_STAMP, INSERT_STAMP, applierSessionSql, clockTable, fieldColumns, nowStampSql, tombTable } from '../../merge/clock-layout.js';
import { ORIGIN_SPACE, originCode } from '../../stamp.js';
import type { TableSchema } from '../../types.js';
import { postgresDialect as d } from './dialect.js';

const q = (s: string) => d.quote(s);

export function stampFunctionName(t: { schema: string; name: string }): { schema: string; name: string } {
  return { schema: t.schema, name: `${t.name}__fs_stamp` };
}

export const stampTriggerName = (t: { name: string }) => `${t.name}__fs_stamp`;

/** The plpgsql body of the stamping function (compared with pg_proc.prosrc to skip a reinstall). */
export function stampFunctionBody(t: TableSchema, origin: string): string {
  const code = originCode(origin);
  const tick = ORIGIN_SPACE.toString();
  // one tick above a stored stamp, keeping this database's origin code
  const above = (col: string) => `(${col} / ${tick} + 1) * ${tick} + ${code}`;
  const clock = d.qualified(clockTable(t));
  const tomb = d.qualified(tombTable(t));
  const keys = t.key.map(q);
  const fields = fieldColumns(t);
  const keyWhere = (rec: string) => t.key.map((k) => `${q(k)} = ${rec}.${q(k)}`).join(' AND ');
  const keyVals = (rec: string) => t.key.map((k) => `${rec}.${q(k)}`).join(', ');
  const keyChanged = `(${keyVals('NEW')}) IS DISTINCT FROM (${keyVals('OLD')})`;
  const allCols = t.columns.map((c) => q(c.name));

  const onDelete = `
    INSERT INTO ${clock} (${keys.join(', ')}) VALUES (${keyVals('OLD')}) ON CONFLICT DO NOTHING;
    UPDATE ${clock} SET ${q(DELETE_STAMP)} = GREATEST(_fs_now_stamp, ${above(q(INSERT_STAMP))}, ${above(q(DELETE_STAMP))}) WHERE ${keyWhere('OLD')};
    DELETE FROM ${tomb} WHERE ${keyWhere('OLD')};
    INSERT INTO ${tomb} (${allCols.join(', ')}) VALUES (${t.columns.map((c) => `OLD.${q(c.name)}`).join(', ')});`;
  const insertSets = [`${q(INSERT_STAMP)} = GREATEST(_fs_now_stamp, ${above(q(INSERT_STAMP))}, ${above(q(DELETE_STAMP))})`, ...fields.map((f) => `${q(f)} = GREATEST(_fs_now_stamp, ${above(q(f))})`)];
  const onInsert = `
    INSERT INTO ${clock} (${keys.join(', ')}) VALUES (${keyVals('NEW')}) ON CONFLICT DO NOTHING;
    UPDATE ${clock} SET ${insertSets.join(', ')} WHERE ${keyWhere('NEW')};
    DELETE FROM ${tomb} WHERE ${keyWhere('NEW')};`;
  const updateSets = fields.map((f) => `${q(f)} = CASE WHEN NEW.${q(f)} IS DISTINCT FROM OLD.${q(f)} THEN GREATEST(_fs_now_stamp, ${above(q(f))}) ELSE ${q(f)} END`);
  // a row that predates fieldsync and was not backfilled counts as present since stamp 0
  const onUpdate = fields.length === 0 ? '' : `
    INSERT INTO ${clock} (${keys.join(', ')}, ${q(INSERT_STAMP)}) VALUES (${keyVals('NEW')}, 0) ON CONFLICT DO NOTHING;
    UPDATE ${clock} SET ${updateSets.join(', ')} WHERE ${keyWhere('NEW')};`;

  return `
DECLARE
  _fs_now_stamp bigint := ${nowStampSql(d, origin)};
BEGIN
  -- writes of a fieldsync applier session carry their own stamps: never re-stamp them
  IF ${applierSessionSql(d)} THEN RETURN NULL; END IF;
  IF TG_OP = 'INSERT' THEN${onInsert}
  ELSIF TG_OP = 'DELETE' THEN${onDelete}
  ELSIF ${keyChanged} THEN${onDelete}${onInsert}
  ELSE${onUpdate || ' NULL;'}
  END IF;
  RETURN NULL;
END`;
}

/** Statements that (re)install the function and the trigger; run them in one transaction. */
export function stampTriggerSqls(t: TableSchema, origin: string): string[] {
  const fn = d.qualified(stampFunctionName(t));
  const trigger = q(stampTriggerName(t));
  return [
    `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fs_stamp$${stampFunctionBody(t, origin)}$fs_stamp$`,
    `DROP TRIGGER IF EXISTS ${trigger} ON ${d.qualified(t)}`,
    // The WHEN clause keeps the applier's own bulk writes from calling the function at all:
    // PostgreSQL evaluates it without entering PL/pgSQL (a quarter of a bulk insert's time).
    `CREATE TRIGGER ${trigger} AFTER INSERT OR UPDATE OR DELETE ON ${d.qualified(t)} FOR EACH ROW WHEN (NOT (${applierSessionSql(d)})) EXECUTE FUNCTION ${fn}()`,
  ];
}
