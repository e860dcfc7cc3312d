/**
 * Counts the dead-letter topic's messages per source topic and target, from the headers
 * the applier puts on every dead letter (lib/apply/dead-letter.ts).
 *
 * Kafka cannot count by header, so the topic is read once from its low to its high
 * watermark as they were when the count started, by a throw-away consumer group that is
 * deleted afterwards. The read has a deadline: when it passes, the counts seen so far are
 * returned marked incomplete, together with the topic's total (high − low), which is
 * always exact.
 */
import { randomBytes } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { DEAD_LETTER_HEADERS } from '../apply/dead-letter.js';

export interface DeadLetterCounts {
  /** Messages in the dead-letter topic (all sources). */
  total: number;
  /** `<source topic>` → target → count. */
  bySourceTopic: Map<string, Map<string, number>>;
  complete: boolean;
}

function header(headers: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined, name: string): string {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? '' : one.toString();
}

export async function countDeadLetters(kafka: Kafka, admin: Admin, topic: string, timeoutMs: number): Promise<DeadLetterCounts> {
  const out: DeadLetterCounts = { total: 0, bySourceTopic: new Map(), complete: true };
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) return out;
  const watermarks = await admin.fetchTopicOffsets(topic);
  const remaining = new Map<number, bigint>();
  for (const w of watermarks) {
    const high = BigInt(w.high);
    const low = BigInt(w.low);
    out.total += Number(high - low);
    if (high > low) remaining.set(w.partition, high);
  }
  if (remaining.size === 0) return out;

  const groupId = `fieldsync-status-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { out.complete = false; resolve(); }, timeoutMs);
      void consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const end = remaining.get(batch.partition);
          for (const m of batch.messages) {
            if (end === undefined || BigInt(m.offset) >= end) break;
            const src = header(m.headers, DEAD_LETTER_HEADERS.sourceTopic);
            const target = header(m.headers, DEAD_LETTER_HEADERS.target);
            const perTarget = out.bySourceTopic.get(src) ?? new Map<string, number>();
            perTarget.set(target, (perTarget.get(target) ?? 0) + 1);
            out.bySourceTopic.set(src, perTarget);
            // Counting stops at the high watermark seen at start: later dead letters belong to the next look.
            if (BigInt(m.offset) + 1n >= end) remaining.delete(batch.partition);
          }
          if (remaining.size === 0) { clearTimeout(timer); resolve(); }
        },
      }).catch(() => { out.complete = false; clearTimeout(timer); resolve(); });
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  return out;
}
