/**
 * What the chaos suite checks afterwards, with no manual step:
 *   - both databases hold exactly the model's rows and field values (data lost = rows
 *     missing or resurrected + fields that differ from their writer's last write);
 *   - `fieldsync verify` passes between every source and target;
 *   - the dead-letter topic holds exactly the injected bad messages;
 *   - how many messages each change topic holds, so duplicates absorbed = messages − changes.
 */
import { Kafka, logLevel } from '../../lib/kafka/kafkajs.js';
import { EventCodec } from '../../lib/avro/codec.js';
import { DEAD_LETTER_HEADERS } from '../../lib/apply/dead-letter.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { loadConfig } from '../../lib/config/load.js';
import { createKafka } from '../../lib/kafka/client.js';
import { collectStatus } from '../../lib/status/collect.js';
import { stack, uniqueName } from '../support/helpers.js';
import type { ChaosCluster } from './cluster.js';
import type { InjectedDeadLetter } from './faults.js';
import { ACCOUNT_COLUMNS, CLIENT_COLUMNS, type Model, type ModelRow } from './workload.js';

export interface ModelDiff {
  missingRows: number;
  extraRows: number;
  fieldMismatches: number;
  examples: string[];
}

async function tableRows(db: Db, table: string, columns: readonly string[]): Promise<Map<number, Record<string, unknown>>> {
  const rows = await db.query(`SELECT ${columns.map((c) => db.dialect.quote(c)).join(', ')} FROM ${db.dialect.quote(table)}`);
  return new Map(rows.map((r) => [Number(r.id), r]));
}

function diffTable(where: string, actual: Map<number, Record<string, unknown>>, expected: Map<number, ModelRow>, columns: readonly string[], out: ModelDiff): void {
  for (const [id, row] of expected) {
    const got = actual.get(id);
    if (!got) { out.missingRows++; if (out.examples.length < 10) out.examples.push(`${where}: row ${id} missing`); continue; }
    for (const col of columns) {
      const want = row[col] === null || row[col] === undefined ? null : String(row[col]);
      const have = got[col] === null || got[col] === undefined ? null : String(got[col]);
      if (want !== have) {
        out.fieldMismatches++;
        if (out.examples.length < 10) out.examples.push(`${where}: row ${id} ${col}: expected ${want}, found ${have}`);
      }
    }
  }
  for (const id of actual.keys()) {
    if (!expected.has(id)) { out.extraRows++; if (out.examples.length < 10) out.examples.push(`${where}: row ${id} should not exist`); }
  }
}

export async function compareWithModel(c: ChaosCluster, model: Model): Promise<ModelDiff> {
  const out: ModelDiff = { missingRows: 0, extraRows: 0, fieldMismatches: 0, examples: [] };
  for (const [side, db] of [['pg', c.pgDb], ['maria', c.mariaDb]] as const) {
    diffTable(`${side}.clients`, await tableRows(db, 'clients', CLIENT_COLUMNS), model.clients, CLIENT_COLUMNS, out);
  }
  diffTable('maria.accounts', await tableRows(c.mariaDb, 'accounts', ACCOUNT_COLUMNS), model.accounts, ACCOUNT_COLUMNS, out);
  diffTable('pg.accounts', await tableRows(c.pgDb, 'accounts', ACCOUNT_COLUMNS), model.accounts, ACCOUNT_COLUMNS, out);
  return out;
}

export const lostCount = (d: ModelDiff) => d.missingRows + d.extraRows + d.fieldMismatches;

/**
 * What each applier has not applied yet, per `<target> <table>`: the topic's high watermark
 * minus the next offset stored in the target (what `fieldsync status` reports), or -1 where
 * it could not be read. It tells a target that is still behind (a slow or stalled applier:
 * keep waiting, or report it as such) from one whose applier has consumed everything and
 * still differs from the model (data lost).
 */
export async function applierLag(c: ChaosCluster): Promise<Record<string, number>> {
  const cfg = loadConfig(c.configFile);
  const kafka = createKafka(cfg.kafka, 'chaos-lag');
  const admin = kafka.admin();
  await admin.connect();
  try {
    const report = await collectStatus(cfg, { kafka, admin, countDeadLetters: false });
    const out: Record<string, number> = {};
    for (const t of report.tables) for (const a of t.targets) out[`${a.target} ${a.table}`] = a.lagMessages ?? -1;
    return out;
  } finally {
    await admin.disconnect();
  }
}

export const totalLag = (lag: Record<string, number>) => Object.values(lag).reduce((s, n) => s + Math.max(0, n), 0);

/** Messages in a topic: the sum of its partitions' end offsets (0 when it does not exist). */
export async function topicMessages(c: ChaosCluster, topic: string): Promise<number> {
  const admin = new Kafka({ brokers: c.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

export interface DeadLetterCheck {
  messages: number;
  distinct: number;
  expected: number;
  matched: number;
  unexpected: string[];
  missing: string[];
}

/** Read the whole dead-letter topic and match it against what the faults injected. */
export async function checkDeadLetters(c: ChaosCluster, injected: InjectedDeadLetter[]): Promise<DeadLetterCheck> {
  const kafka = new Kafka({ brokers: c.kafka.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(c.deadLetterTopic).catch(() => []);
  await admin.disconnect();
  const total = ends.reduce((s, p) => s + Number(p.high), 0);
  const seen: { identity: string; kind: string; topic: string; key: Buffer | null; value: Buffer | null }[] = [];
  if (total > 0) {
    const consumer = kafka.consumer({ groupId: uniqueName('chaos-dlq') });
    await consumer.connect();
    await consumer.subscribe({ topic: c.deadLetterTopic, fromBeginning: true });
    let count = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${count} of ${total} dead letters within 60 s`)), 60_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const h = (name: string) => message.headers?.[name]?.toString() ?? '';
          seen.push({
            identity: `${h(DEAD_LETTER_HEADERS.sourceTopic)}/${h(DEAD_LETTER_HEADERS.sourcePartition)}/${h(DEAD_LETTER_HEADERS.sourceOffset)}`,
            kind: h(DEAD_LETTER_HEADERS.kind), topic: h(DEAD_LETTER_HEADERS.sourceTopic), key: message.key, value: message.value,
          });
          if (++count >= total) { clearTimeout(timer); resolve(); }
        },
      }).catch(reject);
    });
    await consumer.disconnect();
  }
  const distinct = new Map(seen.map((s) => [s.identity, s]));
  const codec = new EventCodec({ url: stack.registryUrl, compatibility: 'BACKWARD' });
  const unmatched = new Set(injected.map((_, i) => i));
  const unexpected: string[] = [];
  for (const [identity, dl] of distinct) {
    let match = injected.findIndex((inj, i) => unmatched.has(i) && inj.kind === 'poison' && `${inj.topic}/${inj.partition}/${inj.offset}` === identity);
    if (match < 0 && dl.key && dl.value) {
      const decoded = await codec.decode(dl.key, dl.value).catch(() => undefined);
      const id = decoded ? Number(decoded.event.key.id) : NaN;
      match = injected.findIndex((inj, i) => unmatched.has(i) && inj.kind === 'overflow' && inj.topic === dl.topic && inj.rowId === id);
    }
    if (match >= 0) unmatched.delete(match);
    else unexpected.push(`${identity} (${dl.kind})`);
  }
  return {
    messages: seen.length, distinct: distinct.size, expected: injected.length, matched: injected.length - unmatched.size,
    unexpected, missing: [...unmatched].map((i) => JSON.stringify(injected[i])),
  };
}
