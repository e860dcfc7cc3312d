/**
 * A tiny process supervisor for the chaos suite and the benchmarks: it runs fieldsync
 * services as child processes (`node bin/fieldsync.mjs <command> …`), restarts a service
 * that died (as Kubernetes would: after a short, growing delay), kills with SIGKILL on
 * request, waits for /readyz, and samples each process's peak resident memory (VmHWM from
 * /proc) so a run can report the peak RSS of every service.
 *
 * Rules it keeps: a service stopped with stop() is not restarted; every wait has a deadline;
 * every child is killed when the parent exits, so a failed run leaves no process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../bench/support/env.js';
import { backoffDelay } from '../../lib/retry.js';
import { waitFor } from '../support/helpers.js';

const children = new Set<ChildProcess>();
process.once('exit', () => { for (const c of children) c.kill('SIGKILL'); });

/** Peak resident set size of a process in MiB (VmHWM), or undefined when it is gone. */
export function peakRssMiB(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface ServiceSpec {
  /** A name for logs and reports, e.g. "capture-pg". */
  name: string;
  /** Arguments after `bin/fieldsync.mjs`, e.g. ['capture', '--config', file]. */
  args: string[];
  /** Port of the service's health server, for waitReady(). */
  httpPort?: number;
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /** Node options for the child, e.g. ['--cpu-prof', '--cpu-prof-dir=…']. */
  nodeArgs?: string[];
  /** Restart the service when it exits without stop() (default true). */
  restart?: boolean;
}

export class SupervisedService {
  private child: ChildProcess | undefined;
  private stopping = false;
  private sampler: NodeJS.Timeout | undefined;
  private consecutiveFailures = 0;
  /** Times the process was started again after it died or was killed. */
  restarts = 0;
  /** Exits that were not requested by stop() (crashes and kill -9); minus kills = the service's own exits. */
  unexpectedExits = 0;
  /** kill -9 requested through kill9(). */
  kills = 0;
  peakRssMiB = 0;
  readonly exitCodes: (number | string)[] = [];

  constructor(readonly spec: ServiceSpec) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  start(): void {
    if (this.child) return;
    this.stopping = false;
    const out = openSync(this.spec.logFile, 'a');
    const c = spawn(process.execPath, [...(this.spec.nodeArgs ?? []), join(repoRoot, 'bin', 'fieldsync.mjs'), ...this.spec.args], {
      cwd: repoRoot, env: { ...process.env, ...this.spec.env }, stdio: ['ignore', out, out],
    });
    closeSync(out);
    this.child = c;
    children.add(c);
    const startedAt = Date.now();
    this.sampler ??= setInterval(() => this.sample(), 500);
    c.once('exit', (code, signal) => {
      this.sample(c.pid);
      children.delete(c);
      if (this.child === c) this.child = undefined;
      this.exitCodes.push(code ?? signal ?? 'unknown');
      if (this.stopping || this.spec.restart === false) return;
      this.unexpectedExits++;
      // A process that ran for a while before dying starts again at once; one that keeps
      // dying at start-up backs off (no crash loop hammering a broker that is down).
      this.consecutiveFailures = Date.now() - startedAt > 10_000 ? 0 : this.consecutiveFailures + 1;
      const delay = this.consecutiveFailures === 0 ? 100 : backoffDelay(this.consecutiveFailures, 250, 5000);
      setTimeout(() => {
        if (this.stopping || this.child) return;
        this.restarts++;
        this.start();
      }, delay).unref();
    });
  }

  private sample(pid = this.child?.pid): void {
    if (pid === undefined) return;
    const rss = peakRssMiB(pid);
    if (rss !== undefined && rss > this.peakRssMiB) this.peakRssMiB = rss;
  }

  /** kill -9; the supervisor starts it again (unless restart is off). */
  kill9(): void {
    this.sample();
    if (this.child) this.kills++;
    this.child?.kill('SIGKILL');
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    const port = this.spec.httpPort;
    if (port === undefined) throw new Error(`${this.spec.name}: no http port configured to check readiness`);
    await waitFor(`${this.spec.name} to report ready on /readyz`, async () => {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      return r.status === 200;
    }, timeoutMs, 200);
  }

  /** Graceful stop (SIGTERM), SIGKILL after the deadline; no restart. Returns the exit code. */
  async stop(timeoutMs = 30_000): Promise<number | string | undefined> {
    this.stopping = true;
    const c = this.child;
    if (c) {
      this.sample();
      const gone = new Promise<void>((resolve) => { if (c.exitCode !== null || c.signalCode !== null) resolve(); else c.once('exit', () => resolve()); });
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      await gone;
      clearTimeout(timer);
    }
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = undefined;
    return this.exitCodes[this.exitCodes.length - 1];
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(this.spec.logFile, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}

/** Run a one-shot fieldsync command (e.g. `reconcile`) to its end; resolves with its exit code. */
export function runCommand(args: string[], logFile: string, env?: NodeJS.ProcessEnv): { pid: number | undefined; done: Promise<number | string>; kill9(): void; peakRssMiB(): number } {
  const out = openSync(logFile, 'a');
  const c = spawn(process.execPath, [join(repoRoot, 'bin', 'fieldsync.mjs'), ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
  closeSync(out);
  children.add(c);
  let peak = 0;
  const timer = setInterval(() => { const r = c.pid ? peakRssMiB(c.pid) : undefined; if (r && r > peak) peak = r; }, 500);
  const done = new Promise<number | string>((resolve) => {
    c.once('exit', (code, signal) => { clearInterval(timer); children.delete(c); resolve(code ?? signal ?? 'unknown'); });
  });
  return { pid: c.pid, done, kill9: () => c.kill('SIGKILL'), peakRssMiB: () => peak };
}
