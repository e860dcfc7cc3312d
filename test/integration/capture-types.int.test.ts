/**
 * Exactness of the outbox path for every type of the type table (lib/types.ts), on real
 * PostgreSQL and MariaDB: the rows the outbox source builds from trigger JSON must equal
 * what the driver reads from the table (dialect.fromDb), value for value — integers at
 * their limits, 64-bit and unsigned, floats (NaN, infinities, shortest round-trip),
 * decimals at full precision, booleans and bits, Unicode text, JSON as written, uuids,
 * binary with zero bytes, dates, times and timestamps with microseconds, NULLs.
 * The initial snapshot reads through the driver, so snapshot rows are the reference and
 * the update events that follow must match a fresh driver read.
 *
 * Schema evolution: a nullable column added at the source is captured without a restart,
 * under a new, compatible schema version.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOutbox, uninstallOutbox } from '../../lib/capture/install.js';
import { OutboxSource } from '../../lib/capture/outbox-source.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import type { TableChange } from '../../lib/event/change-event.js';
import type { Row, TableSchema } from '../../lib/types.js';
import { startCaptureService } from '../../services/capture/service.js';
import { captureConfig, captureSource, topicOfTable, TopicCollector, type CaptureTestSource } from '../support/capture-harness.js';
import { uniqueName, waitFor } from '../support/helpers.js';

const PG_DDL = (t: string) => `CREATE TABLE ${t} (
  id bigint PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
  dec numeric(20,6), dec_free numeric, b boolean, vc varchar(100), tx text, ch char(5),
  js json, jb jsonb, u uuid, bin bytea, d date, tm time(6), ts timestamp(6), tstz timestamptz(6))`;

const PG_ROWS = [
  `(1, -32768, 2147483647, -9223372036854775808, 3.4028235e38, 1.7976931348623157e308, '-99999999999999.999999', '12345678901234567890.1234567891',
    true, 'zoë 例え 🎉 "q" \\ tab	end', E'line1\\nline2 \\\\ ''quoted''', 'ab', '{"a":  1, "b": [1.10, null]}', '{"b": [1, 2.50], "a": "é"}',
    'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '\\x00ff8000', '0001-01-01', '23:59:59.999999', '1970-01-01 00:00:00.000001', '2262-04-11 23:47:16.854775+05:30')`,
  `(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
  `(3, 0, -1, 9223372036854775807, '-Infinity', 'NaN', '0.000001', '-0.5', false, '', '', '', '[]', '"just a string"',
    '00000000-0000-0000-0000-000000000000', '\\x', '9999-12-31', '00:00:00', '2024-02-29 12:00:00.5', '1999-12-31 23:59:59.999999-08')`,
];
const PG_UPDATES = [
  `UPDATE %t SET f4 = 1.1, f8 = 0.30000000000000004, dec = '0.100000', tx = 'Ünïcødé ✓', bin = '\\x0102', tstz = '2030-06-01 10:11:12.131415+00' WHERE id = 1`,
  `UPDATE %t SET i2 = 7, js = '{"x": {"y": [true, false]}}', jb = '[1, "two", {"three": 3.0}]', u = gen_random_uuid(), d = '2000-02-29', tm = '12:34:56.000001' WHERE id = 2`,
  `UPDATE %t SET f8 = 'Infinity', dec_free = '1e-10', b = NULL, ts = '2038-01-19 03:14:08.000000' WHERE id = 3`,
];

const MY_DDL = (t: string) => `CREATE TABLE ${t} (
  id BIGINT PRIMARY KEY, i1 TINYINT, i2 SMALLINT, i3 MEDIUMINT, i4 INT, ui4 INT UNSIGNED, ub BIGINT UNSIGNED,
  f4 FLOAT, f8 DOUBLE, dec1 DECIMAL(20,6), dec65 DECIMAL(65,30), b TINYINT(1), bt BIT(1), vc VARCHAR(100), tx TEXT,
  ch CHAR(5), js JSON, u UUID, vb VARBINARY(20), bl BLOB, bn BINARY(4), d DATE, tm TIME(6), dt DATETIME(6),
  ts TIMESTAMP(6) NULL DEFAULT NULL, en ENUM('a', 'b')) CHARACTER SET utf8mb4`;

const MY_ROWS = [
  `(1, -128, -32768, -8388608, 2147483647, 4294967295, 18446744073709551615, 3.40282e38, 1.7976931348623157e308,
    '-99999999999999.999999', '12345678901234567890123456789012345.123456789012345678901234567891', 1, b'1',
    'zoë 例え 🎉 "q" \\\\ tab	end', 'line1\\nline2 ''quoted''', 'ab', '{"a":  1, "b": [1.10, null]}',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', X'00FF8000', X'DEADBEEF00', X'6162', '1000-01-01', '00:00:00.500000',
    '1000-01-01 00:00:00.000001', '2038-01-19 03:14:07.999999', 'b')`,
  `(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
  `(3, 127, 0, 0, -1, 0, 0, -1.5, 0.1, '0.000001', '-0.000000000000000000000000000001', 0, b'0', '', '', '', '[]',
    '00000000-0000-0000-0000-000000000000', X'', X'', X'00000000', '9999-12-31', '23:59:59.999999',
    '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01.000000', 'a')`,
];
const MY_UPDATES = [
  `UPDATE %t SET f4 = 1.1, f8 = 0.30000000000000004, dec1 = '0.100000', tx = 'Ünïcødé ✓', vb = X'0102', ts = '2030-06-01 10:11:12.131415' WHERE id = 1`,
  `UPDATE %t SET i2 = 7, js = '{"x": {"y": [true, false]}}', u = UUID(), d = '2000-02-29', tm = '12:34:56.000001', bt = b'1' WHERE id = 2`,
  `UPDATE %t SET f8 = 1e-300, ub = 1, b = NULL, dt = '2038-01-19 03:14:08.000000', en = 'b', vc = 'Case' WHERE id = 3`,
];

async function driverRows(db: Db, table: TableSchema): Promise<Map<string, Row>> {
  const d = db.dialect;
  const rows = await db.query(`SELECT * FROM ${d.qualified(table)}`);
  return new Map(rows.map((r) => {
    const row = Object.fromEntries(table.columns.map((c) => [c.name, d.fromDb(r[c.name], c.type)])) as Row;
    return [String(row.id), row];
  }));
}

async function readUntil(src: OutboxSource, n: number): Promise<TableChange[]> {
  const out: TableChange[] = [];
  await waitFor(`${n} changes from the outbox source`, async () => {
    const b = await src.readBatch();
    out.push(...b.changes);
    await b.ack();
    return out.length >= n;
  }, 30_000);
  return out;
}

for (const kind of ['pg', 'maria'] as const) {
  describe(`${kind === 'pg' ? 'PostgreSQL' : 'MariaDB'} outbox: every type round-trips exactly; new columns flow`, () => {
    let source: CaptureTestSource;
    let db: Db;
    const configs: FieldsyncConfig[] = [];
    const tables: string[] = [];

    beforeAll(async () => {
      source = await captureSource(kind);
    });

    afterAll(async () => {
      if (db) {
        for (const cfg of configs) await uninstallOutbox(cfg, cfg.capture[0]!, db, true).catch(() => undefined);
        for (const t of tables) await db.execute(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
        if (kind === 'pg') await db.execute(`DROP SCHEMA IF EXISTS "${source.isolation}" CASCADE`).catch(() => undefined);
        await db.close();
      }
      await source?.drop();
    });

    it('outbox rows equal driver reads for every type, before and after updates', async () => {
      const t = uniqueName('types');
      tables.push(t);
      const cfg = captureConfig(source, [{ name: t }], { batchSize: 100 });
      configs.push(cfg);
      db ??= openDb(cfg.databases.src!);
      await db.execute(kind === 'pg' ? PG_DDL(t) : MY_DDL(t));
      await db.execute(`INSERT INTO ${t} VALUES ${(kind === 'pg' ? PG_ROWS : MY_ROWS).join(', ')}`);
      await installOutbox(cfg, cfg.capture[0]!, db);
      const src = new OutboxSource(cfg, cfg.capture[0]!);
      try {
        await src.connect();
        const snapshot = await readUntil(src, 3);
        const table = snapshot[0]!.table;
        const reference = await driverRows(db, table);
        expect(snapshot.map((c) => c.event.op)).toEqual(['snapshot', 'snapshot', 'snapshot']);
        for (const c of snapshot) expect(c.event.after).toEqual(reference.get(String(c.event.key.id)));

        for (const u of kind === 'pg' ? PG_UPDATES : MY_UPDATES) await db.execute(u.replace('%t', t));
        const updates = await readUntil(src, 3);
        const now = await driverRows(db, table);
        expect(updates.map((c) => c.event.op)).toEqual(['update', 'update', 'update']);
        for (const c of updates) {
          const want = now.get(String(c.event.key.id))!;
          expect(c.event.after, `row ${String(c.event.key.id)}`).toEqual(want);
          const before = reference.get(String(c.event.key.id))!;
          const same = (x: unknown, y: unknown) => Object.is(x, y) || (Buffer.isBuffer(x) && Buffer.isBuffer(y) && x.equals(y));
          const changed = table.columns.map((col) => col.name).filter((n) => !same(before[n], want[n]));
          expect([...c.event.changed].sort(), `changed columns of row ${String(c.event.key.id)}`).toEqual(changed.sort());
        }
        // deletes carry the key of the old row
        await db.execute(`DELETE FROM ${t} WHERE id = 2`);
        const [del] = await readUntil(src, 1);
        expect(del!.event).toMatchObject({ op: 'delete', key: { id: 2n }, after: null, changed: [] });
      } finally {
        await src.close();
      }
    });

    it('a nullable column added at the source flows under a new compatible schema version without a restart', async () => {
      const t = uniqueName('evo');
      tables.push(t);
      const cfg = captureConfig(source, [{ name: t, snapshot: false }], { schemaCheckIntervalMs: 100 });
      configs.push(cfg);
      db ??= openDb(cfg.databases.src!);
      await db.execute(`CREATE TABLE ${t} (id int PRIMARY KEY, name varchar(20))`);
      await installOutbox(cfg, cfg.capture[0]!, db);
      const topic = topicOfTable(cfg, t);
      const collector = await TopicCollector.start(cfg, [topic]);
      const service = await startCaptureService(cfg, { handleSignals: false, onStopped: () => undefined });
      try {
        await db.execute(`INSERT INTO ${t} VALUES (1, 'before')`);
        await collector.waitForCount(topic, 1);
        await db.execute(`ALTER TABLE ${t} ADD COLUMN extra ${kind === 'pg' ? 'numeric(10,2)' : 'DECIMAL(10,2)'} NULL`);
        if (kind === 'maria') {
          // MySQL triggers list their columns: wait until the capture regenerated them
          await waitFor('the triggers to include the new column', async () => (await db.query(
            `SELECT 1 FROM information_schema.triggers WHERE event_object_table = ? AND action_statement LIKE '%extra%'`, [t])).length === 3, 30_000);
        }
        await db.execute(`UPDATE ${t} SET extra = 12.5 WHERE id = 1`);
        await db.execute(`INSERT INTO ${t} VALUES (2, 'after', -1)`);
        const events = await collector.waitForCount(topic, 3);
        const [first, upd] = events.filter((e) => e.event.key.id === 1);
        const ins = events.find((e) => e.event.key.id === 2);
        expect(first!.event.after).toEqual({ id: 1, name: 'before' });
        expect(upd!.event).toMatchObject({ op: 'update', changed: ['extra'], after: { id: 1, name: 'before', extra: '12.50' } });
        expect(ins!.event.after).toEqual({ id: 2, name: 'after', extra: '-1.00' });
        expect(upd!.valueSchemaId).not.toBe(first!.valueSchemaId);
        expect(upd!.table.columns.map((c) => c.name)).toEqual(['id', 'name', 'extra']);
      } finally {
        await service.runtime.shutdown('test done');
        await collector.stop();
      }
    });
  });
}
