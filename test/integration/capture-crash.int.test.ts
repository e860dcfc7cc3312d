/**
 * Capture stop and publish failures (kill -9 is in capture-kill.int.test.ts):
 *
 *   - SIGTERM to the child process (`node bin/fieldsync.mjs capture --config <file>`): the batch in flight finishes, the checkpoint is stored, exit code 0, and a
 *     restart publishes only what is new (no duplicate at all);
 *   - publishing fails (the schema registry is unreachable): the checkpoint does not move,
 *     the failure is retried behind the circuit breaker, and once the registry is back
 *     every change is published.
 */
import { describe, expect, it } from 'vitest';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import { BREAKER_STATE, breakerState, captureErrors } from '../../lib/observability/metrics.js';
import { startCaptureService } from '../../services/capture/service.js';
import { exited, useOutboxCapture, writeConfigFile } from '../support/capture-harness.js';
import { waitFor } from '../support/helpers.js';

const BATCH = 2000;

describe('capture stop and publish failure (PostgreSQL outbox)', () => {
  const capture = useOutboxCapture('pg', BATCH);
  const checkpoint = capture.checkpoint;

  it('SIGTERM stores the checkpoint and exits 0; a restart publishes only the new changes', async () => {
    const { cfg, table, topic, collector, db } = await capture.setup('stop', {}, true);
    const file = writeConfigFile(cfg);
    const first = capture.spawn(['capture', '--config', file]);
    await db.execute(`INSERT INTO ${table} (id, v) SELECT g, 0 FROM generate_series(1, 500) g`);
    // a child process starts slowly on a loaded machine (tsx compiles the sources)
    await collector.waitForCount(topic, 500, 150_000).catch((e: unknown) => { throw new Error(`${String(e)}\nchild output:\n${first.output.join('')}`); });
    // stop while more changes keep arriving: the batch in flight completes, nothing is half-done
    const writing = db.execute(`UPDATE ${table} SET v = 1`);
    first.kill('SIGTERM');
    expect(await exited(first)).toBe(0);
    await writing;
    const second = capture.spawn(['capture', '--config', file]);
    await collector.waitForCount(topic, 1000, 150_000).catch((e: unknown) => { throw new Error(`${String(e)}\nchild output:\n${second.output.join('')}`); });
    await db.execute(`DELETE FROM ${table} WHERE id <= 10`);
    await collector.waitForCount(topic, 1010, 60_000);
    const positions = collector.of(topic).map((e) => e.event.position);
    expect(new Set(positions).size).toBe(positions.length); // no duplicate at all
    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
    // `capture uninstall` removes the trigger: later writes are not recorded
    const uninstall = capture.spawn(['capture', 'uninstall', '--config', file]);
    expect(await exited(uninstall), uninstall.output.join('')).toBe(0);
    await db.execute(`INSERT INTO ${table} (id, v) VALUES (100000, 0)`);
    const [n] = await db.query(`SELECT count(*) AS n FROM "${capture.source.isolation}".outbox WHERE table_name = $1 AND seq > $2`, [table, String(await checkpoint())]);
    expect(Number(n!.n)).toBe(0);
  });

  it('does not advance the checkpoint when publishing fails, retries behind the breaker, then publishes everything', async () => {
    const { cfg, table, topic, collector, db } = await capture.setup('noack');
    await db.execute(`INSERT INTO ${table} (id, v) SELECT g, 0 FROM generate_series(1, 100) g`);
    const before = await checkpoint();
    // the registry is unreachable: every publish fails before anything reaches Kafka
    const broken: FieldsyncConfig = { ...cfg, registry: { ...cfg.registry, url: 'http://127.0.0.1:9/apis/ccompat/v7' }, capture: [{ ...cfg.capture[0]!, breaker: { timeoutMs: 0, errorThresholdPercentage: 50, resetTimeoutMs: 500, volumeThreshold: 2, retryMaxDelayMs: 2000 } }] };
    const errorsBefore = (await captureErrors.get()).values.find((v) => v.labels.source === 'src')?.value ?? 0;
    const failing = await startCaptureService(broken, { handleSignals: false, onStopped: () => undefined });
    await waitFor('the breaker to open', async () => (await breakerState.get()).values.some((v) => v.labels.service === 'capture' && v.labels.name === 'src' && v.value === BREAKER_STATE.open), 30_000);
    const errorsAfter = (await captureErrors.get()).values.find((v) => v.labels.source === 'src')?.value ?? 0;
    expect(errorsAfter).toBeGreaterThan(errorsBefore);
    expect(await checkpoint()).toBe(before);
    await failing.runtime.shutdown('test: registry down');
    expect(await checkpoint()).toBe(before);
    expect(collector.of(topic)).toEqual([]);

    const healthy = await startCaptureService(cfg, { handleSignals: false, onStopped: () => undefined });
    await collector.waitForCount(topic, 100, 60_000);
    await waitFor('the checkpoint to advance', async () => (await checkpoint()) > before);
    await healthy.runtime.shutdown('test done');
    expect(new Set(collector.of(topic).map((e) => e.event.key.id)).size).toBe(100);
  });
});
