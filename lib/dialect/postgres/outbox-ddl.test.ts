import { describe, expect, it } from 'vitest';
import { pgDropOutboxSql, pgInstallOutboxSql, pgInstallTriggerSql } from './outbox-ddl.js';

describe('PostgreSQL outbox DDL', () => {
  it('creates the schema, a CACHE 1 sequence, the outbox, the checkpoint and one generic trigger function', () => {
    const sql = pgInstallOutboxSql('fs"x');
    expect(sql[0]).toBe('CREATE SCHEMA IF NOT EXISTS "fs""x"');
    expect(sql[1]).toBe('CREATE SEQUENCE IF NOT EXISTS "fs""x"."outbox_seq" AS bigint CACHE 1');
    expect(sql[2]).toContain(`seq bigint PRIMARY KEY DEFAULT nextval('"fs""x"."outbox_seq"')`);
    const fn = sql.find((s) => s.startsWith('CREATE OR REPLACE FUNCTION'))!;
    expect(fn).toContain(`IF coalesce(current_setting('fieldsync.applier', true), '') = 'on' THEN`);
    expect(fn).toContain('IF n::text = o::text THEN'); // an update that changes nothing records nothing
    // the changed columns are the capture's to list (outbox-events.ts): both images, changed NULL
    expect(fn).not.toContain('json_each');
    expect(fn).toContain("left(TG_OP, 1), k, NULL, o, n, TG_ARGV[0]");
    expect(fn).toContain('floor(extract(epoch from statement_timestamp()) * 1000000)::bigint');
  });

  it('replaces the trigger in one transaction, passing origin and key columns as arguments', () => {
    const sql = pgInstallTriggerSql('fieldsync', { schema: 'public', name: 'cli"ents' }, "o'rigin", ['id', 'region']);
    expect(sql).toEqual([
      'DROP TRIGGER IF EXISTS "fieldsync_outbox" ON "public"."cli""ents"',
      `CREATE TRIGGER "fieldsync_outbox" AFTER INSERT OR UPDATE OR DELETE ON "public"."cli""ents"
       FOR EACH ROW WHEN (NOT (coalesce(current_setting('fieldsync.applier', true), '') = 'on')) EXECUTE FUNCTION "fieldsync"."capture_outbox"('o''rigin', 'id', 'region')`,
    ]);
    expect(pgDropOutboxSql('fieldsync')[0]).toBe('DROP FUNCTION IF EXISTS "fieldsync"."capture_outbox"() CASCADE');
  });
});
