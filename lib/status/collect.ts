/**
 * `fieldsync status`: where every table stands, gathered from where the truth is kept —
 * never from a running service, so it works while services are down (that is when it
 * matters most):
 *
 *   capture position   the capture checkpoint row in the source database (outbox sequence;
 *                      SQL Server CDC: the acknowledged LSN, cdc-position.ts)
 *   source lag         outbox rows of the table beyond the checkpoint: how many, and the age
 *                      of the oldest (what capture has not published yet); CDC: the time
 *                      between the acknowledged LSN and the newest one
 *   topic offsets      Kafka low/high watermarks per partition (admin fetchTopicOffsets)
 *   consumer lag       per applier target: high watermark − the next offset stored in the
 *                      target's offsets table (a partition without a stored offset lags by
 *                      everything retained)
 *   last applied       the newest updated_at of those offset rows
 *   dead letters       messages in the dead-letter topic whose source-topic header is the
 *                      table's topic (dead-letters.ts)
 *   last reconcile     the newest row of the target's reconcile runs table
 *
 * Every probe fails alone: a database that is down shows as an error on its lines and
 * the rest of the report is still produced.
 */
import type { Admin, Kafka } from 'kafkajs';
import kafkajs from '../kafka/kafkajs.js';
import type { FieldsyncConfig } from '../config/schema.js';
import { tableRoutes, consumerIdentity } from '../apply/routes.js';
import { CHECKPOINT_TABLE, OUTBOX_TABLE, STREAM_CHECKPOINT } from '../capture/outbox-layout.js';
import type { Db } from '../dialect/dialect.js';
import { openDb } from '../dialect/index.js';
import { splitTableName } from '../dialect/introspect.js';
import { errorMessage } from '../errors.js';
import { topicName } from '../kafka/client.js';
import { systemTable } from '../merge/clock-layout.js';
import { cdcPosition } from './cdc-position.js';
import { countDeadLetters } from './dead-letters.js';
import { lastReconcileRuns, type ReconcileRun } from './reconcile-runs.js';
import { isoTime } from './time.js';

export interface PartitionStatus {
  partition: number;
  low: string;
  high: string;
}

export interface CaptureStatus {
  source: string;
  mode: string;
  /** The acknowledged outbox position (checkpoint), null before the first ack. */
  position: string | null;
  /** Outbox rows of this table not yet acknowledged. */
  pendingEvents: number | null;
  /** Age of the oldest unacknowledged change of this table, seconds (0 when none). */
  lagSeconds: number | null;
  error?: string;
}

export interface TargetStatus {
  target: string;
  consumer: string;
  table: string;
  /** Messages not yet applied, summed over partitions. */
  lagMessages: number | null;
  partitions: { partition: number; nextOffset: string | null; high: string; lag: number }[];
  lastAppliedAt: string | null;
  deadLetters: number | null;
  lastReconcile: ReconcileRun | null;
  error?: string;
}

export interface TableStatus {
  topic: string;
  /** `<source>.<table>` as configured. */
  from: string;
  capture: CaptureStatus | null;
  partitions: PartitionStatus[] | null;
  endOffset: string | null;
  /** The topic's retention.ms (-1: forever); null when unknown. */
  retentionMs: number | null;
  /** Events were deleted by retention (a low watermark > 0): a replay from the beginning is impossible. */
  truncated: boolean;
  topicError?: string;
  deadLetters: number | null;
  targets: TargetStatus[];
}

export interface StatusReport {
  generatedAt: string;
  deadLetterTopic: string;
  deadLetterTotal: number | null;
  deadLettersComplete: boolean;
  tables: TableStatus[];
}

interface OffsetRow { topic: string; partition: number; nextOffset: bigint; updatedAt: string | null }

/** All configured tables (capture and applier), by topic. */
function tablesOf(cfg: FieldsyncConfig): Map<string, { from: string; source: string; table: string }> {
  const out = new Map<string, { from: string; source: string; table: string }>();
  for (const c of cfg.capture) for (const t of c.tables) out.set(topicName(cfg.kafka, c.source, t.name), { from: `${c.source}.${t.name}`, source: c.source, table: t.name });
  for (const a of cfg.applier) {
    for (const r of tableRoutes(cfg, a)) if (!out.has(r.topic)) out.set(r.topic, { from: r.from, source: r.source, table: r.from.slice(r.source.length + 1) });
  }
  return out;
}

