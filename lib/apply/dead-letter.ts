/**
 * The dead-letter topic: messages that cannot be applied for a data reason (undecodable,
 * unknown schema id, value out of range, constraint violation) are published there with
 * their original key and value and headers saying why, from where and when. They are
 * published (acks from all replicas) BEFORE the target transaction that moves the
 * partition's offset past them, so a crash in between at worst publishes one twice —
 * never loses one.
 */
import type { Kafka, Producer } from 'kafkajs';
import type { KafkaConfig } from '../config/schema.js';
import { errorMessage, wrap } from '../errors.js';
import { ensureTopics } from '../kafka/client.js';
import { retry } from '../retry.js';

/** Header names on every dead-letter message (status and ops tools read them). */
export const DEAD_LETTER_HEADERS = {
  reason: 'fieldsync.reason',
  kind: 'fieldsync.reason.kind',
  errorClass: 'fieldsync.error.class',
  sourceTopic: 'fieldsync.source.topic',
  sourcePartition: 'fieldsync.source.partition',
  sourceOffset: 'fieldsync.source.offset',
  time: 'fieldsync.time',
  target: 'fieldsync.target',
} as const;

/** Why a message was dead-lettered: it could not be decoded, or the target refused it. */
export type DeadLetterKind = 'decode' | 'apply';

export interface DeadLetter {
  kind: DeadLetterKind;
  error: unknown;
  target: string;
  /** The target table's name (metrics label). */
  table: string;
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
}

export function errorClassOf(e: unknown): string {
  return e instanceof Error ? e.name || e.constructor.name : typeof e;
}

export function deadLetterHeaders(dl: DeadLetter, now: Date): Record<string, string> {
  return {
    [DEAD_LETTER_HEADERS.reason]: errorMessage(dl.error).slice(0, 2000),
    [DEAD_LETTER_HEADERS.kind]: dl.kind,
    [DEAD_LETTER_HEADERS.errorClass]: errorClassOf(dl.error),
    [DEAD_LETTER_HEADERS.sourceTopic]: dl.topic,
    [DEAD_LETTER_HEADERS.sourcePartition]: String(dl.partition),
    [DEAD_LETTER_HEADERS.sourceOffset]: dl.offset.toString(),
    [DEAD_LETTER_HEADERS.time]: now.toISOString(),
    [DEAD_LETTER_HEADERS.target]: dl.target,
  };
}

export class DeadLetterPublisher {
  private producer: Producer | undefined;

  constructor(private readonly kafka: Kafka, private readonly cfg: KafkaConfig) {}

  async connect(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, this.cfg, [this.cfg.deadLetterTopic]);
    } finally {
      await admin.disconnect();
    }
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await this.producer.connect();
  }

  async publish(letters: DeadLetter[], signal?: AbortSignal): Promise<void> {
    if (letters.length === 0) return;
    const producer = this.producer;
    if (!producer) throw new Error('DeadLetterPublisher.publish called before connect');
    const now = new Date();
    try {
      await retry(() => producer.send({
        topic: this.cfg.deadLetterTopic,
        acks: -1,
        messages: letters.map((dl) => ({ key: dl.key, value: dl.value, headers: deadLetterHeaders(dl, now) })),
      }), { maxElapsedMs: 120_000, ...(signal ? { signal } : {}) });
    } catch (e) {
      throw wrap(`unable to publish ${letters.length} message(s) to the dead-letter topic ${this.cfg.deadLetterTopic}`, e);
    }
  }

  async disconnect(): Promise<void> {
    await this.producer?.disconnect();
    this.producer = undefined;
  }
}
