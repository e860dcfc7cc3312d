import { describe, expect, it } from 'vitest';
import type { ApplierThroughput } from '../../bench/applier-throughput.js';
import type { Ceilings } from '../../bench/ceilings.js';
import type { EndToEndResult } from '../../bench/end-to-end.js';
import { reconcileGoalSeconds, type ReconcileBenchTarget } from '../../bench/reconcile.js';
import { summaryRows } from '../../bench/summary.js';
import { markdownTable } from '../../bench/support/env.js';
import { benchLine, benchRow, multiRowUpsert } from '../../bench/support/table.js';

const scenario = (rowsPerSec: number) => ({ rows: 1000, seconds: 1000 / rowsPerSec, rowsPerSec });
const target = (ins: number, upd: number, ceil: number) => ({
  inserts: scenario(ins), update1col: scenario(upd), conflict30: { ...scenario(upd), fieldsKept: 1, fieldsTaken: 2 },
  ceilingInsert: scenario(ceil), ceilingUpdate: scenario(ceil), insertRatio: ins / ceil, updateRatio: upd / ceil,
});
const ceilings: Ceilings = {
  mariadb: { bulkLoadRowsPerSec: 300_000, upsertInsertRowsPerSec: 90_000, upsertUpdateRowsPerSec: 80_000, setMergeRowsPerSec: 1, setMergeSeconds: 1, swapMs: 2, rows: { bulk: 1, upsert: 1, merge: 1 } },
  postgres: { bulkLoadRowsPerSec: 500_000, upsertInsertRowsPerSec: 50_000, upsertUpdateRowsPerSec: 45_000, setMergeRowsPerSec: 1, setMergeSeconds: 1, swapMs: 1.5, rows: { bulk: 1, upsert: 1, merge: 1 } },
  kafka: { recordsPerSec: 400_000, mbPerSec: 70, avgLatencyMs: 5, p99LatencyMs: 20, records: 1, recordSize: 190 },
};
const rate = (offered: number, p99: number) => ({ offeredPerSec: offered, achievedPerSec: offered, rows: offered, p50Ms: 10, p95Ms: 20, p99Ms: p99, maxMs: p99, sustained: true });

describe('bench summary', () => {
  it('puts each figure next to its ceiling, Debezium and the target, and says whether the target was met', () => {
    const applier: ApplierThroughput = { rows: 1000, batchSize: 2000, rounds: 1, loadAverage: [1, 1], mariadb: target(60_000, 40_000, 90_000), postgres: target(35_000, 31_000, 50_000) };
    const e2e: EndToEndResult = {
      backlog: { inserts: 100, updates: 50 },
      fieldsync: { drain: { changes: 150, seconds: 1, changesPerSec: 30_000 }, rates: [rate(10_000, 400)], highestSustainedPerSec: 10_000, peakRssMiB: { capture: 150, applier: 310 } },
      debezium: { drain: { changes: 150, seconds: 1, changesPerSec: 10_000 }, rates: [rate(10_000, 2000)], highestSustainedPerSec: 2000, peakRssMiB: { connect: 700 } },
      throughputRatio: 3, notes: [],
    };
    const rows = summaryRows({ ceilings, capture: { postgres: { eventsPerSec: 60_000, steadyEventsPerSec: 62_000 }, mariadb: { eventsPerSec: 40_000 } }, applier, e2e, reconcile: { error: 'skipped' } });
    const by = (m: string) => rows.find((r) => r.measure.startsWith(m))!;
    expect(by('capture postgres').met).toBe('yes');
    expect(by('capture postgres, steady state')).toMatchObject({ fieldsync: 62_000, met: 'yes' });
    expect(by('capture postgres, whole run')).toMatchObject({ fieldsync: 60_000 });
    expect(by('capture mariadb').met).toBe('NO');
    expect(by('capture postgres')['of ceiling']).toBe('15%');
    expect(by('applier mariadb inserts')).toMatchObject({ fieldsync: 60_000, ceiling: 90_000, 'of ceiling': '67%', met: 'yes' });
    expect(by('applier mariadb single-column').met).toBe('NO'); // 40k < 50k
    expect(by('applier postgres inserts').met).toBe('yes');
    // with the array-bound ceiling present, PostgreSQL is measured against it
    const withArrays = summaryRows({ ceilings, capture: {}, applier: { ...applier, postgres: { ...applier.postgres, ceilingInsertArrays: scenario(100_000), ceilingUpdateArrays: scenario(50_000) } }, e2e, reconcile: { error: 'skipped' } });
    expect(withArrays.find((r) => r.measure.startsWith('applier postgres inserts'))).toMatchObject({ ceiling: 100_000, 'of ceiling': '35%', met: 'NO' });
    expect(withArrays.find((r) => r.measure.startsWith('applier postgres single-column'))).toMatchObject({ ceiling: 50_000, met: 'yes' });
    expect(by('end to end throughput')).toMatchObject({ fieldsync: 30_000, debezium: 10_000, 'fieldsync / Debezium': '3.00×', met: 'yes' });
    expect(by('end to end p99 latency at 10,000/s').met).toBe('yes');
    expect(by('peak RSS applier').met).toBe('NO');
    expect(by('peak RSS capture').met).toBe('yes');
    expect(rows.some((r) => r.measure.startsWith('reconcile'))).toBe(false);
    expect(rows.some((r) => r.measure.startsWith('source'))).toBe(false);
  });

  it('lists the source overhead of each write next to the same write without the triggers', () => {
    const cost = (w: number, wo: number) => ({ withTriggerMicros: w, withoutTriggerMicros: wo, ratio: Math.round((w / wo) * 100) / 100, rowsPerRound: 100 });
    const rows = summaryRows({ ceilings, capture: {}, source: { postgres: { insert100: cost(50, 12.5), update100: cost(60, 15), insert1: cost(600, 400) } }, applier: { error: 'skipped' }, e2e: { error: 'skipped' }, reconcile: { error: 'skipped' } });
    const src = rows.filter((r) => r.measure.startsWith('source'));
    expect(src.map((r) => [r.fieldsync, r.ceiling, r['of ceiling'], r.met])).toEqual([[50, 12.5, '4.00× the write without', '–'], [60, 15, '4.00× the write without', '–'], [600, 400, '1.50× the write without', '–']]);
    expect(src[1]!.measure).toBe('source postgres UPDATE of 100 rows with the outbox triggers (µs per row; ceiling: without)');
  });

  it('renders a Markdown table with a header, a rule and one line per row', () => {
    const md = markdownTable([{ a: 1, b: 'x' }, { a: 2.5, b: null }]).trim().split('\n');
    expect(md).toEqual(['| a | b |', '| --- | --- |', '| 1 | x |', '| 2.50 | – |']);
  });
});

