/**
 * Rebalances: two applier processes in one consumer group share a target. The second
 * joins mid-stream (the partitions are split: each process seeks the partitions it gets to
 * the offsets stored in the target, not to the group's advisory commit), then the first
 * is killed with SIGKILL mid-stream (its partitions move to the survivor after the session
 * timeout, again from the target's offsets). The target ends exactly at the expected
 * state with its offsets at the topic's end.
 */
import type { Admin } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { consumerIdentity } from '../../lib/apply/routes.js';
import { createKafka, topicName } from '../../lib/kafka/client.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { createSink } from '../../lib/sink/index.js';
import {
  EventPublisher, StreamModel, clientsStream, clientsTable, endOffsets, killAll, offsetsAtEnd, readCanonical,
  spawnFieldsync, waitForLog, waitWhileRunning, writeTempConfig, type ServiceProcess,
} from '../support/applier-harness.js';
import { stack, stackConfig, uniqueName } from '../support/helpers.js';

const my = openMysql(stack.mysqlUrl());
const procs: ServiceProcess[] = [];
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  await killAll(procs);
  for (const c of cleanup.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  await my.close();
});

describe('applier rebalance', () => {
  it('two members share the partitions, one joins and one dies mid-stream, the target is exact', async () => {
    const prefix = uniqueName('t');
    const into = uniqueName('rebal');
    const cfg = stackConfig({
      kafka: { brokers: stack.kafkaBrokers, topicPrefix: prefix, partitions: 4, deadLetterTopic: `${prefix}.dead-letter` },
      databases: {
        maria: { dialect: 'mysql', url: stack.mysqlUrl() },
        billing: { dialect: 'postgres', url: stack.pgUrl('fieldsync_test2') },
      },
      applier: [{ target: 'maria', groupId: uniqueName('g-rebal'), batchSize: 300, batchMaxWaitMs: 20, sessionTimeoutMs: 6000, tables: [{ from: 'billing.public.clients', into }] }],
      http: { host: '127.0.0.1', port: 0 },
    });
    const file = writeTempConfig(cfg);
    cleanup.push(file.remove);
    const topic = topicName(cfg.kafka, 'billing', 'public.clients');
    const source = clientsTable();
    const stream = clientsStream({ events: 12_000, keys: 800, origin: 'billing', seed: 31 });
    const publisher = new EventPublisher(cfg, topic, source);
    await publisher.connect();
    cleanup.push(() => publisher.close());
    const admin: Admin = createKafka(cfg.kafka, 'rebalance-test').admin();
    await admin.connect();
    cleanup.push(() => admin.disconnect());
    const sink = createSink(cfg, 'maria');
    await sink.connect();
    cleanup.push(() => sink.close());
    const consumer = consumerIdentity(cfg.applier[0]!);
    const applied = async () => (await sink.storedOffsets(consumer)).filter((o) => o.topic === topic).reduce((a, o) => a + BigInt(o.nextOffset), 0n);

    await publisher.publish(stream.slice(0, 4000));
    const a = spawnFieldsync(['applier', '--config', file.path], { FIELDSYNC_LOG_LEVEL: 'info' });
    procs.push(a);
    await waitWhileRunning(a, 'the first member to apply', async () => (await applied()) > 0n, 60_000);

    // the second member joins: a rebalance while the first is applying
    const b = spawnFieldsync(['applier', '--config', file.path], { FIELDSYNC_LOG_LEVEL: 'info' });
    procs.push(b);
    await waitForLog(b, /"assignment":\{"[^"]+":\[\d/);
    await publisher.publish(stream.slice(4000, 8000));
    // the second member read its partitions' positions from the target and applies them
    await waitWhileRunning(b, 'the second member to apply its partitions', async () => /partition position/.test(b.output()) && (await applied()) > 4000n, 90_000);

    // the first dies without leaving the group; the survivor takes its partitions over
    await publisher.publish(stream.slice(8000));
    a.kill('SIGKILL');
    expect(await a.exited).toBe('SIGKILL');
    const ends = await endOffsets(admin, topic);
    await waitWhileRunning(b, 'the survivor to apply everything', async () => offsetsAtEnd(await sink.storedOffsets(consumer), topic, ends), 120_000);

    const model = new StreamModel(source);
    for (const e of stream) model.apply(e);
    expect(await readCanonical(my, { ...source, schema: '', name: into }, my.dialect.quote(into))).toEqual(model.finalRows());
    // the survivor was assigned partitions twice (join, then takeover)
    expect((b.output().match(/partitions assigned/g) ?? []).length).toBeGreaterThanOrEqual(2);
    b.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 240_000);
});
