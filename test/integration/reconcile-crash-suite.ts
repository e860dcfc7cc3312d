/**
 * kill -9 of `fieldsync reconcile` (a real child process) as soon as its progress log
 * says it entered the stage, merge or swap phase: the live table is intact (before the
 * swap: exactly as it was; in the swap: the old or the new generation, whole), and the
 * next run cleans up the leftovers and completes with the right data, the local-edit
 * triggers (and on MariaDB the outgoing foreign keys, which the swap moves under its lock)
 * in place and the killed run recorded as interrupted. A second refresh started
 * while one runs is refused by the table lock, and a failed verification aborts before
 * the swap with its reason.
 *
 * Row count: FIELDSYNC_RECONCILE_CRASH_ROWS (default 20,000).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshTable } from '../../lib/reconcile/refresh.js';
import { lastRuns } from '../../lib/reconcile/runs.js';
import { openDb } from '../../lib/dialect/index.js';
import { GENERATION_SUFFIX } from '../../lib/dialect/mysql/trigger-names.js';
import { uniqueName, waitFor } from '../support/helpers.js';
import { createScenario, diff, foreignKeySnapshot, readTarget, tablesLike, writeConfigFile } from './reconcile-fixture.js';
import type { ExpectedRow, Scenario, TargetKind } from './reconcile-fixture.js';

const ROWS = Number(process.env.FIELDSYNC_RECONCILE_CRASH_ROWS ?? 20_000);

const children: ChildProcess[] = [];

/** Start `fieldsync reconcile` and kill -9 it once it logs that it entered `phase`. */
async function killDuring(configFile: string, table: string, phase: string): Promise<void> {
  const child = spawn(process.execPath, ['bin/fieldsync.mjs', 'reconcile', '--config', configFile, '--table', table], {
    cwd: process.cwd(), env: { ...process.env, FIELDSYNC_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  let seen = false;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    if (seen) return;
    try {
      const rec = JSON.parse(line) as { msg?: string; phase?: string };
      if (rec.msg === 'reconcile phase' && rec.phase === phase) {
        seen = true;
        child.kill('SIGKILL');
      }
    } catch { /* not a log line */ }
  });
  const outcome = await exited;
  expect(seen, `the child never logged phase ${phase} (exit ${String(outcome)})`).toBe(true);
  expect(outcome).toBe('SIGKILL');
}

async function triggerNames(s: Scenario): Promise<string[]> {
  const rows = s.kind === 'postgres'
    ? await s.target.query(`SELECT tgname AS n FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal`, [s.targetTable])
    : await s.target.query(`SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?`, [s.targetTable]);
  // MariaDB: a swap carries fieldsync triggers onto live under their other name
  // (lib/dialect/mysql/trigger-names.ts); compared by the name they were installed under
  const base = (n: string) => (s.kind === 'postgres' ? n : n.endsWith(GENERATION_SUFFIX) ? n.slice(0, -GENERATION_SUFFIX.length) : n.replace(/^fieldsync_outboxg_/, 'fieldsync_outbox_'));
  return rows.map((r) => base(String(r.n))).sort();
}

export function defineCrashSuite(kind: TargetKind): void {
  describe(`reconcile survives kill -9 and refuses unsafe runs (${kind === 'mysql' ? 'MariaDB' : 'PostgreSQL'}, ${ROWS} rows)`, () => {
    let s: Scenario;
    let configFile: string;
    let triggers: string[];
    // MariaDB: outgoing foreign keys of the live table (to a parent table, and to itself)
    const parent = uniqueName('rc_par');
    let fks: string[] = [];
    const fksOfLive = async () => (kind === 'mysql' ? foreignKeySnapshot(s.target, s.targetTable) : []);
    beforeAll(async () => {
      s = await createScenario(kind, ROWS);
      configFile = writeConfigFile(s.configDoc);
      await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
      triggers = await triggerNames(s);
      expect(triggers.length).toBeGreaterThan(0);
      if (kind === 'mysql') {
        const q = s.target.dialect.quote;
        const t = q(s.targetTable);
        await s.target.execute(`CREATE TABLE ${q(parent)} (id INT PRIMARY KEY)`);
        await s.target.execute(`INSERT INTO ${q(parent)} VALUES (1), (2)`);
        await s.target.execute(`ALTER TABLE ${t} ADD COLUMN segment INT NULL, ADD COLUMN parent_row BIGINT NULL`);
        await s.target.execute(`ALTER TABLE ${t} ADD CONSTRAINT ${q(`${s.targetTable}_seg`)} FOREIGN KEY (segment) REFERENCES ${q(parent)} (id) ON DELETE CASCADE`);
        await s.target.execute(`ALTER TABLE ${t} ADD FOREIGN KEY (parent_row) REFERENCES ${t} (id) ON DELETE SET NULL`);
        await s.targetUser.execute(`UPDATE ${t} SET segment = 1 + id % 2, parent_row = IF(id % 5 = 0, 1, NULL) WHERE id % 3 = 0`);
        fks = await fksOfLive();
        expect(fks.length).toBe(2);
      }
    });
    afterAll(async () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await s?.close();
      if (kind === 'mysql' && s) {
        const db = openDb(s.cfg.databases.invoice!);
        await db.execute(`DROP TABLE IF EXISTS ${db.dialect.quote(parent)}`).catch(() => undefined);
        await db.close();
      }
    });

    for (const phase of ['stage', 'merge', 'swap']) {
      it(`kill -9 during ${phase}: live intact, the next run cleans up and completes`, async () => {
        const marker = `${phase} run`;
        await s.source.execute(`UPDATE ${s.sourceTable} SET name = $1 || ' ' || id, updated_at = now() WHERE id % 3 = 0`, [marker]);
        const before = await readTarget(s);
        const after = new Map<number, ExpectedRow>([...s.expected].map(([id, r]) => [id, id % 3 === 0 ? { ...r, name: `${marker} ${id}` } : r]));
        await killDuring(configFile, s.targetTable, phase);

        const live = await readTarget(s);
        if (phase === 'swap') {
          // the swap is atomic: whole old generation or whole new one
          const old = diff(before, live).length === 0;
          const fresh = diff(after, live).length === 0;
          expect(old || fresh, 'live table is neither the old nor the new generation').toBe(true);
        } else {
          expect(diff(before, live)).toEqual([]);
        }
        const report = await refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
        expect(report.rowsStaged).toBe(ROWS);
        s.expected = after;
        expect(diff(after, await readTarget(s))).toEqual([]);
        const left = (await tablesLike(s.target, kind, s.targetTable)).filter((n) => /__fs_(stg|wlog|b0|fk)/.test(n));
        expect(left).toEqual([]);
        expect(await triggerNames(s)).toEqual(triggers);
        expect(await fksOfLive()).toEqual(fks);
        const runs = await lastRuns(s.target, 'fieldsync');
        const mine = runs.find((r) => r.table.endsWith(s.targetTable));
        expect(mine?.result).toBe('success');
        const all = await s.target.query(`SELECT result FROM ${s.kind === 'postgres' ? 'fieldsync.reconcile_runs' : 'fieldsync_reconcile_runs'} WHERE table_name LIKE ${s.target.dialect.param(1)} ORDER BY id`, [`%${s.targetTable}`]);
        expect(all.map((r) => r.result)).toContain('interrupted');
      });
    }

    it('a second refresh of the same table while one runs is refused by the lock', async () => {
      const first = refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!);
      // the first run holds the lock from its start until it finishes
      await waitFor('the first run to record itself as running', async () => {
        const rows = await s.target.query(`SELECT result FROM ${s.kind === 'postgres' ? 'fieldsync.reconcile_runs' : 'fieldsync_reconcile_runs'} WHERE table_name LIKE ${s.target.dialect.param(1)} ORDER BY id DESC LIMIT 1`, [`%${s.targetTable}`]);
        return rows[0]?.result === 'running';
      }, 60_000, 20);
      await expect(refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!)).rejects.toThrow(/another reconcile or rollback .* is running/);
      await first;
      expect(diff(s.expected, await readTarget(s))).toEqual([]);
    });

    it('a failed verification aborts before the swap and says why; live stays as it was', async () => {
      const before = await readTarget(s);
      await s.source.execute(`ALTER TABLE ${s.sourceTable} RENAME TO ${s.sourceTable}_away`);
      await s.source.execute(`CREATE TABLE ${s.sourceTable} (LIKE ${s.sourceTable}_away INCLUDING ALL)`);
      try {
        await expect(refreshTable(s.cfg, s.cfg.reconciler.jobs[0]!)).rejects.toThrow(/aborted before the swap: the source .* returned no rows while the target has \d+/);
      } finally {
        await s.source.execute(`DROP TABLE ${s.sourceTable}`);
        await s.source.execute(`ALTER TABLE ${s.sourceTable}_away RENAME TO ${s.sourceTable}`);
      }
      expect(diff(before, await readTarget(s))).toEqual([]);
      const left = (await tablesLike(s.target, kind, s.targetTable)).filter((n) => /__fs_wlog/.test(n));
      expect(left).toEqual([]);
    });
  });
}