async function captureStatus(db: Db, fieldsyncSchema: string, table: string, source: string, mode: string): Promise<CaptureStatus> {
  const d = db.dialect;
  const base: CaptureStatus = { source, mode, position: null, pendingEvents: null, lagSeconds: null };
  if (mode === 'cdc') {
    try {
      return { ...base, ...(await cdcPosition(db, fieldsyncSchema, source, table)) };
    } catch (e) {
      return { ...base, error: `unable to read the CDC position: ${errorMessage(e)}` };
    }
  }
  try {
    const cp = await db.query(`SELECT position FROM ${systemTable(d, fieldsyncSchema, CHECKPOINT_TABLE)} WHERE stream = ${d.param(1)}`, [STREAM_CHECKPOINT]);
    const position = cp[0] ? String(cp[0].position) : null;
    const seq = position ? /(\d+)\s*$/.exec(position)?.[1] ?? '0' : '0';
    const ref = splitTableName(table);
    const params: unknown[] = [seq, ref.name];
    let where = `seq > ${d.param(1)} AND table_name = ${d.param(2)}`;
    if (ref.schema) { params.push(ref.schema); where += ` AND table_schema = ${d.param(3)}`; }
    const rows = await db.query(`SELECT COUNT(*) AS n, MIN(commit_micros) AS oldest FROM ${systemTable(d, fieldsyncSchema, OUTBOX_TABLE)} WHERE ${where}`, params);
    const n = Number(rows[0]?.n ?? 0);
    const oldest = rows[0]?.oldest;
    const lagSeconds = n > 0 && oldest !== null && oldest !== undefined ? Math.max(0, (Date.now() * 1000 - Number(String(oldest))) / 1e6) : 0;
    return { ...base, position, pendingEvents: n, lagSeconds };
  } catch (e) {
    return { ...base, error: `unable to read the capture checkpoint: ${errorMessage(e)}` };
  }
}

async function storedOffsets(db: Db, fieldsyncSchema: string, consumer: string): Promise<OffsetRow[]> {
  const d = db.dialect;
  const rows = await db.query(
    `SELECT topic, ${d.quote('partition')} AS p, next_offset, updated_at FROM ${systemTable(d, fieldsyncSchema, 'offsets')} WHERE consumer = ${d.param(1)}`, [consumer]);
  return rows.map((r) => ({
    topic: String(r.topic), partition: Number(r.p), nextOffset: BigInt(String(r.next_offset)),
    updatedAt: isoTime(r.updated_at),
  }));
}

// kafkajs is CommonJS: its enums are on the default export only.
const { ConfigResourceTypes } = kafkajs;

/** retention.ms of each topic, in one describeConfigs request. */
async function topicRetention(admin: Admin, topics: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (topics.length === 0) return out;
  const res = await admin.describeConfigs({
    resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] })),
    includeSynonyms: false,
  });
  for (const r of res.resources) {
    const v = r.configEntries.find((c) => c.configName === 'retention.ms')?.configValue;
    if (v !== undefined && v !== null) out.set(r.resourceName, Number(v));
  }
  return out;
}

export interface CollectOptions {
  kafka: Kafka;
  admin: Admin;
  /** Deadline for counting dead letters by table. */
  deadLetterTimeoutMs?: number;
  /** Count dead letters (reads the dead-letter topic); off for frequent polls. Default on. */
  countDeadLetters?: boolean;
  /** Only these databases are opened (default: all that the report needs). */
  openDatabase?: (name: string) => Db;
}

