/**
 * The capture service: one loop per `capture[]` entry, all in one process, each reading
 * its source (trigger outbox, or SQL Server CDC) and publishing to Kafka.
 *
 * One loop turn (a "poll"): read a batch → encode it → publish it (resolves when Kafka
 * acknowledged every event) → ack it (the source stores its checkpoint) → metrics. A source
 * that reads ahead (the outbox) has its next batch read and encoded while the previous one
 * is being published (CaptureLoop.poll). An empty batch waits pollIntervalMs (abortable)
 * before the next poll: no busy loop.
 *
 * Failures: a poll runs behind the source's circuit breaker (opossum). A transient failure
 * (database or Kafka unreachable, deadlock, registry down) closes the source and is retried
 * with lib/retry.ts backoff + jitter, counted in fieldsync_capture_errors_total and logged
 * with the source's name; while the breaker is open polls fail at once and the backoff
 * keeps growing (no crash loop, no busy loop); the next successful poll closes it.
 * A non-retriable error (bad data, missing outbox, table without key) stops the service
 * with exit code 1: a change that cannot be published is never skipped.
 *
 * SIGTERM: the runtime aborts the signal; the poll in flight finishes (publish and
 * checkpoint included), the loop stops, the sources and the producer are closed, exit 0.
 */
import type { Kafka } from 'kafkajs';
import { isBreakerOpenError, TargetBreaker } from '../../lib/apply/breaker.js';
import { OutboxSource } from '../../lib/capture/outbox-source.js';
import { captureTopicOf, Publisher, type TopicOf } from '../../lib/capture/publisher.js';
import type { CaptureConfig, FieldsyncConfig } from '../../lib/config/schema.js';
import { ConfigError, errorMessage, isRetriable } from '../../lib/errors.js';
import { createKafka } from '../../lib/kafka/client.js';
import { logger } from '../../lib/log.js';
import { captureBatchDuration, captureBatchSize, captureErrors, eventsCaptured, snapshotRows, sourceLag } from '../../lib/observability/metrics.js';
import { kafkaClientConnected } from '../../lib/observability/readiness.js';
import { startServiceRuntime, type ServiceRuntime } from '../../lib/observability/runtime.js';
import { retry, sleep } from '../../lib/retry.js';
import type { TableChange } from '../../lib/event/change-event.js';
import type { ChangeSource } from '../../lib/source.js';

const log = logger('capture');
const LAG_INTERVAL_MS = 1000;

export interface CaptureServiceOptions {
  /** Install SIGTERM/SIGINT handlers (default true). */
  handleSignals?: boolean;
  /** Called when the service stopped; the default exits the process. */
  onStopped?: (exitCode: number) => void;
  /** Build a source for an entry (tests); the default picks by `mode`. */
  sourceFactory?: (cfg: FieldsyncConfig, capture: CaptureConfig) => Promise<ChangeSource>;
  /** Kafka client (tests); default from config. */
  kafka?: Kafka;
}

export interface CaptureService {
  runtime: ServiceRuntime;
  /** Resolves when every loop has ended. */
  loops: Promise<void>;
}

/** The source for one capture entry: outbox here; SQL Server CDC from lib/dialect/mssql. */
export async function createSource(cfg: FieldsyncConfig, capture: CaptureConfig): Promise<ChangeSource> {
  if (capture.mode === 'outbox') return new OutboxSource(cfg, capture);
  // loaded on demand: the SQL Server driver is only needed by CDC captures
  const { SqlServerCdcSource } = await import('../../lib/dialect/mssql/cdc-source.js');
  return new SqlServerCdcSource(cfg, capture);
}

function validate(cfg: FieldsyncConfig): void {
  if (cfg.capture.length === 0) throw new ConfigError('invalid config: capture: no capture entries to run');
  const seen = new Set<string>();
  cfg.capture.forEach((c, i) => {
    // one checkpoint stream per source database: two entries would race on it
    if (seen.has(c.source)) throw new ConfigError(`invalid config: capture[${i}].source: "${c.source}" is captured by two entries; list all its tables in one`);
    seen.add(c.source);
  });
}

