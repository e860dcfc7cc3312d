import { afterAll, describe, expect, it } from 'vitest';
import { EventCodec } from '../../lib/avro/codec.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { createKafka, ensureTopics } from '../../lib/kafka/client.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import type { TableSchema } from '../../lib/types.js';
import { stack, stackConfig, uniqueName, waitFor } from '../support/helpers.js';

describe('local stack', () => {
  const cfg = stackConfig();
  const pg = openPostgres(stack.pgUrl());
  const my = openMysql(stack.mysqlUrl());
  afterAll(async () => { await pg.close(); await my.close(); });

  it('registers an Avro schema in the real registry, produces to the real broker and decodes it back', async () => {
    const topic = `${cfg.kafka.topicPrefix}.pg.public.clients`;
    const table: TableSchema = {
      schema: 'public', name: 'clients', key: ['id'],
      columns: [
        { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
        { name: 'email', type: { kind: 'string', maxLength: 200 }, nullable: true },
        { name: 'balance', type: { kind: 'decimal', precision: 12, scale: 2 }, nullable: true },
        { name: 'seen at', type: { kind: 'timestamp', precision: 6, tz: true }, nullable: true },
        { name: 'blob', type: { kind: 'bytes' }, nullable: true },
      ],
    };
    const codec = new EventCodec(cfg.registry);
    const reg = await codec.register(topic, table);
    expect(reg.valueId).toBeGreaterThan(0);
    const event: ChangeEvent = {
      op: 'update', origin: 'billing', commitTimeMicros: 1_760_000_000_123_456n, position: 'outbox:42',
      key: { id: 9007199254740993n },
      after: { id: 9007199254740993n, email: 'zoë@例え.jp', balance: '-1234.50', 'seen at': '2025-01-02 03:04:05.123456', blob: Buffer.from([0, 255, 1]) },
      changed: ['email'],
    };
    const kafka = createKafka(cfg.kafka, 'stack-test');
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, cfg.kafka, [topic], 1);
    await admin.disconnect();
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const { key, value } = codec.encode(reg, event);
    await producer.send({ topic, acks: -1, messages: [{ key, value }] });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: uniqueName('g') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: Buffer[] = [];
    await consumer.run({ eachMessage: async ({ message }) => { if (message.value) received.push(message.value); } });
    await waitFor('the message to be consumed', () => received.length > 0, 30_000);
    await consumer.disconnect();

    // A fresh codec has no cache: it must fetch the writer schema from the registry by id.
    const fresh = new EventCodec(cfg.registry);
    const decoded = await fresh.decode(key, received[0]!);
    expect(decoded.event).toEqual(event);
    // the schema as the registry hands it back is recognised as fieldsync's own envelope
    expect(fresh.readsCompiled(decoded.valueSchemaId)).toBe(true);
    expect(decoded.table).toEqual({ ...table, columns: table.columns.map((c) => ({ ...c, nullable: true })) });
  });

  it('decodes without awaiting once the writer schemas are fetched, and fetches a delete\'s key schema first', async () => {
    const topic = `${cfg.kafka.topicPrefix}.pg.public.${uniqueName('known')}`;
    const table: TableSchema = {
      schema: 'public', name: 'known', key: ['id'],
      columns: [{ name: 'id', type: { kind: 'int', bits: 64 }, nullable: false }, { name: 'note', type: { kind: 'string' }, nullable: true }],
    };
    const reg = await new EventCodec(cfg.registry).register(topic, table);
    const writer = new EventCodec(cfg.registry);
    const update = writer.encode(reg, { op: 'update', origin: 'a', commitTimeMicros: 1n, position: 'outbox:1', key: { id: 7n }, after: { id: 7n, note: 'x' }, changed: ['note'] });
    const del = writer.encode(reg, { op: 'delete', origin: 'a', commitTimeMicros: 2n, position: 'outbox:2', key: { id: 7n }, after: null, changed: [] });

    const reader = new EventCodec(cfg.registry); // nothing cached
    expect(reader.decodeKnown(update.key, update.value)).toBeUndefined();
    const fetched = await reader.decode(update.key, update.value);
    expect(reader.decodeKnown(update.key, update.value)).toEqual(fetched);
    // the value schema is known now, the key schema is not: a delete still needs a fetch
    expect(reader.decodeKnown(del.key, del.value)).toBeUndefined();
    const deleted = await reader.decode(del.key, del.value);
    expect(deleted.event).toMatchObject({ op: 'delete', key: { id: 7n }, after: null });
    expect(reader.decodeKnown(del.key, del.value)).toEqual(deleted);
    expect(() => reader.decodeKnown(del.key, Buffer.from([1, 2, 3]))).toThrow(/wire format/);
  });

  it('writes and reads a row in PostgreSQL and MariaDB with canonical values', async () => {
    const t = uniqueName('rw');
    await pg.execute(`CREATE TABLE ${t} (id bigint PRIMARY KEY, amount numeric(10,3), at timestamptz(6), d date, note text)`);
    await pg.execute(`INSERT INTO ${t} VALUES ($1, $2, $3, $4, $5)`, ['9007199254740993', '12.5', '2024-02-29 23:59:59.000001+00', '1999-12-31', 'ünïcødé']);
    const pgTable = (await readTableSchema(pg, 'public', t))!;
    const [pgRow] = await pg.query(`SELECT * FROM ${t}`);
    const canon = Object.fromEntries(pgTable.columns.map((c) => [c.name, pg.dialect.fromDb(pgRow![c.name], c.type)]));
    expect(canon).toEqual({ id: 9007199254740993n, amount: '12.500', at: '2024-02-29 23:59:59.000001', d: '1999-12-31', note: 'ünïcødé' });
    await pg.execute(`DROP TABLE ${t}`);

    await my.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, amount DECIMAL(10,3), at DATETIME(6), d DATE, note TEXT, flag TINYINT(1))`);
    await my.execute(`INSERT INTO ${t} VALUES (?, ?, ?, ?, ?, ?)`, ['9007199254740993', '12.5', '2024-02-29 23:59:59.000001', '1999-12-31', 'ünïcødé', 1]);
    const myTable = (await readTableSchema(my, '', t))!;
    const [myRow] = await my.query(`SELECT * FROM ${t}`);
    const canonMy = Object.fromEntries(myTable.columns.map((c) => [c.name, my.dialect.fromDb(myRow![c.name], c.type)]));
    expect(canonMy).toEqual({ id: 9007199254740993n, amount: '12.500', at: '2024-02-29 23:59:59.000001', d: '1999-12-31', note: 'ünïcødé', flag: true });
    expect(myTable.key).toEqual(['id']);
    await my.execute(`DROP TABLE ${t}`);
  });
});
