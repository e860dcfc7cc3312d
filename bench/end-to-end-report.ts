/** Markdown for the end-to-end scenario: throughput and latency of fieldsync and Debezium side by side. */
import type { EndToEndResult, PipelineResult } from './end-to-end.js';
import { markdownTable, type ResultRow } from './support/env.js';

/** -1 marks a percentile that falls on rows still missing 5 s after the writer stopped. */
const late = (ms: number): number | string => (ms < 0 ? 'missing 5 s after stop' : ms);

export function endToEndMarkdown(r: EndToEndResult): string {
  const pipes: [string, PipelineResult | { error: string }][] = [['fieldsync', r.fieldsync], ['Debezium', r.debezium]];
  const drain: ResultRow[] = pipes.map(([name, p]) => ('error' in p
    ? { pipeline: name, changes: null, seconds: null, 'changes/s': null, note: p.error }
    : { pipeline: name, changes: p.drain.changes, seconds: p.drain.seconds, 'changes/s': p.drain.changesPerSec, note: '' }));
  const lat: ResultRow[] = pipes.flatMap(([name, p]) => ('error' in p ? [] : p.rates.map((x) => ({
    pipeline: name, 'offered/s': x.offeredPerSec, 'achieved/s': x.achievedPerSec, rows: x.rows, 'p50 ms': late(x.p50Ms), 'p95 ms': late(x.p95Ms), 'p99 ms': late(x.p99Ms), 'max ms': late(x.maxMs), sustained: x.sustained ? 'yes' : 'no',
  }))));
  return `Backlog: ${r.backlog.inserts} inserts + ${r.backlog.updates} single-column updates, drained by each pipeline alone.\n\n`
    + `## Throughput\n\n${markdownTable(drain)}\nfieldsync / Debezium: ${r.throughputRatio ?? '–'}×\n\n`
    + `## Latency (source commit → row visible in the target; poll resolution ≈ 20 ms)\n\n${markdownTable(lat)}\n`
    + (r.notes.length ? `Notes: ${r.notes.join('; ')}\n` : '');
}
