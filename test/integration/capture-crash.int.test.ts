/**
 * Capture stop and publish failures (kill -9 is in capture-kill.int.test.ts):
 *
 *   - SIGTERM to the child process (`node bin/fieldsync.mjs capture --config <file>`): the batch in flight finishes, the checkpoint is stored, exit code 0, and a
 *     restart publishes only what is new (no duplicate at all);
 *   - publishing fails (the schema registry is unreachable): the checkpoint does not move,
 *     the failure is retried behind the circuit breaker, and once the registry is back
 *     every change is published.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOutbox, uninstallOutbox } from '../../lib/capture/install.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { BREAKER_STATE, breakerState, captureErrors } from '../../lib/observability/metrics.js';
import { startCaptureService } from '../../services/capture/service.js';
import { captureConfig, captureSource, exited, spawnFieldsync, topicOfTable, TopicCollector, writeConfigFile, type CaptureTestSource } from '../support/capture-harness.js';
import { uniqueName, waitFor } from '../support/helpers.js';

const BATCH = 2000;

describe('capture stop and publish failure (PostgreSQL outbox)', () => {
  let source: CaptureTestSource;
  let db: Db;
  const children: ReturnType<typeof spawnFieldsync>[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    source = await captureSource('pg');
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const f of cleanups.reverse()) await f().catch(() => undefined);
    if (db) {
      await db.execute(`DROP SCHEMA IF EXISTS "${source.isolation}" CASCADE`).catch(() => undefined);
      await db.close();
    }
  });

  async function setup(prefix: string, capture: Record<string, unknown> = {}, viaCli = false): Promise<{ cfg: FieldsyncConfig; table: string; topic: string; collector: TopicCollector }> {
    const table = uniqueName(prefix);
    const cfg = captureConfig(source, [{ name: table, snapshot: false }], { batchSize: BATCH, ...capture });
    db ??= openDb(cfg.databases.src!);
    await db.execute(`CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL)`);
    if (viaCli) {
      const install = spawnFieldsync(['capture', 'install', '--config', writeConfigFile(cfg)]);
      children.push(install);
      expect(await exited(install), install.output.join('')).toBe(0);
      expect(install.output.join('')).toContain(`src: outbox installed; triggers on ${table}`);
    } else {
      await installOutbox(cfg, cfg.capture[0]!, db);
    }
    const topic = topicOfTable(cfg, table);
    const collector = await TopicCollector.start(cfg, [topic]);
    cleanups.push(async () => {
      await collector.stop();
      await uninstallOutbox(cfg, cfg.capture[0]!, db, false);
      await db.execute(`DROP TABLE IF EXISTS ${table}`);
    });
    return { cfg, table, topic, collector };
  }

  const checkpoint = async () => {
    const rows = await db.query(`SELECT position FROM "${source.isolation}".capture_checkpoint WHERE stream = 'outbox'`);
    return rows[0] ? BigInt(String(rows[0].position)) : 0n;
  };

  it('SIGTERM stores the checkpoint and exits 0; a restart publishes only the new changes', async () => {
    const { cfg, table, topic, collector } = await setup('stop', {}, true);
    const file = writeConfigFile(cfg);
    const first = spawnFieldsync(['capture', '--config', file]);
    children.push(first);
    await db.execute(`INSERT INTO ${table} (id, v) SELECT g, 0 FROM generate_series(1, 500) g`);
    // a child process starts slowly on a loaded machine (tsx compiles the sources)
    await collector.waitForCount(topic, 500, 150_000).catch((e: unknown) => { throw new Error(`${String(e)}\nchild output:\n${first.output.join('')}`); });
    // stop while more changes keep arriving: the batch in flight completes, nothing is half-done
    const writing = db.execute(`UPDATE ${table} SET v = 1`);
    first.kill('SIGTERM');
    expect(await exited(first)).toBe(0);
    await writing;
    const second = spawnFieldsync(['capture', '--config', file]);
    children.push(second);
    await collector.waitForCount(topic, 1000, 150_000).catch((e: unknown) => { throw new Error(`${String(e)}\nchild output:\n${second.output.join('')}`); });
    await db.execute(`DELETE FROM ${table} WHERE id <= 10`);
    await collector.waitForCount(topic, 1010, 60_000);
    const positions = collector.of(topic).map((e) => e.event.position);
    expect(new Set(positions).size).toBe(positions.length); // no duplicate at all
    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
    // `capture uninstall` removes the trigger: later writes are not recorded
    const uninstall = spawnFieldsync(['capture', 'uninstall', '--config', file]);
    children.push(uninstall);
    expect(await exited(uninstall), uninstall.output.join('')).toBe(0);
    await db.execute(`INSERT INTO ${table} (id, v) VALUES (100000, 0)`);
    const [n] = await db.query(`SELECT count(*) AS n FROM "${source.isolation}".outbox WHERE table_name = $1 AND seq > $2`, [table, String(await checkpoint())]);
    expect(Number(n!.n)).toBe(0);
  });

  it('does not advance the checkpoint when publishing fails, retries behind the breaker, then publishes everything', async () => {
    const { cfg, table, topic, collector } = await setup('noack');
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
