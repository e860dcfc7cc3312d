/**
 * The target side of the applier: turns one flush of fetched messages into one target
 * transaction (rows, clocks and offsets together), for ApplyPipeline.
 *
 *   1. Tables: a value schema id not seen before prepares its table (Sink.prepareTable:
 *      schema evolution adds a new nullable column when autoEvolve is on). A table that
 *      cannot take its new schema is handed back to the pipeline to block: its messages
 *      are left out of this flush and its offsets do not move.
 *   2. Dead letters: undecodable messages are published to the dead-letter topic BEFORE
 *      the transaction that moves their partition's offset past them.
 *   3. Merge: Sink.apply behind the circuit breaker, transient failures retried with
 *      backoff (the same batch, never skipped). A DataError means one or more messages
 *      can never be applied: they are found by bisection (isolate.ts), dead-lettered, and
 *      the good messages are applied again (idempotent) together with all the offsets.
 */
import type { KafkaMessage } from 'kafkajs';
import type { DecodedEvent } from '../avro/codec.js';
import type { ApplierConfig, RegistryConfig } from '../config/schema.js';
import { DataError, FieldsyncError, errorMessage, isRetriable, wrap } from '../errors.js';
import type { ChangeEvent, ChangeOp } from '../event/change-event.js';
import type { Logger } from '../log.js';
import {
  applyBatchDuration, applyBatchSize, applyRetries, deadLetters, endToEndLag, eventsApplied, lastAppliedTime, mergeFields,
} from '../observability/metrics.js';
import { retry } from '../retry.js';
import type { MergeOutcome, Sink, SinkTableBatch, TopicOffset } from '../sink.js';
import type { TableSchema } from '../types.js';
import { isBreakerOpenError, type TargetBreaker } from './breaker.js';
import type { DeadLetter, DeadLetterPublisher } from './dead-letter.js';
import { isolateDataErrors } from './isolate.js';
import { nextOffsets } from './offsets.js';
import { latestTopicSchema, type TableRoute } from './routes.js';

/** One fetched message on its way to the target. */
export interface PendingMessage {
  route: TableRoute;
  partition: number;
  offset: bigint;
  message: KafkaMessage;
  decoded?: DecodedEvent;
  decodeError?: DataError;
}

/** A decoded message with the target table it merges into. */
export interface ApplyUnit {
  msg: PendingMessage;
  event: ChangeEvent;
  table: TableSchema;
}

/** What one committed flush did. */
export interface AppliedBatch {
  units: ApplyUnit[];
  letters: DeadLetter[];
  offsets: TopicOffset[];
  outcome: MergeOutcome;
  durationMs: number;
}

export interface BatchApplierOptions {
  target: string;
  consumerId: string;
  sink: Sink;
  routes: ReadonlyMap<string, TableRoute>;
  applier: ApplierConfig;
  registry: RegistryConfig;
  deadLetters: DeadLetterPublisher;
  breaker: TargetBreaker;
  log: Logger;
  signal: AbortSignal;
  /** The pipeline's blocked tables (by topic). */
  isBlocked: (topic: string) => boolean;
  /** Stop a table whose schema cannot be applied (the pipeline pauses its partitions). */
  block: (topic: string, error: FieldsyncError) => void;
  /** Called before each retry of a transient failure (pause on an open breaker, heartbeat). */
  onTransientFailure: (e: unknown) => void;
}

export class BatchApplier {
  /** Target table per topic and value schema id, as prepareTable returned it. */
  private readonly prepared = new Map<string, Map<number, TableSchema>>();
  private warmup: Promise<void> = Promise.resolve();

  constructor(private readonly o: BatchApplierOptions) {}

  /**
   * Start-up: prepare each table for its topic's newest registered schema, so the first
   * batch does not wait for the DDL checks. Best effort: a failure here is only logged,
   * the first batch with that schema prepares (or blocks) the table the normal way.
   */
  startWarmup(): void {
    const reg = this.o.registry;
    const auth = reg.username ? { username: reg.username, password: reg.password ?? '' } : undefined;
    this.warmup = Promise.all([...this.o.routes.values()].map(async (route) => {
      try {
        const newest = await latestTopicSchema(reg.url, route.topic, auth);
        if (!newest) return;
        const table = await this.o.sink.prepareTable(newest.table, route.into, { autoEvolve: route.config.autoEvolve, createTable: route.config.createTable });
        this.known(route.topic).set(newest.id, table);
      } catch (e) {
        this.o.log.debug({ topic: route.topic, err: errorMessage(e) }, 'table not prepared at start-up; the first batch prepares it');
      }
    })).then(() => undefined);
  }

