/**
 * `npm run chaos`: the full chaos run (about 10 minutes; bounded under 15). Prints the
 * report, writes it to bench/results/chaos.{json,md}, exits 1 unless it is ok.
 *
 *   CHAOS_STREAM_SECONDS   stream duration with faults (default 420)
 *   CHAOS_RATE             changes per second per side (default 300)
 *   CHAOS_SEED             seed of the fault schedule and the workload (default: from the clock)
 */
import { machineInfo, markdownTable, writeResult } from '../../bench/support/env.js';
import { runChaos, type ChaosReport } from './scenario.js';

export function chaosMarkdown(r: ChaosReport): string {
  const rows = [
    { measure: 'result', value: r.ok ? 'ok' : `FAILED: ${r.problems.join('; ')}` },
    { measure: 'duration (s)', value: r.durationSeconds },
    { measure: 'seed', value: r.seed },
    { measure: 'faults injected', value: `${r.faultsInjected} (${Object.entries(r.faults).map(([k, v]) => `${k} ${v}`).join(', ')})` },
    { measure: 'service restarts', value: Object.entries(r.restarts).map(([k, v]) => `${k} ${v}`).join(', ') },
    { measure: 'exits not caused by a fault (service gave up)', value: Object.entries(r.selfExits).map(([k, v]) => `${k} ${v}`).join(', ') },
    { measure: 'reconcile runs', value: `${r.reconcile.runs} (ok ${r.reconcile.succeeded}, killed ${r.reconcile.killed}, failed ${r.reconcile.failed}; final exit ${r.reconcile.finalExitCode})` },
    { measure: 'changes written', value: r.events.written },
    { measure: 'events in topics', value: r.events.inTopics },
    { measure: 'duplicates absorbed', value: r.events.duplicatesAbsorbed },
    { measure: 'changes missing from topics', value: r.events.missingFromTopics },
    { measure: 'dead letters (distinct / messages / injected)', value: `${r.deadLetters.distinct} / ${r.deadLetters.messages} / ${r.deadLetters.expected}` },
    { measure: 'data lost', value: r.dataLost },
    { measure: 'applier lag at the end (messages)', value: Object.entries(r.applierLag).map(([k, v]) => `${k} ${v}`).join(', ') },
    { measure: 'verify pg → maria, maria → pg (exit codes)', value: `${r.verify.pgToMaria}, ${r.verify.mariaToPg}` },
    { measure: 'services ready afterwards', value: Object.entries(r.ready).map(([k, v]) => `${k} ${v ? 'yes' : 'NO'}`).join(', ') },
    { measure: 'peak RSS (MiB)', value: Object.entries(r.peakRssMiB).map(([k, v]) => `${k} ${v}`).join(', ') },
  ];
  return markdownTable(rows);
}

if (process.argv[1]?.endsWith('run.ts')) {
  const log = (m: string) => process.stdout.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
  const report = await runChaos({
    streamMs: Number(process.env.CHAOS_STREAM_SECONDS ?? '420') * 1000,
    ratePerSide: Number(process.env.CHAOS_RATE ?? '300'),
    ...(process.env.CHAOS_SEED ? { seed: Number(process.env.CHAOS_SEED) } : {}),
    convergeTimeoutMs: 240_000,
    log,
  });
  // the logs directory is a path of this machine: printed below, never committed with the results
  const { logsDir: _logsDir, ...committed } = report;
  const files = writeResult('chaos', 'Chaos run', machineInfo(), committed, chaosMarkdown(report));
  process.stdout.write(`${chaosMarkdown(report)}\n[chaos] wrote ${files.md}; service logs in ${report.logsDir}\n`);
  process.exit(report.ok ? 0 : 1);
}
