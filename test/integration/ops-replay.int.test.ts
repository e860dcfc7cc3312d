/**
 * `fieldsync replay` against the real stack: a stream with inserts, updates, deletes,
 * re-inserts and a schema change (a new nullable column) is applied by the applier
 * pipeline into a live MariaDB target; `replay` rebuilds it into a new, empty PostgreSQL
 * database; `verify` then finds the two equal (exit 0). A replay whose first needed
 * offset was deleted from the topic is refused with a message naming the partition.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
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
import type { Row, TableSchema } from '../../lib/types.js';
import { stack, uniqueName, waitFor } from '../support/helpers.js';

const KEYS = Number(process.env.FIELDSYNC_REPLAY_KEYS ?? 300);

function fieldsync(args: string[]) {
  return spawnSync('node', ['bin/fieldsync.mjs', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, FIELDSYNC_LOG_LEVEL: 'warn' } });
}

describe('replay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fs-replay-'));
  const table = uniqueName('rp');
  const gapTable = uniqueName('rpg');
  const newDb = uniqueName('fs_rp');
  const prefix = uniqueName('t');
  const doc = {
    kafka: { brokers: stack.kafkaBrokers, topicPrefix: prefix, partitions: 3 },
    registry: { url: stack.registryUrl },
    databases: {
      billing: { dialect: 'postgres', url: stack.pgUrl() },
      live: { dialect: 'mysql', url: stack.mysqlUrl() },
      rebuilt: { dialect: 'postgres', url: stack.pgUrl(newDb) },
    },
    applier: [{ target: 'live', tables: [{ from: `billing.public.${table}` }] }],
    http: { host: '127.0.0.1', port: 0 },
  };
  const cfg = parseConfig(doc, 'replay-test');
  const configFile = join(dir, 'replay.yaml');
  const gapConfigFile = join(dir, 'gap.yaml');
  const pgAdmin = openPostgres(stack.pgAdminUrl);
  const my = openMysql(stack.mysqlUrl());
  const kafka = createKafka(cfg.kafka, 'replay-test');
  const admin = kafka.admin();
  const codec = new EventCodec(cfg.registry);
  const children: ChildProcess[] = [];

  const v1: TableSchema = {
    schema: 'public', name: table, key: ['id'],
    columns: [
      { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
      { name: 'email', type: { kind: 'string', maxLength: 200 }, nullable: true },
      { name: 'balance', type: { kind: 'decimal', precision: 12, scale: 2 }, nullable: true },
      { name: 'seen', type: { kind: 'timestamp', precision: 6, tz: false }, nullable: true },
    ],
  };
  const v2: TableSchema = { ...v1, columns: [...v1.columns, { name: 'phone', type: { kind: 'string', maxLength: 40 }, nullable: true }] };

  beforeAll(async () => {
    writeFileSync(configFile, stringify(doc));
    writeFileSync(gapConfigFile, stringify({ ...doc, applier: [{ target: 'rebuilt', tables: [{ from: `billing.public.${gapTable}` }] }] }));
    await pgAdmin.execute(`CREATE DATABASE ${newDb}`);
    await admin.connect();
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await admin.disconnect();
    await my.execute(`DROP TABLE IF EXISTS ${table}, ${table}__fs_clock, ${table}__fs_tomb`).catch(() => undefined);
    await pgAdmin.execute(`DROP DATABASE IF EXISTS ${newDb} WITH (FORCE)`).catch(() => undefined);
    await pgAdmin.close();
    await my.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rebuilds a new empty database that verify finds equal to the live target', async () => {
    const topic = topicName(cfg.kafka, 'billing', `public.${table}`);
    await ensureTopics(admin, cfg.kafka, [topic]);
    const reg1 = await codec.register(topic, v1);
    // A deterministic stream: inserts, updates of some columns, deletes, re-inserts, then a new column.
    let t = 1_760_000_000_000_000n;
    let seq = 0;
    const ev = (op: ChangeEvent['op'], id: number, after: Row | null, changed: string[]): ChangeEvent => {
      t += 1000n;
      seq += 1;
      return { op, origin: 'billing', commitTimeMicros: t, position: `outbox:${seq}`, key: { id: BigInt(id) }, after, changed };
    };
    const row = (id: number, n: number, withPhone = false): Row => ({
      id: BigInt(id), email: `u${id}.${n}@example.com`, balance: `${id}.${String(n % 100).padStart(2, '0')}`,
      seen: `2026-01-01 00:00:${String(n % 60).padStart(2, '0')}.${String(n).padStart(6, '0').slice(-6)}`,
      ...(withPhone ? { phone: n % 3 === 0 ? null : `+41 ${id} ${n}` } : {}),
    });
    const first: ChangeEvent[] = [];
    for (let id = 1; id <= KEYS; id++) first.push(ev('insert', id, row(id, 0), v1.columns.map((c) => c.name)));
    for (let n = 1; n <= KEYS * 2; n++) {
      const id = ((n * 7919) % KEYS) + 1;
      first.push(ev('update', id, row(id, n), n % 2 ? ['email'] : ['balance', 'seen']));
    }
    for (let id = 5; id <= KEYS; id += 5) first.push(ev('delete', id, null, []));
    for (let id = 10; id <= KEYS; id += 10) first.push(ev('insert', id, row(id, 999), v1.columns.map((c) => c.name)));
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: first.map((e) => codec.encode(reg1, e)) });
    const reg2 = await codec.register(topic, v2);
    const second: ChangeEvent[] = [];
    for (let n = 1; n <= KEYS / 2; n++) {
      const id = ((n * 104729) % KEYS) + 1;
      second.push(ev('update', id, row(id, 5000 + n, true), ['phone', 'email']));
    }
    for (let id = KEYS + 1; id <= KEYS + 20; id++) second.push(ev('insert', id, row(id, 1, true), v2.columns.map((c) => c.name)));
    for (let id = 15; id <= KEYS; id += 30) second.push(ev('delete', id, null, []));
    await producer.send({ topic, acks: -1, messages: second.map((e) => codec.encode(reg2, e)) });
    await producer.disconnect();

    // The live target: the applier pipeline, run until it has caught up.
    const sink = createSink(cfg, 'live');
    await sink.connect();
    await sink.install();
    const live = new ApplyPipeline({ config: cfg, applier: cfg.applier[0]!, sink, stopWhenCaughtUp: true });
    await live.start();
    await live.wait();
    await sink.close();
    const [liveCount] = await my.query(`SELECT COUNT(*) AS n, COUNT(phone) AS p FROM ${table}`);
    expect(Number(liveCount!.n)).toBeGreaterThan(KEYS * 0.8);
    expect(Number(liveCount!.p)).toBeGreaterThan(0);

    const rp = fieldsync(['replay', '--config', configFile, '--target', 'rebuilt', '--like', 'live']);
    expect(rp.status, rp.stderr).toBe(0);
    expect(rp.stdout).toMatch(/replay of rebuilt caught up/);
    process.stdout.write(`${rp.stdout.split('\n').filter((l) => /events/.test(l)).join('\n')}\n`); // throughput, for the record
    expect(rp.stdout).toMatch(new RegExp(`events applied: ${first.length + second.length}\\b`));

    const vf = fieldsync(['verify', '--config', configFile, '--source', 'live', '--target', 'rebuilt', '--table', table, '--json']);
    expect(vf.status, vf.stdout + vf.stderr).toBe(0);
    const result = JSON.parse(vf.stdout) as { equal: boolean; tables: { sourceRows: number; targetRows: number; mismatches: number; targetOwned: number }[] };
    expect(result.tables[0]).toMatchObject({ sourceRows: Number(liveCount!.n), targetRows: Number(liveCount!.n), mismatches: 0, targetOwned: 0 });

    // The replay handed its offsets to the applier identity: an applier of `rebuilt` would continue, not restart.
    const pg = openPostgres(stack.pgUrl(newDb));
    const handed = await pg.query(`SELECT consumer, SUM(next_offset) AS n FROM fieldsync.offsets GROUP BY consumer ORDER BY consumer`);
    await pg.close();
    expect(handed.map((r) => [r.consumer, Number(r.n)])).toEqual([
      ['fieldsync-applier-rebuilt', first.length + second.length],
      ['fieldsync-replay-rebuilt', first.length + second.length],
    ]);

    // --follow: caught up already, the command becomes the applier of `rebuilt` and applies what comes next.
    const follower = spawn(process.execPath, ['bin/fieldsync.mjs', 'replay', '--config', configFile, '--target', 'rebuilt', '--like', 'live', '--follow'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FIELDSYNC_LOG_LEVEL: 'warn' } });
    children.push(follower);
    let out = '';
    follower.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    follower.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    await waitFor('replay --follow to start following', () => out.includes('following as the applier of rebuilt'), 90_000);
    const late = [ev('insert', KEYS + 100, row(KEYS + 100, 7, true), v2.columns.map((c) => c.name)), ev('update', 1, row(1, 8888, true), ['phone'])];
    const p2 = kafka.producer({ idempotent: true });
    await p2.connect();
    await p2.send({ topic, acks: -1, messages: late.map((e) => codec.encode(reg2, e)) });
    await p2.disconnect();
    const pg2 = openPostgres(stack.pgUrl(newDb));
    try {
      await waitFor('the follower to apply the new events', async () => {
        const rows = await pg2.query(`SELECT id, phone FROM ${table} WHERE id IN ($1, 1) ORDER BY id`, [KEYS + 100]);
        return rows.length === 2 && rows[0]!.phone === late[1]!.after!.phone && rows[1]!.phone === late[0]!.after!.phone;
      }, 60_000);
    } finally {
      await pg2.close();
    }
    const exited = new Promise<number | null>((r) => follower.once('exit', (code) => r(code)));
    follower.kill('SIGTERM');
    expect(await exited, out).toBe(0);
  });

  it('refuses a replay whose first needed offset was deleted by retention', async () => {
    const topic = topicName(cfg.kafka, 'billing', `public.${gapTable}`);
    await ensureTopics(admin, cfg.kafka, [topic], 1);
    const reg = await codec.register(topic, { ...v1, name: gapTable });
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [1, 2, 3, 4].map((id) => codec.encode(reg, {
      op: 'insert', origin: 'billing', commitTimeMicros: 1_760_000_000_000_000n + BigInt(id), position: `outbox:${id}`,
      key: { id: BigInt(id) }, after: { id: BigInt(id), email: null, balance: null, seen: null }, changed: ['id'],
    })) });
    await producer.disconnect();
    // what retention does to old segments, done at once: the first two events are gone
    await admin.fetchTopicMetadata({ topics: [topic] }); // the admin learns the new topic's leader first
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '2' }] });

    const rp = fieldsync(['replay', '--config', gapConfigFile, '--target', 'rebuilt']);
    expect(rp.status).toBe(1);
    expect(rp.stderr).toMatch(/refusing to replay/);
    expect(rp.stderr).toContain(`${topic}[0]: a replay from the beginning needs offset 0, but the topic now starts at 2`);
  });
});
