/**
 * Trigger outbox capture end to end on the real stack: PostgreSQL and MariaDB sources,
 * `fieldsync capture install`'s DDL, the capture service in-process, real Kafka + registry,
 * events decoded by a real consumer.
 *
 * Every expected `after` row is read back from the database right after the write and
 * canonicalised by the dialect (the driver path), so the outbox JSON path must agree with
 * it exactly: Unicode, decimals, timestamps with microseconds, binary, NULLs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOutbox, uninstallOutbox } from '../../lib/capture/install.js';
import { OutboxSource } from '../../lib/capture/outbox-source.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import type { ChangeOp } from '../../lib/event/change-event.js';
import type { Row, TableSchema } from '../../lib/types.js';
import { startCaptureService, type CaptureService } from '../../services/capture/service.js';
import { byKey, captureConfig, captureSource, keyString, topicOfTable, TopicCollector, type CaptureTestSource, type SourceKind } from '../support/capture-harness.js';
import { uniqueName, waitFor } from '../support/helpers.js';

interface Step {
  table: string;
  sql: string;
  params: unknown[];
  /** Expected event, or none (an update that changes nothing). */
  expect?: { op: ChangeOp; key: Row; changed: string[] };
}

const DDL: Record<SourceKind, (a: string, b: string, c: string) => string[]> = {
  pg: (a, b, c) => [
    `CREATE TABLE ${a} (id bigint PRIMARY KEY, name text, amount numeric(12,4), at timestamptz(6), data bytea, note varchar(50))`,
    `CREATE TABLE ${b} (a int, b varchar(20), f double precision, flag boolean, d date, tm time(6), j jsonb, PRIMARY KEY (a, b))`,
    `CREATE TABLE ${c} (id int PRIMARY KEY, ts timestamp(6), u uuid, small smallint, big numeric(38,10))`,
  ],
  maria: (a, b, c) => [
    `CREATE TABLE ${a} (id BIGINT PRIMARY KEY, name TEXT, amount DECIMAL(12,4), at TIMESTAMP(6) NULL DEFAULT NULL, data VARBINARY(50), note VARCHAR(50))`,
    `CREATE TABLE ${b} (a INT, b VARCHAR(20), f DOUBLE, flag TINYINT(1), d DATE, tm TIME(6), j JSON, PRIMARY KEY (a, b))`,
    `CREATE TABLE ${c} (id INT PRIMARY KEY, ts DATETIME(6), u CHAR(36), small SMALLINT, big DECIMAL(38,10))`,
  ],
};

