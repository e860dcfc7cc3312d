/**
 * TWO-WAY: PostgreSQL ⇄ MariaDB with capture and applier running both ways (real
 * processes). Random edits are made concurrently on both sides — updates of shared rows
 * (conflicts), inserts, updates and deletes of each side's own rows — every statement
 * changing exactly one row. Then:
 *
 *   - both tables converge to identical content;
 *   - each edit crossed exactly once: the number of events in each side's topic equals
 *     the number of edits made on that side, and every event carries that side's origin
 *     (an applied change is not captured again: echo prevention by the applier session).
 *
 * Quiescence without sleeping: after the edits, one marker edit per side is made; the
 * outbox is read in sequence order, so once the marker has crossed, anything written to
 * the outbox before it (an echo would have been) has been published too.
 *
 * Size: FIELDSYNC_TWOWAY_EDITS (default 1000, half per side).
 */
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventCodec } from '../../lib/avro/codec.js';
import { installOutbox, openOutboxDb } from '../../lib/capture/install.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import { originOf } from '../../lib/config/load.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { createKafka, topicName } from '../../lib/kafka/client.js';
import { createSink } from '../../lib/sink/index.js';
import type { Sink } from '../../lib/sink.js';
import { installApplier } from '../../services/applier/service.js';
import {
  endOffsets, killAll, offsetsAtEnd, prng, readCanonical, spawnFieldsync, waitForLog, waitWhileRunning, writeTempConfig, type ServiceProcess,
} from '../support/applier-harness.js';
import { stack, stackConfig, uniqueName, waitFor } from '../support/helpers.js';

const EDITS = Number(process.env.FIELDSYNC_TWOWAY_EDITS ?? 1000);
const SHARED_ROWS = 50;

const procs: ServiceProcess[] = [];
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  await killAll(procs);
  for (const c of cleanup.reverse()) await Promise.resolve().then(c).catch(() => undefined);
});

interface Side {
  name: 'pgside' | 'mariaside';
  db: Db;
  qualified: string;
  /** Own keys currently present (this side inserted them and has not deleted them). */
  own: bigint[];
  nextOwn: bigint;
  edits: number;
}

