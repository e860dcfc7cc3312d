// The refresh suite (reconcile-suite.ts) with a MariaDB target, and the outgoing foreign
// keys of a MariaDB live table through refresh, rollback and interrupted swaps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { foreignKeysOf, moveForeignKeys, writeForeignKeyRecord } from '../../lib/dialect/mysql/foreign-keys.js';
import { mysqlInstallOutboxSql, mysqlInstallTriggerSql, mysqlOutboxTable } from '../../lib/dialect/mysql/outbox-ddl.js';
import { stampTriggerSqls } from '../../lib/dialect/mysql/stamp-triggers.js';
import { createTriggers, precreateTriggers, triggersOf } from '../../lib/dialect/mysql/swap.js';
import { otherGenerationName } from '../../lib/dialect/mysql/trigger-names.js';
import { logger } from '../../lib/log.js';
import { backupGeneration, foreignKeyRecord, liveGeneration, stageGeneration } from '../../lib/reconcile/names.js';
import type { TableName } from '../../lib/reconcile/names.js';
import { refreshTable } from '../../lib/reconcile/refresh.js';
import { rollbackTable } from '../../lib/reconcile/rollback.js';
import { fieldsyncTriggerBases, listBackups, swapGenerations } from '../../lib/reconcile/generations.js';
import { openSession, withSession } from '../../lib/reconcile/session.js';
import { createSink } from '../../lib/sink/index.js';
import { uniqueName } from '../support/helpers.js';
import { createScenario, foreignKeySnapshot, indexSnapshot, tablesLike, triggerSnapshot } from './reconcile-fixture.js';
import type { Scenario } from './reconcile-fixture.js';
import { defineRefreshSuite } from './reconcile-suite.js';

defineRefreshSuite('mysql');

