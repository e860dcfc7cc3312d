/**
 * The long-running reconciler service: runs every configured refresh job on the cron
 * schedule of `reconciler.schedule` (cron-parser, UTC), one job after the other, and
 * exposes /metrics /healthz /readyz. Thin: the refresh itself is lib/reconcile.
 *
 * SIGTERM stops the schedule; a refresh in flight is allowed to finish within the
 * shutdown deadline (killing it would be safe too: the next run cleans up).
 */
import { CronExpressionParser } from 'cron-parser';
import type { FieldsyncConfig, ReconcileJobConfig } from '../../lib/config/schema.js';
import { ConfigError, errorMessage } from '../../lib/errors.js';
import { logger } from '../../lib/log.js';
import { startServiceRuntime } from '../../lib/observability/runtime.js';
import { jobLabel, jobTarget, refreshTable } from '../../lib/reconcile/refresh.js';
import type { RefreshReport } from '../../lib/reconcile/refresh.js';
import { sleep } from '../../lib/retry.js';

const log = logger('reconciler');

/** Jobs selected by `--table` (source table, target table or its qualified name); all when empty. */
export function selectJobs(cfg: FieldsyncConfig, tables: readonly string[] | undefined): ReconcileJobConfig[] {
  const jobs = cfg.reconciler.jobs;
  if (!tables || tables.length === 0) return jobs;
  const out: ReconcileJobConfig[] = [];
  for (const t of tables) {
    const hits = jobs.filter((j) => {
      const into = jobTarget(cfg, j);
      return j.table === t || into.name === t || jobLabel(into) === t || j.into === t;
    });
    if (hits.length === 0) throw new ConfigError(`no reconciler job for table "${t}" (jobs: ${jobs.map((j) => j.table).join(', ') || 'none'})`);
    for (const h of hits) if (!out.includes(h)) out.push(h);
  }
  return out;
}

/** Run the selected jobs one after the other; a failed job does not stop the others. */
export async function runJobs(cfg: FieldsyncConfig, jobs: readonly ReconcileJobConfig[]): Promise<{ reports: RefreshReport[]; failures: { table: string; error: string }[] }> {
  const reports: RefreshReport[] = [];
  const failures: { table: string; error: string }[] = [];
  for (const job of jobs) {
    try {
      reports.push(await refreshTable(cfg, job));
    } catch (e) {
      log.error({ table: job.table, err: e }, `reconcile of ${job.table} failed: ${errorMessage(e)}`);
      failures.push({ table: job.table, error: errorMessage(e) });
    }
  }
  return { reports, failures };
}

export function nextRun(schedule: string, after: Date): Date {
  return CronExpressionParser.parse(schedule, { currentDate: after, tz: 'UTC' }).next().toDate();
}

export async function runReconcilerService(cfg: FieldsyncConfig): Promise<void> {
  const schedule = cfg.reconciler.schedule;
  if (!schedule) throw new ConfigError('reconciler.schedule is not set: the reconciler service needs a cron expression (or run `fieldsync reconcile` from a CronJob)');
  try {
    nextRun(schedule, new Date());
  } catch (e) {
    throw new ConfigError(`reconciler.schedule: not a valid cron expression "${schedule}": ${errorMessage(e)}`);
  }
  const rt = await startServiceRuntime({ service: 'reconciler', http: cfg.http });
  let running: Promise<unknown> | undefined;
  rt.onShutdown('refresh in flight', async () => { await running; });
  rt.addReadinessCheck('schedule', () => Promise.resolve(undefined));
  while (!rt.signal.aborted) {
    const at = nextRun(schedule, new Date());
    log.info({ next: at.toISOString(), jobs: cfg.reconciler.jobs.length }, 'next reconcile scheduled');
    try {
      await sleep(Math.max(0, at.getTime() - Date.now()), rt.signal);
    } catch {
      break; // shutdown
    }
    running = runJobs(cfg, cfg.reconciler.jobs);
    const { failures } = (await running) as Awaited<ReturnType<typeof runJobs>>;
    running = undefined;
    if (failures.length) log.warn({ failures }, 'scheduled reconcile finished with failures');
  }
  await rt.stopped;
}