  /** Forget a topic's prepared tables (it is checked again when it resumes). */
  forget(topic: string): void {
    this.prepared.get(topic)?.clear();
  }

  /**
   * Apply one flush. `positions` are the partitions' next offsets in the target: stored
   * offsets never move backwards. Returns undefined when nothing could be flushed (every
   * message belongs to a blocked table).
   */
  async apply(items: PendingMessage[], positions: ReadonlyMap<string, bigint>): Promise<AppliedBatch | undefined> {
    const started = performance.now();
    const letters: DeadLetter[] = [];
    const units: ApplyUnit[] = [];
    const flushed: PendingMessage[] = [];
    const byTopic = new Map<string, PendingMessage[]>();
    for (const it of items) {
      const list = byTopic.get(it.route.topic);
      if (list) list.push(it);
      else byTopic.set(it.route.topic, [it]);
    }
    for (const [topic, list] of byTopic) {
      // a blocked table's messages are not applied and its offsets do not move
      if (this.o.isBlocked(topic)) continue;
      const latest = await this.prepareTopic(topic, list);
      if (!latest) continue;
      for (const it of list) {
        flushed.push(it);
        if (it.decodeError || !it.decoded) {
          letters.push(this.letter(it, 'decode', it.decodeError ?? new DataError('message could not be decoded')));
          continue;
        }
        units.push({ msg: it, event: it.decoded.event, table: latest });
      }
    }
    if (flushed.length === 0) return undefined;
    const next = nextOffsets(flushed.map((f) => ({ topic: f.route.topic, partition: f.partition, offset: f.offset })), positions);
    const offsets: TopicOffset[] = [...next.values()].map((x) => ({ topic: x.topic, partition: x.partition, nextOffset: x.nextOffset.toString() }));
    // dead letters are durable in Kafka before the offsets move past them
    await this.o.deadLetters.publish(letters, this.o.signal);
    try {
      const outcome = await this.applyGuarded(units, offsets);
      return { units, letters, offsets, outcome, durationMs: performance.now() - started };
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      this.o.log.warn({ err: errorMessage(e), events: units.length }, 'batch refused for a data reason: isolating the bad message(s)');
      const { good, bad } = await isolateDataErrors(units, async (subset) => { await this.applyGuarded(subset, []); });
      const badLetters = bad.map((b) => this.letter(b.item.msg, 'apply', b.error));
      await this.o.deadLetters.publish(badLetters, this.o.signal);
      letters.push(...badLetters);
      // the good rows again (idempotent) with the offsets, in one transaction
      const outcome = await this.applyGuarded(good, offsets);
      return { units: good, letters, offsets, outcome, durationMs: performance.now() - started };
    }
  }

  private known(topic: string): Map<number, TableSchema> {
    let m = this.prepared.get(topic);
    if (!m) { m = new Map(); this.prepared.set(topic, m); }
    return m;
  }

  /**
   * Prepare the target table for every value schema id of this topic not seen before.
   * Returns the table to merge into, or undefined when the topic got blocked.
   */
  private async prepareTopic(topic: string, list: PendingMessage[]): Promise<TableSchema | undefined> {
    await this.warmup; // never two DDL checks of one table at once
    const route = this.o.routes.get(topic)!;
    const known = this.known(topic);
    let latest: TableSchema | undefined;
    let latestId = -1;
    for (const it of list) {
      const d = it.decoded;
      if (!d) continue;
      let table = known.get(d.valueSchemaId);
      if (!table) {
        try {
          table = await retry(() => this.o.sink.prepareTable(d.table, route.into, { autoEvolve: route.config.autoEvolve, createTable: route.config.createTable }), { signal: this.o.signal, maxElapsedMs: 300_000 });
        } catch (e) {
          if (isRetriable(e) || this.o.signal.aborted) throw e;
          this.o.block(topic, e instanceof FieldsyncError ? e : wrap(`unable to prepare table ${route.label}`, e));
          return undefined;
        }
        known.set(d.valueSchemaId, table);
        this.o.log.info({ topic, schemaId: d.valueSchemaId, columns: table.columns.map((c) => c.name) }, 'target table prepared');
      }
      // the newest schema (highest id) has every column the older ones have
      if (d.valueSchemaId > latestId) { latestId = d.valueSchemaId; latest = table; }
    }
    // only undecodable messages: no table is needed, any will do
    return latest ?? [...known.values()].at(-1) ?? { schema: route.into.schema, name: route.into.name, columns: [], key: [] };
  }