describe('reconcile into MariaDB keeps the live table\'s outgoing foreign keys', () => {
  const ROWS = 3000;
  let s: Scenario;
  let parent: string;
  let into: TableName;
  let fks: string[];
  let indexes: string[];
  const q = (id: string) => s.target.dialect.quote(id);

  /** The live table has the same FKs and indexes as at the start, and no FK record is left. */
  async function expectDefinitionKept(): Promise<void> {
    expect(await foreignKeySnapshot(s.target, s.targetTable)).toEqual(fks);
    expect(await indexSnapshot(s.target, s.targetTable)).toEqual(indexes);
    expect(await tablesLike(s.target, 'mysql', foreignKeyRecord(into).name)).toEqual([]);
  }

  /** Writes violating each FK fail; a valid one passes. */
  async function expectEnforced(): Promise<void> {
    const t = q(s.targetTable);
    await expect(s.targetUser.execute(`INSERT INTO ${t} (id, name, balance, updated_at, region) VALUES (?, 'orphan', 1, NOW(6), 42)`, [ROWS * 10]))
      .rejects.toThrow(/foreign key constraint fails/);
    await expect(s.targetUser.execute(`UPDATE ${t} SET segment = 99 WHERE id = 1`)).rejects.toThrow(/foreign key constraint fails/);
    await expect(s.targetUser.execute(`UPDATE ${t} SET parent_row = ? WHERE id = 1`, [ROWS * 10])).rejects.toThrow(/foreign key constraint fails/);
  }

  beforeAll(async () => {
    s = await createScenario('mysql', ROWS);
    into = { schema: '', name: s.targetTable };
    parent = uniqueName('rc_par');
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    const t = q(s.targetTable);
    await s.target.execute(`CREATE TABLE ${q(parent)} (id INT PRIMARY KEY, label VARCHAR(20) NULL)`);
    await s.target.execute(`INSERT INTO ${q(parent)} (id) VALUES (1), (2), (3)`);
    await s.target.execute(`ALTER TABLE ${t} ADD COLUMN segment INT NULL, ADD COLUMN region INT NULL, ADD COLUMN parent_row BIGINT NULL`);
    // named, with non-default rules; unnamed (InnoDB names it T_ibfk_1 and its index after
    // the column); a self-reference
    await s.target.execute(`ALTER TABLE ${t} ADD CONSTRAINT ${q(`${s.targetTable}_seg`)} FOREIGN KEY (segment) REFERENCES ${q(parent)} (id) ON DELETE CASCADE ON UPDATE CASCADE`);
    await s.target.execute(`ALTER TABLE ${t} ADD FOREIGN KEY (region) REFERENCES ${q(parent)} (id) ON DELETE SET NULL`);
    await s.target.execute(`ALTER TABLE ${t} ADD CONSTRAINT ${q(`${s.targetTable}_up`)} FOREIGN KEY (parent_row) REFERENCES ${t} (id)`);
    const sink = createSink(s.cfg, 'invoice');
    try {
      await sink.connect();
      await sink.prepareTable((await readTableSchema(s.source, 'public', s.sourceTable))!, into, { autoEvolve: true, createTable: true });
    } finally {
      await sink.close();
    }
    await s.targetUser.execute(`UPDATE ${t} SET segment = 1 WHERE id % 3 = 0`);
    await s.targetUser.execute(`UPDATE ${t} SET region = 2 WHERE id % 5 = 0`);
    await s.targetUser.execute(`UPDATE ${t} SET parent_row = 1 WHERE id % 7 = 0`);
    fks = await foreignKeySnapshot(s.target, s.targetTable);
    indexes = await indexSnapshot(s.target, s.targetTable);
    const db = String((await s.target.query('SELECT DATABASE() AS db'))[0]!.db);
    expect(fks).toEqual([
      `${s.targetTable}_ibfk_1 (region) -> ${db}.${parent} (id) ON UPDATE RESTRICT ON DELETE SET NULL`,
      `${s.targetTable}_seg (segment) -> ${db}.${parent} (id) ON UPDATE CASCADE ON DELETE CASCADE`,
      `${s.targetTable}_up (parent_row) -> ${db}.${s.targetTable} (id) ON UPDATE RESTRICT ON DELETE RESTRICT`,
    ]);
  });

  afterAll(async () => {
    await s?.close();
    if (parent) {
      const db: Db = openDb(s.cfg.databases.invoice!);
      await db.execute(`DROP TABLE IF EXISTS ${db.dialect.quote(parent)}`).catch(() => undefined);
      await db.close();
    }
  });

  it('after a refresh the live table has the same foreign keys (names, columns, parent, rules) and indexes, enforced', async () => {
    await s.source.execute(`UPDATE ${s.sourceTable} SET name = 'fk ' || id, updated_at = now() WHERE id % 2 = 0`);
    const report = await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    const [row] = await s.target.query(`SELECT name, segment, region, parent_row FROM ${q(s.targetTable)} WHERE id = 210`);
    expect([row!.name, row!.segment, row!.region, row!.parent_row].map(String)).toEqual(['fk 210', '1', '2', '1']);
    await expectDefinitionKept();
    await expectEnforced();
    // the outgoing generation, now a backup, carries none (backups need none)
    expect(await foreignKeySnapshot(s.target, report.backup)).toEqual([]);
  });

  it('a second refresh keeps the same names: nothing drifts from run to run', async () => {
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    await expectDefinitionKept();
    await expectEnforced();
  });

  it('rollback puts the foreign keys on the generation it brings back, and so does a second rollback', async () => {
    const [before] = await s.target.query(`SELECT name FROM ${q(s.targetTable)} WHERE id = 2`);
    await s.source.execute(`UPDATE ${s.sourceTable} SET name = 'refreshed', updated_at = now() WHERE id = 2`);
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    await rollbackTable(s.cfg, 'invoice', into);
    expect((await s.target.query(`SELECT name FROM ${q(s.targetTable)} WHERE id = 2`))[0]).toEqual(before);
    await expectDefinitionKept();
    await expectEnforced();
    await rollbackTable(s.cfg, 'invoice', into);
    expect((await s.target.query(`SELECT name FROM ${q(s.targetTable)} WHERE id = 2`))[0]).toEqual({ name: 'refreshed' });
    await expectDefinitionKept();
    await expectEnforced();
  });

  it('a new generation that would violate a foreign key aborts the swap and says why; live keeps its rows and FKs', async () => {
    // row 2 points at row 11; the source deletes row 11 (never edited by the target): the
    // stage would keep row 2 (its parent_row is target-only) without its parent
    await s.targetUser.execute(`UPDATE ${q(s.targetTable)} SET parent_row = 11 WHERE id = 2`);
    await s.source.execute(`DELETE FROM ${s.sourceTable} WHERE id = 11`);
    await expect(refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!))
      .rejects.toThrow(new RegExp(`aborted, the live table is unchanged: 1 rows .* have no parent row in ${s.targetTable} for foreign key ${s.targetTable}_up \\(parent_row\\)`));
    expect((await s.target.query(`SELECT id FROM ${q(s.targetTable)} WHERE id = 11`)).length).toBe(1);
    await expectDefinitionKept();
    await s.targetUser.execute(`UPDATE ${q(s.targetTable)} SET parent_row = NULL WHERE id = 2`);
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    expect(await s.target.query(`SELECT id FROM ${q(s.targetTable)} WHERE id = 11`)).toEqual([]);
    await expectDefinitionKept();
  });

  it('a RENAME that fails after the FKs moved puts them back on live before the lock is released', async () => {
    // live's triggers (bodies; the name form a swap gave them may differ, trigger-names.ts)
    const triggers = () => triggerSnapshot(s.target, s.targetTable);
    const before = await triggers();
    // the backup clock table's name is taken: the swap's RENAME fails (not retriable)
    const n = Math.max(0, ...(await listBackups(s.target, into))) + 1;
    const blocker = q(`${s.targetTable}__fs_b${n}c`);
    await s.target.execute(`CREATE TABLE ${blocker} (x INT)`);
    try {
      await expect(refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!)).rejects.toThrow(/unable to rename the tables for the swap/);
    } finally {
      await s.target.execute(`DROP TABLE ${blocker}`);
    }
    await expectDefinitionKept();
    await expectEnforced();
    expect(await triggers()).toEqual(before);
    // the copies made for the failed swap are gone with it
    expect(await triggerSnapshot(s.target, stageGeneration(into).data.name)).toEqual([]);
    expect(await foreignKeySnapshot(s.target, stageGeneration(into).data.name)).toEqual([]);
  });

  // What a swap killed mid-way leaves (the process dies between two statements: each DDL
  // statement itself is atomic), made with the swap's own functions; the next run repairs.
  it('killed between dropping the FKs from live and adding them to the stage: the next refresh puts them back', async () => {
    await withSession(s.target, async (w) => {
      const defs = await foreignKeysOf(w, into);
      await writeForeignKeyRecord(w, foreignKeyRecord(into), defs);
      await w.execute(`DROP TABLE IF EXISTS ${q(stageGeneration(into).data.name)}`);
      await w.execute(`CREATE TABLE ${q(stageGeneration(into).data.name)} LIKE ${q(s.targetTable)}`);
      await w.execute(`ALTER TABLE ${q(s.targetTable)} ${defs.map((f) => `DROP FOREIGN KEY ${q(f.name)}`).join(', ')}`);
    });
    expect(await foreignKeySnapshot(s.target, s.targetTable)).toEqual([]);
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    await expectDefinitionKept();
    await expectEnforced();
  });

  it('killed after moving the FKs to the stage, before the rename: the next refresh takes them back', async () => {
    await withSession(s.target, async (w) => {
      const defs = await foreignKeysOf(w, into);
      await writeForeignKeyRecord(w, foreignKeyRecord(into), defs);
      const stage = stageGeneration(into).data;
      await w.execute(`DROP TABLE IF EXISTS ${q(stage.name)}`);
      await w.execute(`CREATE TABLE ${q(stage.name)} LIKE ${q(s.targetTable)}`);
      await moveForeignKeys(w, defs, into, stage);
    });
    expect(await foreignKeySnapshot(s.target, s.targetTable)).toEqual([]);
    expect((await foreignKeySnapshot(s.target, stageGeneration(into).data.name)).length).toBe(3);
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    await expectDefinitionKept();
    await expectEnforced();
  });

  it('a rollback killed after moving the FKs to the backup: the next rollback puts them back on the table it makes live', async () => {
    const backups = await listBackups(s.target, into);
    const newest = backupGeneration(into, backups[backups.length - 1]!).data;
    await withSession(s.target, async (w) => {
      const defs = await foreignKeysOf(w, into);
      await writeForeignKeyRecord(w, foreignKeyRecord(into), defs);
      await moveForeignKeys(w, defs, into, newest);
    });
    expect(await foreignKeySnapshot(s.target, s.targetTable)).toEqual([]);
    await rollbackTable(s.cfg, 'invoice', into);
    await expectDefinitionKept();
    await expectEnforced();
    expect(await foreignKeySnapshot(s.target, newest.name)).toEqual([]);
  });
});