describe('two-way sync PostgreSQL ⇄ MariaDB', () => {
  const table = uniqueName('tw');
  const mariaDbName = uniqueName('tw');
  let cfg: FieldsyncConfig;
  let pg: Db;
  let maria: Db;
  let admin: Admin;

  beforeAll(async () => {
    const root = openMysql(stack.mysqlUrl());
    await root.execute(`CREATE DATABASE \`${mariaDbName}\` CHARACTER SET utf8mb4`);
    await root.close();
    cleanup.push(async () => {
      const r = openMysql(stack.mysqlUrl());
      await r.execute(`DROP DATABASE IF EXISTS \`${mariaDbName}\``);
      await r.close();
    });
    const prefix = uniqueName('t');
    const pgFs = uniqueName('fs');
    cfg = stackConfig({
      kafka: { brokers: stack.kafkaBrokers, topicPrefix: prefix, partitions: 3, deadLetterTopic: `${prefix}.dead-letter` },
      databases: {
        pgside: { dialect: 'postgres', url: stack.pgUrl(), fieldsyncSchema: pgFs },
        mariaside: { dialect: 'mysql', url: stack.mysqlUrl(mariaDbName) },
      },
      capture: [
        { source: 'pgside', mode: 'outbox', pollIntervalMs: 50, tables: [{ name: `public.${table}`, snapshot: false }] },
        { source: 'mariaside', mode: 'outbox', pollIntervalMs: 50, tables: [{ name: table, snapshot: false }] },
      ],
      applier: [
        { target: 'mariaside', groupId: uniqueName('g-m'), batchMaxWaitMs: 20, tables: [{ from: `pgside.public.${table}`, into: table }] },
        { target: 'pgside', groupId: uniqueName('g-p'), batchMaxWaitMs: 20, tables: [{ from: `mariaside.${table}`, into: `public.${table}` }] },
      ],
      http: { host: '127.0.0.1', port: 0 },
    });
    pg = openPostgres(stack.pgUrl());
    maria = openMysql(stack.mysqlUrl(mariaDbName));
    admin = createKafka(cfg.kafka, 'two-way-test').admin();
    await admin.connect();
    cleanup.push(() => pg.close(), () => maria.close(), () => admin.disconnect());
    cleanup.push(async () => {
      const p = openPostgres(stack.pgUrl());
      await p.execute(`DROP TABLE IF EXISTS public.${table}, public.${table}__fs_clock, public.${table}__fs_tomb`);
      await p.execute(`DROP SCHEMA IF EXISTS ${pgFs} CASCADE`);
      await p.close();
    });
  });

  it(`converges after ${EDITS} concurrent random edits, each crossing exactly once`, async () => {
    await pg.execute(`CREATE TABLE public.${table} (id bigint PRIMARY KEY, n integer, label varchar(60), amount numeric(10,2), at timestamp(6))`);
    await maria.execute(`CREATE TABLE \`${table}\` (id BIGINT PRIMARY KEY, n INT, label VARCHAR(60), amount DECIMAL(10,2), at DATETIME(6))`);
    // identical starting rows on both sides, written before any trigger exists
    for (let id = 1; id <= SHARED_ROWS; id++) {
      const v = [id, id * 10, `shared-${id}`, `${id}.50`, '2025-01-01 00:00:00.000001'];
      await pg.execute(`INSERT INTO public.${table} VALUES ($1, $2, $3, $4, $5)`, v);
      await maria.execute(`INSERT INTO \`${table}\` VALUES (?, ?, ?, ?, ?)`, v);
    }
    for (const c of cfg.capture) {
      const db = openOutboxDb(cfg, c);
      await installOutbox(cfg, c, db);
      await db.close();
    }
    await installApplier(cfg);

    const file = writeTempConfig(cfg);
    cleanup.push(file.remove);
    const capture = spawnFieldsync(['capture', '--config', file.path], { FIELDSYNC_LOG_LEVEL: 'info' });
    const applier = spawnFieldsync(['applier', '--config', file.path], { FIELDSYNC_LOG_LEVEL: 'info' });
    procs.push(capture, applier);

    const pgSide: Side = { name: 'pgside', db: pg, qualified: `public.${table}`, own: [], nextOwn: 1_000_000n, edits: 0 };
    const mariaSide: Side = { name: 'mariaside', db: maria, qualified: `\`${table}\``, own: [], nextOwn: 2_000_000n, edits: 0 };
    const sql = (side: Side, text: string) => (side.name === 'pgside' ? text.replace(/\?/g, (() => { let i = 0; return () => `$${++i}`; })()) : text);

    /** One statement that changes exactly one row. */
    const edit = async (side: Side, rnd: () => number, i: number): Promise<void> => {
      const label = `${side.name}-${i}-${Math.floor(rnd() * 1e6)}`;
      const amount = `${Math.floor(rnd() * 100000)}.${String(Math.floor(rnd() * 100)).padStart(2, '0')}`;
      const r = rnd();
      if (r < 0.55 || side.own.length === 0 && r < 0.75) {
        // conflicting updates on shared rows: a fresh label always changes the row
        const id = 1 + Math.floor(rnd() * SHARED_ROWS);
        if (rnd() < 0.5) await side.db.execute(sql(side, `UPDATE ${side.qualified} SET label = ? WHERE id = ?`), [label, id]);
        else await side.db.execute(sql(side, `UPDATE ${side.qualified} SET label = ?, amount = ? WHERE id = ?`), [label, amount, id]);
      } else if (r < 0.75 || side.own.length === 0) {
        const id = side.nextOwn++;
        const micros = String(Math.floor(rnd() * 1e6)).padStart(6, '0');
        await side.db.execute(sql(side, `INSERT INTO ${side.qualified} (id, n, label, amount, at) VALUES (?, ?, ?, ?, ?)`), [id.toString(), Math.floor(rnd() * 1000), label, amount, `2025-06-0${1 + Math.floor(rnd() * 9)} 12:34:56.${micros}`]);
        side.own.push(id);
      } else if (r < 0.88) {
        const id = side.own[Math.floor(rnd() * side.own.length)]!;
        await side.db.execute(sql(side, `UPDATE ${side.qualified} SET label = ?, n = n + 1 WHERE id = ?`), [label, id.toString()]);
      } else {
        const at = Math.floor(rnd() * side.own.length);
        const id = side.own[at]!;
        side.own.splice(at, 1);
        await side.db.execute(sql(side, `DELETE FROM ${side.qualified} WHERE id = ?`), [id.toString()]);
      }
      side.edits++;
    };
    const run = async (side: Side, seed: number, count: number) => {
      const rnd = prng(seed);
      for (let i = 0; i < count; i++) await edit(side, rnd, i);
    };
    await Promise.all([run(pgSide, 1, Math.ceil(EDITS / 2)), run(mariaSide, 2, Math.floor(EDITS / 2))]);

    // one marker edit per side, after every other edit (see the module comment)
    const marker = async (side: Side) => {
      await side.db.execute(sql(side, `UPDATE ${side.qualified} SET label = ? WHERE id = ?`), [`marker-${side.name}`, SHARED_ROWS]);
      side.edits++;
    };
    await marker(pgSide);
    await marker(mariaSide);

    const topics = {
      pgside: topicName(cfg.kafka, 'pgside', `public.${table}`),
      mariaside: topicName(cfg.kafka, 'mariaside', table),
    };
    const sinks: Record<string, Sink> = { pgside: createSink(cfg, 'pgside'), mariaside: createSink(cfg, 'mariaside') };
    for (const s of Object.values(sinks)) { await s.connect(); cleanup.push(() => s.close()); }
    const groupOf = (target: string) => cfg.applier.find((a) => a.target === target)!.groupId!;
    const published = async (topic: string) => [...(await endOffsets(admin, topic)).values()].reduce((a, b) => a + b, 0n);
    const markerCrossed = async () => {
      const [m] = await maria.query(`SELECT label FROM \`${table}\` WHERE id = ?`, [SHARED_ROWS]);
      const [p] = await pg.query(`SELECT label FROM public.${table} WHERE id = $1`, [SHARED_ROWS]);
      return { m: m?.label, p: p?.label };
    };
    // both markers were captured: each topic holds at least its side's edits
    await waitWhileRunning(capture, 'every edit to be published', async () =>
      (await published(topics.pgside)) >= BigInt(pgSide.edits) && (await published(topics.mariaside)) >= BigInt(mariaSide.edits), 120_000);
    // and applied on the other side: both appliers at the end of the topic they read
    for (const [target, topic] of [['mariaside', topics.pgside], ['pgside', topics.mariaside]] as const) {
      const ends = await endOffsets(admin, topic);
      await waitWhileRunning(applier, `${target} to apply ${topic}`, async () => offsetsAtEnd(await sinks[target]!.storedOffsets(groupOf(target)), topic, ends), 120_000);
    }

    // converged
    const pgTable = (await readTableSchema(pg, 'public', table))!;
    const pgRows = await readCanonical(pg, pgTable, `public.${table}`);
    const mariaRows = await readCanonical(maria, pgTable, `\`${table}\``);
    expect(mariaRows.length).toBe(pgRows.length);
    expect(mariaRows).toEqual(pgRows);
    expect(pgRows.length).toBeGreaterThan(SHARED_ROWS);
    const labels = await markerCrossed();
    expect(labels.m).toBe(labels.p);

    // each edit crossed exactly once: no echo in either topic
    expect(await published(topics.pgside)).toBe(BigInt(pgSide.edits));
    expect(await published(topics.mariaside)).toBe(BigInt(mariaSide.edits));
    const origins = await topicOrigins(cfg, admin, [topics.pgside, topics.mariaside]);
    expect(origins.get(topics.pgside)).toEqual(new Map([[originOf(cfg, 'pgside'), pgSide.edits]]));
    expect(origins.get(topics.mariaside)).toEqual(new Map([[originOf(cfg, 'mariaside'), mariaSide.edits]]));

    for (const p of [applier, capture]) {
      await waitForLog(p, /listening/);
      p.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    }
  }, 300_000);
});

/** Decode every event of the topics and count them per origin. */
async function topicOrigins(cfg: FieldsyncConfig, admin: Admin, topics: string[]): Promise<Map<string, Map<string, number>>> {
  const codec = new EventCodec(cfg.registry);
  const kafka = createKafka(cfg.kafka, 'two-way-reader');
  const consumer = kafka.consumer({ groupId: uniqueName('g-read') });
  const out = new Map<string, Map<string, number>>(topics.map((t) => [t, new Map()]));
  let seen = 0n;
  let total = 0n;
  for (const t of topics) total += [...(await endOffsets(admin, t)).values()].reduce((a, b) => a + b, 0n);
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    const failures: unknown[] = [];
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        try {
          const d = await codec.decode(message.key, message.value!);
          const m = out.get(topic)!;
          m.set(d.event.origin, (m.get(d.event.origin) ?? 0) + 1);
        } catch (e) {
          failures.push(e);
        }
        seen++;
      },
    });
    await waitFor('every event to be read back', () => seen >= total, 60_000);
    expect(failures).toEqual([]);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