export async function collectStatus(cfg: FieldsyncConfig, opts: CollectOptions): Promise<StatusReport> {
  const dbs = new Map<string, Db>();
  const dbOf = (name: string): Db => {
    let db = dbs.get(name);
    if (!db) {
      db = opts.openDatabase ? opts.openDatabase(name) : openDb(cfg.databases[name]!, { poolSize: 1 });
      dbs.set(name, db);
    }
    return db;
  };
  try {
    const tables = tablesOf(cfg);
    const dl = opts.countDeadLetters === false ? undefined
      : await countDeadLetters(opts.kafka, opts.admin, cfg.kafka.deadLetterTopic, opts.deadLetterTimeoutMs ?? 20_000).catch(() => undefined);

    // Offsets stored per applier, read once per target.
    const offsets = new Map<string, OffsetRow[] | Error>();
    for (const a of cfg.applier) {
      const consumer = consumerIdentity(a);
      const rows = await storedOffsets(dbOf(a.target), cfg.databases[a.target]!.fieldsyncSchema, consumer).catch((e: unknown) => new Error(errorMessage(e)));
      offsets.set(`${a.target}\u0000${consumer}`, rows);
    }
    const reconciles = new Map<string, ReconcileRun[]>();
    for (const target of new Set(cfg.applier.map((a) => a.target))) {
      reconciles.set(target, await lastReconcileRuns(dbOf(target), cfg.databases[target]!.fieldsyncSchema).catch(() => []));
    }

    const existing = new Set(await opts.admin.listTopics());
    const retention = await topicRetention(opts.admin, [...tables.keys()].filter((t) => existing.has(t))).catch(() => new Map<string, number>());
    const out: TableStatus[] = [];
    for (const [topic, t] of tables) {
      const entry: TableStatus = {
        topic, from: t.from, capture: null, partitions: null, endOffset: null, retentionMs: retention.get(topic) ?? null, truncated: false, deadLetters: null, targets: [],
      };
      const cap = cfg.capture.find((c) => c.source === t.source && c.tables.some((ct) => ct.name === t.table));
      if (cap) entry.capture = await captureStatus(dbOf(cap.source), cfg.databases[cap.source]!.fieldsyncSchema, t.table, cap.source, cap.mode);
      if (existing.has(topic)) {
        try {
          const wm = await opts.admin.fetchTopicOffsets(topic);
          entry.partitions = wm.map((w) => ({ partition: w.partition, low: w.low, high: w.high })).sort((a, b) => a.partition - b.partition);
          entry.endOffset = entry.partitions.reduce((s, p) => s + BigInt(p.high), 0n).toString();
          entry.truncated = entry.partitions.some((p) => BigInt(p.low) > 0n);
        } catch (e) {
          entry.topicError = `unable to fetch the topic offsets: ${errorMessage(e)}`;
        }
      } else {
        entry.topicError = 'topic does not exist yet (nothing captured)';
      }
      if (dl) {
        const per = dl.bySourceTopic.get(topic);
        entry.deadLetters = per ? [...per.values()].reduce((s, n) => s + n, 0) : 0;
      }
      for (const a of cfg.applier) {
        const route = tableRoutes(cfg, a).find((r) => r.topic === topic);
        if (!route) continue;
        const consumer = consumerIdentity(a);
        const stored = offsets.get(`${a.target}\u0000${consumer}`);
        const table = route.into.schema ? `${route.into.schema}.${route.into.name}` : route.into.name;
        const run = (reconciles.get(a.target) ?? []).find((r) => r.table === table || r.table === route.into.name) ?? null;
        const ts: TargetStatus = {
          target: a.target, consumer, table, lagMessages: null, partitions: [], lastAppliedAt: null,
          deadLetters: dl ? (dl.bySourceTopic.get(topic)?.get(a.target) ?? 0) : null, lastReconcile: run,
        };
        if (stored instanceof Error) ts.error = `unable to read the stored offsets: ${stored.message}`;
        else if (entry.partitions) {
          let lag = 0;
          for (const p of entry.partitions) {
            const row = stored?.find((o) => o.topic === topic && o.partition === p.partition);
            // Without a stored offset the target has applied nothing of the partition: it lags by everything retained.
            const next = row ? row.nextOffset : BigInt(p.low);
            const l = Math.max(0, Number(BigInt(p.high) - next));
            lag += l;
            ts.partitions.push({ partition: p.partition, nextOffset: row ? row.nextOffset.toString() : null, high: p.high, lag: l });
            if (row?.updatedAt && (!ts.lastAppliedAt || row.updatedAt > ts.lastAppliedAt)) ts.lastAppliedAt = row.updatedAt;
          }
          ts.lagMessages = lag;
        }
        entry.targets.push(ts);
      }
      out.push(entry);
    }
    return {
      generatedAt: new Date().toISOString(), deadLetterTopic: cfg.kafka.deadLetterTopic,
      deadLetterTotal: dl ? dl.total : null, deadLettersComplete: dl ? dl.complete : false, tables: out,
    };
  } finally {
    await Promise.all([...dbs.values()].map((db) => db.close().catch(() => undefined)));
  }
}
