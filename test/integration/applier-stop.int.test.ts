/**
 * The applier service as a child process (`node bin/fieldsync.mjs applier`):
 *
 *   - crash before ack: the process is killed while its batch transaction waits on a lock
 *     in the target; the transaction never commits, so neither rows nor offsets moved, and
 *     the next run applies exactly what is missing;
 *   - SIGTERM: the applier finishes the batch in flight and exits 0; a restart continues;
 *   - back-pressure: the target (a private PostgreSQL instance, never the shared one) is
 *     stopped: the breaker opens (metric), /readyz says the target is unreachable, the
 *     process keeps running paused; when it is back the breaker closes and everything
 *     published meanwhile is applied — nothing skipped.
 */
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerIdentity } from '../../lib/apply/routes.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import { createKafka, topicName } from '../../lib/kafka/client.js';
import { createSink } from '../../lib/sink/index.js';
import {
  EventPublisher, StreamModel, clientsStream, clientsTable, endOffsets, killAll, offsetsAtEnd, readCanonical,
  spawnFieldsync, waitForLog, waitWhileRunning, writeTempConfig, type ServiceProcess,
} from '../support/applier-harness.js';
import { stack, stackConfig, uniqueName, waitFor } from '../support/helpers.js';
import { freePort, startPrivatePostgres, type PrivateDb } from '../support/private-db.js';

const pg = openPostgres(stack.pgUrl());
const procs: ServiceProcess[] = [];
const cleanup: (() => Promise<unknown> | unknown)[] = [];
let admin: Admin;

