/**
 * Reconcile runs during the chaos stream: `fieldsync reconcile` of the accounts table runs
 * again and again (a short pause between runs) until stopped; a fault kills the run in
 * progress at a random moment. Runs that fail because a database or the broker was down
 * at that moment are counted, not hidden; the suite requires one clean run at the end.
 */
import type { ChaosCluster } from './cluster.js';

export class ReconcileLoop {
  runs = 0;
  succeeded = 0;
  failed = 0;
  killed = 0;
  peakRssMiB = 0;
  private current: { done: Promise<number | string>; kill9(): void; peakRssMiB(): number } | undefined;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(private readonly c: ChaosCluster, private readonly table: string, private readonly pauseMs: number) {}

  private startRun(): { done: Promise<number | string>; kill9(): void; peakRssMiB(): number } {
    this.runs++;
    const run = this.c.run(['reconcile', '--config', this.c.configFile, '--table', this.table], `reconcile-${this.runs}`);
    this.current = run;
    void run.done.then((code) => {
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

  /** Kill the run in progress after a random delay (0.2–2.5 s into it). */
  async killAtRandomMoment(random: () => number): Promise<void> {
    const run = this.current ?? this.startRun();
    await new Promise((r) => setTimeout(r, 200 + random() * 2300));
    run.kill9();
    await run.done;
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
