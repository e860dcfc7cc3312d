/**
 * Test harness of the capture service: private source databases/schemas per test, a
 * capture config for the local stack, the service in-process or as a child process, and a
 * collector that reads the table topics from the beginning and decodes every event.
 *
 * Isolation: a PostgreSQL test gets its own fieldsync schema (its own outbox and
 * checkpoint); a MariaDB test gets its own database (the MySQL outbox is `fieldsync_outbox`
 * in the connection's database).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Consumer, Kafka } from 'kafkajs';
import { afterAll, beforeAll, expect } from 'vitest';
import { stringify } from 'yaml';
import { EventCodec } from '../../lib/avro/codec.js';
import { installOutbox, uninstallOutbox } from '../../lib/capture/install.js';
import { CHECKPOINT_TABLE, STREAM_CHECKPOINT } from '../../lib/capture/outbox-layout.js';
import type { CaptureConfig, FieldsyncConfig } from '../../lib/config/schema.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import { createKafka, ensureTopics, topicName } from '../../lib/kafka/client.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { systemTable } from '../../lib/merge/clock-layout.js';
import type { TableSchema } from '../../lib/types.js';
import { stack, stackConfig, uniqueName, waitFor } from './helpers.js';

export type SourceKind = 'pg' | 'maria';

export interface CaptureTestSource {
  kind: SourceKind;
  /** Database config entry (dialect, url, fieldsyncSchema). */
  database: Record<string, unknown>;
  /** MariaDB: the private database name; PostgreSQL: the private fieldsync schema. */
  isolation: string;
  drop(): Promise<void>;
}

/** A private place for one test's outbox (see the module comment). */
export async function captureSource(kind: SourceKind): Promise<CaptureTestSource> {
  if (kind === 'pg') {
    const fs = uniqueName('fs');
    return {
      kind,
      database: { dialect: 'postgres', url: stack.pgUrl(), fieldsyncSchema: fs, origin: uniqueName('o') },
      isolation: fs,
      drop: async () => undefined,
    };
  }
  const name = uniqueName('cap');
  const admin = openMysql(stack.mysqlUrl());
  await admin.execute(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  await admin.close();
  return {
    kind,
    database: { dialect: 'mysql', url: stack.mysqlUrl(name), origin: uniqueName('o') },
    isolation: name,
    drop: async () => {
      const a = openMysql(stack.mysqlUrl());
      await a.execute(`DROP DATABASE IF EXISTS \`${name}\``);
      await a.close();
    },
  };
}

export function captureConfig(source: CaptureTestSource, tables: { name: string; keyColumns?: string[]; snapshot?: boolean }[], capture: Partial<CaptureConfig> = {}): FieldsyncConfig {
  return stackConfig({
    databases: { src: source.database },
    capture: [{ source: 'src', mode: 'outbox', pollIntervalMs: 50, ...capture, tables }],
  });
}

export function topicOfTable(cfg: FieldsyncConfig, table: string): string {
  return topicName(cfg.kafka, 'src', table);
}

export interface CollectedEvent {
  topic: string;
  partition: number;
  offset: string;
  table: TableSchema;
  event: ChangeEvent;
  valueSchemaId: number;
}

/** Reads topics from the beginning and decodes every message (a real consumer, real registry). */
export class TopicCollector {
  readonly events: CollectedEvent[] = [];
  private constructor(private readonly consumer: Consumer) {}

  static async start(cfg: FieldsyncConfig, topics: string[]): Promise<TopicCollector> {
    const kafka: Kafka = createKafka(cfg.kafka, 'capture-test');
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, cfg.kafka, topics);
    await admin.disconnect();
    const codec = new EventCodec(cfg.registry);
    const consumer = kafka.consumer({ groupId: uniqueName('capture-test'), maxWaitTimeInMs: 100 });
    const c = new TopicCollector(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (!m.value) continue;
          const d = await codec.decode(m.key ?? null, m.value);
          c.events.push({ topic: batch.topic, partition: batch.partition, offset: m.offset, table: d.table, event: d.event, valueSchemaId: d.valueSchemaId });
        }
      },
    });
    return c;
  }

  of(topic: string): CollectedEvent[] {
    return this.events.filter((e) => e.topic === topic);
  }

  async waitForCount(topic: string, n: number, timeoutMs = 60_000): Promise<CollectedEvent[]> {
    return waitFor(`${n} events on ${topic}`, () => (this.of(topic).length >= n ? this.of(topic) : undefined), timeoutMs);
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}

