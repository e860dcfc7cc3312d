/**
 * A real Prometheus (Debian's package, installed by scripts/ensure-prometheus.ts when
 * missing) for tests: started on a free loopback port with a temp config and a temp
 * storage directory, scraping the given targets every second, optionally loading rule
 * files; stopped and removed by stop(). Queries go through the HTTP API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensurePrometheus } from '../../scripts/ensure-prometheus.js';
import { waitFor } from './helpers.js';
import { freePort } from './private-db.js';

export interface PromSample { metric: Record<string, string>; value: [number, string] }
export interface PromQueryResult { status: 'success' | 'error'; error?: string; data?: { resultType: string; result: PromSample[] } }

export interface PrometheusServer {
  url: string;
  query(expr: string): Promise<PromQueryResult>;
  /** GET an API path (e.g. /api/v1/targets) as JSON. */
  api<T>(path: string): Promise<T>;
  output(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(opts: { jobs: Record<string, string[]>; ruleFiles?: string[]; scrapeIntervalMs?: number }): Promise<PrometheusServer> {
  const { prometheus } = ensurePrometheus();
  const dir = mkdtempSync(join(tmpdir(), 'fieldsync-prometheus-'));
  const interval = `${opts.scrapeIntervalMs ?? 1000}ms`;
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: Object.entries(opts.jobs).map(([job, targets]) => ({ job_name: job, static_configs: [{ targets }] })),
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const proc: ChildProcess = spawn(prometheus, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1h',
    '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b: Buffer) => { out = (out + b.toString()).slice(-20_000); };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const killOnExit = () => { try { proc.kill('SIGKILL'); } catch { /* gone */ } };
  process.once('exit', killOnExit);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    process.off('exit', killOnExit);
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      await Promise.race([gone, new Promise<void>((r) => setTimeout(r, 10_000).unref())]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('Prometheus to be ready', async () => {
      if (proc.exitCode !== null) throw new Error(`prometheus exited ${proc.exitCode}: ${out}`);
      return (await fetch(`${url}/-/ready`)).ok;
    }, 60_000, 200);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url,
    output: () => out,
    async query(expr) {
      const r = await fetch(`${url}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: expr }) });
      return (await r.json()) as PromQueryResult;
    },
    async api<T>(path: string) {
      return (await (await fetch(`${url}${path}`)).json()) as T;
    },
    stop,
  };
}