beforeAll(async () => {
  admin = createKafka(stackConfig().kafka, 'applier-stop-test').admin();
  await admin.connect();
});
afterAll(async () => {
  await killAll(procs);
  for (const c of cleanup.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  await admin.disconnect();
  await pg.close();
});

function pgTargetConfig(url: string, into: string, httpPort = 0, breaker?: Record<string, number>): FieldsyncConfig {
  const prefix = uniqueName('t');
  return stackConfig({
    kafka: { brokers: stack.kafkaBrokers, topicPrefix: prefix, partitions: 3, deadLetterTopic: `${prefix}.dead-letter` },
    databases: {
      pg: { dialect: 'postgres', url },
      billing: { dialect: 'postgres', url: stack.pgUrl('fieldsync_test2') },
    },
    applier: [{ target: 'pg', groupId: uniqueName('g-stop'), batchSize: 500, batchMaxWaitMs: 20, sessionTimeoutMs: 6000, ...(breaker ? { breaker } : {}), tables: [{ from: 'billing.public.clients', into }] }],
    http: { host: '127.0.0.1', port: httpPort },
  });
}

async function setup(cfg: FieldsyncConfig) {
  const file = writeTempConfig(cfg);
  cleanup.push(file.remove);
  const topic = topicName(cfg.kafka, 'billing', 'public.clients');
  const publisher = new EventPublisher(cfg, topic, clientsTable());
  await publisher.connect();
  cleanup.push(() => publisher.close());
  const sink = createSink(cfg, 'pg');
  cleanup.push(() => sink.close());
  await sink.connect();
  const consumer = consumerIdentity(cfg.applier[0]!);
  const applied = async (p: ServiceProcess, timeoutMs = 60_000) => {
    const ends = await endOffsets(admin, topic);
    await waitWhileRunning(p, `target offsets at the end of ${topic}`, async () => offsetsAtEnd(await sink.storedOffsets(consumer), topic, ends), timeoutMs);
  };
  const start = () => {
    const p = spawnFieldsync(['applier', '--config', file.path], { FIELDSYNC_LOG_LEVEL: 'info' });
    procs.push(p);
    return p;
  };
  return { file, topic, publisher, sink, consumer, applied, start };
}

describe('applier service stop and crash', () => {
  it('crash before ack: a batch whose transaction did not commit moves neither rows nor offsets; SIGTERM exits 0; a restart continues', async () => {
    const into = uniqueName('ack');
    const cfg = pgTargetConfig(stack.pgUrl(), into);
    const s = await setup(cfg);
    const source = clientsTable();
    const stream = clientsStream({ events: 1500, keys: 200, origin: 'billing', seed: 99 });
    const firstPart = stream.slice(0, 1000);
    await s.publisher.publish(firstPart);
    const first = s.start();
    await s.applied(first);
    const before = await s.sink.storedOffsets(s.consumer);
    const q = pg.dialect.quote(into);
    const rowsBefore = await readCanonical(pg, { ...source, name: into }, q);

    // hold a lock the applier's merge needs, publish, and kill it while it waits inside its transaction
    const locker = openPostgres(stack.pgUrl(), { poolSize: 1 });
    cleanup.push(() => locker.close());
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    cleanup.push(() => release());
    let locked!: () => void;
    const lockTaken = new Promise<void>((r) => { locked = r; });
    const holding = locker.transaction(async (tx) => {
      await tx.execute(`LOCK TABLE ${q} IN ACCESS EXCLUSIVE MODE`);
      locked();
      await released;
      throw new Error('roll back the lock holder');
    }).catch(() => undefined);
    await lockTaken; // nothing new is published before the lock is held
    await s.publisher.publish(stream.slice(1000));
    await waitWhileRunning(first, 'the applier to wait on the lock inside its transaction', async () => {
      const rows = await pg.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = $1::regclass`, [`public.${into}`]);
      return Number(rows[0]!.n) > 0;
    }, 60_000, 100);
    first.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    release();
    await holding;

    // the killed transaction never committed: rows and offsets are as before
    const afterCrash = await s.sink.storedOffsets(s.consumer);
    expect(afterCrash).toEqual(before);
    expect(await readCanonical(pg, { ...source, name: into }, q)).toEqual(rowsBefore);

    const second = s.start();
    await s.applied(second);
    const model = new StreamModel(source);
    for (const e of stream) model.apply(e);
    expect(await readCanonical(pg, { ...source, name: into }, q)).toEqual(model.finalRows());

    // SIGTERM: a clean exit after the batch in flight
    await s.publisher.publish(clientsStream({ events: 300, keys: 200, origin: 'billing', seed: 100, startMicros: 1_790_000_000_000_000n }));
    await waitForLog(second, /applier consuming/);
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    const third = s.start();
    await s.applied(third);
    await waitForLog(third, /applier consuming/);
    third.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 180_000);
});

describe('applier back-pressure', () => {
  let privatePg: PrivateDb;
  beforeAll(async () => {
    privatePg = await startPrivatePostgres({ databases: ['target'] });
    cleanup.push(() => privatePg.destroy());
  });

  it('pauses while the target is down (breaker open, not ready) and applies everything once it is back', async () => {
    const into = uniqueName('brk');
    const port = await freePort();
    const cfg = pgTargetConfig(privatePg.url('target'), into, port, { timeoutMs: 3000, resetTimeoutMs: 1000, volumeThreshold: 2, errorThresholdPercentage: 50 });
    const s = await setup(cfg);
    const source = clientsTable();
    const stream = clientsStream({ events: 2000, keys: 300, origin: 'billing', seed: 5 });
    await s.publisher.publish(stream.slice(0, 500));
    const p = s.start();
    await s.applied(p);
    const base = `http://127.0.0.1:${port}`;
    const metric = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const m = /fieldsync_circuit_breaker_state\{service="applier",name="pg"\} (\d)/.exec(text);
      return m ? Number(m[1]) : undefined;
    };
    await waitFor('ready', async () => (await fetch(`${base}/readyz`)).status === 200, 30_000);
    const before = await s.sink.storedOffsets(s.consumer);

    await privatePg.stop('fast');
    await s.publisher.publish(stream.slice(500));
    await waitFor('the breaker to open', async () => (await metric()) === 2, 60_000, 200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(/target pg/);
    expect(p.proc.exitCode).toBeNull();

    await privatePg.start();
    await s.applied(p, 90_000);
    await waitFor('the breaker to close', async () => (await metric()) === 0, 30_000, 200);
    await waitFor('ready again', async () => (await fetch(`${base}/readyz`)).status === 200, 30_000);
    const model = new StreamModel(source);
    for (const e of stream) model.apply(e);
    const db = openPostgres(privatePg.url('target'));
    cleanup.push(() => db.close());
    expect(await readCanonical(db, { ...source, name: into }, db.dialect.quote(into))).toEqual(model.finalRows());
    expect(before.length).toBeGreaterThan(0);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 180_000);
});
