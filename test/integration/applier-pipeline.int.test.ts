/**
 * The applier pipeline in process against the real Kafka, registry, MariaDB and
 * PostgreSQL: a stream with inserts, updates, deletes and re-inserts lands exactly, with
 * the offsets in the target at the topic's end; stop and restart continue where the target
 * says; poisoned messages go to the dead-letter topic while the stream goes on; a new
 * column flows through (autoEvolve) or stops only its own table (autoEvolve off).
 */
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame } from '../../lib/avro/codec.js';
import { ApplyPipeline } from '../../lib/apply/pipeline.js';
import { DEAD_LETTER_HEADERS } from '../../lib/apply/dead-letter.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { createKafka, topicName } from '../../lib/kafka/client.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import { createSink } from '../../lib/sink/index.js';
import type { SqlSink } from '../../lib/sink/sql-sink.js';
import type { Sink } from '../../lib/sink.js';
import type { Row, TableSchema } from '../../lib/types.js';
import { clockTable, systemTable, tombTable } from '../../lib/merge/clock-layout.js';
import {
  EventPublisher, StreamModel, clientsStream, clientsTable, endOffsets, offsetsAtEnd, readCanonical,
} from '../support/applier-harness.js';
import { stack, stackConfig, uniqueName, waitFor } from '../support/helpers.js';

const pg = openPostgres(stack.pgUrl());
const my = openMysql(stack.mysqlUrl());

function configFor(tables: { target: 'maria' | 'pg'; from: string; into: string; autoEvolve?: boolean }[], extra: Record<string, unknown> = {}): FieldsyncConfig {
  const prefix = uniqueName('t');
  const targets = [...new Set(tables.map((t) => t.target))];
  return stackConfig({
    kafka: { brokers: stack.kafkaBrokers, topicPrefix: prefix, partitions: 3, deadLetterTopic: `${prefix}.dead-letter` },
    databases: {
      pg: { dialect: 'postgres', url: stack.pgUrl() },
      maria: { dialect: 'mysql', url: stack.mysqlUrl() },
      billing: { dialect: 'postgres', url: stack.pgUrl('fieldsync_test2') },
    },
    applier: targets.map((target) => ({
      target, groupId: uniqueName(`g-${target}`), batchSize: 500, batchMaxWaitMs: 20, ...extra,
      tables: tables.filter((t) => t.target === target).map((t) => ({ from: t.from, into: t.into, autoEvolve: t.autoEvolve ?? true })),
    })),
  });
}

function dbOf(target: 'maria' | 'pg') {
  return target === 'maria' ? my : pg;
}

async function waitApplied(sink: Sink, consumer: string, admin: Admin, topic: string, timeoutMs = 60_000): Promise<void> {
  const ends = await endOffsets(admin, topic);
  await waitFor(`offsets of ${topic} in target ${sink.target} to reach the end`, async () => offsetsAtEnd(await sink.storedOffsets(consumer), topic, ends), timeoutMs, 200);
}

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await pg.close();
  await my.close();
});

/** A connected publisher of `source`'s changes as billing would publish them (closed after the file). */
async function billingPublisher(cfg: FieldsyncConfig, source: TableSchema = clientsTable()): Promise<{ topic: string; source: TableSchema; publisher: EventPublisher }> {
  const topic = topicName(cfg.kafka, 'billing', `${source.schema}.${source.name}`);
  const publisher = new EventPublisher(cfg, topic, source);
  await publisher.connect();
  cleanup.push(() => publisher.close());
  return { topic, source, publisher };
}

/** A connected, installed sink on a target (closed after the file). */
async function openSink(cfg: FieldsyncConfig, target: 'maria' | 'pg'): Promise<SqlSink> {
  const sink = createSink(cfg, target);
  await sink.connect();
  await sink.install();
  cleanup.push(() => sink.close());
  return sink;
}

/** The rows a target table must hold after `events`: the stream model's final state. */
function expectedRows(source: TableSchema, events: ChangeEvent[]): Row[] {
  const model = new StreamModel(source);
  for (const e of events) model.apply(e);
  return model.finalRows();
}

/** A target table in canonical form, sorted by key. */
function targetRows(target: 'maria' | 'pg', source: TableSchema, into: string): Promise<Row[]> {
  const db = dbOf(target);
  const schema = target === 'pg' ? 'public' : '';
  return readCanonical(db, { ...source, schema, name: into }, db.dialect.qualified({ schema, name: into }));
}

let kafka: Kafka;
let admin: Admin;
beforeAll(async () => {
  kafka = createKafka(stackConfig().kafka, 'applier-test');
  admin = kafka.admin();
  await admin.connect();
  cleanup.push(() => admin.disconnect());
});

