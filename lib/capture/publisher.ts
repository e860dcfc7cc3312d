/**
 * Publishes capture batches to Kafka: one topic per source table (topicName()), created on
 * first use with the configured partitions and retention; key = the primary key as an Avro
 * record, value = the change envelope, both in the Confluent wire format (EventCodec).
 *
 * Delivery rules:
 *   - idempotent producer (acks = all, one request in flight): a retried send never
 *     duplicates or reorders within a partition;
 *   - the batch is sent in its order, split into sends bounded by count (batchSize) and
 *     bytes (maxBatchBytes, and never above MAX_SEND_BYTES: Kafka's default
 *     message.max.bytes limits one partition's record batch to 1 MiB), each awaited before
 *     the next, so the changes of one row reach their partition in commit order;
 *   - publish() resolves only when Kafka acknowledged every message of the batch; only
 *     then may the caller store the source checkpoint.
 * Schemas are registered per table version: a table whose columns changed (a new TableSchema
 * object from the source) registers a new, BACKWARD-compatible version before its events.
 */
import type { Admin, Kafka, Message, Producer } from 'kafkajs';
import { EventCodec, type RegisteredTable } from '../avro/codec.js';
import type { CaptureConfig, FieldsyncConfig } from '../config/schema.js';
import type { TableChange } from '../event/change-event.js';
import { wrap } from '../errors.js';
import { ensureTopics, topicName } from '../kafka/client.js';
import type { TableSchema } from '../types.js';

/** Stay below Kafka's default message.max.bytes (1 MiB) for one partition's record batch. */
export const MAX_SEND_BYTES = 900 * 1024;

export interface PublishLimits {
  batchSize: number;
  maxBatchBytes: number;
}

export type TopicOf = (change: TableChange) => string;

/** One produce request: messages per topic, in batch order. */
type EncodedSend = Map<string, Message[]>;

/** A batch encoded for Kafka (Publisher.encode), sent by Publisher.send. */
export interface EncodedBatch {
  sends: EncodedSend[];
}

export class Publisher {
  private readonly codec: EventCodec;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly topics = new Set<string>();
  private readonly registered = new WeakMap<TableSchema, Map<string, RegisteredTable>>();
  private connected = false;

  constructor(private readonly cfg: FieldsyncConfig, kafka: Kafka) {
    this.codec = new EventCodec(cfg.registry);
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    this.admin = kafka.admin();
  }

  /** The producer (for readiness checks that follow its connection events). */
  get kafkaProducer(): Producer {
    return this.producer;
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    try {
      await this.producer.connect();
      await this.admin.connect();
      this.connected = true;
    } catch (e) {
      throw wrap('unable to connect to Kafka', e);
    }
  }

  private async registration(topic: string, table: TableSchema): Promise<RegisteredTable> {
    let perTopic = this.registered.get(table);
    if (!perTopic) { perTopic = new Map(); this.registered.set(table, perTopic); }
    let reg = perTopic.get(topic);
    if (!reg) {
      if (!this.topics.has(topic)) {
        try {
          await ensureTopics(this.admin, this.cfg.kafka, [topic]);
        } catch (e) {
          throw wrap(`unable to create topic ${topic}`, e);
        }
        this.topics.add(topic);
      }
      reg = await this.codec.register(topic, table);
      perTopic.set(topic, reg);
    }
    return reg;
  }

  /** Encode and send the changes in order; resolves once Kafka acknowledged all of them. */
  async publish(changes: TableChange[], topicOf: TopicOf, limits: PublishLimits): Promise<void> {
    await this.send(await this.encode(changes, topicOf, limits));
  }

  /**
   * Encode a batch into the sends that publish it (registering schemas and creating topics
   * on first use). Pure preparation: nothing reaches Kafka until send(), so the capture loop
   * encodes the next batch while the previous one is still waiting for Kafka's ack.
   *
   * A send is bounded by count (batchSize) and bytes (maxBatchBytes, never above
   * MAX_SEND_BYTES: Kafka's message.max.bytes limits one partition's record batch).
   */
  async encode(changes: TableChange[], topicOf: TopicOf, limits: PublishLimits): Promise<EncodedBatch> {
    const maxBytes = Math.min(limits.maxBatchBytes, MAX_SEND_BYTES);
    const sends: EncodedSend[] = [];
    let current = new Map<string, Message[]>();
    let count = 0;
    let bytes = 0;
    let lastTable: TableSchema | undefined;
    let lastTopic = '';
    let reg: RegisteredTable | undefined;
    for (const c of changes) {
      const topic = topicOf(c);
      if (c.table !== lastTable || topic !== lastTopic || !reg) {
        reg = await this.registration(topic, c.table);
        lastTable = c.table;
        lastTopic = topic;
      }
      const message = this.codec.encode(reg, c.event);
      const size = message.key.length + message.value.length + 64;
      if (count > 0 && (count >= limits.batchSize || bytes + size > maxBytes)) {
        sends.push(current);
        current = new Map();
        count = 0;
        bytes = 0;
      }
      let list = current.get(topic);
      if (!list) { list = []; current.set(topic, list); }
      list.push(message);
      count++;
      bytes += size;
    }
    if (count > 0) sends.push(current);
    return { sends };
  }

  /** Send an encoded batch, one request after the other; resolves once Kafka acknowledged all. */
  async send(batch: EncodedBatch): Promise<void> {
    for (const byTopic of batch.sends) {
      try {
        await this.producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      } catch (e) {
        const n = [...byTopic.values()].reduce((sum, list) => sum + list.length, 0);
        throw wrap(`unable to publish ${n} events to Kafka`, e);
      }
    }
  }

  async close(): Promise<void> {
    this.connected = false;
    await this.producer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }
}

/** topicName() for the tables of one capture entry, by their configured names. */
export function captureTopicOf(cfg: FieldsyncConfig, capture: CaptureConfig): TopicOf {
  const names = capture.tables.map((t) => t.name);
  return (c) => {
    const t = c.table;
    const qualified = t.schema ? `${t.schema}.${t.name}` : t.name;
    const configured = names.find((n) => n === qualified) ?? names.find((n) => n === t.name) ?? names.find((n) => n.endsWith(`.${t.name}`)) ?? qualified;
    return topicName(cfg.kafka, c.source, configured);
  };
}
