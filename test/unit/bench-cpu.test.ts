import { describe, expect, it } from 'vitest';
import { endToEndMarkdown } from '../../bench/end-to-end-report.js';
import { cpuInterval, machineCpuSeconds, processCpuSeconds } from '../../bench/support/cpu.js';

/** Computes until this process has used `ms` more of CPU (by Node's own count, not procfs). */
function spin(ms: number): number {
  const start = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + i);
    const used = process.cpuUsage(start);
    if (used.user + used.system >= ms * 1000) return x;
  }
}

describe('bench CPU accounting (procfs)', () => {
  it('reads this process\'s CPU, which grows while it computes, and the machine\'s busy and total time', () => {
    const before = processCpuSeconds(process.pid)!;
    expect(before).toBeGreaterThan(0);
    spin(150);
    expect(processCpuSeconds(process.pid)! - before).toBeGreaterThanOrEqual(0.13); // 150 ms, less a 10 ms tick either side
    const m = machineCpuSeconds()!;
    expect(m.busy).toBeGreaterThan(0);
    expect(m.total).toBeGreaterThan(m.busy);
    expect(processCpuSeconds(2 ** 22 + 7)).toBeUndefined(); // beyond pid_max: no such process
  });

  it('gives CPU per unit per process over an interval, leaves out a process it cannot read, and the machine\'s busy share', () => {
    const interval = cpuInterval({ self: process.pid, gone: 2 ** 22 + 7, unknown: undefined });
    spin(200);
    const share = interval.end(1000);
    expect(Object.keys(share.microsPerUnit)).toEqual(['self']);
    // 0.2 s of CPU over 1,000 units: about 200 µs each (procfs counts in 10 ms ticks)
    expect(share.microsPerUnit.self).toBeGreaterThanOrEqual(180);
    expect(share.machineBusyPercent).toBeGreaterThan(0);
    expect(share.machineBusyPercent).toBeLessThanOrEqual(100);
  });

  it('shows the figures in the end-to-end report', () => {
    const cpu = { microsPerUnit: { capture: 40.5, applier: 55 }, machineBusyPercent: 97 };
    const md = endToEndMarkdown({
      backlog: { inserts: 2, updates: 1 },
      fieldsync: { drain: { changes: 3, seconds: 1, changesPerSec: 3, cpu }, rates: [{ offeredPerSec: 10, achievedPerSec: 10, rows: 10, p50Ms: 1, p95Ms: 2, p99Ms: 3, maxMs: 4, sustained: true, cpu }], highestSustainedPerSec: 10, peakRssMiB: {} },
      debezium: { error: 'not run' }, throughputRatio: null, notes: [],
    });
    expect(md).toContain('| fieldsync | 3 | 1 | 3 | capture 40.5, applier 55 | 97% |  |');
    expect(md).toContain('| fieldsync | 10 | 10 | 10 | 1 | 2 | 3 | 4 | yes | capture 40.5, applier 55 | 97% |');
  });
});
