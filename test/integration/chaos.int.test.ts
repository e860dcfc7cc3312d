/**
 * The CI-sized chaos run (the full one is `npm run chaos`): every fault kind once during a
 * short two-way stream with reconciles, then the automatic checks. About 3 minutes on an
 * otherwise idle 2-core machine (private PostgreSQL, MariaDB and Kafka, four services);
 * the deadline below leaves room for a machine busy with other test files.
 */
import { describe, expect, it } from 'vitest';
import { runChaos } from '../chaos/scenario.js';

describe('chaos (CI size)', () => {
  it('survives kill -9 of every service, broker and database restarts, a poison message and an overflow with nothing lost', async () => {
    const report = await runChaos({
      streamMs: Number(process.env.CHAOS_CI_STREAM_SECONDS ?? '45') * 1000,
      ratePerSide: 100,
      ...(process.env.CHAOS_SEED ? { seed: Number(process.env.CHAOS_SEED) } : {}),
      convergeTimeoutMs: 60_000,
      log: (m) => process.stdout.write(`[chaos] ${m}\n`),
    });
    process.stdout.write(`${JSON.stringify({ ...report, modelDiff: undefined }, null, 2)}\n`);
    expect(report.problems).toEqual([]);
    expect(report.faultsInjected).toBeGreaterThanOrEqual(10);
    expect(report.dataLost).toBe(0);
    expect(report.deadLetters.distinct).toBe(report.deadLetters.expected);
    expect(report.deadLetters.matched).toBe(report.deadLetters.expected);
    expect(report.verify).toEqual({ pgToMaria: 0, mariaToPg: 0 });
    expect(Object.values(report.ready).every(Boolean)).toBe(true);
    expect(report.events.written).toBeGreaterThan(1000);
    expect(report.ok).toBe(true);
  }, 600_000);
});
