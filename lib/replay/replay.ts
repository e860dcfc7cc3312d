/**
 * `fieldsync replay`: rebuild a target from the topics (Kafka is the common store: every
 * target can be rebuilt from it, typically into a new, empty database).
 *
 * Steps:
 *  1. Choose the applier entry of the target (or, with `like`, the tables of another
 *     target's applier written into this one) and the tables to replay.
 *  2. Install: fieldsync's tables in the target, and for every table whose topic has a
 *     schema, the target table, its clock and tomb tables and local-edit triggers
 *     (Sink.install / prepareTable, as `fieldsync applier install` does). A column added
 *     later in the stream (a newer schema id) is added by the pipeline when it gets there.
 *  3. Retention check (retention.ts): every partition's starting offset must still be in
 *     Kafka; otherwise refuse before anything is applied, naming the partition.
 *  4. Apply with the shared ApplyPipeline (lib/apply) under the replay's own consumer
 *     identity `fieldsync-replay-<target>`: the same decode, merge, dead-letter and
 *     offsets-in-the-target-transaction path as the applier, so a replay interrupted at
 *     any point continues where the target says it stopped. Stop once every partition
 *     reached the end offsets seen at start.
 *  5. Hand over: the replay's offsets are stored for the target's applier identity too
 *     (where it has none or is behind, in one target transaction), so the applier service
 *     continues from there instead of re-reading the topics. With `follow`, this process
 *     then becomes that applier (same pipeline, applier identity, no stop).
 */
import type { Admin, Kafka } from 'kafkajs';
import type { ApplierConfig, FieldsyncConfig } from '../config/schema.js';
import { ApplyPipeline, type FlushReport } from '../apply/pipeline.js';
import { consumerIdentity, latestTopicTable, tableRoutes, type TableRoute } from '../apply/routes.js';
import { ConfigError, FieldsyncError, wrap } from '../errors.js';
import { createKafka } from '../kafka/client.js';
import { logger } from '../log.js';
import { retry } from '../retry.js';
import type { Sink, TopicOffset } from '../sink.js';
import { createSink } from '../sink/index.js';
import { decideStart, type PartitionStart, type ReplayStart } from './retention.js';

const log = logger('replay');

export interface ReplayOptions {
  target: string;
  /** Replay the tables of this target's applier entry into `target` (when `target` has none). */
  like?: string | undefined;
  start: ReplayStart;
  /** Configured `from` names or target table names; default all of the applier entry. */
  tables?: string[] | undefined;
  /** Keep applying after catching up, as the target's applier. */
  follow?: boolean | undefined;
  onProgress?: (p: ReplayProgress) => void;
  /** Called once caught up, before following (if at all). */
  onCaughtUp?: (r: ReplayResult) => void;
  /** Aborting stops the replay (or the follow) after the flush in flight. */
  signal?: AbortSignal | undefined;
}

export interface TableProgress {
  table: string;
  topic: string;
  /** Messages still to apply (end offset − applied), summed over partitions. */
  remaining: number;
}

export interface ReplayProgress {
  events: number;
  deadLetters: number;
  /** Messages to apply in total, from the start offsets to the end offsets seen at start. */
  total: number;
  elapsedMs: number;
  eventsPerSecond: number;
  tables: TableProgress[];
}

export interface ReplayResult extends ReplayProgress {
  target: string;
  consumer: string;
  installed: string[];
  /** Tables whose topic does not exist (nothing was ever published): nothing to replay. */
  emptyTables: string[];
}

export const replayConsumer = (target: string) => `fieldsync-replay-${target}`;

