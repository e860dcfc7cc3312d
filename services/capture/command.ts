/**
 * `fieldsync capture` commands:
 *   fieldsync capture --config c.yaml                     run the capture service
 *   fieldsync capture install --config c.yaml             create outbox, checkpoint table and triggers (re-run safe)
 *   fieldsync capture uninstall --config c.yaml [--drop-data]   drop the triggers (and the outbox)
 * install/uninstall act on every `capture[]` entry in mode outbox (optionally one source).
 */
import type { Command } from 'commander';
import { installOutbox, openOutboxDb, uninstallOutbox } from '../../lib/capture/install.js';
import { loadConfig } from '../../lib/config/load.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import { ConfigError } from '../../lib/errors.js';
import { startCaptureService } from './service.js';

function outboxEntries(cfg: FieldsyncConfig, source: string | undefined) {
  const entries = cfg.capture.filter((c) => c.mode === 'outbox' && (!source || c.source === source));
  if (entries.length === 0) throw new ConfigError(`no capture entry in mode outbox${source ? ` for source "${source}"` : ''}`);
  return entries;
}

export function registerCaptureCommands(program: Command): void {
  const capture = program
    .command('capture')
    .description('capture changes from source databases (trigger outbox, SQL Server CDC) into Kafka')
    // not requiredOption: commander would demand it of `capture install` / `uninstall` too
    .option('-c, --config <file>', 'config file (YAML)')
    .action(async (opts: { config?: string }) => {
      if (!opts.config) throw new ConfigError('fieldsync capture: --config <file> is required');
      const cfg = loadConfig(opts.config);
      const svc = await startCaptureService(cfg);
      await svc.runtime.stopped;
    });

  capture
    .command('install')
    .description('create the outbox, the checkpoint table and the per-table triggers in each outbox source (re-run safe)')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .option('-s, --source <name>', 'only this source')
    .action(async (opts: { config: string; source?: string }) => {
      const cfg = loadConfig(opts.config);
      for (const entry of outboxEntries(cfg, opts.source)) {
        const db = openOutboxDb(cfg, entry);
        try {
          const tables = await installOutbox(cfg, entry, db);
          process.stdout.write(`${entry.source}: outbox installed; triggers on ${tables.join(', ')}\n`);
        } finally {
          await db.close();
        }
      }
    });

  capture
    .command('uninstall')
    .description('drop the outbox triggers of each outbox source; with --drop-data also the outbox and checkpoint tables')
    .requiredOption('-c, --config <file>', 'config file (YAML)')
    .option('-s, --source <name>', 'only this source')
    .option('--drop-data', 'also drop the outbox and checkpoint tables', false)
    .action(async (opts: { config: string; source?: string; dropData: boolean }) => {
      const cfg = loadConfig(opts.config);
      for (const entry of outboxEntries(cfg, opts.source)) {
        const db = openOutboxDb(cfg, entry);
        try {
          const tables = await uninstallOutbox(cfg, entry, db, opts.dropData);
          process.stdout.write(`${entry.source}: triggers dropped on ${tables.join(', ')}${opts.dropData ? '; outbox and checkpoint dropped' : ''}\n`);
        } finally {
          await db.close();
        }
      }
    });
}
