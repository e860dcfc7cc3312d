// The refresh suite (reconcile-suite.ts) with a MariaDB target, and the outgoing foreign
// keys of a MariaDB live table through refresh, rollback and interrupted swaps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { foreignKeysOf, moveForeignKeys, writeForeignKeyRecord } from '../../lib/dialect/mysql/foreign-keys.js';
import { backupGeneration, foreignKeyRecord, stageGeneration } from '../../lib/reconcile/names.js';
import type { TableName } from '../../lib/reconcile/names.js';
import { refreshTable } from '../../lib/reconcile/refresh.js';
import { rollbackTable } from '../../lib/reconcile/rollback.js';
import { listBackups } from '../../lib/reconcile/generations.js';
import { withSession } from '../../lib/reconcile/session.js';
import { createSink } from '../../lib/sink/index.js';
import { uniqueName } from '../support/helpers.js';
import { createScenario, foreignKeySnapshot, indexSnapshot, tablesLike } from './reconcile-fixture.js';
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
    const triggers = async () => (await s.target.query(`SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ? ORDER BY 1`, [s.targetTable])).map((r) => String(r.n));
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
