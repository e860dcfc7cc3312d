/**
 * A MariaDB killed in the middle of a DROP TRIGGER can leave the trigger's name file
 * (`<name>.TRN`) behind while its table's trigger file (`.TRG`) no longer lists it: no table
 * has the trigger (information_schema shows none), yet CREATE TRIGGER of that name fails
 * with "already exists". The chaos suite met it: SIGKILL of MariaDB while the swap dropped
 * the outgoing generation's triggers, and every later refresh failed to copy live's
 * triggers to the incoming table under that name.
 *
 * The test builds that state on a private MariaDB (its data directory is the test's own):
 * a copy of a real trigger's .TRN under a second name is exactly what the crash leaves, a
 * name file whose table does not list it. createTriggers (lib/dialect/mysql/swap.ts) must
 * then drop the orphan name and create the trigger, and must never drop a trigger that
 * really exists. The applier's reinstall of its stamp triggers and the capture's install of
 * its outbox triggers (MariaDB: CREATE OR REPLACE, which fails with "Trigger does not exist"
 * on such a name) must get past one too.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installOutbox } from '../../lib/capture/install.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { dropOrphanTriggerNames } from '../../lib/dialect/mysql/orphan-triggers.js';
import { mysqlTriggerBaseNames } from '../../lib/dialect/mysql/outbox-ddl.js';
import { stampTriggerBodies, stampTriggerName } from '../../lib/dialect/mysql/stamp-triggers.js';
import { createTriggers, triggersOf } from '../../lib/dialect/mysql/swap.js';
import { GENERATION_SUFFIX, triggerNameForms } from '../../lib/dialect/mysql/trigger-names.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openSession, type Session } from '../../lib/reconcile/session.js';
import { createSink } from '../../lib/sink/index.js';
import type { TableSchema } from '../../lib/types.js';
import { stackConfig } from '../support/helpers.js';
import { startPrivateMariadb, type PrivateDb } from '../support/private-db.js';

describe('MariaDB: a trigger name orphaned by a crash', () => {
  let maria: PrivateDb;
  let db: Db;
  let s: Session;
  const triggersNamed = async (name: string) =>
    (await s.query('SELECT EVENT_OBJECT_TABLE AS t FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?', [name])).map((r) => String(r.t));

  beforeAll(async () => {
    maria = await startPrivateMariadb({ databases: ['app'] });
    db = openMysql(maria.url('app'), { poolSize: 2 });
    s = await openSession(db);
    await s.execute('CREATE TABLE live_t (id INT PRIMARY KEY, v INT)');
    await s.execute('CREATE TABLE incoming_t (id INT PRIMARY KEY, v INT)');
    await s.execute('CREATE TABLE log_t (id INT)');
    await s.execute('CREATE TRIGGER live_t__fs_sti AFTER INSERT ON live_t FOR EACH ROW INSERT INTO log_t VALUES (NEW.id)');
  }, 120_000);

  afterAll(async () => {
    s?.release();
    await db?.close();
    await maria?.destroy();
  });

  it('is dropped and the trigger created; a trigger that exists is never dropped', async () => {
    // the crash's leftover: a name file for `live_t__fs_sti__fs_g` that no table lists
    const dir = join(maria.dataDir, 'app');
    expect(existsSync(join(dir, 'live_t__fs_sti.TRN'))).toBe(true);
    copyFileSync(join(dir, 'live_t__fs_sti.TRN'), join(dir, 'live_t__fs_sti__fs_g.TRN'));
    expect(await triggersNamed('live_t__fs_sti__fs_g')).toEqual([]);
    await expect(s.execute('CREATE TRIGGER live_t__fs_sti__fs_g AFTER INSERT ON incoming_t FOR EACH ROW INSERT INTO log_t VALUES (NEW.id)'))
      .rejects.toMatchObject({ errno: 1359 });

    // the swap's copy of live's trigger onto the incoming table, under its other name
    const [def] = await triggersOf(s, { schema: '', name: 'live_t' });
    expect(def?.name).toBe('live_t__fs_sti');
    await createTriggers(s, [def!], { schema: '', name: 'incoming_t' }, () => 'live_t__fs_sti__fs_g');
    expect(await triggersNamed('live_t__fs_sti__fs_g')).toEqual(['incoming_t']);
    await s.execute('INSERT INTO incoming_t VALUES (7, 1)');
    expect((await s.query('SELECT id FROM log_t')).map((r) => Number(r.id))).toEqual([7]);

    // a name a table really holds: the CREATE fails as before and that trigger stays
    await expect(createTriggers(s, [def!], { schema: '', name: 'incoming_t' }, () => 'live_t__fs_sti')).rejects.toMatchObject({ errno: 1359 });
    expect(await triggersNamed('live_t__fs_sti')).toEqual(['live_t']);
    expect(await triggersNamed('live_t__fs_sti__fs_g')).toEqual(['incoming_t']);
    // the installers' helper leaves names any table holds, whichever table it is
    expect(await dropOrphanTriggerNames(s, '', ['live_t__fs_sti', 'live_t__fs_sti__fs_g'])).toEqual([]);
    expect(await triggersNamed('live_t__fs_sti')).toEqual(['live_t']);
    expect(await triggersNamed('live_t__fs_sti__fs_g')).toEqual(['incoming_t']);
  });
  it("does not stop the applier's reinstall of its stamp triggers", async () => {
    const cfg = stackConfig({ databases: { maria: { dialect: 'mysql', url: maria.url('app') } } });
    const source: TableSchema = {
      schema: 'src', name: 'clients', key: ['id'],
      columns: [{ name: 'id', type: { kind: 'int', bits: 64 }, nullable: false }, { name: 'v', type: { kind: 'int', bits: 32 }, nullable: true }],
    };
    const into = { schema: '', name: 'clients' };
    const first = createSink(cfg, 'maria', { poolSize: 1 });
    await first.connect();
    await first.install();
    const full = await first.prepareTable(source, into, { autoEvolve: false, createTable: true });
    await first.close();
    const base = stampTriggerName(full, 'insert');
    const dir = join(maria.dataDir, 'app');
    expect(await triggersNamed(base)).toEqual(['clients']);

    // what a swap and a crash leave: live holds the insert trigger under its other name
    // (with an outdated body, so the applier reinstalls), and the base name is an orphan
    const trn = readFileSync(join(dir, `${base}.TRN`));
    await s.execute(`CREATE TRIGGER \`${base}${GENERATION_SUFFIX}\` AFTER INSERT ON clients FOR EACH ROW SET @outdated = 1`);
    await s.execute(`DROP TRIGGER \`${base}\``);
    writeFileSync(join(dir, `${base}.TRN`), trn);
    expect(await triggersNamed(base)).toEqual([]);
    await expect(s.execute(`CREATE OR REPLACE TRIGGER \`${base}\` AFTER INSERT ON clients FOR EACH ROW SET @x = 1`)).rejects.toMatchObject({ errno: 1360 });

    const second = createSink(cfg, 'maria', { poolSize: 1 });
    await second.connect();
    try {
      await second.prepareTable(source, into, { autoEvolve: false, createTable: true });
    } finally {
      await second.close();
    }
    expect(await triggersNamed(base)).toEqual(['clients']);
    expect(await triggersNamed(`${base}${GENERATION_SUFFIX}`)).toEqual([]);
    const [def] = (await triggersOf(s, { schema: '', name: 'clients' })).filter((t) => t.name === base);
    expect(def?.statement).toBe(stampTriggerBodies(full, 'maria').insert);
  });
  it("does not stop the capture's install of its outbox triggers", async () => {
    await s.execute('CREATE TABLE orders (id INT PRIMARY KEY, v INT)');
    const cfg = stackConfig({
      databases: { src: { dialect: 'mysql', url: maria.url('app') } },
      capture: [{ source: 'src', mode: 'outbox', tables: [{ name: 'orders', snapshot: false }] }],
    });
    await installOutbox(cfg, cfg.capture[0]!, db);
    const [base] = mysqlTriggerBaseNames('orders');
    const alternate = triggerNameForms(base!)[1]!;
    expect(await triggersNamed(base!)).toEqual(['orders']);

    // live holds the insert trigger under its other name (outdated body); the base name is an orphan
    const dir = join(maria.dataDir, 'app');
    const trn = readFileSync(join(dir, `${base}.TRN`));
    await s.execute(`CREATE TRIGGER \`${alternate}\` AFTER INSERT ON orders FOR EACH ROW SET @outdated = 1`);
    await s.execute(`DROP TRIGGER \`${base}\``);
    writeFileSync(join(dir, `${base}.TRN`), trn);
    expect(await triggersNamed(base!)).toEqual([]);

    await installOutbox(cfg, cfg.capture[0]!, db);
    expect(await triggersNamed(base!)).toEqual(['orders']);
    expect(await triggersNamed(alternate)).toEqual([]);
    await s.execute('INSERT INTO orders VALUES (1, 1)');
    expect((await s.query("SELECT table_name AS t, op FROM fieldsync_outbox WHERE table_name = 'orders'")).map((r) => `${String(r.t)} ${String(r.op)}`)).toEqual(['orders I']);
  });
});
