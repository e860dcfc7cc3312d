/**
 * A capture source that goes down: the service does not crash and does not spin. Polls fail,
 * are counted (fieldsync_capture_errors_total), logged with the source's name and retried
 * with backoff + jitter; the circuit breaker opens; /readyz reports the source not ready.
 * When the database is back the breaker closes and the changes made since are published.
 *
 * Runs against a PRIVATE PostgreSQL (test/support/private-db.ts): the shared servers are
 * never stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOutbox } from '../../lib/capture/install.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import { BREAKER_STATE, breakerState, captureErrors } from '../../lib/observability/metrics.js';
import { startCaptureService, type CaptureService } from '../../services/capture/service.js';
import { TopicCollector } from '../support/capture-harness.js';
import { topicName } from '../../lib/kafka/client.js';
import { stackConfig, uniqueName, waitFor } from '../support/helpers.js';
import { startPrivatePostgres, type PrivateDb } from '../support/private-db.js';

describe('capture source down and back (private PostgreSQL)', () => {
  let server: PrivateDb;
  let cfg: FieldsyncConfig;
  let service: CaptureService | undefined;
  let collector: TopicCollector | undefined;
  const table = uniqueName('down');

  beforeAll(async () => {
    server = await startPrivatePostgres({ databases: ['app'] });
    cfg = stackConfig({
      databases: { down: { dialect: 'postgres', url: server.url('app'), poolSize: 2 } },
      capture: [{ source: 'down', mode: 'outbox', pollIntervalMs: 50, tables: [{ name: table, snapshot: false }], breaker: { timeoutMs: 0, errorThresholdPercentage: 50, resetTimeoutMs: 1000, volumeThreshold: 2, retryMaxDelayMs: 2000 } }],
    });
    const db = openPostgres(server.url('app'));
    await db.execute(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
    await installOutbox(cfg, cfg.capture[0]!, db);
    await db.close();
  });

  afterAll(async () => {
    await service?.runtime.shutdown('test done');
    await collector?.stop();
    await server?.destroy();
  });

  const breaker = async () => (await breakerState.get()).values.find((v) => v.labels.service === 'capture' && v.labels.name === 'down')?.value;
  const errors = async () => (await captureErrors.get()).values.find((v) => v.labels.source === 'down')?.value ?? 0;

  it('retries behind the breaker while the database is down and resumes when it is back', async () => {
    const topic = topicName(cfg.kafka, 'down', table);
    collector = await TopicCollector.start(cfg, [topic]);
    service = await startCaptureService(cfg, { handleSignals: false, onStopped: () => undefined });
    const write = async (id: number) => {
      const db: Db = openPostgres(server.url('app'));
      try { await db.execute(`INSERT INTO ${table} VALUES ($1, 'x')`, [id]); } finally { await db.close(); }
    };
    await write(1);
    await collector.waitForCount(topic, 1);
    const readyz = async () => (await fetch(`http://127.0.0.1:${service!.runtime.port}/readyz`)).status;
    expect(await readyz()).toBe(200);

    const errorsBefore = await errors();
    await server.stop('immediate');
    await waitFor('the breaker to open', async () => (await breaker()) === BREAKER_STATE.open, 60_000);
    expect(await errors()).toBeGreaterThan(errorsBefore);
    expect(await readyz()).toBe(503);
    // backoff, not a busy loop: three more failed polls take a noticeable, growing time
    const e1 = await errors();
    const t1 = Date.now();
    await waitFor('three more failed polls', async () => (await errors()) >= e1 + 3, 60_000);
    expect(Date.now() - t1).toBeGreaterThan(500);

    await server.start();
    await write(2);
    await write(3);
    await collector.waitForCount(topic, 3, 90_000);
    await waitFor('the breaker to close', async () => (await breaker()) === BREAKER_STATE.closed, 60_000);
    expect(collector.of(topic).map((e) => e.event.key.id).sort()).toEqual([1, 2, 3]);
    expect(await readyz()).toBe(200);
  });
});
