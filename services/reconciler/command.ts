/**
 * `fieldsync reconcile --config c.yaml [--table T ...] [--json]`   refresh target tables now
 * `fieldsync rollback --config c.yaml --table T [--target NAME]`   swap the last backup back in
 * `fieldsync reconciler --config c.yaml`                            the scheduled service (reconciler.schedule)
 */
import type { Command } from 'commander';
import { loadConfig } from '../../lib/config/load.js';
import { splitTableName } from '../../lib/dialect/introspect.js';
import { ConfigError } from '../../lib/errors.js';
import { rollbackTable } from '../../lib/reconcile/rollback.js';
import { jobTarget } from '../../lib/reconcile/refresh.js';
import type { RefreshReport } from '../../lib/reconcile/refresh.js';
import { runJobs, runReconcilerService, selectJobs } from './service.js';

function printReport(r: RefreshReport): void {
  const lines = [
    `${r.target}.${r.table} ← ${r.source}.${r.sourceTable}`,
    `  rows staged              ${r.rowsStaged}`,
    `  fields kept from live    ${r.fieldsKeptFromLive}`,
    `  fields taken from source ${r.fieldsTakenFromSource}`,
    `  rows deleted             ${r.rowsDeleted}`,
    `  target deletes kept      ${r.rowsKeptDeletedByTarget}`,
    `  target-only rows kept    ${r.rowsKeptOnlyInTarget}`,
    `  window writes re-merged  ${r.windowWritesMerged} (${r.windowRounds} rounds)`,
    `  rows now                 ${r.rowsAfter}`,
    `  backup                   ${r.backup}`,
    `  swap                     ${r.swapMs.toFixed(1)} ms (renames ${r.renameMs.toFixed(1)} ms)`,
    `  phases                   ${Object.entries(r.phasesMs).map(([p, ms]) => `${p} ${(ms / 1000).toFixed(2)} s`).join(', ')}`,
    `  total                    ${(r.totalMs / 1000).toFixed(2)} s`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export function registerReconcilerCommands(program: Command): void {
  program
    .command('reconcile')
    .description('full refresh of target tables from their source: stage, field merge, window catch-up, backup and atomic swap')
    .requiredOption('-c, --config <file>', 'fieldsync config (YAML)')
    .option('-t, --table <table...>', 'only these tables (source or target name; default: every reconciler job)')
    .option('--json', 'print the reports as JSON')
    .action(async (opts: { config: string; table?: string[]; json?: boolean }) => {
      const cfg = loadConfig(opts.config);
      const jobs = selectJobs(cfg, opts.table);
      if (jobs.length === 0) throw new ConfigError(`${opts.config}: reconciler.jobs is empty: nothing to reconcile`);
      const { reports, failures } = await runJobs(cfg, jobs);
      if (opts.json) process.stdout.write(`${JSON.stringify({ reports, failures })}\n`);
      else for (const r of reports) printReport(r);
      for (const f of failures) process.stderr.write(`fieldsync: reconcile of ${f.table} failed: ${f.error}\n`);
      if (failures.length) process.exitCode = 1;
    });

  program
    .command('rollback')
    .description('swap the newest backup generation of a table back in (atomic; a second rollback undoes it)')
    .requiredOption('-c, --config <file>', 'fieldsync config (YAML)')
    .requiredOption('-t, --table <table>', 'target table (or the source table of its reconciler job)')
    .option('--target <name>', 'target database (default: the one of the table\'s reconciler job)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { config: string; table: string; target?: string; json?: boolean }) => {
      const cfg = loadConfig(opts.config);
      let target = opts.target;
      let into;
      const jobs = cfg.reconciler.jobs.filter((j) => !target || j.target === target);
      const job = (() => { try { return selectJobs({ ...cfg, reconciler: { ...cfg.reconciler, jobs } }, [opts.table])[0]; } catch { return undefined; } })();
      if (job) {
        target = job.target;
        into = jobTarget(cfg, job);
      } else {
        if (!target) throw new ConfigError(`no reconciler job for table "${opts.table}": give --target`);
        const db = cfg.databases[target];
        if (!db) throw new ConfigError(`unknown target database "${target}"`);
        const dflt = db.dialect === 'postgres' ? 'public' : '';
        into = splitTableName(opts.table, dflt);
        if (!into.schema) into.schema = dflt;
      }
      const report = await rollbackTable(cfg, target, into);
      process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : `${report.target}.${report.table}: restored ${report.restoredBackup}; the replaced generation is now ${report.replacedInto} (swap ${report.swapMs.toFixed(1)} ms)\n`);
    });

  program
    .command('reconciler')
    .description('run the reconciler service: every reconciler job on the reconciler.schedule cron expression')
    .requiredOption('-c, --config <file>', 'fieldsync config (YAML)')
    .action(async (opts: { config: string }) => {
      await runReconcilerService(loadConfig(opts.config));
    });
}
