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
import { stringify } from 'yaml';
import { EventCodec } from '../../lib/avro/codec.js';
import type { CaptureConfig, FieldsyncConfig } from '../../lib/config/schema.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import { createKafka, ensureTopics, topicName } from '../../lib/kafka/client.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
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