describe.each(['maria', 'pg'] as const)('applier pipeline into %s', (target) => {
  it('applies a stream exactly, stores the end offsets, and continues after a stop where the target says', async () => {
    const into = uniqueName('clients');
    const cfg = configFor([{ target, from: 'billing.public.clients', into }]);
    const { topic, source, publisher } = await billingPublisher(cfg);
    const stream = clientsStream({ events: 3000, keys: 300, origin: 'billing', seed: target === 'pg' ? 7 : 8 });
    await publisher.publish(stream.slice(0, 2000));

    const sink = await openSink(cfg, target);
    const first = new ApplyPipeline({ config: cfg, applier: cfg.applier[0]!, sink });
    await first.start();
    await waitApplied(sink, first.consumerId, admin, topic);
    await first.stop();
    await first.wait();

    // published while no applier runs: the next one starts from the offsets in the target
    await publisher.publish(stream.slice(2000));
    const second = new ApplyPipeline({ config: cfg, applier: cfg.applier[0]!, sink });
    await second.start();
    cleanup.push(() => second.stop());
    await waitApplied(sink, second.consumerId, admin, topic);

    const targetTable = (await readTableSchema(dbOf(target), target === 'pg' ? 'public' : '', into))!;
    const rows = await targetRows(target, source, into);
    expect(targetTable.columns.map((c) => c.name)).toEqual(source.columns.map((c) => c.name));
    expect(rows).toEqual(expectedRows(source, stream));
    expect(rows.length).toBeGreaterThan(100);
    await second.stop();
  });
});

describe('positions come from the target, not from the consumer group', () => {
  it('re-applies everything after the target was reset, although the group committed the end', async () => {
    const into = uniqueName('restore');
    const cfg = configFor([{ target: 'maria', from: 'billing.public.clients', into }]);
    const { topic, source, publisher } = await billingPublisher(cfg);
    const stream = clientsStream({ events: 1500, keys: 200, origin: 'billing', seed: 21 });
    await publisher.publish(stream);
    const sink = await openSink(cfg, 'maria');
    const first = new ApplyPipeline({ config: cfg, applier: cfg.applier[0]!, sink });
    await first.start();
    await waitApplied(sink, first.consumerId, admin, topic);
    await first.stop();
    // the group's advisory commit is at the end of every partition
    const committed = await admin.fetchOffsets({ groupId: first.consumerId, topics: [topic] });
    const ends = await endOffsets(admin, topic);
    expect(committed[0]!.partitions.every((p) => BigInt(p.offset) === ends.get(p.partition))).toBe(true);

    // the target is reset (as if restored from an empty backup): rows, clocks and its offsets
    const t = { schema: '', name: into };
    for (const name of [into, clockTable(t).name, tombTable(t).name]) await my.execute(`TRUNCATE TABLE ${my.dialect.quote(name)}`);
    await my.execute(`DELETE FROM ${systemTable(my.dialect, 'fieldsync', 'offsets')} WHERE consumer = ?`, [first.consumerId]);

    const second = new ApplyPipeline({ config: cfg, applier: cfg.applier[0]!, sink });
    await second.start();
    cleanup.push(() => second.stop());
    await waitApplied(sink, second.consumerId, admin, topic);
    expect(await targetRows('maria', source, into)).toEqual(expectedRows(source, stream));
    await second.stop();
  });
});

describe('consumer identity, start position and stop when caught up (replay mode)', () => {
  it('applies only what was published after a start time, under its own identity, and stops when caught up', async () => {
    const into = uniqueName('fromts');
    const cfg = configFor([{ target: 'maria', from: 'billing.public.clients', into }]);
    const { topic, source, publisher } = await billingPublisher(cfg);
    const before = clientsStream({ events: 300, keys: 50, origin: 'billing', seed: 41, firstId: 1n });
    const after = clientsStream({ events: 300, keys: 50, origin: 'billing', seed: 42, firstId: 1000n, startMicros: 1_780_000_000_000_000n });
    await publisher.publish(before);
    // messages carry their producer's send time: the first part was sent before startAt,
    // the second part strictly after it
    const startAt = Date.now() + 1;
    await waitFor('the clock to move past the start time', () => Date.now() > startAt, 1000, 2);
    await publisher.publish(after);

    const sink = await openSink(cfg, 'maria');
    const replayId = uniqueName('replay');
    const pipeline = new ApplyPipeline({ config: cfg, applier: cfg.applier[0]!, sink, consumerId: replayId, startFrom: { kind: 'timestamp', timestampMs: startAt }, stopWhenCaughtUp: true });
    await pipeline.start();
    await pipeline.wait(); // resolves by itself once caught up
    const ends = await endOffsets(admin, topic);
    expect(offsetsAtEnd(await sink.storedOffsets(replayId), topic, ends)).toBe(true);
    expect(await sink.storedOffsets(`fieldsync-applier-maria`).then((o) => o.filter((x) => x.topic === topic))).toEqual([]);
    expect(await targetRows('maria', source, into)).toEqual(expectedRows(source, after));

    // a second run under the same identity is caught up at once and releases everything
    const again = new ApplyPipeline({ config: cfg, applier: cfg.applier[0]!, sink, consumerId: replayId, stopWhenCaughtUp: true });
    await again.start();
    await again.wait();
  });
});

