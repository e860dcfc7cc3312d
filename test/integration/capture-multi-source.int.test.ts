/**
 * One capture process, several sources: a PostgreSQL and a MariaDB outbox captured by two
 * loops of the same service, each to its own topics, each with its own checkpoint; a
 * SIGTERM-style shutdown stops both after their batch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOutbox, uninstallOutbox } from '../../lib/capture/install.js';
import { parseConfig } from '../../lib/config/load.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { topicName } from '../../lib/kafka/client.js';
import { startCaptureService } from '../../services/capture/service.js';
import { captureSource, TopicCollector, type CaptureTestSource } from '../support/capture-harness.js';
import { stack, uniqueName } from '../support/helpers.js';

describe('one capture process with a PostgreSQL and a MariaDB source', () => {
  let pgSource: CaptureTestSource;
  let mySource: CaptureTestSource;
  let cfg: FieldsyncConfig;
  const dbs: Record<string, Db> = {};
  const t = uniqueName('multi');

  beforeAll(async () => {
    pgSource = await captureSource('pg');
    mySource = await captureSource('maria');
    cfg = parseConfig({
      kafka: { brokers: stack.kafkaBrokers, topicPrefix: uniqueName('t') },
      registry: { url: stack.registryUrl },
      databases: { billing: pgSource.database, invoice: mySource.database },
      capture: [
        { source: 'billing', mode: 'outbox', pollIntervalMs: 50, tables: [{ name: t, snapshot: false }] },
        { source: 'invoice', mode: 'outbox', pollIntervalMs: 50, tables: [{ name: t, snapshot: false }] },
      ],
      http: { host: '127.0.0.1', port: 0 },
    }, 'multi-source');
    for (const [i, name] of ['billing', 'invoice'].entries()) {
      const db = openDb(cfg.databases[name]!);
      dbs[name] = db;
      await db.execute(`CREATE TABLE ${t} (id int PRIMARY KEY, who varchar(20))`);
      await installOutbox(cfg, cfg.capture[i]!, db);
    }
  });

  afterAll(async () => {
    for (const [i, name] of ['billing', 'invoice'].entries()) {
      const db = dbs[name];
      if (!db) continue;
      await uninstallOutbox(cfg, cfg.capture[i]!, db, true).catch(() => undefined);
      await db.execute(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
      if (name === 'billing') await db.execute(`DROP SCHEMA IF EXISTS "${pgSource.isolation}" CASCADE`).catch(() => undefined);
      await db.close();
    }
    await mySource?.drop();
  });

  it('publishes both sources to their own topics with their own origins', async () => {
    const topics = { billing: topicName(cfg.kafka, 'billing', t), invoice: topicName(cfg.kafka, 'invoice', t) };
    const collector = await TopicCollector.start(cfg, Object.values(topics));
    const service = await startCaptureService(cfg, { handleSignals: false, onStopped: () => undefined });
    try {
      for (let id = 1; id <= 20; id++) {
        await dbs.billing!.execute(`INSERT INTO ${t} VALUES ($1, 'billing')`, [id]);
        await dbs.invoice!.execute(`INSERT INTO ${t} VALUES (?, 'invoice')`, [id]);
      }
      const b = await collector.waitForCount(topics.billing, 20);
      const i = await collector.waitForCount(topics.invoice, 20);
      expect(new Set(b.map((e) => e.event.after?.who))).toEqual(new Set(['billing']));
      expect(new Set(i.map((e) => e.event.after?.who))).toEqual(new Set(['invoice']));
      expect(new Set(b.map((e) => e.event.origin))).toEqual(new Set([pgSource.database.origin]));
      expect(new Set(i.map((e) => e.event.origin))).toEqual(new Set([mySource.database.origin]));
    } finally {
      await service.runtime.shutdown('test done');
      await collector.stop();
    }
    const [pgCp] = await dbs.billing!.query(`SELECT position FROM "${pgSource.isolation}".capture_checkpoint WHERE stream = 'outbox'`);
    const [myCp] = await dbs.invoice!.query(`SELECT position FROM fieldsync_capture_checkpoint WHERE stream = 'outbox'`);
    expect(Number(pgCp!.position)).toBeGreaterThanOrEqual(20);
    expect(Number(myCp!.position)).toBeGreaterThanOrEqual(20);
  });
});
