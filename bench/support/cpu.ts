/**
 * CPU time of processes and of the whole machine, from procfs, for a benchmark to report
 * CPU per change beside its wall-clock rates: the machine's speed drifts by tens of percent
 * between runs (bench/results), a process's CPU per unit of work much less, and the
 * machine's busy share tells whether a rate was limited by the pipeline or by a saturated
 * machine. Linux only; elsewhere every reading is undefined and the figures are left out.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** USER_HZ (clock ticks per second of /proc's times), 100 on every Linux this runs on. */
function ticks(): number {
  if (ticksPerSecond === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    ticksPerSecond = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/** User + system CPU seconds a process has used, or undefined when it is gone. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the fields after the command name, which is in parentheses and may hold spaces
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / ticks();
  } catch {
    return undefined;
  }
}

/** The machine's busy and total CPU seconds so far, summed over its cores (/proc/stat). */
export function machineCpuSeconds(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    return { busy: (total - idle) / ticks(), total: total / ticks() };
  } catch {
    return undefined;
  }
}

export interface CpuShare {
  /** CPU microseconds per unit of work, per named process (left out when unreadable). */
  microsPerUnit: Record<string, number>;
  /** The machine's busy share of all its cores over the interval, in percent. */
  machineBusyPercent?: number;
}

/** "capture 40, applier 55" (empty without figures). */
export function microsPerUnitText(c: CpuShare | undefined): string {
  return c ? Object.entries(c.microsPerUnit).map(([k, v]) => `${k} ${v}`).join(', ') : '';
}

/**
 * Starts an interval over the named processes (pids read now and at the end: a process that
 * restarted in between is left out). `end(units)` returns CPU per unit and the busy share.
 */
export function cpuInterval(pids: Record<string, number | undefined>): { end(units: number): CpuShare } {
  const start = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, { pid, cpu: processCpuSeconds(pid) }]));
  const machine = machineCpuSeconds();
  return {
    end(units: number): CpuShare {
      const microsPerUnit: Record<string, number> = {};
      for (const [name, s] of Object.entries(start)) {
        const now = processCpuSeconds(s.pid);
        if (s.cpu === undefined || now === undefined || units <= 0) continue;
        microsPerUnit[name] = Math.round(((now - s.cpu) * 1e6) / units * 10) / 10;
      }
      const m = machineCpuSeconds();
      const share: CpuShare = { microsPerUnit };
      if (machine && m && m.total > machine.total) share.machineBusyPercent = Math.round(((m.busy - machine.busy) / (m.total - machine.total)) * 100);
      return share;
    },
  };
}
