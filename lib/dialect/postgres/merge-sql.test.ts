import { describe, expect, it } from 'vitest';
import type { ColumnSpec } from '../../types.js';
import { insertRowsSql, keyInSql, moveRowsSql, readClocksSql, updateRowsSql, upsertClocksSql, upsertOffsetsSql } from './merge-sql.js';
import type { PgMergeTable } from './merge-sql.js';
import { stampFunctionBody, stampTriggerSqls } from './stamp-triggers.js';

const id: ColumnSpec = { name: 'i d', type: { kind: 'int', bits: 64 }, nullable: false };
const odd: ColumnSpec = { name: 'e"m`ail', type: { kind: 'string', maxLength: 20 }, nullable: true };
const amount: ColumnSpec = { name: 'amount', type: { kind: 'decimal', precision: 12, scale: 2 }, nullable: true };
const m: PgMergeTable = { target: { schema: 'sch', name: 'od"d' }, key: [id], fields: [odd], allFields: [odd, amount] };

describe('PostgreSQL merge SQL', () => {
  it('binds one typed array per column and quotes odd identifiers by doubling the double quote', () => {
    expect(insertRowsSql(m, m.target)).toBe('INSERT INTO "sch"."od""d" ("i d", "e""m`ail")\n  SELECT * FROM unnest($1::bigint[], $2::varchar[])');
  });

  it('matches single keys with ANY and composite keys with unnest', () => {
    expect(keyInSql(m, 't')).toBe('t."i d" = ANY($1::bigint[])');
    expect(keyInSql({ ...m, key: [id, { ...amount, name: 'k2' }] }, 't', 3)).toBe('(t."i d", t."k2") IN (SELECT * FROM unnest($3::bigint[], $4::numeric(12,2)[]))');
  });

  it('reads and locks clocks with the tomb flag', () => {
    expect(readClocksSql(m)).toBe('SELECT c."i d", c."_fs_ins", c."_fs_del", c."e""m`ail", (tb."i d" IS NOT NULL) AS "_fs_has_tomb"\n'
      + '  FROM "sch"."od""d__fs_clock" c LEFT JOIN "sch"."od""d__fs_tomb" tb ON tb."i d" = c."i d"\n'
      + ' WHERE c."i d" = ANY($1::bigint[]) FOR UPDATE OF c');
  });

  it('writes a field only where it won', () => {
    expect(updateRowsSql(m, m.target)).toBe('UPDATE "sch"."od""d" AS t SET "e""m`ail" = CASE WHEN s._fs_w0 THEN s._fs_v0 ELSE t."e""m`ail" END\n'
      + '  FROM unnest($1::bigint[], $2::varchar[], $3::boolean[]) AS s(_fs_k0, _fs_v0, _fs_w0) WHERE t."i d" = s._fs_k0');
  });

  it('moves rows with one DELETE … RETURNING feeding an upsert, carrying columns the batch does not have', () => {
    const sql = moveRowsSql(m, m.target, { schema: 'sch', name: 'od"d__fs_tomb' });
    expect(sql).toContain('WITH moved AS (DELETE FROM "sch"."od""d" f USING unnest($1::bigint[], $2::varchar[], $3::boolean[]) AS s(_fs_k0, _fs_v0, _fs_w0)');
    expect(sql).toContain('CASE WHEN s._fs_w0 THEN s._fs_v0 ELSE f."e""m`ail" END AS "_fs_m0", f."amount" AS "_fs_m1"');
    expect(sql).toContain('ON CONFLICT ("i d") DO UPDATE SET "e""m`ail" = EXCLUDED."e""m`ail", "amount" = EXCLUDED."amount"');
  });

  it('joins clocks with GREATEST and stores offsets by upsert', () => {
    expect(upsertClocksSql(m)).toContain('DO UPDATE SET "_fs_ins" = GREATEST(c."_fs_ins", EXCLUDED."_fs_ins"), "_fs_del" = GREATEST(c."_fs_del", EXCLUDED."_fs_del"), "e""m`ail" = GREATEST(c."e""m`ail", EXCLUDED."e""m`ail")');
    expect(upsertClocksSql(m, ['e"m`ail'])).toBe('INSERT INTO "sch"."od""d__fs_clock" AS c ("i d", "e""m`ail")\n'
      + '  SELECT * FROM unnest($1::bigint[], $2::bigint[])\n'
      + '  ON CONFLICT ("i d") DO UPDATE SET "e""m`ail" = GREATEST(c."e""m`ail", EXCLUDED."e""m`ail")');
    expect(upsertOffsetsSql('"fieldsync"."offsets"')).toContain('ON CONFLICT (consumer, topic, "partition") DO UPDATE SET next_offset = EXCLUDED.next_offset');
  });
});

describe('PostgreSQL stamping trigger', () => {
  const t = { schema: 'public', name: 'clients', key: ['id'], columns: [{ ...id, name: 'id' }, { ...odd, name: 'email' }, amount] };
  it('skips applier sessions and stamps only the columns whose value changed', () => {
    const body = stampFunctionBody(t, 'invoice');
    expect(body).toContain("IF coalesce(current_setting('fieldsync.applier', true), '') = 'on' THEN RETURN NULL; END IF;");
    expect(body).toContain('"email" = CASE WHEN NEW."email" IS DISTINCT FROM OLD."email" THEN GREATEST(_fs_now_stamp, ("email" / 1024 + 1) * 1024 + ');
    expect(body).toContain('INSERT INTO "public"."clients__fs_tomb" ("id", "email", "amount") VALUES (OLD."id", OLD."email", OLD."amount");');
    const sqls = stampTriggerSqls(t, 'invoice');
    expect(sqls[2]).toBe(`CREATE TRIGGER "clients__fs_stamp" AFTER INSERT OR UPDATE OR DELETE ON "public"."clients" FOR EACH ROW WHEN (NOT (coalesce(current_setting('fieldsync.applier', true), '') = 'on')) EXECUTE FUNCTION "public"."clients__fs_stamp"()`);
  });
});
