/**
 * The summary table of a bench run: each fieldsync figure, its same-run ceiling and the
 * fraction of it, Debezium's figure and the ratio where there is one, and the target from
 * the issue with whether it was met. A scenario that failed or did not run shows "–".
 */
import type { ApplierThroughput } from './applier-throughput.js';
import type { Ceilings } from './ceilings.js';
import type { EndToEndResult, PipelineResult } from './end-to-end.js';
import type { ReconcileBenchResult } from './reconcile.js';
import type { SourceOverhead } from './source-overhead.js';

export interface SummaryRow {
  measure: string;
  fieldsync: number | null;
  ceiling: number | null;
  'of ceiling': string;
  debezium: number | null;
  'fieldsync / Debezium': string;
  target: string;
  met: string;
}

type Maybe<T> = T | { error: string };
const ok = <T extends object>(x: Maybe<T> | unknown): x is T => typeof x === 'object' && x !== null && !('error' in x);
const frac = (a: number | null, b: number | null) => (a !== null && b ? `${Math.round((a / b) * 100)}%` : '–');
const ratio = (a: number | null, b: number | null) => (a !== null && b ? `${(a / b).toFixed(2)}×` : '–');
const yes = (v: boolean | null) => (v === null ? '–' : v ? 'yes' : 'NO');

/** Numbers named like events/s in the capture script's JSON, per source dialect. */
function captureRates(capture: unknown): { source: string; perSec: number }[] {
  const out: { source: string; perSec: number }[] = [];
  const walk = (node: unknown, path: string[]) => {
    if (typeof node !== 'object' || node === null) return;
    for (const [k, v] of Object.entries(node)) {
      // the steady-state rate (after start-up) is reported beside the whole-run rate
      if (typeof v === 'number' && /per_?sec/i.test(k) && /event/i.test(k)) out.push({ source: `${path.join('.') || 'capture'}${/steady/i.test(k) ? ', steady state' : ', whole run incl. start-up'}`, perSec: v });
      else walk(v, [...path, k]);
    }
  };
  walk(capture, []);
  return out;
}

function at(rates: PipelineResult['rates'] | undefined, rate: number) {
  return rates?.find((r) => r.offeredPerSec === rate);
}

