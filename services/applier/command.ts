/**
 * `fieldsync applier --config c.yaml [--target NAME ...] [--install]`  run the applier service
 * `fieldsync applier install --config c.yaml [--target NAME ...]`  offsets table, target
 *     tables, clocks, tombs and local-edit triggers for every configured table
 */
import type { Command } from 'commander';
import { loadConfig } from '../../lib/config/load.js';
import { ConfigError } from '../../lib/errors.js';

interface Opts {
  config: string;
  target?: string[];
}

export function registerApplierCommands(program: Command): void {
  const applier = program
    .command('applier')
    .description('merge the change topics into a target database (field-level last-writer-wins)')
    // not requiredOption: commander would demand it of `applier install` as well
    .option('-c, --config <file>', 'fieldsync config (YAML)')
    .option('-t, --target <name...>', 'only these applier targets (default: every applier in the config)')
    .option('--install', 'run `applier install` before consuming', false)
    .action(async (opts: Partial<Opts> & { install?: boolean }) => {
      if (!opts.config) throw new ConfigError('fieldsync applier: --config <file> is required');
      // loaded on use: `fieldsync <other command>` does not pay for the applier's imports
      const { runApplierService } = await import('./service.js');
      await runApplierService(loadConfig(opts.config), opts.target, { install: opts.install ?? false });
    });

  applier
    .command('install')
    .description('create fieldsync tables, target tables, clock/tomb tables and local-edit triggers in the targets')
    .requiredOption('-c, --config <file>', 'fieldsync config (YAML)')
    .option('-t, --target <name...>', 'only these applier targets')
    .action(async (opts: Opts) => {
      const { installApplier } = await import('./service.js');
      const report = await installApplier(loadConfig(opts.config), opts.target);
      for (const r of report) {
        process.stdout.write(`${r.target}: prepared ${r.prepared.length} table(s)${r.prepared.length ? ` (${r.prepared.join(', ')})` : ''}`
          + `${r.pending.length ? `; waiting for a first event: ${r.pending.join(', ')}` : ''}\n`);
      }
    });
}