describe('dead letters', () => {
  it('sends an unknown schema id, garbage and a value overflow to the dead-letter topic with the reason, and applies the rest', async () => {
    const into = uniqueName('narrow');
    // the target's balance column is narrower than the source's: 123456.78 does not fit
    await my.execute(`CREATE TABLE ${my.dialect.quote(into)} (id BIGINT PRIMARY KEY, email VARCHAR(200), phone VARCHAR(40), balance DECIMAL(6,2), seen_at DATETIME(6))`);
    const cfg = configFor([{ target: 'maria', from: 'billing.public.clients', into }]);
    const { topic, publisher } = await billingPublisher(cfg);
    const t0 = 1_760_000_000_000_000n;
    const row = (id: bigint, balance: string) => ({ id, email: `e${id}@x.org`, phone: null, balance, seen_at: '2025-05-05 05:05:05.123456' });
    const ev = (id: bigint, balance: string, i: number) => ({ op: 'insert' as const, origin: 'billing', commitTimeMicros: t0 + BigInt(i), position: `outbox:${i}`, key: { id }, after: row(id, balance), changed: ['id', 'email', 'phone', 'balance', 'seen_at'] });
    await publisher.publish([ev(1n, '10.00', 1), ev(2n, '20.00', 2)]);
    const good = publisher.codec.encode(publisher.registered, ev(3n, '30.00', 3));
    await publisher.publishRaw([
      { key: good.key, value: frame(987_654_321, good.value.subarray(5)) }, // unknown schema id
      { key: null, value: Buffer.from('not avro at all') },                 // garbage
    ]);
    await publisher.publish([ev(4n, '123456.78', 4), ev(5n, '50.00', 5), ev(6n, '60.00', 6)]);

    const sink = await openSink(cfg, 'maria');
    const pipeline = new ApplyPipeline({ config: cfg, applier: cfg.applier[0]!, sink });
    await pipeline.start();
    cleanup.push(() => pipeline.stop());
    await waitApplied(sink, pipeline.consumerId, admin, topic);

    const rows = await my.query(`SELECT id, balance FROM ${my.dialect.quote(into)} ORDER BY id`);
    expect(rows.map((r) => [String(r.id), String(r.balance)])).toEqual([['1', '10.00'], ['2', '20.00'], ['5', '50.00'], ['6', '60.00']]);

    const letters: { headers: Record<string, string>; value: Buffer | null }[] = [];
    const consumer = kafka.consumer({ groupId: uniqueName('dlq') });
    await consumer.connect();
    cleanup.push(() => consumer.disconnect());
    await consumer.subscribe({ topic: cfg.kafka.deadLetterTopic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        letters.push({ headers, value: message.value });
      },
    });
    await waitFor('three dead letters', () => letters.length >= 3, 30_000);
    const byOffset = [...letters].sort((a, b) => Number(a.headers[DEAD_LETTER_HEADERS.sourceOffset]) - Number(b.headers[DEAD_LETTER_HEADERS.sourceOffset]));
    const kinds = byOffset.map((l) => l.headers[DEAD_LETTER_HEADERS.kind]);
    expect(kinds.sort()).toEqual(['apply', 'decode', 'decode']);
    for (const l of letters) {
      expect(l.headers[DEAD_LETTER_HEADERS.sourceTopic]).toBe(topic);
      expect(l.headers[DEAD_LETTER_HEADERS.target]).toBe('maria');
      expect(Number.isNaN(Date.parse(l.headers[DEAD_LETTER_HEADERS.time]!))).toBe(false);
      expect(l.headers[DEAD_LETTER_HEADERS.sourcePartition]).toMatch(/^[0-2]$/);
    }
    const unknownId = letters.find((l) => /987654321/.test(l.headers[DEAD_LETTER_HEADERS.reason] ?? ''));
    expect(unknownId?.headers[DEAD_LETTER_HEADERS.errorClass]).toBe('DataError');
    expect(unknownId?.value?.subarray(1, 5).readInt32BE(0)).toBe(987_654_321);
    const overflow = letters.find((l) => l.headers[DEAD_LETTER_HEADERS.kind] === 'apply');
    expect(overflow?.headers[DEAD_LETTER_HEADERS.errorClass]).toBe('DataError');
    expect(overflow?.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/balance|range/i);
    expect(letters.some((l) => l.value?.toString() === 'not avro at all')).toBe(true);
    await pipeline.stop();
  });
});

