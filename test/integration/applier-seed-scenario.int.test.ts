/**
 * THE SEED SCENARIO (seeds/000): billing is the bulk source (PostgreSQL with a trigger
 * outbox, standing in for SQL Server here), invoice is where people edit client details
 * (MariaDB), plus a PostgreSQL target. Capture and applier run as real processes.
 *
 *   T_ins  billing inserts clients 1 and 2 (both targets receive them)
 *   T1     an invoice user edits client 1's email directly in MariaDB (the local-edit
 *          trigger stamps the field's clock)
 *   T2     billing changes client 1's phone
 *   T0     billing replays an OLD email of client 1, stamped T0 with T_ins < T0 < T1
 *   →      invoice keeps its own email (T1 > T0) and takes billing's phone (T2);
 *          the PostgreSQL target, which never had the invoice edit, takes the replayed
 *          email (T0 > T_ins) and the phone.
 *   T3     billing deletes client 2; an update stamped before T3 arrives afterwards and
 *          must not bring the row back; a newer insert (T4) does.
 */
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latestTopicTable } from '../../lib/apply/routes.js';
import { installOutbox, openOutboxDb } from '../../lib/capture/install.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import { createKafka, topicName } from '../../lib/kafka/client.js';
import { createSink } from '../../lib/sink/index.js';
import type { Sink } from '../../lib/sink.js';
import { microsFromDate } from '../../lib/stamp.js';
import {
  EventPublisher, endOffsets, killAll, offsetsAtEnd, spawnFieldsync, waitForLog, waitWhileRunning, writeTempConfig, type ServiceProcess,
} from '../support/applier-harness.js';
import { stack, stackConfig, uniqueName } from '../support/helpers.js';

const procs: ServiceProcess[] = [];
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  await killAll(procs);
  for (const c of cleanup.reverse()) await Promise.resolve().then(c).catch(() => undefined);
});

