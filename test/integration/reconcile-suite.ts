/**
 * The reconcile refresh suite, run once per target dialect (reconcile-refresh-*.int.test.ts).
 *
 *   1. initial refresh of an empty target: target = source, with clocks;
 *   2. the source changes name/balance (version T1, not streamed), the target's users
 *      edit email/phone of 30% of the rows (T2 > T1), the source then changes email of a
 *      subset again (T3 > T2: the whole source row is newer there), the source deletes
 *      1% unedited rows (deleted) and 1% rows the target edited since (kept) and inserts
 *      new rows, the target deletes another 1%, and sets a target-only
 *      column; then a refresh runs WHILE an applier session (the Sink) and the target's
 *      users keep writing and a reader counts and point-reads in a loop:
 *        every target-newer field kept, every source-newer field taken, deletions as
 *        specified, every window write survives, the reader never sees zero rows, a
 *        missing table or a count other than the one before or the one after;
 *      triggers, indexes, grants and foreign keys are present on the new live table;
 *   3. rollback restores the previous generation exactly (data and clocks), and a second
 *      rollback brings the refreshed one back.
 *
 * Row count: FIELDSYNC_RECONCILE_ROWS (CI default 50,000; the issue's scenario is 200,000: run with
 * FIELDSYNC_RECONCILE_ROWS=200000).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import { readTableSchema } from '../../lib/dialect/introspect.js';
import { clockTable } from '../../lib/merge/clock-layout.js';
import { refreshTable } from '../../lib/reconcile/refresh.js';
import { rollbackTable } from '../../lib/reconcile/rollback.js';
import { createSink } from '../../lib/sink/index.js';
import type { SqlSink } from '../../lib/sink/index.js';
import { microsToTimestamp } from '../../lib/canonical.js';
import { nowMicros } from '../../lib/stamp.js';
import type { TableSchema } from '../../lib/types.js';
import { createScenario, diff, readTarget } from './reconcile-fixture.js';
import type { ExpectedRow, Scenario, TargetKind } from './reconcile-fixture.js';

const ROWS = Number(process.env.FIELDSYNC_RECONCILE_ROWS ?? 50_000);

/** Writers and the reader pace themselves (a rate, not a wait for a condition): two cores are shared. */
const pace = () => new Promise((r) => setTimeout(r, 5));