/** The applier entry that says what to replay into `target`. */
export function replayApplier(cfg: FieldsyncConfig, target: string, like?: string, tables?: string[]): ApplierConfig {
  if (!cfg.databases[target]) throw new ConfigError(`unknown target database "${target}" (known: ${Object.keys(cfg.databases).join(', ')})`);
  const base = cfg.applier.find((a) => a.target === (like ?? target));
  if (!base) {
    throw new ConfigError(like
      ? `--like ${like}: the config has no applier for target "${like}"`
      : `the config has no applier for target "${target}": add one, or replay another target's tables into it with --like <target>`);
  }
  const entry: ApplierConfig = { ...base, target, groupId: undefined };
  if (!tables || tables.length === 0) return entry;
  const routes = tableRoutes(cfg, entry);
  const chosen = entry.tables.filter((t, i) => {
    const r = routes[i]!;
    return tables.some((x) => x === t.from || x === r.from.slice(r.source.length + 1) || x === r.into.name || x === `${r.into.schema}.${r.into.name}`);
  });
  const unknown = tables.filter((x) => !routes.some((r) => x === r.from || x === r.from.slice(r.source.length + 1) || x === r.into.name || x === `${r.into.schema}.${r.into.name}`));
  if (unknown.length) throw new ConfigError(`--table ${unknown.join(', ')}: not a table of the applier for "${like ?? target}" (tables: ${routes.map((r) => r.from).join(', ')})`);
  return { ...entry, tables: chosen };
}

async function install(cfg: FieldsyncConfig, sink: Sink, routes: TableRoute[]): Promise<string[]> {
  const auth = cfg.registry.username ? { username: cfg.registry.username, password: cfg.registry.password ?? '' } : undefined;
  await sink.install();
  const installed: string[] = [];
  for (const r of routes) {
    const source = await latestTopicTable(cfg.registry.url, r.topic, auth);
    if (!source) continue; // nothing published yet: the pipeline prepares it on its first event
    await sink.prepareTable(source, r.into, { autoEvolve: r.config.autoEvolve, createTable: r.config.createTable });
    installed.push(r.from);
  }
  return installed;
}

/** Start offsets of every partition, refusing (FieldsyncError) when one is gone. */
async function startOffsets(admin: Admin, routes: TableRoute[], stored: TopicOffset[], start: ReplayStart, retentionMs: number): Promise<{ starts: Map<string, { route: TableRoute; partition: number; offset: bigint; high: bigint }>; empty: string[] }> {
  const existing = new Set(await admin.listTopics());
  const starts = new Map<string, { route: TableRoute; partition: number; offset: bigint; high: bigint }>();
  const problems: string[] = [];
  const empty: string[] = [];
  for (const r of routes) {
    if (!existing.has(r.topic)) { empty.push(r.from); continue; }
    const wms = await admin.fetchTopicOffsets(r.topic);
    const atTime = start.kind === 'timestamp' ? await admin.fetchTopicOffsetsByTimestamp(r.topic, start.timestampMs) : [];
    for (const w of wms) {
      const s = stored.find((o) => o.topic === r.topic && o.partition === w.partition);
      const at = atTime.find((a) => a.partition === w.partition);
      const p: PartitionStart = {
        topic: r.topic, partition: w.partition, low: BigInt(w.low), high: BigInt(w.high),
        stored: s ? BigInt(s.nextOffset) : undefined, atTime: at ? BigInt(at.offset) : undefined,
      };
      const d = decideStart(p, start);
      if (d.problem) problems.push(d.problem);
      starts.set(`${r.topic}\u0000${w.partition}`, { route: r, partition: w.partition, offset: d.offset, high: p.high });
    }
  }
  if (problems.length) {
    throw new FieldsyncError(
      `refusing to replay: the earliest event needed is no longer in Kafka (topic retention ${retentionMs < 0 ? 'unlimited in the config, but shorter on the topic' : `retention.ms=${retentionMs}`}):\n  ${problems.join('\n  ')}\n` +
      'A replay would build an incomplete target. Refresh the target from its source with `fieldsync reconcile` instead, or replay --from a time after the oldest retained event into a target that already holds the earlier state. See docs/replay.md.');
  }
  return { starts, empty };
}

/** Store the replay's offsets for the applier identity where that identity is behind. */
async function handOver(sink: Sink, replayId: string, applierId: string): Promise<void> {
  const [mine, theirs] = await Promise.all([sink.storedOffsets(replayId), sink.storedOffsets(applierId)]);
  const ahead = mine.filter((o) => {
    const t = theirs.find((x) => x.topic === o.topic && x.partition === o.partition);
    return !t || BigInt(t.nextOffset) < BigInt(o.nextOffset);
  });
  // No batches: only the offsets, in one target transaction.
  if (ahead.length) await sink.apply(applierId, [], ahead);
}

