/**
 * `fieldsync <command>`: one entry for the three services and the operations commands.
 * Each command module registers its own subcommands; this file only wires them.
 */
import { Command } from 'commander';
import { stringify as stringifyYaml } from 'yaml';
import { loadConfig, redact } from '../lib/config/load.js';
import { ConfigError, FieldsyncError } from '../lib/errors.js';
import { rootLogger } from '../lib/log.js';
import { registerCaptureCommands } from '../services/capture/command.js';
import { registerApplierCommands } from '../services/applier/command.js';
import { registerReconcilerCommands } from '../services/reconciler/command.js';
import { registerOpsCommands } from './ops/command.js';

const program = new Command('fieldsync')
  .description('Field-level last-writer-wins database sync through Kafka')
  // Options are positional (inherited by every command registered below): in
  // `fieldsync capture install --config c.yaml` the --config belongs to `install`, not to
  // its parent `capture`, which defines the same option for `fieldsync capture --config`.
  .enablePositionalOptions()
  .showHelpAfterError();

program
  .command('check-config')
  .description('validate a config file and print it with secrets masked')
  .requiredOption('-c, --config <file>', 'config file (YAML)')
  .action((opts: { config: string }) => {
    const cfg = loadConfig(opts.config);
    process.stdout.write(`${opts.config}: valid\n${stringifyYaml(redact(cfg))}`);
  });

registerCaptureCommands(program);
registerApplierCommands(program);
registerReconcilerCommands(program);
registerOpsCommands(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`fieldsync: ${e.message}\n`);
    process.exit(2);
  }
  rootLogger.fatal({ err: e }, e instanceof FieldsyncError ? e.message : 'fatal error');
  process.stderr.write(`fieldsync: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
