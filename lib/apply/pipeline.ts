/**
 * ApplyPipeline: consumes one target's topics and merges them into the target through a
 * Sink, with the offsets stored in the same target transaction as the rows.
 *
 * Flow for every fetched batch (kafkajs eachBatch, one call per topic-partition, several
 * partitions concurrently, group commits advisory only):
 *
 *   1. Position: at every assignment (GROUP_JOIN) each assigned partition's next offset
 *      is read from the target (Sink.storedOffsets for this consumer identity; without
 *      one: earliest, or the first offset at a start timestamp) and the consumer seeks
 *      there. Every fetched batch is checked again (decideBatch: seek back, drop
 *      already-applied duplicates, or stop on a retention gap; offsets.ts), inside the run
 *      loop — not once at start — so rebalances and stale fetches are handled alike.
 *   2. Decode: Confluent-framed Avro through the registry (EventCodec: schemas by id,
 *      cached). An undecodable message becomes a dead letter, never a skipped message.
 *   3. Batch: messages of all partitions are gathered by the Batcher (count, time, or
 *      "every partition has delivered") into one flush.
 *   4. Flush (batch-applier.ts): prepare tables for new value schema ids (schema
 *      evolution; a table that cannot evolve is blocked: its partitions pause, the others go on), publish dead
 *      letters, then Sink.apply(events, offsets) behind the circuit breaker with backoff
 *      retries for transient failures. A DataError from the target is isolated by
 *      bisection: the bad messages are dead-lettered and the good ones are applied
 *      together with the offsets, which still move past the bad ones.
 *   5. After commit: metrics, the advisory group commit, and in "stop when caught up"
 *      mode a check against the end offsets seen at start.
 *
 * The pipeline can run under any consumer identity (the service uses
 * `fieldsync-applier-<target>`, replay its own) and from stored offsets or earliest /
 * a timestamp for partitions the target has never seen.
 */