describe('bench table', () => {
  it('gives the same row for the same id and version, and a different one for a new version', () => {
    expect(benchRow(42, 1)).toEqual(benchRow(42, 1));
    expect(benchRow(42, 2)).not.toEqual(benchRow(42, 1));
    expect(benchRow(42)).toHaveLength(10);
    expect(benchLine(7).split('\t')).toHaveLength(10);
  });

  it('builds multi-row upserts with one placeholder per value in both dialects', () => {
    const pg = multiRowUpsert('postgres', 't', 0, 3);
    expect(pg.params).toHaveLength(30);
    expect(pg.sql).toContain('$30');
    expect(pg.sql).toContain('ON CONFLICT (id) DO UPDATE');
    const my = multiRowUpsert('mysql', 't', 0, 3);
    expect(my.sql.split('?')).toHaveLength(31);
    expect(my.sql).toContain('ON DUPLICATE KEY UPDATE');
  });
  it('holds a nightly refresh to 20 s per million rows (200 s for 10,000,000) and to 3x its ceiling sum', () => {
    expect(reconcileGoalSeconds(1_000_000)).toBe(20);
    expect(reconcileGoalSeconds(10_000_000)).toBe(200);
    expect(reconcileGoalSeconds(300_000)).toBe(20);
    const phasesSeconds = { stage: 1, merge: 2 };
    const reconcileTarget = (rows: number, totalSeconds: number, ceilingSeconds: number): ReconcileBenchTarget => ({
      target: 'mariadb', rows,
      initial: { totalSeconds, phasesSeconds, swapMs: 5, renameMs: 4 },
      nightly: { totalSeconds, phasesSeconds, swapMs: 9, renameMs: 8, fieldsKeptFromLive: 1, fieldsTakenFromSource: 2 },
      ceilings: { bulkLoadSeconds: ceilingSeconds / 2, bulkLoadRowsPerSec: 1, setCopySeconds: ceilingSeconds / 2, setCopyRowsPerSec: 1, bareSwapMs: 4 },
      ofCeiling: { stage: 1, merge: 1 },
    });
    const total = (rows: number, totalSeconds: number, ceilingSeconds: number) => summaryRows({
      ceilings, capture: {}, applier: { error: 'skipped' }, e2e: { error: 'skipped' },
      reconcile: { rows, targets: [reconcileTarget(rows, totalSeconds, ceilingSeconds)], goals: { totalSeconds: reconcileGoalSeconds(rows), swapMs: 10 } },
    }).find((r) => r.measure.includes('nightly, total'))!;
    expect(total(10_000_000, 117, 61)).toMatchObject({ target: '≤ 200 s and ≤ 3× ceiling sum', met: 'yes' });
    expect(total(1_000_000, 25, 10)).toMatchObject({ target: '≤ 20 s and ≤ 3× ceiling sum', met: 'NO' });
    expect(total(10_000_000, 190, 50)).toMatchObject({ met: 'NO' }); // under 200 s but 3.8x its ceiling
  });
});
