/**
 * Type fidelity of the refresh's stage: every column kind, with awkward values (escapes,
 * form feed and vertical tab, Unicode, NULLs, binary with NUL and backslash bytes,
 * micro-second timestamps, exact decimals), goes
 *   - from PostgreSQL through the byte path (COPY text rendered by the source) into
 *     MariaDB and into PostgreSQL, and
 *   - from MariaDB through the value path (canonical values rendered by fieldsync)
 *     into PostgreSQL and into MariaDB,
 * and reads back, through the dialects' fromDb, as exactly the source's canonical values.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { refreshTable } from '../../lib/reconcile/refresh.js';
import type { Row } from '../../lib/types.js';
import { stack, uniqueName } from '../support/helpers.js';
import { tablesLike } from './reconcile-fixture.js';

const AWKWARD = 'tab\there, nl\nthere, cr\rthere, back\\slash, ff\fvt\v, bell\u0007, zoë 例え 🙂, \\N literal';

async function canonicalRows(db: Db, schema: string, table: string): Promise<Row[]> {
  const t = (await readTableSchema(db, schema, table))!;
  const rows = await db.query(`SELECT * FROM ${db.dialect.qualified(t)} ORDER BY id`);
  return rows.map((r) => Object.fromEntries(t.columns.map((c) => [c.name, db.dialect.fromDb(r[c.name], c.type)])));
}

function config(sourceKind: 'postgres' | 'mysql', targetKind: 'postgres' | 'mysql', sourceTable: string, into: string) {
  return parseConfig({
    kafka: { brokers: stack.kafkaBrokers },
    registry: { url: stack.registryUrl },
    databases: {
      src: sourceKind === 'postgres' ? { dialect: 'postgres', url: stack.pgUrl('fieldsync_test') } : { dialect: 'mysql', url: stack.mysqlUrl('fieldsync_test') },
      tgt: targetKind === 'postgres' ? { dialect: 'postgres', url: stack.pgUrl('fieldsync_test2') } : { dialect: 'mysql', url: stack.mysqlUrl('fieldsync_test2') },
    },
    reconciler: { jobs: [{ source: 'src', table: sourceTable, target: 'tgt', into }] },
  }, 'types-test');
}

describe('reconcile stage keeps every value exact', () => {
  const opened: { db: Db; drop: string[] }[] = [];
  afterAll(async () => {
    for (const o of opened) {
      for (const t of o.drop) await o.db.execute(`DROP TABLE IF EXISTS ${o.db.dialect.quote(t)}`).catch(() => undefined);
      await o.db.close();
    }
  });

  for (const targetKind of ['mysql', 'postgres'] as const) {
    it(`PostgreSQL source (byte path) into ${targetKind === 'mysql' ? 'MariaDB' : 'PostgreSQL'}`, async () => {
      const src = uniqueName('rc_types_src');
      const into = uniqueName('rc_types_tgt');
      const cfg = config('postgres', targetKind, `public.${src}`, into);
      const source = openDb(cfg.databases.src!);
      const target = openDb(cfg.databases.tgt!);
      opened.push({ db: source, drop: [src] });
      await source.execute(`CREATE TABLE ${src} (id bigint PRIMARY KEY, i2 smallint, i4 integer, f8 double precision, f4 real, amount numeric(20,6),
        flag boolean, txt text, vc varchar(300), doc jsonb, uid uuid, bin bytea, d date, t time(6), ts timestamp(6), tstz timestamptz(6))`);
      await source.execute(`INSERT INTO ${src} VALUES
        (1, -32768, 2147483647, 0.1, 0.1, '-12345678901234.000001', true, $1, 'x', '{"a": [1, "é"]}', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '\\x005c0a0d09ff'::bytea, '1999-12-31', '23:59:59.000001', '2024-02-29 23:59:59.999999', '2024-06-30 22:00:00.000001+02'),
        (2, NULL, NULL, NULL, NULL, NULL, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (3, 0, -1, 1e300, -3.5, '0.000000', NULL, '', '', '[]', '00000000-0000-0000-0000-000000000000', ''::bytea, '0001-01-01', '00:00:00', '1970-01-01 00:00:00', '2038-01-19 03:14:08+00')`, [AWKWARD]);
      await refreshTable(cfg, cfg.reconciler.jobs[0]!);
      opened.push({ db: target, drop: await tablesLike(target, targetKind, into) });
      const expected = await canonicalRows(source, 'public', src);
      const actual = await canonicalRows(target, targetKind === 'postgres' ? 'public' : '', into);
      if (targetKind === 'mysql') {
        // MariaDB FLOAT holds a 32-bit float and JSON keeps the source's text; compare those through the same rounding
        for (const [e, a] of expected.map((r, i) => [r, actual[i]!] as const)) {
          expect(a.f4 === null ? null : Math.fround(a.f4 as number)).toBe(e.f4 === null ? null : Math.fround(e.f4 as number));
          expect(a.doc === null ? null : JSON.parse(a.doc as string)).toEqual(e.doc === null ? null : JSON.parse(e.doc as string));
          delete a.f4; delete e.f4; delete a.doc; delete e.doc;
        }
      }
      expect(actual).toEqual(expected);
      expect(actual[0]!.txt).toBe(AWKWARD);
    });
  }

  for (const targetKind of ['postgres', 'mysql'] as const) it(`MariaDB source (value path) into ${targetKind === 'mysql' ? 'MariaDB' : 'PostgreSQL'}`, async () => {
    const src = uniqueName('rc_types_src');
    const into = uniqueName('rc_types_tgt');
    const cfg = config('mysql', targetKind, src, into);
    const source = openDb(cfg.databases.src!);
    const target = openDb(cfg.databases.tgt!);
    opened.push({ db: source, drop: [src] });
    await source.execute(`CREATE TABLE ${src} (id BIGINT PRIMARY KEY, i2 SMALLINT, i4 INT, f8 DOUBLE, amount DECIMAL(20,6), flag TINYINT(1),
      txt TEXT, vc VARCHAR(300), bin VARBINARY(100), d DATE, t TIME(6), ts DATETIME(6))`);
    await source.execute(`INSERT INTO ${src} VALUES
      (1, -32768, 2147483647, 0.1, '-12345678901234.000001', 1, ?, 'x', UNHEX('005C0A0D09FF'), '1999-12-31', '23:59:59.000001', '2024-02-29 23:59:59.999999'),
      (2, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL),
      (3, 0, -1, 1e300, '0.000000', NULL, '', '', '', '1000-01-01', '00:00:00', '1970-01-01 00:00:00')`, [AWKWARD]);
    await refreshTable(cfg, cfg.reconciler.jobs[0]!);
    opened.push({ db: target, drop: await tablesLike(target, targetKind, into) });
    const expected = await canonicalRows(source, '', src);
    const actual = await canonicalRows(target, targetKind === 'postgres' ? 'public' : '', into);
    expect(actual).toEqual(expected);
  });
});
