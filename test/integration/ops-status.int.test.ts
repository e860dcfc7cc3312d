/**
 * `fieldsync status --json` against the real stack: the consumer lag of a stopped applier
 * grows with every event published while it is down and returns to 0 once it has caught
 * up; a poisoned message shows as a dead letter of its table; changes written to an
 * outbox source that no capture has published yet show as capture lag.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ApplyPipeline } from '../../lib/apply/pipeline.js';
import { EventCodec } from '../../lib/avro/codec.js';
import { parseConfig } from '../../lib/config/load.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import { createKafka, ensureTopics, topicName } from '../../lib/kafka/client.js';
import { createSink } from '../../lib/sink/index.js';
import { collectStatus, type StatusReport } from '../../lib/status/collect.js';
import type { TableSchema } from '../../lib/types.js';
import { stack, uniqueName } from '../support/helpers.js';

function fieldsync(args: string[]) {
  return spawnSync('node', ['bin/fieldsync.mjs', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, FIELDSYNC_LOG_LEVEL: 'warn' } });
}

describe('status', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fs-status-'));
  const table = uniqueName('st');
  const sourceDb = uniqueName('fs_st');
  const prefix = uniqueName('t');
  const doc = {
    kafka: { brokers: stack.kafkaBrokers, topicPrefix: prefix, partitions: 2, deadLetterTopic: `${prefix}.dead-letter` },
    registry: { url: stack.registryUrl },
    databases: {
      billing: { dialect: 'postgres', url: stack.pgUrl(sourceDb) },
      invoice: { dialect: 'mysql', url: stack.mysqlUrl() },
    },
    capture: [{ source: 'billing', mode: 'outbox', tables: [{ name: `public.${table}`, snapshot: false }] }],
    // a consumer group of its own: joining the default one, which other tests share, can wait
    // a whole session timeout for members they killed (the default name: routes.test.ts)
    applier: [{ target: 'invoice', groupId: uniqueName('g-status'), tables: [{ from: `billing.public.${table}` }] }],
    http: { host: '127.0.0.1', port: 0 },
  };
  const cfg = parseConfig(doc, 'status-test');
  const configFile = join(dir, 'status.yaml');
  const pgAdmin = openPostgres(stack.pgAdminUrl);
  const my = openMysql(stack.mysqlUrl());
  const kafka = createKafka(cfg.kafka, 'status-test');
  const admin = kafka.admin();
  const codec = new EventCodec(cfg.registry);
  const topic = topicName(cfg.kafka, 'billing', `public.${table}`);
  const schema: TableSchema = {
    schema: 'public', name: table, key: ['id'],
    columns: [
      { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
      { name: 'email', type: { kind: 'string', maxLength: 200 }, nullable: true },
    ],
  };
  let t = 1_760_000_000_000_000n;
  const insert = (id: number): ChangeEvent => {
    t += 1000n;
    return { op: 'insert', origin: 'billing', commitTimeMicros: t, position: `outbox:${id}`, key: { id: BigInt(id) }, after: { id: BigInt(id), email: `u${id}@example.com` }, changed: ['id', 'email'] };
  };

  /** The command itself, as an operator runs it. */
  const statusCommand = (): StatusReport => {
    const r = fieldsync(['status', '--config', configFile, '--json']);
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as StatusReport;
  };
  /** The same report in-process (each CLI start costs seconds on a busy machine). */
  const status = async (): Promise<StatusReport> => collectStatus(cfg, { kafka, admin });
  const runApplierUntilCaughtUp = async () => {
    const sink = createSink(cfg, 'invoice');
    await sink.connect();
    await sink.install();
    const p = new ApplyPipeline({ config: cfg, applier: cfg.applier[0]!, sink, stopWhenCaughtUp: true });
    await p.start();
    await p.wait();
    await sink.close();
  };

  beforeAll(async () => {
    writeFileSync(configFile, stringify(doc));
    await pgAdmin.execute(`CREATE DATABASE ${sourceDb}`);
    await admin.connect();
    await ensureTopics(admin, cfg.kafka, [topic]);
  });

  afterAll(async () => {
    await admin.deleteTopics({ topics: [topic, cfg.kafka.deadLetterTopic] }).catch(() => undefined);
    await admin.disconnect();
    await my.execute(`DROP TABLE IF EXISTS ${table}, ${table}__fs_clock, ${table}__fs_tomb`).catch(() => undefined);
    await pgAdmin.execute(`DROP DATABASE IF EXISTS ${sourceDb} WITH (FORCE)`).catch(() => undefined);
    await pgAdmin.close();
    await my.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports the lag a stopped applier builds up, and 0 once it caught up', async () => {
    const reg = await codec.register(topic, schema);
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 30 }, (_, i) => codec.encode(reg, insert(i + 1))) });
    await runApplierUntilCaughtUp();

    const before = (await status()).tables.find((x) => x.topic === topic)!;
    expect(before.endOffset).toBe('30');
    expect(before).toMatchObject({ retentionMs: -1, truncated: false }); // topics keep what a replay needs
    expect(before.targets[0]).toMatchObject({ target: 'invoice', consumer: doc.applier[0]!.groupId, lagMessages: 0 });
    expect(before.targets[0]!.lastAppliedAt).not.toBeNull();

    // The applier is stopped: everything published now is lag.
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 45 }, (_, i) => codec.encode(reg, insert(100 + i))) });
    // A poisoned message (no valid Confluent framing) becomes a dead letter once applied.
    await producer.send({ topic, acks: -1, messages: [{ key: Buffer.from('x'), value: Buffer.from('not avro') }] });
    await producer.disconnect();
    const paused = statusCommand().tables.find((x) => x.topic === topic)!;
    expect(paused.endOffset).toBe('76');
    expect(paused.targets[0]!.lagMessages).toBe(46);
    expect(paused.targets[0]!.partitions.reduce((s, p) => s + p.lag, 0)).toBe(46);
    expect(paused.deadLetters).toBe(0);

    await runApplierUntilCaughtUp();
    const after = await status();
    const table1 = after.tables.find((x) => x.topic === topic)!;
    expect(table1.targets[0]!.lagMessages).toBe(0);
    expect(table1.deadLetters).toBe(1);
    expect(table1.targets[0]!.deadLetters).toBe(1);
    expect(after.deadLetterTotal).toBe(1);
  });

  it('reports changes in the outbox that capture has not published as capture lag', async () => {
    const pg = openPostgres(stack.pgUrl(sourceDb));
    try {
      await pg.execute(`CREATE TABLE ${table} (id bigint PRIMARY KEY, email text)`);
      // -c before the subcommand too: the capture command itself declares it required
      const install = fieldsync(['capture', '-c', configFile, 'install', '-c', configFile]);
      expect(install.status, install.stderr).toBe(0);
      await pg.execute(`INSERT INTO ${table} SELECT g, 'x' || g FROM generate_series(1, 12) g`);
      await pg.execute(`UPDATE ${table} SET email = 'y' WHERE id <= 3`);
    } finally {
      await pg.close();
    }
    const r = (await status()).tables.find((x) => x.topic === topic)!;
    expect(r.capture).toMatchObject({ source: 'billing', mode: 'outbox', position: null, pendingEvents: 15 });
    expect(r.capture!.lagSeconds).toBeGreaterThanOrEqual(0);
    const text = fieldsync(['status', '--config', configFile]);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('15 change(s) not yet published');
    expect(text.stdout).toContain('→ invoice.');
  });
});
