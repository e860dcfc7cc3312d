/**
 * What the applier process tests (applier-crash, applier-rebalance) set up alike: a MariaDB
 * target table fed from billing's clients topic by applier child processes, a publisher for
 * the stream, an admin client for end offsets, a sink to read the target's stored offsets,
 * and the target rows in canonical form. Everything opened, and every process started, is
 * closed or killed after the test file.
 */
import type { Admin } from 'kafkajs';
import { afterAll } from 'vitest';
import { consumerIdentity } from '../../lib/apply/routes.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { createKafka, topicName } from '../../lib/kafka/client.js';
import { createSink } from '../../lib/sink/index.js';
import type { SqlSink } from '../../lib/sink/sql-sink.js';
import type { Row, TableSchema } from '../../lib/types.js';
import {
  EventPublisher, clientsTable, killAll, readCanonical, spawnFieldsync, writeTempConfig, type ServiceProcess,
} from './applier-harness.js';
import { stack, stackConfig, uniqueName } from './helpers.js';

export interface ApplierRunOptions {
  /** Names the target table, the consumer group and the admin client. */
  name: string;
  partitions: number;
  batchSize: number;
}

export interface ApplierRun {
  readonly cfg: FieldsyncConfig;
  readonly topic: string;
  /** The source table (billing's clients) the stream is published for. */
  readonly source: TableSchema;
  readonly publisher: EventPublisher;
  readonly admin: Admin;
  /** A sink on the target, to read its stored offsets. */
  readonly sink: SqlSink;
  /** The applier's consumer identity in the target's offsets table. */
  readonly consumer: string;
  /** Changes applied so far: the target's stored offsets of the topic, summed over its partitions. */
  applied(): Promise<bigint>;
  /** Starts an applier process on this run's config. */
  startApplier(env?: Record<string, string>): ServiceProcess;
  /** The target table in canonical form, sorted by key. */
  targetRows(): Promise<Row[]>;
}

/** Registers the cleanup of the test file (call at its top level); `open` sets up one run. */
export function useApplierRuns(): { open(opts: ApplierRunOptions): Promise<ApplierRun> } {
  const my = openMysql(stack.mysqlUrl());
  const procs: ServiceProcess[] = [];
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  afterAll(async () => {
    await killAll(procs);
    for (const c of cleanup.reverse()) await Promise.resolve().then(c).catch(() => undefined);
    await my.close();
  });

  async function open({ name, partitions, batchSize }: ApplierRunOptions): Promise<ApplierRun> {
    const prefix = uniqueName('t');
    const into = uniqueName(name);
    const cfg = stackConfig({
      kafka: { brokers: stack.kafkaBrokers, topicPrefix: prefix, partitions, deadLetterTopic: `${prefix}.dead-letter` },
      databases: {
        maria: { dialect: 'mysql', url: stack.mysqlUrl() },
        billing: { dialect: 'postgres', url: stack.pgUrl('fieldsync_test2') },
      },
      // the broker's minimum session timeout: a killed member's partitions are reassigned quickly
      applier: [{ target: 'maria', groupId: uniqueName(`g-${name}`), batchSize, batchMaxWaitMs: 20, sessionTimeoutMs: 6000, tables: [{ from: 'billing.public.clients', into }] }],
      http: { host: '127.0.0.1', port: 0 },
    });
    const file = writeTempConfig(cfg);
    cleanup.push(file.remove);
    const topic = topicName(cfg.kafka, 'billing', 'public.clients');
    const source = clientsTable();
    const publisher = new EventPublisher(cfg, topic, source);
    await publisher.connect();
    cleanup.push(() => publisher.close());
    const admin: Admin = createKafka(cfg.kafka, `${name}-test`).admin();
    await admin.connect();
    cleanup.push(() => admin.disconnect());
    const sink = createSink(cfg, 'maria');
    await sink.connect();
    cleanup.push(() => sink.close());
    const consumer = consumerIdentity(cfg.applier[0]!);
    return {
      cfg, topic, source, publisher, admin, sink, consumer,
      applied: async () => (await sink.storedOffsets(consumer)).filter((o) => o.topic === topic).reduce((a, o) => a + BigInt(o.nextOffset), 0n),
      startApplier: (env = {}) => {
        const p = spawnFieldsync(['applier', '--config', file.path], env);
        procs.push(p);
        return p;
      },
      targetRows: () => readCanonical(my, { ...source, schema: '', name: into }, my.dialect.quote(into)),
    };
  }
  return { open };
}
