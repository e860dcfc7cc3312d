/** `fieldsync status --config … [--json]`: where every table stands (lib/status). */
import type { Command } from 'commander';
import { loadConfig } from '../../lib/config/load.js';
import { createKafka } from '../../lib/kafka/client.js';
import { collectStatus } from '../../lib/status/collect.js';
import { formatStatus } from '../../lib/status/report.js';
import { wrap } from '../../lib/errors.js';

export function registerStatusCommand(program: Command): void {
  program.command('status')
    .description('Per table: capture position and source lag, topic end offsets, consumer lag and last applied time per target, dead letters, last reconcile.')
    .requiredOption('-c, --config <file>', 'fieldsync config (YAML)')
    .option('--json', 'print the report as JSON')
    .action(async (o: { config: string; json?: boolean }) => {
      const cfg = loadConfig(o.config);
      const kafka = createKafka(cfg.kafka, 'status');
      const admin = kafka.admin();
      await admin.connect().catch((e: unknown) => { throw wrap('unable to connect to Kafka', e); });
      try {
        const report = await collectStatus(cfg, { kafka, admin });
        process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    });
}
