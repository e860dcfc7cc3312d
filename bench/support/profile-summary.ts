/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): the functions with the most self time,
 * with their file and line, so a benchmark report can say where a service spends its CPU.
 *
 *   tsx bench/support/profile-summary.ts <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface HotFunction {
  fn: string;
  where: string;
  selfPercent: number;
}

export function hotFunctions(file: string, top = 15): { totalSeconds: number; idlePercent: number; functions: HotFunction[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const n = byId.get(samples[i]!);
    const dt = deltas[i] ?? 0;
    if (!n) continue;
    total += dt;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)' || name === '(program)') { idle += dt; continue; }
    const url = n.callFrame.url.replace(/^.*\/(node_modules\/)/, '$1').replace(/^.*\/work\/[^/]+\//, '').replace(/^file:\/\/.*?\/(lib|services|bench)\//, '$1/');
    const key = `${name}\t${url}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const functions = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => {
    const [fn, where] = k.split('\t') as [string, string];
    return { fn, where, selfPercent: Math.round((v / total) * 1000) / 10 };
  });
  return { totalSeconds: Math.round(total / 1e5) / 10, idlePercent: Math.round((idle / total) * 1000) / 10, functions };
}

if (process.argv[1]?.endsWith('profile-summary.ts')) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: tsx bench/support/profile-summary.ts <file.cpuprofile> [top]');
  const r = hotFunctions(file, Number(process.argv[3] ?? '15'));
  process.stdout.write(`${file}: ${r.totalSeconds} s sampled, ${r.idlePercent}% idle\n`);
  for (const f of r.functions) process.stdout.write(`${String(f.selfPercent).padStart(5)}%  ${f.fn}  ${f.where}\n`);
}
