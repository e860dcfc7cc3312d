import { describe, expect, it } from 'vitest';
import { mysqlTriggerBody, mysqlTriggerName } from './outbox-ddl.js';
import { stampTriggerBodies, stampTriggerNames } from './stamp-triggers.js';
import { skipsApplierSessions } from './swap.js';
import { GENERATION_SUFFIX, MAX_TRIGGER_NAME, otherGenerationName, triggerNameForms } from './trigger-names.js';
import type { TableSchema } from '../../types.js';

const table: TableSchema = {
  schema: '', name: 'clients', key: ['id'],
  columns: [{ name: 'id', type: { kind: 'int', bits: 64 }, nullable: false }, { name: 'email', type: { kind: 'string', maxLength: 200 }, nullable: true }],
};

describe('MySQL trigger names across generations', () => {
  it('a fieldsync trigger alternates between its base name and one other, and back', () => {
    const bases = ['clients__fs_sti', 'fieldsync_outbox_i_clients'];
    expect(otherGenerationName('clients__fs_sti', bases)).toBe(`clients__fs_sti${GENERATION_SUFFIX}`);
    expect(otherGenerationName(`clients__fs_sti${GENERATION_SUFFIX}`, bases)).toBe('clients__fs_sti');
    expect(otherGenerationName('fieldsync_outbox_i_clients', bases)).toBe('fieldsync_outboxg_i_clients');
    expect(otherGenerationName('fieldsync_outboxg_i_clients', bases)).toBe('fieldsync_outbox_i_clients');
    expect(stampTriggerNames(table, 'insert')).toEqual(['clients__fs_sti', `clients__fs_sti${GENERATION_SUFFIX}`]);
  });

  it('any other trigger, and a name with no room for the suffix, has no other name (the swap moves it under its lock)', () => {
    expect(otherGenerationName('audit_clients', ['clients__fs_sti'])).toBeUndefined();
    // no alternate name is another table's base name: the installers drop alternate names
    for (const t of ['x', 'x__fs_g', 'x__fs_sti']) {
      for (const base of [mysqlTriggerName(t, 'INSERT'), `${t}__fs_sti`]) {
        const alternate = triggerNameForms(base)[1]!;
        for (const u of ['x', 'x__fs_g', 'x__fs_sti', 'x__fs_sti__fs_g', 'g_i_x']) expect([mysqlTriggerName(u, 'INSERT'), `${u}__fs_sti`]).not.toContain(alternate);
      }
    }
    const long = mysqlTriggerName('y'.repeat(60), 'INSERT');
    expect(long.length).toBe(MAX_TRIGGER_NAME);
    expect(triggerNameForms(long)).toEqual([long]);
    expect(otherGenerationName(long, [long])).toBeUndefined();
  });

  it('fieldsync trigger bodies skip applier sessions from their first statement to their last; others do not count', () => {
    for (const body of Object.values(stampTriggerBodies(table, 'invoice'))) expect(skipsApplierSessions(body)).toBe(true);
    for (const e of ['INSERT', 'UPDATE', 'DELETE'] as const) expect(skipsApplierSessions(mysqlTriggerBody(e, table, 'app', 'app', 'o'))).toBe(true);
    expect(skipsApplierSessions('BEGIN INSERT INTO audit VALUES (NEW.id); END')).toBe(false);
    expect(skipsApplierSessions('INSERT INTO audit VALUES (NEW.id)')).toBe(false);
    expect(skipsApplierSessions('BEGIN IF NOT (coalesce(@fieldsync_applier, 0) = 1) THEN SET @x = 1; END IF; INSERT INTO audit VALUES (NEW.id); END')).toBe(false);
  });
});
