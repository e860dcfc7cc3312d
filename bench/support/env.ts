/**
 * Where the benchmarks find their tools and write their results, and what machine they ran
 * on. Downloads (Kafka, Debezium, Kafka Connect) live in the same cache as the local stack
 * (FIELDSYNC_CACHE, default ~/.cache/fieldsync), outside the clone, so a fresh clone on a
 * machine that ran them once starts at once.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, homedir, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cacheDir = process.env.FIELDSYNC_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fieldsync');
export const KAFKA_VERSION = '4.1.1';
export const resultsDir = join(repoRoot, 'bench', 'results');

/** Kafka's jars as fetched by `npm run stack -- up` (broker, admin and perf tools). */
export function kafkaLibs(): string {
  const libs = join(cacheDir, `kafka-${KAFKA_VERSION}`, 'libs');
  if (!existsSync(libs)) throw new Error(`Kafka jars are missing in ${libs}: run \`npm run stack -- up\` once to fetch them`);
  return libs;
}

/** A size knob for CI-sized defaults and bigger runs: BENCH_SCALE=10 runs ten times the rows. */
export function scaled(n: number): number {
  const s = Number(process.env.BENCH_SCALE ?? '1');
  return Math.max(1, Math.round(n * (Number.isFinite(s) && s > 0 ? s : 1)));
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'unavailable';
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? 'unavailable';
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  java: string;
  kafka: string;
  postgres?: string;
  mariadb?: string;
  os: string;
  /** 1-minute load average when the info was taken: other work on the machine skews every figure. */
  loadAverage1m: number;
}

export function machineInfo(): MachineInfo {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    java: firstLine('java', ['-version']),
    kafka: KAFKA_VERSION,
    os: firstLine('uname', ['-sr']),
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

/** One scenario's results: a JSON document and a Markdown table, under bench/results/. */
export interface ResultRow {
  [column: string]: string | number | null;
}

export function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function markdownTable(rows: ResultRow[]): string {
  if (rows.length === 0) return '_no rows_\n';
  const cols = Object.keys(rows[0]!);
  const cell = (v: string | number | null | undefined) => (v === null || v === undefined ? '–' : typeof v === 'number' ? fmt(v, Number.isInteger(v) ? 0 : 2) : v);
  return [
    `| ${cols.join(' | ')} |`,
    `| ${cols.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${cols.map((c) => cell(r[c])).join(' | ')} |`),
  ].join('\n') + '\n';
}

export function writeResult(name: string, title: string, machine: MachineInfo, data: unknown, markdownBody: string): { json: string; md: string } {
  mkdirSync(resultsDir, { recursive: true });
  const json = join(resultsDir, `${name}.json`);
  const md = join(resultsDir, `${name}.md`);
  const doc = { scenario: name, ranAt: new Date().toISOString(), machine, results: data };
  writeFileSync(json, JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
  const header = `# ${title}\n\nRan ${doc.ranAt} on ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, `
    + `Node ${machine.node}, ${machine.java}, Kafka ${machine.kafka}`
    + `${machine.postgres ? `, ${machine.postgres}` : ''}${machine.mariadb ? `, ${machine.mariadb}` : ''}; load average ${machine.loadAverage1m} at the start.\n\n`;
  writeFileSync(md, header + markdownBody);
  return { json, md };
}
