/**
 * The demo end to end in its CI mode: `npm run demo -- --quick` brings everything up,
 * streams billing changes and invoice edits, refreshes once, and its verify step must find
 * billing and invoice equal (exit code 0); `npm run demo -- --stop` then ends the services
 * it left running.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const demoDir = join('.stack', 'demo');

interface Summary {
  verify: { equal: boolean; rows: number; mismatches: number; fieldsOwnedByInvoice: number };
  events: { captured: number; applied: number };
  load: { billingChanges: number; invoiceEdits: number };
  reconcile: { ok: boolean };
  services: { name: string; pid: number; metrics: string }[];
}

/** Running (a zombie waiting for its reaper has exited: its /proc stat state is Z). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return true;
  }
}

function demo(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join('scripts', 'demo.ts'), ...args], { encoding: 'utf8', timeout: 280_000 });
}

describe('npm run demo -- --quick', () => {
  afterAll(() => {
    // also when an assertion failed half-way
    if (existsSync(join(demoDir, 'state.json'))) demo(['--stop']);
  });

  it('runs end to end, verify passes, and --stop ends the services it left running', async () => {
    const run = demo(['--quick']);
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('result: EQUAL');
    expect(run.stdout).toMatch(/verify\s+EQUAL/);

    const summary = JSON.parse(readFileSync(join(demoDir, 'summary.json'), 'utf8')) as Summary;
    expect(summary.verify).toMatchObject({ equal: true, mismatches: 0 });
    expect(summary.verify.rows).toBeGreaterThan(900);
    expect(summary.load.billingChanges).toBeGreaterThan(100);
    expect(summary.load.invoiceEdits).toBeGreaterThan(10);
    expect(summary.reconcile.ok).toBe(true);
    expect(summary.events.applied).toBeGreaterThanOrEqual(summary.events.captured);
    expect(summary.events.captured).toBeGreaterThan(summary.load.billingChanges);

    // The services keep running with their metrics until --stop.
    for (const s of summary.services) {
      expect(alive(s.pid), s.name).toBe(true);
      const metrics = await fetch(s.metrics).then((r) => r.text());
      expect(metrics).toContain('fieldsync_');
    }
    const stop = demo(['--stop']);
    expect(stop.status, stop.stderr).toBe(0);
    expect(stop.stdout).toContain('stopped 2 demo service(s)');
    for (const s of summary.services) expect(alive(s.pid), s.name).toBe(false);
    expect(existsSync(join(demoDir, 'state.json'))).toBe(false);
  });
});