// The swap gives the incoming generation copies of live's fieldsync triggers before its
// lock, under their other name (lib/dialect/mysql/swap.ts, trigger-names.ts), and drops
// the outgoing generation's after the RENAME. Each test has its own tables.
describe('reconcile into MariaDB keeps the live table\'s triggers, copied before the swap\'s lock', () => {
  const ROWS = 300;
  const scenarios: Scenario[] = [];
  let database = '';

  /** A refreshed target with capture's outbox triggers too (a two-way table). */
  async function scenario(): Promise<Scenario> {
    const s = await createScenario('mysql', ROWS);
    scenarios.push(s);
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    database = String((await s.target.query('SELECT DATABASE() AS db'))[0]!.db);
    for (const sql of mysqlInstallOutboxSql(database)) await s.target.execute(sql);
    const table = (await readTableSchema(s.target, '', s.targetTable))!;
    for (const sql of mysqlInstallTriggerSql(table, database, database, 'invoice', true)) await s.target.execute(sql);
    return s;
  }

  const outboxRows = async (s: Scenario, id: number) => Number((await s.target.query(
    `SELECT COUNT(*) AS n FROM ${mysqlOutboxTable(database)} WHERE table_name = ? AND JSON_VALUE(key_values, '$.id') = ?`, [s.targetTable, id]))[0]!.n);

  /** A local edit on live is stamped (clock) and recorded (outbox) exactly once. */
  async function expectLocalEditsCaptured(s: Scenario, id: number): Promise<void> {
    const q = s.target.dialect.quote;
    const clock = async () => String((await s.target.query(`SELECT note FROM ${q(`${s.targetTable}__fs_clock`)} WHERE id = ?`, [id]))[0]?.note ?? '');
    const before = await clock();
    const recorded = await outboxRows(s, id);
    await s.targetUser.execute(`UPDATE ${q(s.targetTable)} SET note = ? WHERE id = ?`, [`edited ${before}`, id]);
    expect(await clock()).not.toBe(before);
    expect(await outboxRows(s, id)).toBe(recorded + 1);
  }

  async function backupTriggers(s: Scenario): Promise<string[]> {
    const into = { schema: '', name: s.targetTable };
    const out: string[] = [];
    for (const n of await listBackups(s.target, into)) {
      const g = backupGeneration(into, n);
      for (const t of [g.data, g.clock, g.tomb]) out.push(...await triggerSnapshot(s.target, t.name));
    }
    return out;
  }

  afterAll(async () => {
    for (const s of scenarios) {
      if (database) await s.target.execute(`DELETE FROM ${mysqlOutboxTable(database)} WHERE table_name = ?`, [s.targetTable]).catch(() => undefined);
      await s.close();
    }
  });

  it('after a refresh and after a rollback live has its stamp and outbox triggers with their bodies, backups none, and local edits are stamped and recorded once', async () => {
    const s = await scenario();
    const triggers = await triggerSnapshot(s.target, s.targetTable);
    expect(triggers.filter((t) => t.includes('__fs_st'))).toHaveLength(3);
    expect(triggers.filter((t) => t.startsWith('fieldsync_outbox_'))).toHaveLength(3);
    const names = async () => (await s.target.query(`SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?`, [s.targetTable])).map((r) => String(r.n)).sort();
    const before = await names();

    const report = await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    expect(report.rowsAfter).toBe(ROWS);
    expect(await triggerSnapshot(s.target, s.targetTable)).toEqual(triggers);
    // the copies the swap carried in have the other name of each outbox trigger
    expect(await names()).not.toEqual(before);
    expect(await backupTriggers(s)).toEqual([]);
    await expectLocalEditsCaptured(s, 1);

    await rollbackTable(s.cfg, 'invoice', { schema: '', name: s.targetTable });
    expect(await triggerSnapshot(s.target, s.targetTable)).toEqual(triggers);
    expect(await backupTriggers(s)).toEqual([]);
    await expectLocalEditsCaptured(s, 2);

    // the applier's check (base names) and capture install put the base names back
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    const table = (await readTableSchema(s.target, '', s.targetTable))!;
    for (const sql of mysqlInstallTriggerSql(table, database, database, 'invoice', true)) await s.target.execute(sql);
    for (const sql of stampTriggerSqls(table, 'invoice', true)) await s.target.execute(sql);
    expect(await triggerSnapshot(s.target, s.targetTable)).toEqual(triggers);
    expect((await names()).filter((n) => n.startsWith('fieldsync_outbox_') || /__fs_st[iud]$/.test(n))).toHaveLength(6);
    await expectLocalEditsCaptured(s, 3);
  });

  it('the swap\'s own writes to the incoming tables fire none of the copied triggers', async () => {
    const s = await scenario();
    const into = { schema: '', name: s.targetTable };
    const live = liveGeneration(into);
    const stage = stageGeneration(into);
    const q = s.target.dialect.quote;
    for (const [from, to] of [[live.data, stage.data], [live.clock, stage.clock], [live.tomb, stage.tomb]] as const) {
      await s.target.execute(`CREATE TABLE ${q(to.name)} LIKE ${q(from.name)}`);
      await s.target.execute(`INSERT INTO ${q(to.name)} SELECT * FROM ${q(from.name)}`);
    }
    const n = Math.max(0, ...(await listBackups(s.target, into))) + 1;
    const id = ROWS + 1;
    // as the reconciler's own connections: not applier sessions
    const watch = await openSession(s.targetUser);
    await swapGenerations({
      db: s.targetUser, watch, into, incoming: stage, outgoing: backupGeneration(into, n),
      carryDefinition: true, skipTriggers: [], lockList: [], lockTimeoutMs: 5000, log: logger('test'),
      // what the final window catch-up does: write the incoming tables under the lock
      underLock: async (a) => {
        await a.execute(`INSERT INTO ${q(stage.data.name)} (id, name, balance, updated_at) VALUES (?, 'window', 1, NOW(6))`, [id]);
        await a.execute(`UPDATE ${q(stage.data.name)} SET note = 'window' WHERE id = 1`);
      },
    }).finally(() => watch.release());
    // neither a stamp on the clock (now live's) nor an outbox row
    expect(await s.target.query(`SELECT id FROM ${q(live.clock.name)} WHERE id = ?`, [id])).toEqual([]);
    expect(await outboxRows(s, id)).toBe(0);
    expect(await outboxRows(s, 1)).toBe(0);
    // while the copies, now live's own, fire for a local edit
    await expectLocalEditsCaptured(s, id);
  });

  it('killed after copying live\'s triggers to the incoming tables: the next run drops the copies and swaps', async () => {
    const s = await scenario();
    const into = { schema: '', name: s.targetTable };
    const triggers = await triggerSnapshot(s.target, s.targetTable);
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    // a rollback's incoming table is the newest backup: the copies stay on it when the run dies
    const backup = backupGeneration(into, Math.max(...(await listBackups(s.target, into))));
    await withSession(s.target, (w) => precreateTriggers(w, into, backup.data, fieldsyncTriggerBases(into), []));
    expect(await triggerSnapshot(s.target, backup.data.name, s.targetTable)).toEqual(triggers);
    await rollbackTable(s.cfg, 'invoice', into);
    expect(await triggerSnapshot(s.target, s.targetTable)).toEqual(triggers);
    expect(await backupTriggers(s)).toEqual([]);
    await expectLocalEditsCaptured(s, 4);
  });

  it('killed after the RENAME, before the outgoing triggers were dropped: the next refresh drops them from the backup', async () => {
    const s = await scenario();
    const into = { schema: '', name: s.targetTable };
    const triggers = await triggerSnapshot(s.target, s.targetTable);
    const backup = backupGeneration(into, Math.max(...(await listBackups(s.target, into))));
    // what the dead run left: the backup (the old live table) with live's triggers under their other names
    await withSession(s.target, async (w) => {
      await createTriggers(w, await triggersOf(w, into), backup.data, (t) => otherGenerationName(t.name, fieldsyncTriggerBases(into))!);
    });
    expect(await triggerSnapshot(s.target, backup.data.name, s.targetTable)).toEqual(triggers);
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    expect(await triggerSnapshot(s.target, s.targetTable)).toEqual(triggers);
    expect(await backupTriggers(s)).toEqual([]);
    await expectLocalEditsCaptured(s, 5);
  });

  it('an installer killed between creating the base names and dropping the others: the next refresh keeps one of each', async () => {
    const s = await scenario();
    const into = { schema: '', name: s.targetTable };
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    const triggers = await triggerSnapshot(s.target, s.targetTable);
    const table = (await readTableSchema(s.target, '', s.targetTable))!;
    for (const sql of mysqlInstallTriggerSql(table, database, database, 'invoice', true).filter((x) => x.startsWith('CREATE'))) await s.target.execute(sql);
    expect((await withSession(s.target, (w) => triggersOf(w, into))).length).toBe(9);
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    expect(await triggerSnapshot(s.target, s.targetTable)).toEqual(triggers);
    expect(await backupTriggers(s)).toEqual([]);
    await expectLocalEditsCaptured(s, 6);
  });

  it('a trigger on a backup that live lacks (a move under the lock interrupted, or one created during the swap) goes to live', async () => {
    const s = await scenario();
    const into = { schema: '', name: s.targetTable };
    const q = s.target.dialect.quote;
    const triggers = await triggerSnapshot(s.target, s.targetTable);
    const backup = backupGeneration(into, Math.max(...(await listBackups(s.target, into))));
    const audit = `${s.targetTable}_audit`;
    await s.target.execute(`CREATE TABLE ${q(audit)} (id BIGINT NOT NULL)`);
    await s.target.execute(`CREATE TRIGGER ${q(`${s.targetTable}_aud`)} AFTER UPDATE ON ${q(backup.data.name)} FOR EACH ROW INSERT INTO ${q(audit)} VALUES (NEW.id)`);
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    const now = await triggerSnapshot(s.target, s.targetTable);
    expect(now.filter((t) => !t.startsWith(`${s.targetTable}_aud `))).toEqual(triggers);
    expect(now.some((t) => t.startsWith(`${s.targetTable}_aud AFTER UPDATE`))).toBe(true);
    expect(await backupTriggers(s)).toEqual([]);
    await s.target.execute(`DROP TRIGGER ${q(`${s.targetTable}_aud`)}`);
    await s.target.execute(`DROP TABLE ${q(audit)}`);
  });

  it('a trigger that is not fieldsync\'s is moved under the lock and keeps its name', async () => {
    const s = await scenario();
    const q = s.target.dialect.quote;
    const audit = `${s.targetTable}_audit`;
    await s.target.execute(`CREATE TABLE ${q(audit)} (id BIGINT NOT NULL)`);
    await s.target.execute(`CREATE TRIGGER ${q(`${s.targetTable}_aud`)} AFTER UPDATE ON ${q(s.targetTable)} FOR EACH ROW INSERT INTO ${q(audit)} VALUES (NEW.id)`);
    const triggers = await triggerSnapshot(s.target, s.targetTable);
    await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
    expect(await triggerSnapshot(s.target, s.targetTable)).toEqual(triggers);
    expect(triggers.some((t) => t.startsWith(`${s.targetTable}_aud AFTER UPDATE`))).toBe(true);
    expect(await backupTriggers(s)).toEqual([]);
    // the reconciler's own writes did not fire it; a local edit does
    expect(await s.target.query(`SELECT id FROM ${q(audit)}`)).toEqual([]);
    await s.targetUser.execute(`UPDATE ${q(s.targetTable)} SET note = 'audited' WHERE id = 7`);
    expect(await s.target.query(`SELECT id FROM ${q(audit)}`)).toEqual([{ id: '7' }]);
    await s.target.execute(`DROP TABLE ${q(audit)}`);
  });
});
