/** Kafka clients from config, topic naming, and topic creation with the configured retention. */
import type { Admin, ITopicConfig } from 'kafkajs';
import { Kafka, logLevel } from './kafkajs.js';
import type { KafkaConfig } from '../config/schema.js';
import { rootLogger } from '../log.js';

export function createKafka(cfg: KafkaConfig, clientSuffix = ''): Kafka {
  const log = rootLogger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: clientSuffix ? `${cfg.clientId}-${clientSuffix}` : cfg.clientId,
    brokers: cfg.brokers,
    connectionTimeout: cfg.connectionTimeoutMs,
    requestTimeout: cfg.requestTimeoutMs,
    ssl: cfg.ssl,
    ...(cfg.sasl ? { sasl: cfg.sasl as never } : {}),
    logLevel: logLevel.WARN,
    logCreator: () => ({ level, log: entry }) => {
      const { message, ...extra } = entry;
      if (level <= logLevel.ERROR) log.error(extra, message);
      else log.warn(extra, message);
    },
    // fieldsync's own retry helper wraps operations; KafkaJS retries only briefly itself.
    retry: { initialRetryTime: 200, retries: 8 },
  });
}

/** `<prefix>.<source>.<schema>.<table>`; the table part as configured (`schema.table` or `table`). */
export function topicName(cfg: KafkaConfig, source: string, table: string): string {
  return `${cfg.topicPrefix}.${source}.${table}`;
}

/** Create the topics that do not exist yet, with the configured partitions and retention. */
export async function ensureTopics(admin: Admin, cfg: KafkaConfig, topics: string[], partitions = cfg.partitions): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  const specs: ITopicConfig[] = missing.map((topic) => ({
    topic,
    numPartitions: partitions,
    replicationFactor: cfg.replicationFactor,
    configEntries: [{ name: 'retention.ms', value: String(cfg.retentionMs) }, { name: 'cleanup.policy', value: 'delete' }],
  }));
  await admin.createTopics({ topics: specs, waitForLeaders: true });
}