/** Events of one topic grouped by key (JSON of the key row), in partition order. */
export function byKey(events: CollectedEvent[]): Map<string, ChangeEvent[]> {
  const out = new Map<string, ChangeEvent[]>();
  const sorted = [...events].sort((a, b) => (a.partition - b.partition) || Number(BigInt(a.offset) - BigInt(b.offset)));
  for (const e of sorted) {
    const k = keyString(e.event.key);
    const list = out.get(k) ?? [];
    list.push(e.event);
    out.set(k, list);
  }
  return out;
}

export function keyString(key: Record<string, unknown>): string {
  return JSON.stringify(key, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Write the config as YAML for a child process. */
export function writeConfigFile(cfg: FieldsyncConfig): string {
  const dir = mkdtempSync(join(tmpdir(), 'fieldsync-capture-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, stringify(cfg));
  return file;
}

/** `node bin/fieldsync.mjs <args>` as a child process; output kept for diagnostics. */
export function spawnFieldsync(args: string[]): ChildProcess & { output: string[] } {
  const child = spawn(process.execPath, ['bin/fieldsync.mjs', ...args], { cwd: process.cwd(), env: { ...process.env, FIELDSYNC_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (b: Buffer) => output.push(b.toString()));
  child.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
  return Object.assign(child, { output });
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** One table under outbox capture: its config, its topic and a collector reading that topic. */
export interface CapturedTable {
  cfg: FieldsyncConfig;
  table: string;
  topic: string;
  collector: TopicCollector;
  /** The source database the table is in. */
  db: Db;
}

export interface OutboxCaptureFixture {
  /** The private place of the outbox (set before the first test). */
  readonly source: CaptureTestSource;
  /** Creates a table `(id int PRIMARY KEY, v int NOT NULL)` and installs the outbox for it (with `capture install` in a child process when viaCli). */
  setup(prefix: string, capture?: Partial<CaptureConfig>, viaCli?: boolean): Promise<CapturedTable>;
  /** A `fieldsync` child process, killed after the file if still running. */
  spawn(args: string[]): ReturnType<typeof spawnFieldsync>;
  /** The outbox position the capture checkpoint holds (0 before the first). */
  checkpoint(): Promise<bigint>;
}

/**
 * The fixture of the capture process tests (capture-crash, capture-kill): a private outbox
 * source for the describe block it is called in; after it, children still running are
 * killed, every table set up is uninstalled and dropped, and the private source is dropped.
 */
export function useOutboxCapture(kind: SourceKind, batchSize: number): OutboxCaptureFixture {
  let source: CaptureTestSource;
  let db: Db | undefined;
  const children: ReturnType<typeof spawnFieldsync>[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    source = await captureSource(kind);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const f of cleanups.reverse()) await f().catch(() => undefined);
    if (db) {
      // PostgreSQL: the private fieldsync schema (outbox, checkpoint); MariaDB: the private database, below
      if (kind === 'pg') await db.execute(`DROP SCHEMA IF EXISTS "${source.isolation}" CASCADE`).catch(() => undefined);
      await db.close();
    }
    await source?.drop();
  });

  const spawnChild = (args: string[]) => {
    const child = spawnFieldsync(args);
    children.push(child);
    return child;
  };

  return {
    get source() { return source; },
    spawn: spawnChild,
    async setup(prefix, capture = {}, viaCli = false) {
      const table = uniqueName(prefix);
      const cfg = captureConfig(source, [{ name: table, snapshot: false }], { batchSize, ...capture });
      const src = (db ??= openDb(cfg.databases.src!));
      await src.execute(`CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL)`);
      if (viaCli) {
        const install = spawnChild(['capture', 'install', '--config', writeConfigFile(cfg)]);
        expect(await exited(install), install.output.join('')).toBe(0);
        expect(install.output.join('')).toContain(`src: outbox installed; triggers on ${table}`);
      } else {
        await installOutbox(cfg, cfg.capture[0]!, src);
      }
      const topic = topicOfTable(cfg, table);
      const collector = await TopicCollector.start(cfg, [topic]);
      cleanups.push(async () => {
        await collector.stop();
        await uninstallOutbox(cfg, cfg.capture[0]!, src, false);
        await src.execute(`DROP TABLE IF EXISTS ${table}`);
      });
      return { cfg, table, topic, collector, db: src };
    },
    async checkpoint() {
      if (!db) throw new Error('checkpoint() before setup(): the source database opens with the first table');
      const d = db.dialect;
      const rows = await db.query(`SELECT position FROM ${systemTable(d, source.isolation, CHECKPOINT_TABLE)} WHERE stream = ${d.param(1)}`, [STREAM_CHECKPOINT]);
      return rows[0] ? BigInt(String(rows[0].position)) : 0n;
    },
  };
}