/** A checksum of the clock table's contents, computed by the database (no rows fetched). */
async function clockSnapshot(s: Scenario): Promise<string> {
  const table = `${s.targetTable}__fs_clock`;
  if (s.kind === 'postgres') {
    const [r] = await s.target.query(`SELECT COUNT(*) AS n, md5(string_agg(c::text, ',' ORDER BY id)) AS h FROM ${s.target.dialect.quote(table)} c`);
    return `${String(r!.n)}:${String(r!.h)}`;
  }
  const cols = await s.target.query(`SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, [table]);
  const row = cols.map((c) => `COALESCE(CAST(${s.target.dialect.quote(String(c.c))} AS CHAR), '-')`).join(', ');
  const [r] = await s.target.query(`SELECT COUNT(*) AS n, SUM(CRC32(CONCAT_WS('|', ${row}))) AS h, BIT_XOR(CRC32(CONCAT_WS('#', ${row}))) AS x FROM ${s.target.dialect.quote(table)}`);
  return `${String(r!.n)}:${String(r!.h)}:${String(r!.x)}`;
}

export function defineRefreshSuite(kind: TargetKind): void {
  describe(`reconcile refresh into ${kind === 'mysql' ? 'MariaDB' : 'PostgreSQL'} (${ROWS} rows)`, () => {
    let s: Scenario;
    let sink: SqlSink;
    const q = (id: string) => s.target.dialect.quote(id);
    beforeAll(async () => { s = await createScenario(kind, ROWS); sink = createSink(s.cfg, 'invoice'); await sink.connect(); });
    afterAll(async () => { await sink?.close(); await s?.close(); });

    it('first refresh fills the empty target with every source row and its clocks', async () => {
      const r = await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
      expect(r.rowsStaged).toBe(ROWS);
      expect(r.rowsAfter).toBe(ROWS);
      expect(diff(s.expected, await readTarget(s))).toEqual([]);
      const [c] = await s.target.query(`SELECT COUNT(*) AS n FROM ${q(`${s.targetTable}__fs_clock`)} WHERE ${q('_fs_ins')} IS NOT NULL AND ${q('email')} IS NOT NULL`);
      expect(Number(c!.n)).toBe(ROWS);
    });

    it('keeps target-newer fields, takes source-newer ones, deletes as specified, and loses no write of the window', async () => {
      const { source, targetUser, sourceTable, targetTable, expected } = s;
      const t = q(targetTable);
      // definition the new live table must carry: a secondary index, a target-only column, PG: grant + FK
      await s.target.execute(`CREATE INDEX ${q(`${targetTable}_email`)} ON ${t} (email)`);
      if (kind === 'postgres') {
        await s.target.execute(`CREATE TABLE ${q(`${targetTable}_seg`)} (id int PRIMARY KEY)`);
        await s.target.execute(`INSERT INTO ${q(`${targetTable}_seg`)} VALUES (1), (2)`);
        await s.target.execute(`ALTER TABLE ${t} ADD COLUMN segment int REFERENCES ${q(`${targetTable}_seg`)} (id)`);
        await s.target.execute(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fieldsync_test_reader') THEN CREATE ROLE fieldsync_test_reader; END IF; END $$`);
        await s.target.execute(`GRANT SELECT ON ${t} TO fieldsync_test_reader`);
        // a serial column: its sequence must follow the live generation (and survive pruning backups)
        await s.target.execute(`ALTER TABLE ${t} ADD COLUMN local_seq bigserial`);
      } else {
        await s.target.execute(`ALTER TABLE ${t} ADD COLUMN segment INT NULL`);
      }
      // prepareTable (which every refresh calls) extends clock and tomb with the new column; the users set it
      const sourceSchema = (await readTableSchema(source, 'public', sourceTable))!;
      const into = { schema: kind === 'postgres' ? 'public' : '', name: targetTable };
      await sink.prepareTable(sourceSchema, into, { autoEvolve: true, createTable: true });
      await targetUser.execute(`UPDATE ${t} SET segment = 1 WHERE id % 3 = 0`);

      // T1: the source changes other columns (not streamed to the target)
      await source.execute(`UPDATE ${sourceTable} SET name = 'renamed ' || id, balance = balance + 1, updated_at = now() WHERE id % 4 = 0`);
      for (const [id, row] of expected) {
        if (id % 4 !== 0) continue;
        row.name = `renamed ${id}`;
        row.balance = (Number(row.balance) + 1).toFixed(2);
      }
      // T2: the target's users edit email and phone of 30% of the rows, delete 1%
      await new Promise((r) => setTimeout(r, 5)); // T2 strictly after T1 on the shared clock
      await targetUser.execute(`UPDATE ${t} SET email = CONCAT('edited', id), phone = 'p-edited' WHERE id % 10 IN (0, 1, 2)`.replace('CONCAT(\'edited\', id)', kind === 'postgres' ? `'edited' || id` : `CONCAT('edited', id)`));
      for (const [id, row] of expected) if ([0, 1, 2].includes(id % 10)) { row.email = `edited${id}`; row.phone = 'p-edited'; }
      await targetUser.execute(`DELETE FROM ${t} WHERE id % 100 = 8`);
      for (const id of [...expected.keys()]) if (id % 100 === 8) expected.delete(id);
      // T3: the source changes email of some edited rows again: the whole source row is newer there
      await new Promise((r) => setTimeout(r, 5));
      await source.execute(`UPDATE ${sourceTable} SET email = 'src-new' || id, updated_at = now() WHERE id % 20 = 0`);
      for (const [id, row] of expected) {
        if (id % 20 !== 0) continue;
        row.email = `src-new${id}`;
        row.phone = `+1-${id}`; // the source row (version T3) is newer than the T2 edit of phone
      }
      // the source deletes 1% of rows the target never edited (deleted) and 1% of rows the
      // target edited since their last source version (kept, with the edits)
      await source.execute(`DELETE FROM ${sourceTable} WHERE id % 100 IN (7, 10)`);
      // (rows with id % 3 = 0 got a segment from the target's users above: edited too, kept)
      const sourceDeletedUnedited = (id: number) => id % 100 === 7 && id % 3 !== 0;
      for (const id of [...expected.keys()]) if (sourceDeletedUnedited(id)) expected.delete(id);
      const extra = Math.max(10, Math.round(ROWS / 100));
      await source.execute(`INSERT INTO ${sourceTable} SELECT i, 'new ' || i, NULL, NULL, 1.50, NULL, now() FROM generate_series($1::bigint, $2::bigint) AS i`, [ROWS + 1, ROWS + extra]);
      for (let i = ROWS + 1; i <= ROWS + extra; i++) expected.set(i, { id: i, name: `new ${i}`, email: null, phone: null, balance: '1.50', note: null });
      const countBefore = Number((await s.target.query(`SELECT COUNT(*) AS n FROM ${t}`))[0]!.n);

      // writers and a reader during the refresh
      const mergeTable: TableSchema = await sink.prepareTable(sourceSchema, into, { autoEvolve: true, createTable: true });
      let refreshing = true;
      let seq = 0;
      const applierIds = [...expected.keys()].filter((id) => id % 1000 === 3 && id <= ROWS);
      const userIds = [...expected.keys()].filter((id) => id % 1000 === 5 && id <= ROWS);
      const applierWriter = (async () => {
        let n = 0;
        while (refreshing || n < 3) {
          const id = applierIds[n % applierIds.length]!;
          const note = `window applier ${n}`;
          const row = expected.get(id)!;
          const event: ChangeEvent = {
            op: 'update', origin: 'billing', commitTimeMicros: nowMicros(), position: `outbox:${++seq}`,
            key: { id: BigInt(id) },
            after: { id: BigInt(id), name: row.name, email: row.email, phone: row.phone, balance: row.balance, note, updated_at: microsToTimestamp(nowMicros()) },
            changed: ['note'],
          };
          await sink.apply('reconcile-test', [{ table: mergeTable, events: [event] }], []);
          row.note = note;
          n++;
          await pace();
        }
        return n;
      })();
      const userWriter = (async () => {
        let n = 0;
        while (refreshing || n < 3) {
          const id = userIds[n % userIds.length]!;
          const phone = `window user ${n}`;
          await targetUser.execute(`UPDATE ${t} SET phone = ${s.target.dialect.param(1)} WHERE id = ${s.target.dialect.param(2)}`, [phone, id]);
          expected.get(id)!.phone = phone;
          n++;
          await pace();
        }
        return n;
      })();
      const counts = new Set<number>();
      const readerErrors: string[] = [];
      let pointMisses = 0;
      const reader = (async () => {
        let n = 0;
        while (refreshing) {
          try {
            counts.add(Number((await targetUser.query(`SELECT COUNT(*) AS n FROM ${t}`))[0]!.n));
            if ((await targetUser.query(`SELECT name FROM ${t} WHERE id = 1`)).length !== 1) pointMisses++;
          } catch (e) {
            readerErrors.push(String(e));
          }
          n++;
          await pace();
        }
        return n;
      })();
      let report;
      try {
        report = await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
      } finally {
        refreshing = false;
      }
      const [applierWrites, userWrites, reads] = await Promise.all([applierWriter, userWriter, reader]);
      expect(applierWrites).toBeGreaterThan(3);
      expect(userWrites).toBeGreaterThan(3);
      expect(reads).toBeGreaterThan(3);

      const countAfter = Number((await s.target.query(`SELECT COUNT(*) AS n FROM ${t}`))[0]!.n);
      expect(readerErrors).toEqual([]);
      expect(pointMisses).toBe(0);
      expect(countAfter).toBe(expected.size);
      expect([...counts].filter((c) => c !== countBefore && c !== countAfter)).toEqual([]);
      expect(diff(expected, await readTarget(s))).toEqual([]);

      // report: deletions and kept fields as specified
      const sourceDeleted = [...Array(ROWS).keys()].map((i) => i + 1).filter(sourceDeletedUnedited).length;
      const targetDeleted = [...Array(ROWS).keys()].map((i) => i + 1).filter((id) => id % 100 === 8).length;
      expect(report.rowsDeleted).toBe(sourceDeleted);
      expect(report.rowsKeptOnlyInTarget).toBe([...Array(ROWS).keys()].map((i) => i + 1).filter((id) => id % 100 === 10 || (id % 100 === 7 && id % 3 === 0)).length);
      expect(report.rowsKeptDeletedByTarget).toBe(targetDeleted);
      const editedKept = [...Array(ROWS).keys()].map((i) => i + 1).filter((id) => [0, 1, 2].includes(id % 10) && id % 20 !== 0 && ![7, 8, 10].includes(id % 100)).length;
      expect(report.fieldsKeptFromLive).toBeGreaterThanOrEqual(editedKept * 2);
      expect(report.windowWritesMerged).toBeGreaterThan(0);

      // the target-only column kept its values
      const [seg] = await s.target.query(`SELECT COUNT(*) AS n FROM ${t} WHERE segment = 1`);
      expect(Number(seg!.n)).toBe([...expected.keys()].filter((id) => id % 3 === 0 && id <= ROWS).length);

      // the new live table carries the index, the local-edit triggers (and on PG the grant and FK)
      if (kind === 'postgres') {
        const idx = await s.target.query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1`, [targetTable]);
        expect(idx.some((r) => /\(email\)/.test(String(r.indexdef)))).toBe(true);
        const grants = await s.target.query(`SELECT privilege_type FROM information_schema.role_table_grants WHERE table_name = $1 AND grantee = 'fieldsync_test_reader'`, [targetTable]);
        expect(grants.map((g) => g.privilege_type)).toContain('SELECT');
        const fk = await s.target.query(`SELECT convalidated FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f'`, [targetTable]);
        expect(fk.map((r) => r.convalidated)).toEqual([true]);
        await expect(targetUser.execute(`UPDATE ${t} SET segment = 99 WHERE id = 1`)).rejects.toThrow(/foreign key/);
      } else {
        const idx = await s.target.query(`SELECT INDEX_NAME AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'email'`, [targetTable]);
        expect(idx.length).toBe(1);
      }
      const clock = q(`${targetTable}__fs_clock`);
      const [before] = await s.target.query(`SELECT email FROM ${clock} WHERE id = 1`);
      await targetUser.execute(`UPDATE ${t} SET email = 'after-swap' WHERE id = 1`);
      const [after] = await s.target.query(`SELECT email FROM ${clock} WHERE id = 1`);
      expect(BigInt(String(after!.email))).toBeGreaterThan(BigInt(String(before!.email)));
      expected.get(1)!.email = 'after-swap';
    });

    it('rollback restores the previous generation exactly, and a second rollback undoes it', async () => {
      const before = await readTarget(s);
      const beforeClock = await clockSnapshot(s);
      await s.source.execute(`UPDATE ${s.sourceTable} SET name = 'rollback test', updated_at = now() WHERE id % 2 = 1`);
      const r = await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
      expect(r.backupsDropped.length).toBeGreaterThan(0); // backupsToKeep: 2
      const refreshed = await readTarget(s);
      const refreshedClock = await clockSnapshot(s);
      expect(refreshed.get(1)!.name).toBe('rollback test');

      const tableName = { schema: kind === 'postgres' ? 'public' : '', name: s.targetTable };
      await rollbackTable(s.cfg, 'invoice', tableName);
      expect(diff(before, await readTarget(s))).toEqual([]);
      expect(await clockSnapshot(s)).toBe(beforeClock);
      // the restored generation still stamps local edits
      await s.targetUser.execute(`UPDATE ${q(s.targetTable)} SET note = 'after rollback' WHERE id = 2`);
      const [c] = await s.target.query(`SELECT note FROM ${q(`${s.targetTable}__fs_clock`)} WHERE id = 2`);
      expect(c!.note).not.toBeNull();
      await s.targetUser.execute(`UPDATE ${q(s.targetTable)} SET note = ${s.target.dialect.param(1)} WHERE id = 2`, [before.get(2)!.note]);

      await rollbackTable(s.cfg, 'invoice', tableName);
      const again = await readTarget(s);
      expect(diff(refreshed, again)).toEqual([]);
      expect(await clockSnapshot(s)).toBe(refreshedClock);
      if (kind === 'postgres') {
        // the serial column's sequence was created with (and owned by) a generation that is
        // now a backup; one more refresh prunes that backup: the sequence must survive it
        const pruned = await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
        expect(pruned.backupsDropped.length).toBeGreaterThan(0);
        const [max] = await s.target.query(`SELECT max(local_seq) AS m FROM ${q(s.targetTable)}`);
        await s.targetUser.execute(`INSERT INTO ${q(s.targetTable)} (id, name, balance, updated_at) VALUES (999999999, 'seq', 1, now())`);
        const [row] = await s.target.query(`SELECT local_seq FROM ${q(s.targetTable)} WHERE id = 999999999`);
        expect(BigInt(String(row!.local_seq))).toBeGreaterThan(BigInt(String(max!.m)));
      }
    });
  });
}