describe('seed scenario: billing → invoice (MariaDB) and a PostgreSQL target', () => {
  const table = uniqueName('clients');
  const invoiceDb = uniqueName('invoice');
  let cfg: FieldsyncConfig;
  let billing: ReturnType<typeof openPostgres>;
  let invoice: ReturnType<typeof openMysql>;
  let pgTarget: ReturnType<typeof openPostgres>;
  let admin: Admin;

  beforeAll(async () => {
    const root = openMysql(stack.mysqlUrl());
    await root.execute(`CREATE DATABASE \`${invoiceDb}\` CHARACTER SET utf8mb4`);
    await root.close();
    cleanup.push(async () => {
      const r = openMysql(stack.mysqlUrl());
      await r.execute(`DROP DATABASE IF EXISTS \`${invoiceDb}\``);
      await r.close();
    });
    const prefix = uniqueName('t');
    cfg = stackConfig({
      kafka: { brokers: stack.kafkaBrokers, topicPrefix: prefix, partitions: 3, deadLetterTopic: `${prefix}.dead-letter` },
      databases: {
        billing: { dialect: 'postgres', url: stack.pgUrl('fieldsync_test2'), fieldsyncSchema: uniqueName('fsb') },
        invoice: { dialect: 'mysql', url: stack.mysqlUrl(invoiceDb) },
        reporting: { dialect: 'postgres', url: stack.pgUrl('fieldsync_test'), fieldsyncSchema: uniqueName('fsr') },
      },
      capture: [{ source: 'billing', mode: 'outbox', pollIntervalMs: 50, tables: [{ name: `public.${table}`, snapshot: true }] }],
      applier: [
        { target: 'invoice', groupId: uniqueName('g-invoice'), batchMaxWaitMs: 20, tables: [{ from: `billing.public.${table}`, into: table }] },
        { target: 'reporting', groupId: uniqueName('g-reporting'), batchMaxWaitMs: 20, tables: [{ from: `billing.public.${table}`, into: `public.${table}` }] },
      ],
      http: { host: '127.0.0.1', port: 0 },
    });
    billing = openPostgres(stack.pgUrl('fieldsync_test2'));
    invoice = openMysql(stack.mysqlUrl(invoiceDb));
    pgTarget = openPostgres(stack.pgUrl('fieldsync_test'));
    admin = createKafka(cfg.kafka, 'seed-test').admin();
    await admin.connect();
    cleanup.push(() => billing.close(), () => invoice.close(), () => pgTarget.close(), () => admin.disconnect());
  });

  it('keeps the invoice email, takes the billing phone, and a delete is not undone by an older update', async () => {
    await billing.execute(`CREATE TABLE public.${table} (id bigint PRIMARY KEY, email varchar(200), phone varchar(40))`);
    cleanup.push(() => billing.execute(`DROP TABLE IF EXISTS public.${table}`));
    await billing.execute(`INSERT INTO public.${table} VALUES (1, 'first@billing.example', '+1 111'), (2, 'two@billing.example', '+2 222')`);

    const outboxDb = openOutboxDb(cfg, cfg.capture[0]!);
    await installOutbox(cfg, cfg.capture[0]!, outboxDb);
    await outboxDb.close();
    const file = writeTempConfig(cfg);
    cleanup.push(file.remove);
    const capture = spawnFieldsync(['capture', '--config', file.path], { FIELDSYNC_LOG_LEVEL: 'info' });
    const applier = spawnFieldsync(['applier', '--config', file.path, '--install'], { FIELDSYNC_LOG_LEVEL: 'info' });
    procs.push(capture, applier);
    cleanup.push(() => pgTarget.execute(`DROP TABLE IF EXISTS public.${table}, public.${table}__fs_clock, public.${table}__fs_tomb`));

    const topic = topicName(cfg.kafka, 'billing', `public.${table}`);
    const sinks: Sink[] = [createSink(cfg, 'invoice'), createSink(cfg, 'reporting')];
    for (const s of sinks) { await s.connect(); cleanup.push(() => s.close()); }
    /** Both targets have applied everything published so far (capture must have published it). */
    const bothApplied = async (what: string) => {
      const ends = await endOffsets(admin, topic);
      for (const [i, s] of sinks.entries()) {
        await waitWhileRunning(applier, `${what} in ${s.target}`, async () => offsetsAtEnd(await s.storedOffsets(cfg.applier[i]!.groupId!), topic, ends), 60_000);
      }
    };
    const invoiceRow = async (id: number) => (await invoice.query(`SELECT email, phone FROM \`${table}\` WHERE id = ?`, [id]))[0];
    const pgRow = async (id: number) => (await pgTarget.query(`SELECT email, phone FROM public.${table} WHERE id = $1`, [id]))[0];

    // the snapshot reaches both targets: both rows, as the keys may sit on different
    // partitions, which each target applies in its own time
    const present = async (row: (id: number) => Promise<unknown>) => Boolean((await row(1).catch(() => undefined)) && (await row(2).catch(() => undefined)));
    await waitWhileRunning(applier, 'the snapshot in both targets', async () => (await present(invoiceRow)) && (await present(pgRow)), 90_000);
    expect(await invoiceRow(1)).toEqual({ email: 'first@billing.example', phone: '+1 111' });
    expect(await pgRow(1)).toEqual({ email: 'first@billing.example', phone: '+1 111' });

    // T1: an invoice user edits the email (a plain session: the local-edit trigger stamps it)
    const t1 = microsFromDate(new Date());
    await invoice.execute(`UPDATE \`${table}\` SET email = 'edited@invoice.example' WHERE id = 1`);
    // T2: billing changes the phone
    await billing.execute(`UPDATE public.${table} SET phone = '+1 999' WHERE id = 1`);
    await waitWhileRunning(capture, 'the phone change in the PostgreSQL target', async () => (await pgRow(1))?.phone === '+1 999', 60_000);

    // T0: billing replays an old email, older than the invoice edit
    const source = await latestTopicTable(cfg.registry.url, topic);
    expect(source).toBeDefined();
    const replay = new EventPublisher(cfg, topic, source!);
    await replay.connect();
    cleanup.push(() => replay.close());
    const t0 = t1 - 1000n;
    await replay.publish([{
      op: 'update', origin: 'billing', commitTimeMicros: t0, position: 'outbox:replayed', key: { id: 1n },
      after: { id: 1n, email: 'replayed@billing.example', phone: '+1 111' }, changed: ['email'],
    }]);
    await bothApplied('the replayed email');
    expect(await invoiceRow(1)).toEqual({ email: 'edited@invoice.example', phone: '+1 999' });
    expect(await pgRow(1)).toEqual({ email: 'replayed@billing.example', phone: '+1 999' });

    // T3: billing deletes client 2; an update stamped before the delete arrives afterwards
    const beforeDelete = microsFromDate(new Date()) - 1000n;
    await billing.execute(`DELETE FROM public.${table} WHERE id = 2`);
    await waitWhileRunning(capture, 'the delete in both targets', async () => !(await invoiceRow(2)) && !(await pgRow(2)), 60_000);
    await replay.publish([{
      op: 'update', origin: 'billing', commitTimeMicros: beforeDelete, position: 'outbox:late', key: { id: 2n },
      after: { id: 2n, email: 'late@billing.example', phone: '+2 000' }, changed: ['email', 'phone'],
    }]);
    await bothApplied('the late update');
    expect(await invoiceRow(2)).toBeUndefined();
    expect(await pgRow(2)).toBeUndefined();

    // T4: a newer insert re-creates the row
    await billing.execute(`INSERT INTO public.${table} VALUES (2, 'back@billing.example', '+2 444')`);
    await waitWhileRunning(capture, 'the re-insert in both targets', async () => (await invoiceRow(2)) && (await pgRow(2)), 60_000);
    expect(await invoiceRow(2)).toEqual({ email: 'back@billing.example', phone: '+2 444' });
    expect(await pgRow(2)).toEqual({ email: 'back@billing.example', phone: '+2 444' });
    // and the invoice edit still stands
    expect(await invoiceRow(1)).toEqual({ email: 'edited@invoice.example', phone: '+1 999' });

    for (const p of [capture, applier]) {
      await waitForLog(p, /consuming|listening/);
      p.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    }
  }, 240_000);
});