function steps(kind: SourceKind, a: string, b: string, c: string): Step[] {
  const p = (i: number) => (kind === 'pg' ? `$${i}` : '?');
  const bin = (hex: string) => Buffer.from(hex, 'hex');
  const at = (s: string) => (kind === 'pg' ? `${s}+00` : s);
  const json = kind === 'pg' ? '{"k": [1, 2.50, "é"]}' : '{"k": [1, 2.50, "é"]}';
  return [
    { table: a, sql: `INSERT INTO ${a} VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)})`, params: ['9007199254740993', 'zoë 例え 🎉 "q" \\ \n', '-1234.5678', at('2024-02-29 23:59:59.000001'), bin('00ff01'), 'n'], expect: { op: 'insert', key: { id: 9007199254740993n }, changed: ['id', 'name', 'amount', 'at', 'data', 'note'] } },
    { table: a, sql: `INSERT INTO ${a} VALUES (${p(1)}, ${p(2)}, ${p(3)}, NULL, NULL, NULL)`, params: [2, 'plain', '0.0001'], expect: { op: 'insert', key: { id: 2n }, changed: ['id', 'name', 'amount', 'at', 'data', 'note'] } },
    { table: b, sql: `INSERT INTO ${b} VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)})`, params: [1, 'x', 0.1, kind === 'pg' ? true : 1, '1999-12-31', '23:59:59.999999', json], expect: { op: 'insert', key: { a: 1, b: 'x' }, changed: ['a', 'b', 'f', 'flag', 'd', 'tm', 'j'] } },
    { table: a, sql: `UPDATE ${a} SET name = ${p(1)} WHERE id = ${p(2)}`, params: ['Ünïcødé', '9007199254740993'], expect: { op: 'update', key: { id: 9007199254740993n }, changed: ['name'] } },
    { table: b, sql: `INSERT INTO ${b} VALUES (${p(1)}, ${p(2)}, NULL, NULL, NULL, NULL, NULL)`, params: [2, 'ÿ'], expect: { op: 'insert', key: { a: 2, b: 'ÿ' }, changed: ['a', 'b', 'f', 'flag', 'd', 'tm', 'j'] } },
    { table: c, sql: `INSERT INTO ${c} VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)})`, params: [1, '2000-01-01 00:00:00.000001', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', -32768, '1234567890123456789012345678.0123456789'], expect: { op: 'insert', key: { id: 1 }, changed: ['id', 'ts', 'u', 'small', 'big'] } },
    { table: a, sql: `UPDATE ${a} SET amount = ${p(1)}, at = ${p(2)}, data = ${p(3)} WHERE id = ${p(4)}`, params: ['99999999.9999', at('2030-01-01 00:00:00.5'), bin('deadbeef'), '9007199254740993'], expect: { op: 'update', key: { id: 9007199254740993n }, changed: ['amount', 'at', 'data'] } },
    { table: c, sql: `INSERT INTO ${c} VALUES (${p(1)}, NULL, NULL, NULL, NULL)`, params: [2] , expect: { op: 'insert', key: { id: 2 }, changed: ['id', 'ts', 'u', 'small', 'big'] } },
    { table: a, sql: `UPDATE ${a} SET note = NULL WHERE id = ${p(1)}`, params: ['9007199254740993'], expect: { op: 'update', key: { id: 9007199254740993n }, changed: ['note'] } },
    // an update that changes nothing records nothing
    { table: a, sql: `UPDATE ${a} SET name = ${p(1)} WHERE id = ${p(2)}`, params: ['plain', 2] },
    { table: b, sql: `UPDATE ${b} SET f = ${p(1)}, flag = ${p(2)} WHERE a = 1`, params: [-0.30000000000000004, kind === 'pg' ? false : 0], expect: { op: 'update', key: { a: 1, b: 'x' }, changed: ['f', 'flag'] } },
    { table: b, sql: `UPDATE ${b} SET j = NULL WHERE a = 1`, params: [], expect: { op: 'update', key: { a: 1, b: 'x' }, changed: ['j'] } },
    { table: c, sql: `UPDATE ${c} SET ts = ${p(1)}, small = ${p(2)} WHERE id = 2`, params: ['2038-01-19 03:14:08.123456', 32767], expect: { op: 'update', key: { id: 2 }, changed: ['ts', 'small'] } },
    { table: a, sql: `DELETE FROM ${a} WHERE id = ${p(1)}`, params: [2], expect: { op: 'delete', key: { id: 2n }, changed: [] } },
    { table: b, sql: `DELETE FROM ${b} WHERE a = ${p(1)} AND b = ${p(2)}`, params: [2, 'ÿ'], expect: { op: 'delete', key: { a: 2, b: 'ÿ' }, changed: [] } },
    { table: c, sql: `DELETE FROM ${c} WHERE id = 1`, params: [], expect: { op: 'delete', key: { id: 1 }, changed: [] } },
  ];
}

async function readRow(db: Db, t: TableSchema, key: Row): Promise<Row> {
  const d = db.dialect;
  const where = t.key.map((k, i) => `${d.quote(k)} = ${d.param(i + 1)}`).join(' AND ');
  const params = t.key.map((k) => d.toDb(key[k] ?? null, t.columns.find((c) => c.name === k)!.type));
  const [r] = await db.query(`SELECT * FROM ${d.qualified(t)} WHERE ${where}`, params);
  if (!r) throw new Error(`row ${keyString(key)} of ${t.name} not found`);
  return Object.fromEntries(t.columns.map((c) => [c.name, d.fromDb(r[c.name], c.type)]));
}

for (const kind of ['pg', 'maria'] as const) {
  describe(`capture from a ${kind === 'pg' ? 'PostgreSQL' : 'MariaDB'} trigger outbox`, () => {
    let source: CaptureTestSource;
    let cfg: FieldsyncConfig;
    let db: Db;
    let service: CaptureService | undefined;
    let collector: TopicCollector | undefined;
    const [a, b, c] = [uniqueName('ca'), uniqueName('cb'), uniqueName('cc')];

    beforeAll(async () => {
      source = await captureSource(kind);
      cfg = captureConfig(source, [{ name: kind === 'pg' ? `public.${a}` : a, snapshot: false }, { name: b, snapshot: false }, { name: c, snapshot: false }], { batchSize: 7 });
      db = openDb(cfg.databases.src!);
      for (const s of DDL[kind](a, b, c)) await db.execute(s);
    });

    afterAll(async () => {
      await service?.runtime.shutdown('test done');
      await collector?.stop();
      if (db) {
        await uninstallOutbox(cfg, cfg.capture[0]!, db, true).catch(() => undefined);
        for (const t of [a, b, c]) await db.execute(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
        if (kind === 'pg') await db.execute(`DROP SCHEMA IF EXISTS "${source.isolation}" CASCADE`).catch(() => undefined);
        await db.close();
      }
      await source?.drop();
    });

    it('publishes inserts, updates (one, several, to NULL) and deletes of three tables with exact values, changed columns and order per key', async () => {
      await installOutbox(cfg, cfg.capture[0]!, db);
      await installOutbox(cfg, cfg.capture[0]!, db); // re-run safe
      const topics = { [a]: topicOfTable(cfg, kind === 'pg' ? `public.${a}` : a), [b]: topicOfTable(cfg, b), [c]: topicOfTable(cfg, c) };
      collector = await TopicCollector.start(cfg, Object.values(topics));
      service = await startCaptureService(cfg, { handleSignals: false, onStopped: () => undefined });

      const schemas: Record<string, TableSchema> = {};
      for (const t of [a, b, c]) schemas[t] = (await readTableSchema(db, kind === 'pg' ? 'public' : '', t))!;
      const expected = new Map<string, { op: ChangeOp; changed: string[]; after: Row | null }[]>();
      for (const s of steps(kind, a, b, c)) {
        await db.execute(s.sql, s.params);
        if (!s.expect) continue;
        const after = s.expect.op === 'delete' ? null : await readRow(db, schemas[s.table]!, s.expect.key);
        const k = `${s.table}:${keyString(s.expect.key)}`;
        expected.set(k, [...(expected.get(k) ?? []), { op: s.expect.op, changed: s.expect.changed, after }]);
      }
      for (const t of [a, b, c]) {
        const want = [...expected.entries()].filter(([k]) => k.startsWith(`${t}:`)).reduce((n, [, v]) => n + v.length, 0);
        await collector.waitForCount(topics[t]!, want);
      }
      // every outbox row published and deleted (retention 0): nothing more is coming
      const outbox = kind === 'pg' ? `"${source.isolation}".outbox` : 'fieldsync_outbox';
      await waitFor('the outbox to drain', async () => Number((await db.query(`SELECT count(*) AS n FROM ${outbox}`))[0]!.n) === 0);
      for (const t of [a, b, c]) {
        const got = byKey(collector.of(topics[t]!));
        for (const [k, want] of [...expected.entries()].filter(([key]) => key.startsWith(`${t}:`))) {
          const events = got.get(k.slice(t.length + 1)) ?? [];
          expect(events.map((e) => ({ op: e.op, changed: e.changed, after: e.after })), `${t} ${k}`).toEqual(want);
          for (const e of events) {
            expect(e.origin).toBe(cfg.databases.src!.origin);
            expect(e.position).toMatch(/^outbox:\d+$/);
          }
        }
        expect(collector.of(topics[t]!).length).toBe([...expected.entries()].filter(([k]) => k.startsWith(`${t}:`)).reduce((n, [, v]) => n + v.length, 0));
      }
    });

    it('serves readiness and the capture metrics on the health server', async () => {
      const base = `http://127.0.0.1:${service!.runtime.port}`;
      const ready = await waitFor('/readyz to answer 200', async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined));
      expect(ready).toBe(true);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/fieldsync_capture_events_total\{source="src",table="[^"]+",op="update"\} \d+/);
      expect(metrics).toMatch(/fieldsync_capture_batch_size_count\{source="src"\} \d+/);
      expect(metrics).toMatch(/fieldsync_capture_source_lag_seconds\{source="src"\} [\d.e-]+/);
      expect(metrics).toContain('fieldsync_circuit_breaker_state{service="capture",name="src"} 0');
    });

    it('rejects a table without a primary key unless key columns are configured, naming the table', async () => {
      // its own outbox: the running service would otherwise consume (and delete) these rows
      const own = await captureSource(kind);
      const nokey = uniqueName('nokey');
      const bad = captureConfig(own, [{ name: nokey, snapshot: false }]);
      const good = captureConfig(own, [{ name: nokey, snapshot: false, keyColumns: ['code'] }]);
      const ownDb = openDb(bad.databases.src!);
      await ownDb.execute(`CREATE TABLE ${nokey} (code varchar(10) NOT NULL, v int)`);
      try {
        await expect(installOutbox(bad, bad.capture[0]!, ownDb)).rejects.toThrow(new RegExp(`table .*${nokey} has no primary key: give keyColumns`));
        await installOutbox(good, good.capture[0]!, ownDb);
        const src = new OutboxSource(good, good.capture[0]!);
        await src.connect();
        await ownDb.execute(`INSERT INTO ${nokey} VALUES ('k1', 1)`);
        const got = await waitFor('the change of the keyless table', async () => {
          const b = await src.readBatch();
          await b.ack();
          return b.changes.find((c) => c.table.name === nokey);
        });
        expect(got.event.key).toEqual({ code: 'k1' });
        await src.close();
      } finally {
        await uninstallOutbox(good, good.capture[0]!, ownDb, true).catch(() => undefined);
        await ownDb.execute(`DROP TABLE IF EXISTS ${nokey}`);
        if (kind === 'pg') await ownDb.execute(`DROP SCHEMA IF EXISTS "${own.isolation}" CASCADE`);
        await ownDb.close();
        await own.drop();
      }
    });

    it('refuses a table with a column named __proto__, naming the table and the column', async () => {
      const own = await captureSource(kind);
      const reserved = uniqueName('reserved');
      const bad = captureConfig(own, [{ name: reserved, snapshot: false }]);
      const ownDb = openDb(bad.databases.src!);
      const q = (n: string) => (kind === 'pg' ? `"${n}"` : `\`${n}\``);
      await ownDb.execute(`CREATE TABLE ${reserved} (id int PRIMARY KEY, ${q('__proto__')} varchar(10))`);
      try {
        await expect(installOutbox(bad, bad.capture[0]!, ownDb)).rejects.toThrow(new RegExp(`table .*${reserved}: column "__proto__" cannot be synced`));
      } finally {
        await ownDb.execute(`DROP TABLE IF EXISTS ${reserved}`);
        if (kind === 'pg') await ownDb.execute(`DROP SCHEMA IF EXISTS "${own.isolation}" CASCADE`);
        await ownDb.close();
        await own.drop();
      }
    });

    it('does not capture writes made through an applier session (echo prevention)', async () => {
      const url = String(cfg.databases.src!.url);
      const applier = kind === 'pg' ? openPostgres(url, { applierSession: true }) : openMysql(url, { applierSession: true });
      const p = (i: number) => (kind === 'pg' ? `$${i}` : '?');
      await applier.execute(`INSERT INTO ${c} (id, small) VALUES (${p(1)}, ${p(2)})`, [100, 1]);
      await applier.execute(`UPDATE ${c} SET small = 5 WHERE id = 2`);
      await applier.close();
      await db.execute(`INSERT INTO ${c} (id, small) VALUES (${p(1)}, ${p(2)})`, [101, 2]);
      const topic = topicOfTable(cfg, c);
      await waitFor('the local write', () => collector!.of(topic).some((e) => e.event.key.id === 101));
      expect(collector!.of(topic).filter((e) => e.event.key.id === 100 || (e.event.key.id === 2 && e.event.changed.includes('small') && e.event.after?.small === 5))).toEqual([]);
    });
  });
}
