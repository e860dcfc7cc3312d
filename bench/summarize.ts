/**
 * Rebuild bench/results/summary.{json,md} from the scenario result files already in
 * bench/results/ (e.g. after re-running one scenario with BENCH_ONLY, or when a long run was
 * cut short): `npx tsx bench/summarize.ts`. A missing scenario shows as not run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { machineInfo, markdownTable, resultsDir, writeResult, type MachineInfo } from './support/env.js';
import { summaryRows } from './summary.js';

function load(name: string): { machine?: MachineInfo; results: unknown } {
  const file = join(resultsDir, `${name}.json`);
  if (!existsSync(file)) return { results: { error: `no ${name}.json in bench/results` } };
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { machine?: MachineInfo; results: unknown };
  return doc;
}

const parts = { ceilings: load('ceilings'), capture: load('capture'), source: load('source-overhead'), applier: load('applier'), e2e: load('end-to-end'), reconcile: load('reconcile') };
const rows = summaryRows({
  ceilings: parts.ceilings.results as never,
  capture: parts.capture.results,
  source: parts.source.results as never,
  applier: parts.applier.results as never,
  e2e: parts.e2e.results as never,
  reconcile: parts.reconcile.results as never,
});
const machine = parts.ceilings.machine ?? machineInfo();
const files = writeResult('summary', 'fieldsync benchmarks: figure, ceiling, Debezium, ratios, targets', machine, rows, markdownTable(rows.map((r) => ({ ...r }))));
process.stdout.write(`${markdownTable(rows.map((r) => ({ ...r })))}\nwrote ${files.md}\n`);
