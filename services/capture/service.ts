/**
 * The capture service: one loop per `capture[]` entry, all in one process, each reading
 * its source (trigger outbox, or SQL Server CDC) and publishing to Kafka.
 *
 * One loop turn (a "poll"): read a batch → publish it (resolves when Kafka acknowledged
 * every event) → ack it (the source stores its checkpoint) → metrics. An empty batch waits
 * pollIntervalMs (abortable) before the next poll: no busy loop.
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
    } finally {
      this.breaker.shutdown();
      await this.source.close().catch(() => undefined);
    }
  }

  /** One poll; returns the number of events published. */
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
      await this.publisher.publish(batch.changes, this.topicOf, this.capture);
      // the checkpoint is stored only now: Kafka has acknowledged every event of the batch
      await batch.ack();
      const name = this.capture.source;
      if (batch.changes.length > 0) {
        captureBatchSize.observe({ source: name }, batch.changes.length);
        captureBatchDuration.observe({ source: name }, (performance.now() - started) / 1000);
        const counts = new Map<string, { table: string; op: string; n: number }>();
        for (const c of batch.changes) {
          const table = c.table.schema ? `${c.table.schema}.${c.table.name}` : c.table.name;
          const k = `${table}\u0000${c.event.op}`;
          const entry = counts.get(k) ?? { table, op: c.event.op, n: 0 };
          entry.n++;
          counts.set(k, entry);
        }
        for (const { table, op, n } of counts.values()) {
          eventsCaptured.inc({ source: name, table, op }, n);
          if (op === 'snapshot' && this.source instanceof OutboxSource) snapshotRows.inc({ source: name, table }, n);
        }
      }
      await this.updateLag();
      return batch.changes.length;
    } catch (e) {
      this.lastError = errorMessage(e);
      // start over from the stored checkpoint on the next attempt
      this.connected = false;
      await this.source.close().catch(() => undefined);
      throw e;
    }
  }

  private async updateLag(): Promise<void> {
    if (!this.source.lagSeconds || Date.now() - this.lastLagMs < LAG_INTERVAL_MS) return;
    this.lastLagMs = Date.now();
    const lag = await this.source.lagSeconds();
    if (lag !== undefined) sourceLag.set({ source: this.capture.source }, lag);
  }
}