  /** Merge behind the breaker; transient failures and an open breaker are retried with backoff. */
  private async applyGuarded(units: ApplyUnit[], offsets: TopicOffset[]): Promise<MergeOutcome> {
    const batches = toSinkBatches(units);
    return retry(() => this.o.breaker.fire(() => this.o.sink.apply(this.o.consumerId, batches, offsets)), {
      signal: this.o.signal,
      initialDelayMs: 200,
      maxDelayMs: Math.max(1000, this.o.applier.breaker.resetTimeoutMs),
      retriable: (e) => !(e instanceof DataError) && (isRetriable(e) || isBreakerOpenError(e)),
      onRetry: (e, attempt, delayMs) => {
        applyRetries.inc({ target: this.o.target });
        this.o.log.warn({ err: errorMessage(e), attempt, delayMs, breaker: this.o.breaker.state }, 'apply failed transiently; retrying the same batch');
        this.o.onTransientFailure(e);
      },
    });
  }

  private letter(it: PendingMessage, kind: DeadLetter['kind'], error: unknown): DeadLetter {
    return {
      kind, error, target: this.o.target, table: it.route.label, topic: it.route.topic, partition: it.partition, offset: it.offset,
      key: it.message.key ?? null, value: it.message.value ?? null,
    };
  }
}

/** One SinkTableBatch per topic (a topic is one source table merged into one target table). */
export function toSinkBatches(units: ApplyUnit[]): SinkTableBatch[] {
  const byTopic = new Map<string, SinkTableBatch>();
  for (const u of units) {
    const b = byTopic.get(u.msg.route.topic);
    if (b) b.events.push(u.event);
    else byTopic.set(u.msg.route.topic, { table: u.table, events: [u.event] });
  }
  return [...byTopic.values()];
}

/** The applier metrics of one committed batch (labels: target, table, op, outcome, reason). */
export function recordBatchMetrics(target: string, r: AppliedBatch, now = Date.now()): void {
  const labels = { target };
  applyBatchSize.observe(labels, r.units.length);
  applyBatchDuration.observe(labels, r.durationMs / 1000);
  lastAppliedTime.set(labels, now / 1000);
  // Per event only the lag histogram's observe (prom-client has no bulk form; it hashes the
  // label object on every call, a child from labels() included): the event counts are added
  // once per table and operation, and each table's label object is made once.
  const tables = new Map<string, { labels: { target: string; table: string }; ops: Map<ChangeOp, number> }>();
  for (const u of r.units) {
    const table = u.msg.route.label;
    let t = tables.get(table);
    if (!t) tables.set(table, (t = { labels: { target, table }, ops: new Map() }));
    t.ops.set(u.event.op, (t.ops.get(u.event.op) ?? 0) + 1);
    // micros since the epoch stay below 2^53 until the year 2255: Number() is exact, no BigInt division
    endToEndLag.observe(t.labels, Math.max(0, now - Number(u.event.commitTimeMicros) / 1000) / 1000);
  }
  for (const [table, t] of tables) for (const [op, n] of t.ops) eventsApplied.inc({ target, table, op }, n);
  // MergeOutcome is per batch: attributed to its table, or to "all" for a mixed batch
  const table = tables.size === 1 ? [...tables.keys()][0]! : 'all';
  if (r.outcome.fieldsTaken) mergeFields.inc({ target, table, outcome: 'taken' }, r.outcome.fieldsTaken);
  if (r.outcome.fieldsKept) mergeFields.inc({ target, table, outcome: 'kept' }, r.outcome.fieldsKept);
  for (const dl of r.letters) deadLetters.inc({ target, table: dl.table, reason: dl.kind });
}
