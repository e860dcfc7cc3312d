/** Markdown for the end-to-end scenario: throughput and latency of fieldsync and Debezium side by side. */
import type { EndToEndResult, PipelineResult } from './end-to-end.js';
import { microsPerUnitText, type CpuShare } from './support/cpu.js';
import { markdownTable, type ResultRow } from './support/env.js';

/** -1 marks a percentile that falls on rows still missing 5 s after the writer stopped. */
const late = (ms: number): number | string => (ms < 0 ? 'missing 5 s after stop' : ms);
const busy = (c: CpuShare | undefined): string => (c?.machineBusyPercent !== undefined ? `${c.machineBusyPercent}%` : '');

export function endToEndMarkdown(r: EndToEndResult): string {
  const pipes: [string, PipelineResult | { error: string }][] = [['fieldsync', r.fieldsync], ['Debezium', r.debezium]];
  const drain: ResultRow[] = pipes.map(([name, p]) => ('error' in p
    ? { pipeline: name, changes: null, seconds: null, 'changes/s': null, 'CPU µs per change': null, 'machine busy': null, note: p.error }
    : { pipeline: name, changes: p.drain.changes, seconds: p.drain.seconds, 'changes/s': p.drain.changesPerSec, 'CPU µs per change': microsPerUnitText(p.drain.cpu), 'machine busy': busy(p.drain.cpu), note: '' }));
  const lat: ResultRow[] = pipes.flatMap(([name, p]) => ('error' in p ? [] : p.rates.map((x) => ({
    pipeline: name, 'offered/s': x.offeredPerSec, 'achieved/s': x.achievedPerSec, rows: x.rows, 'p50 ms': late(x.p50Ms), 'p95 ms': late(x.p95Ms), 'p99 ms': late(x.p99Ms), 'max ms': late(x.maxMs), sustained: x.sustained ? 'yes' : 'no',
    'CPU µs per change': microsPerUnitText(x.cpu), 'machine busy': busy(x.cpu),
  }))));
  return `Backlog: ${r.backlog.inserts} inserts + ${r.backlog.updates} single-column updates, drained by each pipeline alone.\n\n`
    + `## Throughput\n\n${markdownTable(drain)}\nfieldsync / Debezium: ${r.throughputRatio ?? '–'}×\n\n`
    + `## Latency (source commit → row visible in the target; poll resolution ≈ 20 ms)\n\n${markdownTable(lat)}\n`
    + 'CPU µs per change: user + system CPU of each pipeline process over the drain (from the first row in the target to the last) or while the writer ran, per change; '
    + 'machine busy: the share of all cores busy meanwhile, whatever ran (databases, Kafka, the writer). A rate missed with the machine near 100% busy was limited by the machine.\n'
    + (r.notes.length ? `Notes: ${r.notes.join('; ')}\n` : '');
}
