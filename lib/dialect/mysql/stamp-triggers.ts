/**
 * Local-edit stamping triggers for a MySQL / MariaDB target table T (the rules are the
 * PostgreSQL ones, see postgres/stamp-triggers.ts):
 *
 *   AFTER INSERT  → _fs_ins and every field stamp; a tomb row for the key is dropped
 *   AFTER UPDATE  → the stamps of the columns whose value changed (<=>: NULL-safe);
 *                   a key change is a delete of the old key and an insert of the new one
 *   AFTER DELETE  → _fs_del; the row's field values move to T__fs_tomb
 *
 * skipped inside a fieldsync applier session (@fieldsync_applier = 1). A stamp is never
 * lower than one tick above the stamp it replaces (a local edit is causally after the
 * value it overwrote). MySQL's GREATEST() is NULL when an argument is NULL, hence the
 * COALESCEs. The statements avoid VALUES()/row aliases so one text serves both servers.
 */
import { DELETE_STAMP, INSERT_STAMP, applierSessionSql, clockTable, fieldColumns, nowStampSql, tombTable } from '../../merge/clock-layout.js';
import { ORIGIN_SPACE, originCode } from '../../stamp.js';
import type { TableSchema } from '../../types.js';
import { mysqlDialect as d } from './dialect.js';
import { triggerNameForms } from './trigger-names.js';

const q = (s: string) => d.quote(s);

export type TriggerEvent = 'insert' | 'update' | 'delete';

/** The base name of a stamp trigger (what the installer creates). */
export function stampTriggerName(t: { name: string }, event: TriggerEvent): string {
  return `${t.name}__fs_st${event[0]}`;
}

/**
 * Both names a stamp trigger may carry on a live table: the base name, and the one the
 * reconciler's swap gives the copy on the incoming generation (trigger-names.ts).
 */
export function stampTriggerNames(t: { name: string }, event: TriggerEvent): string[] {
  return triggerNameForms(stampTriggerName(t, event));
}

/** The base names of a table's three stamp triggers. */
export function stampTriggerBaseNames(t: { name: string }): string[] {
  return (['insert', 'update', 'delete'] as const).map((e) => stampTriggerName(t, e));
}

/** The trigger bodies (BEGIN … END), by event. */
export function stampTriggerBodies(t: TableSchema, origin: string): Record<TriggerEvent, string> {
  const code = originCode(origin);
  const tick = ORIGIN_SPACE.toString();
  const now = '_fs_now_stamp';
  const above = (col: string) => `COALESCE((${col} DIV ${tick} + 1) * ${tick} + ${code}, ${now})`;
  const clock = d.qualified(clockTable(t));
  const tomb = d.qualified(tombTable(t));
  const keys = t.key.map(q);
  const fields = fieldColumns(t);
  const keyWhere = (rec: string) => t.key.map((k) => `${q(k)} = ${rec}.${q(k)}`).join(' AND ');
  const keyVals = (rec: string) => t.key.map((k) => `${rec}.${q(k)}`).join(', ');
  const firstKey = q(t.key[0]!);

  const onDelete = `
      INSERT INTO ${clock} (${keys.join(', ')}) VALUES (${keyVals('OLD')}) ON DUPLICATE KEY UPDATE ${firstKey} = ${firstKey};
      UPDATE ${clock} SET ${q(DELETE_STAMP)} = GREATEST(${now}, ${above(q(INSERT_STAMP))}, ${above(q(DELETE_STAMP))}) WHERE ${keyWhere('OLD')};
      DELETE FROM ${tomb} WHERE ${keyWhere('OLD')};
      INSERT INTO ${tomb} (${t.columns.map((c) => q(c.name)).join(', ')}) VALUES (${t.columns.map((c) => `OLD.${q(c.name)}`).join(', ')});`;
  const insertSets = [`${q(INSERT_STAMP)} = GREATEST(${now}, ${above(q(INSERT_STAMP))}, ${above(q(DELETE_STAMP))})`, ...fields.map((f) => `${q(f)} = GREATEST(${now}, ${above(q(f))})`)];
  const onInsert = `
      INSERT INTO ${clock} (${keys.join(', ')}) VALUES (${keyVals('NEW')}) ON DUPLICATE KEY UPDATE ${firstKey} = ${firstKey};
      UPDATE ${clock} SET ${insertSets.join(', ')} WHERE ${keyWhere('NEW')};
      DELETE FROM ${tomb} WHERE ${keyWhere('NEW')};`;
  // each assignment reads only its own column: MySQL's left-to-right SET order cannot leak
  const updateSets = fields.map((f) => `${q(f)} = IF(NEW.${q(f)} <=> OLD.${q(f)}, ${q(f)}, GREATEST(${now}, ${above(q(f))}))`);
  const onUpdate = fields.length === 0 ? '' : `
      INSERT INTO ${clock} (${keys.join(', ')}, ${q(INSERT_STAMP)}) VALUES (${keyVals('NEW')}, 0) ON DUPLICATE KEY UPDATE ${firstKey} = ${firstKey};
      UPDATE ${clock} SET ${updateSets.join(', ')} WHERE ${keyWhere('NEW')};`;
  const keySame = t.key.map((k) => `NEW.${q(k)} <=> OLD.${q(k)}`).join(' AND ');

  // The session test comes first and the clock is read in an inner block: the trigger fires
  // for every row the applier writes too, and the applier's bulk statements should pay for
  // one comparison per row, not for reading the clock (a third more time per insert).
  const wrapBody = (inner: string) => `BEGIN
  -- writes of a fieldsync applier session carry their own stamps: never re-stamp them
  IF NOT (${applierSessionSql(d)}) THEN BEGIN
  DECLARE ${now} BIGINT DEFAULT ${nowStampSql(d, origin)};${inner}
  END; END IF;
END`;
  return {
    insert: wrapBody(onInsert),
    delete: wrapBody(onDelete),
    update: wrapBody(`
    IF NOT (${keySame}) THEN${onDelete}${onInsert}${onUpdate ? `
    ELSE${onUpdate}` : ''}
    END IF;`),
  };
}

/**
 * Statements that (re)install the three triggers under their base names. MariaDB replaces
 * a trigger atomically (CREATE OR REPLACE); MySQL needs DROP + CREATE. A copy the
 * reconciler's swap left under the alternate name is dropped only after the base one
 * exists: a local edit in between is stamped twice (one tick higher), never not at all.
 */
export function stampTriggerSqls(t: TableSchema, origin: string, mariadb: boolean): string[] {
  const bodies = stampTriggerBodies(t, origin);
  const out: string[] = [];
  for (const event of ['insert', 'update', 'delete'] as const) {
    const [base, ...others] = stampTriggerNames(t, event);
    const name = d.qualified({ schema: t.schema, name: base! });
    if (!mariadb) out.push(`DROP TRIGGER IF EXISTS ${name}`);
    out.push(`CREATE ${mariadb ? 'OR REPLACE ' : ''}TRIGGER ${name} AFTER ${event.toUpperCase()} ON ${d.qualified(t)} FOR EACH ROW ${bodies[event]}`);
    for (const other of others) out.push(`DROP TRIGGER IF EXISTS ${d.qualified({ schema: t.schema, name: other })}`);
  }
  return out;
}
