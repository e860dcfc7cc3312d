/**
 * The reconciler service (`fieldsync reconciler`, a real child process) runs its jobs on
 * the cron schedule of reconciler.schedule, records each run in the target's runs table,
 * exposes the fieldsync_reconcile_* metrics on /metrics, and stops cleanly on SIGTERM.
 * Also: `fieldsync reconcile --json` and `fieldsync rollback` as commands.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastRuns } from '../../lib/reconcile/runs.js';
import { waitFor } from '../support/helpers.js';
import { freePort } from '../support/private-db.js';
import { createScenario, diff, readTarget, writeConfigFile } from './reconcile-fixture.js';
import type { Scenario } from './reconcile-fixture.js';

const run = promisify(execFile);

describe('reconciler service and commands', () => {
  let s: Scenario;
  let child: ChildProcess | undefined;
  beforeAll(async () => { s = await createScenario('mysql', 500); });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await s?.close();
  });

  it('`fieldsync reconcile --json` refreshes and reports; `fieldsync rollback` swaps the backup back', async () => {
    const file = writeConfigFile(s.configDoc);
    const out = await run(process.execPath, ['bin/fieldsync.mjs', 'reconcile', '--config', file, '--json'], { env: { ...process.env, FIELDSYNC_LOG_LEVEL: 'warn' } });
    const parsed = JSON.parse(out.stdout.trim().split('\n').pop()!) as { reports: { rowsStaged: number; swapMs: number; phasesMs: Record<string, number> }[]; failures: unknown[] };
    expect(parsed.failures).toEqual([]);
    expect(parsed.reports[0]!.rowsStaged).toBe(500);
    expect(Object.keys(parsed.reports[0]!.phasesMs)).toEqual(expect.arrayContaining(['stage', 'merge', 'window', 'verify', 'swap']));
    expect(diff(s.expected, await readTarget(s))).toEqual([]);
    await s.source.execute(`UPDATE ${s.sourceTable} SET name = 'second', updated_at = now()`);
    await run(process.execPath, ['bin/fieldsync.mjs', 'reconcile', '--config', file, '--table', s.targetTable], { env: { ...process.env, FIELDSYNC_LOG_LEVEL: 'warn' } });
    expect((await readTarget(s)).get(1)!.name).toBe('second');
    const rb = await run(process.execPath, ['bin/fieldsync.mjs', 'rollback', '--config', file, '--table', s.targetTable], { env: { ...process.env, FIELDSYNC_LOG_LEVEL: 'warn' } });
    expect(rb.stdout).toMatch(/restored .*__fs_b\d+/);
    expect(diff(s.expected, await readTarget(s))).toEqual([]);
  });

  it('runs on its cron schedule, records runs, exposes metrics and stops on SIGTERM', async () => {
    const port = await freePort();
    const doc = { ...s.configDoc, http: { host: '127.0.0.1', port }, reconciler: { ...(s.configDoc.reconciler as Record<string, unknown>), schedule: '*/2 * * * * *' } };
    const file = writeConfigFile(doc);
    const since = Date.now();
    child = spawn(process.execPath, ['bin/fieldsync.mjs', 'reconciler', '--config', file], { env: { ...process.env, FIELDSYNC_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    await waitFor('a scheduled run to succeed', async () => {
      const runs = await lastRuns(s.target, 'fieldsync');
      const mine = runs.find((r) => r.table === s.targetTable);
      return mine && mine.result === 'success' && Date.parse(mine.startedAt) >= since - 1000;
    }, 60_000, 250);
    const metrics = await waitFor('metrics of the run', async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return text.includes(`fieldsync_reconcile_runs_total{table="${s.targetTable}",result="success"}`) ? text : undefined;
    }, 30_000, 250);
    expect(metrics).toMatch(new RegExp(`fieldsync_reconcile_phase_duration_seconds_count\\{table="${s.targetTable}",phase="stage"\\} \\d+`));
    expect(metrics).toMatch(new RegExp(`fieldsync_reconcile_swap_duration_seconds\\{table="${s.targetTable}"\\} [0-9.e-]+`));
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
  });
});