export async function startCaptureService(cfg: FieldsyncConfig, opts: CaptureServiceOptions = {}): Promise<CaptureService> {
  validate(cfg);
  const runtime = await startServiceRuntime({
    service: 'capture',
    http: cfg.http,
    log,
    ...(opts.handleSignals !== undefined ? { handleSignals: opts.handleSignals } : {}),
    ...(opts.onStopped ? { onStopped: opts.onStopped } : {}),
  });
  const kafka = opts.kafka ?? createKafka(cfg.kafka, 'capture');
  const publisher = new Publisher(cfg, kafka);
  runtime.addReadinessCheck('kafka', kafkaClientConnected(publisher.kafkaProducer, 'kafka producer'));
  runtime.onShutdown('kafka producer', () => publisher.close());

  const loopRuns = cfg.capture.map(async (capture) => {
    const source = await (opts.sourceFactory ?? createSource)(cfg, capture);
    const loop = new CaptureLoop(cfg, capture, source, publisher, runtime);
    runtime.addReadinessCheck(`source ${capture.source}`, () => Promise.resolve(loop.notReadyReason()));
    await loop.run();
  });
  // registered last, so it runs first at shutdown: the loops finish their batch before anything closes
  const settled = Promise.allSettled(loopRuns).then(() => undefined);
  runtime.onShutdown('capture loops', () => settled);
  const loops = Promise.all(loopRuns).then(() => undefined, (e: unknown) => {
    // a loop failed with a non-retriable error: stop the other loops and exit 1
    log.error({ err: e }, `capture failed: ${errorMessage(e)}`);
    void runtime.shutdown(`capture failed: ${errorMessage(e)}`, 1);
  });
  return { runtime, loops };
}

class CaptureLoop {
  private readonly breaker: TargetBreaker;
  private readonly topicOf: TopicOf;
  private connected = false;
  private lastError: string | undefined = 'not connected yet';
  private lastLagMs = 0;
  /** Publish-and-ack of the batches handed over by poll(), chained in read order. */
  private inFlight: Promise<void> | undefined;

  constructor(cfg: FieldsyncConfig, private readonly capture: CaptureConfig, private readonly source: ChangeSource,
    private readonly publisher: Publisher, private readonly runtime: ServiceRuntime) {
    this.breaker = new TargetBreaker('capture', capture.source, capture.breaker, {
      onOpen: () => log.error({ source: capture.source }, `circuit breaker of capture source ${capture.source} opened`),
      onClose: () => log.info({ source: capture.source }, `circuit breaker of capture source ${capture.source} closed`),
    });
    this.topicOf = captureTopicOf(cfg, capture);
  }

  notReadyReason(): string | undefined {
    if (this.breaker.state !== 'closed') return `circuit breaker ${this.breaker.state}: ${this.lastError ?? ''}`;
    return this.connected ? undefined : this.lastError;
  }

  async run(): Promise<void> {
    const signal = this.runtime.signal;
    const name = this.capture.source;
    try {
      while (!signal.aborted) {
        let events: number;
        try {
          events = await retry(() => this.breaker.fire(() => this.poll()), {
            initialDelayMs: 200,
            maxDelayMs: this.capture.breaker.retryMaxDelayMs,
            signal,
            retriable: (e) => isRetriable(e) || isBreakerOpenError(e),
            onRetry: (e, attempt, delayMs) => {
              if (!isBreakerOpenError(e)) captureErrors.inc({ source: name });
              log.warn({ source: name, attempt, delayMs, err: e }, `capture source ${name} failed (retrying in ${delayMs} ms): ${errorMessage(e)}`);
            },
          });
        } catch (e) {
          if (signal.aborted) break;
          captureErrors.inc({ source: name });
          throw e;
        }
        if (events === 0 && !signal.aborted) await sleep(this.capture.pollIntervalMs, signal).catch(() => undefined);
      }
      // SIGTERM: the batch in flight is published and checkpointed before the source closes;
      // if that fails, it is simply read again after the restart
      await this.settle().catch((e: unknown) => log.warn({ source: name, err: e }, `the last batch of ${name} was not acknowledged at shutdown; it is read again on restart: ${errorMessage(e)}`));
    } finally {
      await this.inFlight?.catch(() => undefined);
      this.breaker.shutdown();
      await this.source.close().catch(() => undefined);
    }
  }

