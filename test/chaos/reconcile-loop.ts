/**
 * Reconcile runs during the chaos stream: `fieldsync reconcile` of the accounts table runs
 * again and again (a short pause between runs) until stopped; a fault kills a run in
 * progress at a random moment within it. Runs that fail because a database or the broker was
 * down at that moment are counted, not hidden; the suite requires one clean run at the end.
 */
import { waitFor } from '../support/helpers.js';
import type { ChaosCluster } from './cluster.js';

interface Run { done: Promise<number | string>; kill9(): void; peakRssMiB(): number; ended: boolean }

/** Attempts at landing a kill inside a run before the fault gives up (each waits for one run). */
const KILL_ATTEMPTS = 20;

export class ReconcileLoop {
  runs = 0;
  succeeded = 0;
  failed = 0;
  killed = 0;
  peakRssMiB = 0;
  private current: Run | undefined;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();
  /** Wall time of the runs that ended, for where in a run a kill lands. */
  private readonly durationsMs: number[] = [];

  constructor(private readonly c: ChaosCluster, private readonly table: string, private readonly pauseMs: number) {}

  private startRun(): Run {
    this.runs++;
    const started = performance.now();
    const run: Run = { ...this.c.run(['reconcile', '--config', this.c.configFile, '--table', this.table], `reconcile-${this.runs}`), ended: false };
    this.current = run;
    void run.done.then((code) => {
      run.ended = true;
      this.durationsMs.push(performance.now() - started);
      this.peakRssMiB = Math.max(this.peakRssMiB, run.peakRssMiB());
      if (code === 0) this.succeeded++;
      else if (code === 'SIGKILL') this.killed++;
      else this.failed++;
      if (this.current === run) this.current = undefined;
    });
    return run;
  }

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        await this.startRun().done;
        await new Promise((r) => setTimeout(r, this.pauseMs));
      }
    })();
  }

  /**
   * Kill -9 a run in progress at a random moment within it: the run the loop has going (or
   * the next one it starts), after a random share of a typical run's duration. A run that
   * ends first is not a kill: the fault tries again on the next run. A fast machine finishes
   * a run in a fraction of a second, so a fixed delay would mostly miss.
   */
  async killAtRandomMoment(random: () => number): Promise<void> {
    for (let attempt = 0; attempt < KILL_ATTEMPTS; attempt++) {
      const run = await waitFor('a reconcile run in progress', () => (this.current && !this.current.ended ? this.current : undefined), 60_000, 10);
      const sorted = [...this.durationsMs].sort((a, b) => a - b);
      const typicalMs = sorted.length ? sorted[Math.floor(sorted.length / 2)]! : 1000;
      await new Promise((r) => setTimeout(r, random() * typicalMs * 0.9));
      if (run.ended) continue;
      run.kill9();
      // a run that was exiting on its own as the signal went out was not killed: try again
      if ((await run.done) === 'SIGKILL') return;
    }
    throw new Error(`kill-reconciler: no run was still in progress at the chosen moment in ${KILL_ATTEMPTS} attempts`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** One run to completion with no fault; resolves with its exit code. */
  async cleanRun(): Promise<number | string> {
    return this.startRun().done;
  }
}