export function summaryRows(r: { ceilings: Maybe<Ceilings>; capture: unknown; source?: Maybe<{ postgres?: SourceOverhead; mariadb?: SourceOverhead }>; applier: Maybe<ApplierThroughput>; e2e: Maybe<EndToEndResult>; reconcile: Maybe<ReconcileBenchResult> }): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const c = ok<Ceilings>(r.ceilings) ? r.ceilings : undefined;
  const row = (measure: string, fieldsync: number | null, ceiling: number | null, debezium: number | null, target: string, met: boolean | null, ofCeiling?: string, vsDbz?: string): void => {
    rows.push({ measure, fieldsync, ceiling, 'of ceiling': ofCeiling ?? frac(fieldsync, ceiling), debezium, 'fieldsync / Debezium': vsDbz ?? ratio(fieldsync, debezium), target, met: yes(met) });
  };

  for (const { source, perSec } of captureRates(r.capture)) {
    row(`capture ${source} (events/s, outbox → Kafka)`, perSec, c?.kafka.recordsPerSec ?? null, null, '≥ 50,000', perSec >= 50_000);
  }
  const rss = (x: unknown) => (typeof x === 'object' && x !== null && typeof (x as { peakRssMiB?: unknown }).peakRssMiB === 'number' ? (x as { peakRssMiB: number }).peakRssMiB : null);
  const captureRss = rss(r.capture);
  if (captureRss !== null) row('peak RSS capture (in-process in capture-throughput.ts, MiB)', captureRss, null, null, '< 300 MB', captureRss < 286);
  // The triggers' price on the source's own writes; the "ceiling" is the same write into
  // a twin table without them. The issue sets no target for it.
  if (r.source && ok<{ postgres?: SourceOverhead; mariadb?: SourceOverhead }>(r.source)) {
    for (const t of ['postgres', 'mariadb'] as const) {
      const o = r.source[t];
      if (!o) continue;
      for (const [what, w] of [['INSERT of 100 rows', o.insert100], ['UPDATE of 100 rows', o.update100], ['one-row INSERT with commit', o.insert1]] as const) {
        row(`source ${t} ${what} with the outbox triggers (µs per row; ceiling: without)`, w.withTriggerMicros, w.withoutTriggerMicros, null, '–', null, `${w.ratio.toFixed(2)}× the write without`);
      }
    }
  }
  if (ok<ApplierThroughput>(r.applier)) {
    for (const [t, min] of [['mariadb', 50_000], ['postgres', 30_000]] as const) {
      const a = r.applier[t];
      // PostgreSQL: the ceiling that binds one array per column, as the sink does (the
      // one-value-per-parameter upsert is slower to parse there and would flatter the sink)
      const ceilIns = a.ceilingInsertArrays ?? a.ceilingInsert;
      const ceilUpd = a.ceilingUpdateArrays ?? a.ceilingUpdate;
      const insRatio = a.inserts.rowsPerSec / ceilIns.rowsPerSec;
      const updRatio = a.update1col.rowsPerSec / ceilUpd.rowsPerSec;
      row(`applier ${t} inserts (rows/s)`, a.inserts.rowsPerSec, ceilIns.rowsPerSec, null, `≥ ${min.toLocaleString('en-US')} and ≥ 50% of ceiling`, a.inserts.rowsPerSec >= min && insRatio >= 0.5);
      row(`applier ${t} single-column updates (rows/s)`, a.update1col.rowsPerSec, ceilUpd.rowsPerSec, null, `≥ ${min.toLocaleString('en-US')} and ≥ 50% of ceiling`, a.update1col.rowsPerSec >= min && updRatio >= 0.5);
      row(`applier ${t} 30% conflicts (rows/s)`, a.conflict30.rowsPerSec, ceilUpd.rowsPerSec, null, `≥ ${min.toLocaleString('en-US')}`, a.conflict30.rowsPerSec >= min);
    }
  }
  if (ok<EndToEndResult>(r.e2e)) {
    const f = r.e2e.fieldsync;
    const d = ok<PipelineResult>(r.e2e.debezium) ? r.e2e.debezium : undefined;
    row('end to end throughput, PG → Kafka → MariaDB (changes/s)', f.drain.changesPerSec, c?.mariadb.upsertInsertRowsPerSec ?? null, d?.drain.changesPerSec ?? null, '≥ 2× Debezium', d ? f.drain.changesPerSec >= 2 * d.drain.changesPerSec : null);
    for (const rate of [1000, 5000, 10000, 20000]) {
      const fr = at(f.rates, rate);
      const dr = at(d?.rates, rate);
      if (!fr) continue;
      // -1 = some rows had not arrived 5 s after the writer stopped (latency unbounded).
      const late = (x: { p99Ms: number } | undefined) => x !== undefined && x.p99Ms < 0;
      row(`end to end p99 latency at ${rate.toLocaleString('en-US')}/s offered (ms; achieved ${fr.achievedPerSec}/s, p50 ${fr.p50Ms}, p95 ${fr.p95Ms}${dr ? `; Debezium achieved ${dr.achievedPerSec}/s` : ''})`,
        late(fr) ? null : fr.p99Ms, null, dr && !late(dr) ? dr.p99Ms : null,
        rate === 10000 ? 'p99 ≤ 500 ms' : '–', rate === 10000 ? fr.sustained && !late(fr) && fr.p99Ms <= 500 : null, '–',
        late(dr) ? 'Debezium: rows missing 5 s after the writer stopped' : dr && !late(fr) ? `Debezium p99 ${ratio(dr.p99Ms, fr.p99Ms)} fieldsync's` : '–');
    }
    row('highest sustained offered rate (changes/s)', f.highestSustainedPerSec, null, d?.highestSustainedPerSec ?? null, '–', null);
    for (const [svc, mib] of Object.entries(f.peakRssMiB)) row(`peak RSS ${svc} under load (MiB)`, mib, null, null, '< 300 MB', mib < 286);
    if (d) for (const [svc, mib] of Object.entries(d.peakRssMiB)) row(`peak RSS Debezium ${svc} (MiB, JVM)`, null, null, mib, '–', null);
  }
  const reconcileRss = rss(r.reconcile);
  if (reconcileRss !== null) row('peak RSS reconciler (in-process in reconcile.ts, 1M rows, MiB)', reconcileRss, null, null, '< 300 MB', reconcileRss < 286);
  if (ok<ReconcileBenchResult>(r.reconcile)) {
    for (const t of r.reconcile.targets) {
      const ceilingSum = Math.round((t.ceilings.bulkLoadSeconds + t.ceilings.setCopySeconds) * 100) / 100;
      // 20 s for 1,000,000 rows, 200 s for 10,000,000 (results of older runs carry no per-size goal: 20 s)
      const goal = r.reconcile.goals?.totalSeconds ?? 20;
      row(`reconcile ${t.target}, ${t.rows.toLocaleString('en-US')} rows nightly, total (s)`, t.nightly.totalSeconds, ceilingSum, null, `≤ ${goal} s and ≤ 3× ceiling sum`, t.nightly.totalSeconds <= goal && t.nightly.totalSeconds <= 3 * ceilingSum, `${(t.nightly.totalSeconds / ceilingSum).toFixed(2)}× ceiling`);
      for (const [phase, s] of Object.entries(t.nightly.phasesSeconds)) row(`reconcile ${t.target} phase ${phase} (s)`, s, null, null, '–', null, '–');
      // ceiling: the same six tables' bare renames in the same run (reconcile.ts), else ceilings.ts' two-table swap
      const swapCeiling = t.ceilings.bareSwapMs ?? (c ? (t.target === 'mariadb' ? c.mariadb.swapMs : c.postgres.swapMs) : null);
      row(`reconcile ${t.target} swap (ms)`, t.nightly.swapMs, swapCeiling, null, '≤ 10 ms', t.nightly.swapMs <= 10, '–');
    }
  }
  return rows;
}