  /**
   * One poll; returns the number of events read.
   *
   * With a source that reads ahead (ChangeSource.readsAhead) the poll hands its batch to
   * the publishing chain and returns as soon as the previous batch is acknowledged, so the
   * next batch is read, decoded and encoded while this one waits for Kafka. The chain keeps
   * the rules: sends go out one after the other in read order, and a batch's ack (the
   * source checkpoint) runs only after Kafka acknowledged all of its events and after the
   * previous batch's ack. At most two batches are outstanding.
   */
  private async poll(): Promise<number> {
    try {
      if (!this.connected) {
        await this.publisher.connect();
        await this.source.connect();
        this.connected = true;
        this.lastError = undefined;
      }
      const started = performance.now();
      const batch = await this.source.readBatch();
      if (batch.changes.length === 0) {
        await this.settle();
        await batch.ack();
        await this.updateLag();
        return 0;
      }
      const encoded = await this.publisher.encode(batch.changes, this.topicOf, this.capture);
      // The chain below keeps only what it needs (the encoded messages, the ack, the counts),
      // not the decoded changes: those die young instead of surviving garbage collections
      // while the batch waits for Kafka (a fifth of the capture's CPU was the collector).
      const { ack } = batch;
      const counts = countByTableOp(batch.changes);
      const previous = this.inFlight;
      const current = (async () => {
        await previous;
        await this.publisher.send(encoded);
        // the checkpoint is stored only now: Kafka has acknowledged every event of the batch
        await ack();
        this.observe(counts, started);
      })();
      current.catch(() => undefined); // observed by the next poll (or settle) that awaits it
      this.inFlight = current;
      if (this.source.readsAhead) await previous;
      else await current;
      await this.updateLag();
      return batch.changes.length;
    } catch (e) {
      this.lastError = errorMessage(e);
      // start over from the stored checkpoint on the next attempt; a batch still in flight
      // finishes (or fails) first, so no ack can land after the source reconnected
      await this.inFlight?.catch(() => undefined);
      this.inFlight = undefined;
      this.connected = false;
      await this.source.close().catch(() => undefined);
      throw e;
    }
  }

  /** Wait until every batch handed to the publishing chain is acknowledged (or throw its error). */
  async settle(): Promise<void> {
    const pending = this.inFlight;
    if (!pending) return;
    await pending;
    if (this.inFlight === pending) this.inFlight = undefined;
  }

  private observe(counts: BatchCounts, started: number): void {
    const name = this.capture.source;
    captureBatchSize.observe({ source: name }, counts.events);
    captureBatchDuration.observe({ source: name }, (performance.now() - started) / 1000);
    for (const { table, op, n } of counts.byTableOp) {
      eventsCaptured.inc({ source: name, table, op }, n);
      if (op === 'snapshot' && this.source instanceof OutboxSource) snapshotRows.inc({ source: name, table }, n);
    }
  }

  private async updateLag(): Promise<void> {
    if (!this.source.lagSeconds || Date.now() - this.lastLagMs < LAG_INTERVAL_MS) return;
    this.lastLagMs = Date.now();
    const lag = await this.source.lagSeconds();
    if (lag !== undefined) sourceLag.set({ source: this.capture.source }, lag);
  }
}

interface BatchCounts { events: number; byTableOp: { table: string; op: string; n: number }[] }

/** Events of a batch by table and operation, for the metrics (grouped by table object: no string per event). */
function countByTableOp(changes: TableChange[]): BatchCounts {
  const byTable = new Map<TableChange['table'], Map<string, number>>();
  for (const c of changes) {
    let ops = byTable.get(c.table);
    if (!ops) { ops = new Map(); byTable.set(c.table, ops); }
    ops.set(c.event.op, (ops.get(c.event.op) ?? 0) + 1);
  }
  const byTableOp: BatchCounts['byTableOp'] = [];
  for (const [t, ops] of byTable) {
    const table = t.schema ? `${t.schema}.${t.name}` : t.name;
    for (const [op, n] of ops) byTableOp.push({ table, op, n });
  }
  return { events: changes.length, byTableOp };
}
