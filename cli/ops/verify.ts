/**
 * `fieldsync verify --config … --source S --target T [--table …] [--max-diffs N] [--json]`
 * Exit code 0 when every table is equal (target-owned fields allowed), 1 when not.
 */
import type { Command } from 'commander';
import { loadConfig, originOf } from '../../lib/config/load.js';
import { openDb } from '../../lib/dialect/index.js';
import { ConfigError } from '../../lib/errors.js';
import { originCode } from '../../lib/stamp.js';
import { formatVerifyResult } from '../../lib/verify/report.js';
import { resolveTablePairs } from '../../lib/verify/table-pairs.js';
import { verifyTables } from '../../lib/verify/verify.js';

const collect = (v: string, prev: string[]) => [...prev, v];
const positiveInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`--${name} must be a positive integer, got "${v}"`);
  return n;
};

export function registerVerifyCommand(program: Command): void {
  program.command('verify')
    .description('Compare a source and a target table by table: row counts, chunk checksums over primary-key ranges, then a field-level diff of the mismatching chunks. Exit 0 when equal, 1 when not.')
    .requiredOption('-c, --config <file>', 'fieldsync config (YAML)')
    .requiredOption('--source <database>', 'source database (config databases.<name>)')
    .requiredOption('--target <database>', 'target database (config databases.<name>)')
    .option('--table <table>', 'only this table (source or target name, or source_table=target_table); repeatable', collect, [])
    .option('--max-diffs <n>', 'differences shown in detail per table and kind', positiveInt('max-diffs'), 20)
    .option('--chunk-size <n>', 'rows per checksum chunk (memory grows with it)', positiveInt('chunk-size'), 5000)
    .option('--json', 'print the result as JSON')
    .action(async (o: { config: string; source: string; target: string; table: string[]; maxDiffs: number; chunkSize: number; json?: boolean }) => {
      const cfg = loadConfig(o.config);
      const pairs = resolveTablePairs(cfg, o.source, o.target, o.table);
      const origins = new Map(Object.keys(cfg.databases).map((n) => [originCode(originOf(cfg, n)), originOf(cfg, n)]));
      const sourceDb = openDb(cfg.databases[o.source]!, { poolSize: 2 });
      const targetDb = openDb(cfg.databases[o.target]!, { poolSize: 2 });
      const tty = process.stderr.isTTY && !o.json;
      try {
        const result = await verifyTables(
          { name: o.source, db: sourceDb, origin: originOf(cfg, o.source) },
          { name: o.target, db: targetDb, origin: originOf(cfg, o.target) },
          pairs,
          {
            chunkSize: o.chunkSize, maxDiffs: o.maxDiffs, origins,
            onChunk: tty ? (p) => process.stderr.write(`\r  ${p.table}: ${p.sourceRows} / ${p.targetRows} rows compared, ${p.mismatchedChunks} mismatching chunk(s)   `) : undefined,
          },
        );
        if (tty) process.stderr.write('\n');
        process.stdout.write(o.json ? `${JSON.stringify(result, null, 2)}\n` : formatVerifyResult(result));
        process.exitCode = result.equal ? 0 : 1;
      } finally {
        await Promise.all([sourceDb.close(), targetDb.close()]);
      }
    });
}