export async function replay(cfg: FieldsyncConfig, opts: ReplayOptions): Promise<ReplayResult> {
  const applier = replayApplier(cfg, opts.target, opts.like, opts.tables);
  const routes = tableRoutes(cfg, applier);
  const consumer = replayConsumer(opts.target);
  const kafka: Kafka = createKafka(cfg.kafka, `replay-${opts.target}`);
  const sink = createSink(cfg, opts.target);
  const admin = kafka.admin();
  const started = Date.now();
  try {
    await retry(() => sink.connect(), { maxElapsedMs: 60_000 }).catch((e: unknown) => { throw wrap(`unable to connect to target ${opts.target}`, e); });
    await retry(() => admin.connect(), { maxElapsedMs: 60_000, retriable: () => true }).catch((e: unknown) => { throw wrap('unable to connect to Kafka', e); });
    const installed = await install(cfg, sink, routes).catch((e: unknown) => { throw wrap(`unable to install the tables of target ${opts.target}`, e); });
    const stored = await sink.storedOffsets(consumer);
    const { starts, empty } = await startOffsets(admin, routes, stored, opts.start, cfg.kafka.retentionMs);

    // Progress: remaining per partition starts at (end − start) and follows the flush reports.
    const remaining = new Map<string, { table: string; topic: string; left: bigint }>();
    let total = 0;
    for (const [k, s] of starts) {
      const left = s.high > s.offset ? s.high - s.offset : 0n;
      remaining.set(k, { table: s.route.from, topic: s.route.topic, left });
      total += Number(left);
    }
    const progress = (events: number, dead: number): ReplayProgress => {
      const elapsedMs = Date.now() - started;
      const perTable = new Map<string, TableProgress>();
      for (const r of remaining.values()) {
        const t = perTable.get(r.table) ?? { table: r.table, topic: r.topic, remaining: 0 };
        t.remaining += Number(r.left);
        perTable.set(r.table, t);
      }
      return { events, deadLetters: dead, total, elapsedMs, eventsPerSecond: elapsedMs > 0 ? Math.round((events * 1000) / elapsedMs) : 0, tables: [...perTable.values()] };
    };
    let events = 0;
    let dead = 0;
    const onFlush = (f: FlushReport) => {
      events += f.events;
      dead += f.deadLetters;
      for (const l of f.lag) {
        const r = remaining.get(`${l.topic}\u0000${l.partition}`);
        if (r) r.left = l.messages;
      }
      opts.onProgress?.(progress(events, dead));
    };

    const startFrom = opts.start.kind === 'earliest' ? { kind: 'earliest' as const } : { kind: 'timestamp' as const, timestampMs: opts.start.timestampMs };
    const pipeline = new ApplyPipeline({ config: cfg, applier, sink, consumerId: consumer, startFrom, stopWhenCaughtUp: true, kafka, onFlush });
    const abort = () => { void pipeline.stop(); };
    opts.signal?.addEventListener('abort', abort, { once: true });
    try {
      await pipeline.start();
      await pipeline.wait();
    } finally {
      opts.signal?.removeEventListener('abort', abort);
      // Also when it was caught up at start: release its Kafka connections (idempotent).
      await pipeline.stop();
    }
    if (opts.signal?.aborted) throw new FieldsyncError(`replay of ${opts.target} stopped before it caught up; run it again to continue where it stopped`);
    // Caught up: what is left of each partition is what arrived after the start.
    for (const r of remaining.values()) r.left = 0n;
    await handOver(sink, consumer, consumerIdentity(applier));
    const result: ReplayResult = { ...progress(events, dead), target: opts.target, consumer, installed, emptyTables: empty };
    log.info({ target: opts.target, events, deadLetters: dead, ms: result.elapsedMs }, 'replay caught up');
    opts.onCaughtUp?.(result);

    if (opts.follow && !opts.signal?.aborted) {
      const follower = new ApplyPipeline({ config: cfg, applier, sink, kafka });
      const stop = () => { void follower.stop(); };
      opts.signal?.addEventListener('abort', stop, { once: true });
      log.info({ target: opts.target, consumer: follower.consumerId }, 'following as the target\'s applier');
      await follower.start();
      await follower.wait();
    }
    return result;
  } finally {
    await admin.disconnect().catch(() => undefined);
    await sink.close().catch(() => undefined);
  }
}