import type { Admin, Batch, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { ApplierConfig, FieldsyncConfig } from '../config/schema.js';
import { EventCodec } from '../avro/codec.js';
import { DataError, FieldsyncError, errorMessage, isRetriable, wrap } from '../errors.js';
import { createKafka, ensureTopics } from '../kafka/client.js';
import { logger, type Logger } from '../log.js';
import { consumerLag, tableBlocked } from '../observability/metrics.js';
import { backoffDelay, retry } from '../retry.js';
import type { MergeOutcome, Sink } from '../sink.js';
import { BatchApplier, recordBatchMetrics, type AppliedBatch, type PendingMessage } from './batch-applier.js';
import { Batcher } from './batcher.js';
import { TargetBreaker, isBreakerOpenError } from './breaker.js';
import { DeadLetterPublisher } from './dead-letter.js';
import { decideBatch, tpKey, type StartFrom } from './offsets.js';
import { consumerIdentity, tableRoutes, type TableRoute } from './routes.js';

export interface ApplyPipelineOptions {
  config: FieldsyncConfig;
  applier: ApplierConfig;
  sink: Sink;
  /** Kafka group id and key of the offsets stored in the target; default `fieldsync-applier-<target>`. */
  consumerId?: string;
  /** Where a partition without a stored offset starts; default earliest. */
  startFrom?: StartFrom;
  /** Stop once every partition is applied up to the end offsets seen at start (replay). */
  stopWhenCaughtUp?: boolean;
  /** Only these configured `from` tables; default all of the applier entry. */
  tables?: string[];
  kafka?: Kafka;
  /** Called after every committed flush (progress displays). */
  onFlush?: (p: FlushReport) => void;
}

export interface FlushReport {
  events: number;
  deadLetters: number;
  durationMs: number;
  outcome: MergeOutcome;
  /** Remaining messages per topic-partition (end offset − next offset). */
  lag: { topic: string; partition: number; messages: bigint }[];
}

interface PartitionLag {
  high: bigint;
  /** Kafka timestamp (ms) of the oldest message seen but not yet applied. */
  oldestPendingMs?: number | undefined;
}

const MAX_CONCURRENT_PARTITIONS = 32;

export class ApplyPipeline {
  readonly target: string;
  readonly consumerId: string;
  private readonly log: Logger;
  private readonly routes: Map<string, TableRoute>;
  private readonly kafka: Kafka;
  private readonly codec: EventCodec;
  private readonly deadLetterPublisher: DeadLetterPublisher;
  private readonly breaker: TargetBreaker;
  private readonly batcher: Batcher<PendingMessage>;
  private readonly batchApplier: BatchApplier;
  private readonly abort = new AbortController();
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;

  /** Next offset in the target, per partition, valid for the current assignment. */
  private readonly positions = new Map<string, bigint>();
  /** Seeks back to the target's position per partition since its assignment. */
  private readonly sought = new Map<string, number>();
  /** Bumped at every assignment: work started for an older one is dropped. */
  private generation = 0;
  private storedCache: Promise<Map<string, bigint>> | undefined;
  /** Tables stopped because their schema cannot be applied, by topic. */
  private readonly blocked = new Map<string, FieldsyncError>();
  private readonly lag = new Map<string, PartitionLag>();
  private endOffsets: Map<string, bigint> | undefined;
  /** Stop-when-caught-up mode: each partition's position in the target at start. */
  private readonly startPositions = new Map<string, bigint>();
  private pausedForBreaker = false;
  private heartbeat: (() => Promise<void>) | undefined;
  private connected = false;
  private stopping = false;
  private fatal: unknown;
  private readonly done: Promise<void>;
  private settle!: { resolve: () => void; reject: (e: unknown) => void };
  private readonly startedAt = Date.now();

  constructor(private readonly opts: ApplyPipelineOptions) {
    this.target = opts.applier.target;
    this.consumerId = opts.consumerId ?? consumerIdentity(opts.applier);
    this.log = logger('applier', { target: this.target, consumer: this.consumerId });
    const routes = tableRoutes(opts.config, opts.applier).filter((r) => !opts.tables || opts.tables.includes(r.from));
    if (routes.length === 0) throw new FieldsyncError(`applier ${this.target}: no table selected`);
    this.routes = new Map(routes.map((r) => [r.topic, r]));
    this.kafka = opts.kafka ?? createKafka(opts.config.kafka, `applier-${this.target}`);
    this.codec = new EventCodec(opts.config.registry);
    this.deadLetterPublisher = new DeadLetterPublisher(this.kafka, opts.config.kafka);
    this.breaker = new TargetBreaker('applier', this.target, opts.applier.breaker, {
      onOpen: () => { this.log.warn('circuit breaker open: pausing consumption until the target answers again'); this.pauseAll(); },
      onHalfOpen: () => this.log.info('circuit breaker half-open: probing the target'),
      onClose: () => { this.log.info('circuit breaker closed: resuming consumption'); this.resumeAll(); },
    });
    this.batchApplier = new BatchApplier({
      target: this.target, consumerId: this.consumerId, sink: opts.sink, routes: this.routes, applier: opts.applier,
      registry: opts.config.registry, deadLetters: this.deadLetterPublisher, breaker: this.breaker, log: this.log, signal: this.abort.signal,
      isBlocked: (topic) => this.blocked.has(topic),
      block: (topic, error) => this.block(topic, error, this.blockAttempts.get(topic) ?? 0),
      onTransientFailure: (e) => {
        if (isBreakerOpenError(e)) this.pauseAll();
        void this.heartbeat?.().catch(() => undefined);
      },
    });
    this.batcher = new Batcher<PendingMessage>({
      maxItems: opts.applier.batchSize,
      maxWaitMs: opts.applier.batchMaxWaitMs,
      flush: (items) => this.flush(items),
    });
    this.done = new Promise<void>((resolve, reject) => { this.settle = { resolve, reject }; });
    this.done.catch(() => undefined); // observed through wait()
  }

  get topics(): string[] {
    return [...this.routes.keys()];
  }

  /** Connect, subscribe and start consuming; returns once the consumer runs. */
  async start(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.consumerId,
      sessionTimeout: this.opts.applier.sessionTimeoutMs,
      // how long a rebalance waits for members to rejoin: a member killed mid-join must not
      // hold the group for kafkajs' default minute (offsets live in the target anyway)
      rebalanceTimeout: Math.max(10_000, 2 * this.opts.applier.sessionTimeoutMs),
      heartbeatInterval: Math.max(500, Math.floor(this.opts.applier.sessionTimeoutMs / 10)),
      maxWaitTimeInMs: Math.max(10, this.opts.applier.batchMaxWaitMs),
      minBytes: 64 * 1024,
      // one fetch holds at most this much (kafkajs' default is 10 MiB): with a batch of a few
      // thousand small events, 4 MiB keeps the applier fed and its memory bounded
      maxBytes: 4 * 1024 * 1024,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // A new assignment: forget every position; each partition reloads it from the target.
      this.generation++;
      this.positions.clear();
      this.sought.clear();
      this.storedCache = undefined;
      this.log.info({ assignment: e.payload.memberAssignment }, 'partitions assigned');
      void this.seekAssigned(e.payload.memberAssignment, this.generation);
    });
    consumer.on(consumer.events.CONNECT, () => { this.connected = true; });
    consumer.on(consumer.events.DISCONNECT, () => { this.connected = false; });
    consumer.on(consumer.events.CRASH, (e) => {
      this.log.error({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed');
      if (!e.payload.restart) this.fail(wrap('the Kafka consumer stopped', e.payload.error));
    });
    this.admin = this.kafka.admin();
    await retry(async () => {
      await this.admin!.connect();
      await this.deadLetterPublisher.connect();
      await consumer.connect();
    }, { maxElapsedMs: 120_000, signal: this.abort.signal, retriable: (e) => isRetriable(e) || (e as { name?: string }).name?.startsWith('KafkaJS') === true });
    if (this.opts.stopWhenCaughtUp) {
      this.endOffsets = await this.readEndOffsets();
      if (await this.caughtUpWithStored()) {
        this.log.info('already caught up');
        await this.stop(); // releases the Kafka clients and resolves wait()
        return;
      }
    }
    // an applier may start before capture ever published: create the topics as capture would
    await retry(() => ensureTopics(this.admin!, this.opts.config.kafka, this.topics), { signal: this.abort.signal, maxElapsedMs: 60_000 });
    await consumer.subscribe({ topics: this.topics, fromBeginning: true });
    // prepare the tables of the topics' newest schemas while the group is being joined
    this.batchApplier.startWarmup();
    const partitions = this.topics.length * this.opts.config.kafka.partitions;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.min(MAX_CONCURRENT_PARTITIONS, Math.max(1, partitions)),
      eachBatch: (p) => this.handleBatch(p),
    });
    this.log.info({ topics: this.topics }, 'applier consuming');
  }

  /** Resolves when stopped cleanly (or caught up); rejects with the error that stopped it. */
  wait(): Promise<void> {
    return this.done;
  }

  /** Stop after the flush in flight; pending unflushed messages are re-read next time. */
  async stop(): Promise<void> {
    if (this.stopping) return this.done.catch(() => undefined);
    this.stopping = true;
    // no new attempts: the flush in flight finishes its current transaction, nothing more
    this.abort.abort(new FieldsyncError('applier stopping'));
    this.batcher.abort(new FieldsyncError('applier stopping'));
    // the flush in flight commits (rows and offsets) or fails as a whole before we go
    await this.batcher.idle().catch(() => undefined);
    try {
      await this.consumer?.stop();
      await this.consumer?.disconnect();
    } catch (e) {
      this.log.warn({ err: e }, 'error while disconnecting the consumer');
    }
    this.breaker.shutdown();
    await this.deadLetterPublisher.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    if (this.fatal) this.settle.reject(this.fatal);
    else this.settle.resolve();
  }

  isConnected(): boolean {
    return this.connected && !this.fatal;
  }

  get breakerState(): string {
    return this.breaker.state;
  }

  /** Blocked tables and why (schema that cannot be applied). */
  blockedTables(): { topic: string; table: string; error: string }[] {
    return [...this.blocked].map(([topic, e]) => ({ topic, table: this.routes.get(topic)?.label ?? topic, error: e.message }));
  }

  /**
   * How far behind the target is, in milliseconds: for every partition with messages not
   * yet applied, the age of the oldest of them (or the time since start when none was
   * fetched yet); 0 when every partition is at its end.
   */
  lagMs(now = Date.now()): number {
    let worst = 0;
    for (const [k, l] of this.lag) {
      const next = this.positions.get(k);
      if (next === undefined || next >= l.high) continue; // unknown until the partition's first batch
      worst = Math.max(worst, now - (l.oldestPendingMs ?? this.startedAt));
    }
    return worst;
  }

  // ---------------------------------------------------------------- consume

  private async handleBatch(p: EachBatchPayload): Promise<void> {
    const leave = this.batcher.enter();
    const { batch } = p;
    try {
      if (this.stopping || this.fatal || !p.isRunning() || p.isStale()) return;
      const route = this.routes.get(batch.topic);
      if (!route || this.blocked.has(batch.topic)) return;
      this.heartbeat = p.heartbeat;
      const k = tpKey(batch.topic, batch.partition);
      const expected = await this.startOffset(batch.topic, batch.partition);
      const offsets = batch.messages.map((m) => BigInt(m.offset));
      this.observeHighWatermark(batch, expected);
      let decision = decideBatch(expected, offsets, this.sought.get(k) ?? 0);
      if (decision.action === 'gap') {
        await this.checkRetentionGap(batch.topic, batch.partition, decision.expected, decision.firstOffset);
        decision = { action: 'apply', fromIndex: 0 };
      }
      if (decision.action === 'skip') {
        // kafkajs fetches from the resolved offset: move it past the duplicates
        p.resolveOffset(batch.lastOffset());
        return;
      }
      if (decision.action === 'seek') {
        // the fetch position is ahead of the target: go back to what the target has
        this.sought.set(k, (this.sought.get(k) ?? 0) + 1);
        this.consumer?.seek({ topic: batch.topic, partition: batch.partition, offset: decision.offset.toString() });
        return;
      }
      const messages = batch.messages.slice(decision.fromIndex);
      const size = this.opts.applier.batchSize;
      for (let i = 0; i < messages.length; i += size) {
        if (this.stopping || this.fatal || !p.isRunning() || p.isStale() || this.blocked.has(batch.topic)) return;
        const chunk = messages.slice(i, i + size);
        const lag = this.lag.get(k);
        if (lag && lag.oldestPendingMs === undefined) lag.oldestPendingMs = Number(chunk[0]!.timestamp);
        const pending = await Promise.all(chunk.map((m) => this.decode(route, batch.partition, m)));
        await this.batcher.submit(pending);
        // resolved only once in the target; a blocked table's messages stay unresolved and are fetched again
        if (this.blocked.has(batch.topic)) return;
        p.resolveOffset(chunk[chunk.length - 1]!.offset);
        await p.heartbeat().catch(() => undefined); // a rebalance in progress shows at the next fetch
      }
    } catch (e) {
      if (this.stopping) return;
      this.fail(e);
    } finally {
      leave();
    }
  }

  private async decode(route: TableRoute, partition: number, message: KafkaMessage): Promise<PendingMessage> {
    const msg: PendingMessage = { route, partition, offset: BigInt(message.offset), message };
    if (!message.value) {
      msg.decodeError = new DataError('message has no value');
      return msg;
    }
    const value = message.value;
    try {
      // schemas already fetched: decode at once, without a promise per message
      const known = this.codec.decodeKnown(message.key ?? null, value);
      if (known) {
        msg.decoded = known;
        return msg;
      }
      msg.decoded = await retry(() => this.codec.decode(message.key ?? null, value), { signal: this.abort.signal, maxDelayMs: 5000 });
    } catch (e) {
      // an undecodable message is dead-lettered; anything else (registry down for good) stops the pipeline
      if (e instanceof DataError) msg.decodeError = e;
      else throw wrap(`unable to decode ${route.topic}[${partition}]@${message.offset}`, e);
    }
    return msg;
  }

  /**
   * Right after an assignment, send every assigned partition to the target's position,
   * also those with nothing new to fetch: a group commit ahead of the target (e.g. a
   * target restored from a backup) would otherwise never deliver a batch to correct.
   * Partitions whose first batch already set their position are left alone.
   */
  private async seekAssigned(assignment: Record<string, number[]>, generation: number): Promise<void> {
    try {
      for (const [topic, partitions] of Object.entries(assignment)) {
        if (!this.routes.has(topic)) continue;
        for (const partition of partitions) {
          const k = tpKey(topic, partition);
          if (this.positions.has(k)) continue;
          const next = await this.startOffset(topic, partition);
          if (generation !== this.generation || this.stopping) return;
          // a batch of this partition got there first (sought it, or already applied past it)
          if ((this.sought.get(k) ?? 0) > 0 || this.positions.get(k) !== next) continue;
          this.sought.set(k, 1);
          this.consumer?.seek({ topic, partition, offset: next.toString() });
        }
      }
    } catch (e) {
      if (!this.stopping && generation === this.generation) this.fail(e);
    }
  }

  /** The target's next offset for a partition, loaded once per assignment. */
  private async startOffset(topic: string, partition: number): Promise<bigint> {
    const k = tpKey(topic, partition);
    const known = this.positions.get(k);
    if (known !== undefined) return known;
    this.storedCache ??= this.loadStoredOffsets();
    let stored: Map<string, bigint>;
    try {
      stored = await this.storedCache;
    } catch (e) {
      this.storedCache = undefined;
      throw e;
    }
    const fromTarget = stored.get(k);
    const next = fromTarget ?? await this.initialOffset(topic, partition);
    this.positions.set(k, next);
    this.log.info({ topic, partition, offset: next.toString(), from: fromTarget !== undefined ? 'target' : (this.opts.startFrom?.kind ?? 'earliest') }, 'partition position');
    return next;
  }

  private async loadStoredOffsets(): Promise<Map<string, bigint>> {
    const rows = await retry(() => this.opts.sink.storedOffsets(this.consumerId), { signal: this.abort.signal, maxElapsedMs: 300_000 })
      .catch((e: unknown) => { throw wrap(`unable to read the offsets stored in target ${this.target}`, e); });
    return new Map(rows.map((r) => [tpKey(r.topic, r.partition), BigInt(r.nextOffset)]));
  }

  /** Where a partition starts when the target has no offset for it. */
  private async initialOffset(topic: string, partition: number): Promise<bigint> {
    const admin = this.admin!;
    const start = this.opts.startFrom ?? { kind: 'earliest' };
    const watermarks = await retry(() => admin.fetchTopicOffsets(topic), { signal: this.abort.signal, maxElapsedMs: 60_000 });
    const wm = watermarks.find((w) => w.partition === partition);
    if (!wm) throw new FieldsyncError(`topic ${topic} has no partition ${partition}`);
    if (start.kind === 'earliest') return BigInt(wm.low);
    const byTime = await retry(() => admin.fetchTopicOffsetsByTimestamp(topic, start.timestampMs), { signal: this.abort.signal, maxElapsedMs: 60_000 });
    const at = byTime.find((w) => w.partition === partition);
    const off = at ? BigInt(at.offset) : -1n;
    return off < 0n ? BigInt(wm.high) : off;
  }

  private async checkRetentionGap(topic: string, partition: number, expected: bigint, first: bigint): Promise<void> {
    const wm = (await this.admin!.fetchTopicOffsets(topic)).find((w) => w.partition === partition);
    if (wm && BigInt(wm.low) > expected) {
      throw new FieldsyncError(
        `target ${this.target} continues ${topic}[${partition}] at offset ${expected}, but the topic now starts at ${wm.low}: ` +
        'the events in between were deleted by retention before they were applied; rebuild the target (reconcile or replay) instead of skipping them');
    }
    this.log.warn({ topic, partition, expected: expected.toString(), first: first.toString() }, 'offsets missing between the target position and the fetched batch (no data records)');
  }

  private observeHighWatermark(batch: Batch, expected: bigint): void {
    const k = tpKey(batch.topic, batch.partition);
    const high = BigInt(batch.highWatermark);
    const cur = this.lag.get(k);
    if (cur) cur.high = high;
    else this.lag.set(k, { high });
    consumerLag.set({ target: this.target, topic: batch.topic, partition: String(batch.partition) }, Number(high > expected ? high - expected : 0n));
  }

  // ---------------------------------------------------------------- flush

  private async flush(items: PendingMessage[]): Promise<void> {
    if (this.stopping || this.fatal) throw new FieldsyncError('applier stopping');
    const result = await this.batchApplier.apply(items, this.positions);
    if (result) await this.afterCommit(result);
  }

  private async afterCommit(r: AppliedBatch): Promise<void> {
    recordBatchMetrics(this.target, r);
    const lagReport: FlushReport['lag'] = [];
    for (const o of r.offsets) {
      const k = tpKey(o.topic, o.partition);
      const next = BigInt(o.nextOffset);
      this.positions.set(k, next);
      this.blockAttempts.delete(o.topic);
      const l = this.lag.get(k);
      if (l) {
        l.oldestPendingMs = undefined; // the next fetched message sets it again
        const remaining = l.high > next ? l.high - next : 0n;
        consumerLag.set({ target: this.target, topic: o.topic, partition: String(o.partition) }, Number(remaining));
        lagReport.push({ topic: o.topic, partition: o.partition, messages: remaining });
      }
    }
    // advisory only: tools see the group's progress; the target's offsets are the truth
    await this.consumer?.commitOffsets(r.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.nextOffset })))
      .catch((e: unknown) => this.log.debug({ err: errorMessage(e) }, 'advisory offset commit failed'));
    this.log.debug({ events: r.units.length, deadLetters: r.letters.length, durationMs: Math.round(r.durationMs) }, 'batch committed');
    this.opts.onFlush?.({ events: r.units.length, deadLetters: r.letters.length, durationMs: r.durationMs, outcome: r.outcome, lag: lagReport });
    if (this.endOffsets && this.caughtUp()) {
      this.log.info('caught up with the end offsets seen at start');
      setImmediate(() => { void this.stop(); });
    }
  }

  // ---------------------------------------------------------------- caught up (replay)

  private async readEndOffsets(): Promise<Map<string, bigint>> {
    const out = new Map<string, bigint>();
    for (const topic of this.topics) {
      const wms = await retry(() => this.admin!.fetchTopicOffsets(topic), { signal: this.abort.signal, maxElapsedMs: 60_000 });
      for (const w of wms) out.set(tpKey(topic, w.partition), BigInt(w.high));
    }
    return out;
  }

  /** At start: where each partition stands in the target, and whether all are at their end. */
  private async caughtUpWithStored(): Promise<boolean> {
    const stored = await this.loadStoredOffsets();
    let all = true;
    for (const [k, end] of this.endOffsets ?? []) {
      const [topic, p] = k.split('\u0000') as [string, string];
      const next = stored.get(k) ?? await this.initialOffset(topic, Number(p));
      this.startPositions.set(k, next);
      if (next < end) all = false;
    }
    return all;
  }

  private caughtUp(): boolean {
    for (const [k, end] of this.endOffsets ?? []) {
      const next = this.positions.get(k) ?? this.startPositions.get(k);
      if (end > 0n && (next === undefined || next < end)) return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- pause / block / fail

  private pauseAll(): void {
    if (this.pausedForBreaker || !this.consumer) return;
    this.pausedForBreaker = true;
    this.consumer.pause(this.topics.map((topic) => ({ topic })));
  }

  private resumeAll(): void {
    if (!this.pausedForBreaker || !this.consumer) return;
    this.pausedForBreaker = false;
    this.consumer.resume(this.topics.filter((t) => !this.blocked.has(t)).map((topic) => ({ topic })));
  }

  /**
   * Stop one table (its topic's partitions) with an error naming it; the others go on.
   * The table is re-checked with backoff: once its schema can be applied (a column was
   * added by hand, or the config changed) it resumes from the offsets in the target.
   */
  private block(topic: string, error: FieldsyncError, attempt: number): void {
    const route = this.routes.get(topic)!;
    this.blocked.set(topic, error);
    tableBlocked.set({ target: this.target, table: route.label }, 1);
    this.log.error({ topic, table: route.label, err: error.message }, `table ${route.label} stopped: ${error.message}`);
    this.consumer?.pause([{ topic }]);
    for (const k of [...this.positions.keys()]) if (k.startsWith(`${topic}\u0000`)) { this.positions.delete(k); this.sought.delete(k); }
    const delay = backoffDelay(attempt, 5_000, 300_000);
    const timer = setTimeout(() => {
      if (this.stopping) return;
      this.blocked.delete(topic);
      tableBlocked.set({ target: this.target, table: route.label }, 0);
      this.storedCache = undefined;
      this.batchApplier.forget(topic);
      this.blockAttempts.set(topic, attempt + 1);
      if (!this.pausedForBreaker) this.consumer?.resume([{ topic }]);
    }, delay);
    timer.unref();
  }

  private readonly blockAttempts = new Map<string, number>();

  private fail(e: unknown): void {
    if (this.fatal || this.stopping) return;
    this.fatal = e;
    this.log.error({ err: e }, `applier ${this.target} stopped: ${errorMessage(e)}`);
    setImmediate(() => { void this.stop(); });
  }
}