describe('schema evolution', () => {
  it('adds a new nullable column with autoEvolve on, and stops only the table with autoEvolve off, naming table and column', async () => {
    const evolving = uniqueName('evo');
    const strict = uniqueName('strict');
    const cfg = configFor([
      { target: 'pg', from: 'billing.public.clients', into: evolving, autoEvolve: true },
      { target: 'pg', from: 'billing.public.accounts', into: strict, autoEvolve: false },
    ]);
    const { topic: topicA, source: v1a, publisher: pubA } = await billingPublisher(cfg, clientsTable('clients'));
    const { topic: topicB, source: v1b, publisher: pubB } = await billingPublisher(cfg, clientsTable('accounts'));
    const streamA = clientsStream({ events: 200, keys: 50, origin: 'billing', seed: 11 });
    const streamB = clientsStream({ events: 200, keys: 50, origin: 'billing', seed: 12 });
    await pubA.publish(streamA);
    await pubB.publish(streamB);

    const sink = await openSink(cfg, 'pg');
    const pipeline = new ApplyPipeline({ config: cfg, applier: cfg.applier[0]!, sink });
    await pipeline.start();
    cleanup.push(() => pipeline.stop());
    await waitApplied(sink, pipeline.consumerId, admin, topicA);
    await waitApplied(sink, pipeline.consumerId, admin, topicB);

    // version 2 of both tables: a new nullable column "tier"
    const withTier = (t: TableSchema): TableSchema => ({ ...t, columns: [...t.columns, { name: 'tier', type: { kind: 'string', maxLength: 10 }, nullable: true }] });
    await pubA.evolve(withTier(v1a));
    await pubB.evolve(withTier(v1b));
    const t = 1_770_000_000_000_000n;
    const upd = (i: number, tier: string) => ({ op: 'update' as const, origin: 'billing', commitTimeMicros: t + BigInt(i), position: `outbox:x${i}`, key: { id: 1n }, after: { id: 1n, email: 'a@b.c', phone: null, balance: '1.00', seen_at: null, tier }, changed: ['tier'] });
    const ins = (i: number) => ({ op: 'insert' as const, origin: 'billing', commitTimeMicros: t + BigInt(i), position: `outbox:y${i}`, key: { id: 999n }, after: { id: 999n, email: 'new@b.c', phone: null, balance: '9.99', seen_at: null, tier: 'gold' }, changed: ['id', 'email', 'phone', 'balance', 'seen_at', 'tier'] });
    await pubA.publish([ins(1), upd(2, 'silver')]);
    await pubB.publish([ins(1), upd(2, 'silver')]);

    await waitApplied(sink, pipeline.consumerId, admin, topicA);
    const cols = (await readTableSchema(pg, 'public', evolving))!.columns.map((c) => c.name);
    expect(cols).toContain('tier');
    const [evolved] = await pg.query(`SELECT tier, email FROM ${pg.dialect.quote(evolving)} WHERE id = 999`);
    expect(evolved).toEqual({ tier: 'gold', email: 'new@b.c' });

    const blocked = await waitFor('the strict table to be blocked', () => {
      const b = pipeline.blockedTables();
      return b.length > 0 ? b : undefined;
    }, 30_000);
    expect(blocked).toHaveLength(1);
    expect(blocked[0]!.table).toBe(strict);
    expect(blocked[0]!.error).toContain('tier');
    expect(blocked[0]!.error).toContain(strict);
    // the strict table kept its offsets before the new schema: nothing was skipped
    const ends = await endOffsets(admin, topicB);
    expect(offsetsAtEnd(await sink.storedOffsets(pipeline.consumerId), topicB, ends)).toBe(false);
    expect((await readTableSchema(pg, 'public', strict))!.columns.map((c) => c.name)).not.toContain('tier');
    const rows = await pg.query(`SELECT count(*)::int AS n FROM ${pg.dialect.quote(strict)} WHERE id = 999`);
    expect(rows[0]!.n).toBe(0);
    await pipeline.stop();
  });
});
