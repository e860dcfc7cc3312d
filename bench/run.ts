/**
 * `npm run bench`: every benchmark in one run on one machine, so that each fieldsync
 * figure stands next to its same-run ceiling and next to Debezium:
 *
 *   1. ceilings            bench/ceilings.ts (bulk load, 1,000-row upserts, set merge, swap, Kafka producer)
 *   2. capture             bench/capture-throughput.ts (outbox → Kafka, PostgreSQL and MariaDB sources)
 *      source              bench/source-overhead.ts (what the outbox triggers cost the source's writes)
 *   3. applier             bench/applier-throughput.ts (Sink.apply: inserts, 1-column updates, 30% conflicts)
 *   4. end to end          bench/end-to-end.ts (fieldsync and Debezium on the same stream: throughput, latency)
 *   5. reconcile           bench/reconcile.ts (1,000,000 rows, phases and swap)
 *
 * Each scenario writes bench/results/<scenario>.{json,md}; the summary (bench/results/
 * summary.{json,md}) lists each figure, its ceiling, the fraction, Debezium's figure, the
 * ratio and the target. A scenario that fails is reported as failed and the others still
 * run. Sizes: BENCH_SCALE (default 1), FIELDSYNC_BENCH_RECONCILE_ROWS (default 1,000,000);
 * BENCH_ONLY=ceilings,e2e,… runs a subset; BENCH_CPU_PROF=1 profiles the services.
 *
 * The Debezium comparison runs against a PRIVATE PostgreSQL started with wal_level=logical
 * (test/support/private-db.ts): the machine's PostgreSQL service is not reconfigured and
 * not restarted.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openMysql } from '../lib/dialect/mysql/db.js';
import { openPostgres } from '../lib/dialect/postgres/db.js';
import { stack } from '../test/support/helpers.js';
import { peakRssMiB } from '../test/chaos/supervisor.js';
import { runApplierThroughput, type ApplierThroughput } from './applier-throughput.js';
import { ceilingsMarkdown, measureCeilings, type Ceilings } from './ceilings.js';
import { endToEndMarkdown } from './end-to-end-report.js';
import { runEndToEnd, SERVICE_NODE_ARGS, type EndToEndResult } from './end-to-end.js';
import type { ReconcileBenchResult } from './reconcile.js';
import { runSourceOverhead, sourceOverheadMarkdown } from './source-overhead.js';
import { fmt, machineInfo, markdownTable, repoRoot, writeResult, type MachineInfo, type ResultRow } from './support/env.js';
import { summaryRows } from './summary.js';

const log = (m: string) => process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;
const wanted = (name: string) => !only || only.has(name);

async function versions(m: MachineInfo): Promise<MachineInfo> {
  const pg = openPostgres(stack.pgUrl(), { poolSize: 1 });
  const my = openMysql(stack.mysqlUrl(), { poolSize: 1 });
  try {
    const [p] = await pg.query('SHOW server_version');
    const [q] = await my.query('SELECT VERSION() AS v');
    return { ...m, postgres: `PostgreSQL ${String(p?.server_version ?? '?')}`, mariadb: `MariaDB ${String(q?.v ?? '?')}` };
  } finally {
    await pg.close();
    await my.close();
  }
}

/**
 * Run a benchmark script as its own process and read the JSON it prints; its peak RSS
 * (VmHWM) is sampled, which for capture-throughput.ts (the capture service in-process, run
 * with the deployment's heap limit) and reconcile.ts (the refresh in-process) is the memory
 * of that service under load.
 */
async function runScript(file: string, env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<{ json: unknown; peakRssMiB: number }> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(repoRoot, 'bench', file)], {
    cwd: repoRoot, env: { ...process.env, FIELDSYNC_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let partial = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  // the script's progress lines (stderr) show as they come: a 10,000,000-row reconcile runs
  // for minutes; they are also kept for the error message should it fail
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) log(`   ${line}`);
  });
  let peak = 0;
  const timer = setInterval(() => { const r = child.pid ? peakRssMiB(child.pid) : undefined; if (r && r > peak) peak = r; }, 500);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearInterval(timer);
  if (code !== 0) throw new Error(`bench/${file} exited ${code}: ${err.split('\n').slice(-8).join('\n')}`);
  return { json: firstJsonDocument(out, file), peakRssMiB: Math.round(peak) };
}

/** The first pretty-printed JSON document in a script's output (log lines may follow it). */
function firstJsonDocument(out: string, file: string): unknown {
  // JSON log lines also start with "{": the document starts on a line holding only "{" or "[".
  const lines = out.split('\n');
  for (let first = 0; first < lines.length; first++) {
    if (lines[first] !== '{' && lines[first] !== '[') continue;
    for (let end = first + 1; end < lines.length; end++) {
      if (!/^[}\]]/.test(lines[end]!)) continue;
      try {
        return JSON.parse(lines.slice(first, end + 1).join('\n')) as unknown;
      } catch {
        // not the end of the document yet
      }
    }
  }
  throw new Error(`bench/${file} printed no JSON document`);
}

async function scenario<T>(name: string, fn: () => Promise<T>): Promise<T | { error: string }> {
  if (!wanted(name)) return { error: 'skipped (BENCH_ONLY)' };
  log(`── ${name}`);
  const t0 = Date.now();
  try {
    const r = await fn();
    log(`   ${name} done in ${Math.round((Date.now() - t0) / 1000)} s`);
    return r;
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    log(`   ${name} FAILED: ${error}`);
    return { error };
  }
}

// The services run compiled, as in the Docker image (no TypeScript loader in their memory
// or their start-up); the build goes to its own git-ignored folder so that tests, which run
// the sources, never pick up a stale build.
if (!process.env.FIELDSYNC_BUILD_DIR) {
  log('compiling the services (tsc -p tsconfig.build.json --outDir .bench-build) ...');
  await new Promise<void>((resolve, reject) => {
    const tsc = spawn(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', '.bench-build'], { cwd: repoRoot, stdio: 'inherit' });
    tsc.on('error', reject);
    tsc.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`unable to compile the services for the benchmarks: tsc exited ${code}`))));
  });
  process.env.FIELDSYNC_BUILD_DIR = '.bench-build';
}

const machine = await versions(machineInfo());
log(`${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.postgres}, ${machine.mariadb}, load average ${machine.loadAverage1m}`);

/**
 * MariaDB's packaged defaults (a 128 MiB buffer pool, a 96 MiB redo log) are far below what
 * a server syncing million-row tables runs with: a 1,000,000-row refresh would measure the
 * redo log's checkpoint flushing, not fieldsync. For the run, the server gets a 2 GiB buffer
 * pool and a 1 GiB redo log (both dynamic in MariaDB 10.11; ceilings are measured under the
 * same settings), and its own values are put back at the end. Nothing is persisted.
 * A 10,000,000-row reconcile (FIELDSYNC_BENCH_RECONCILE_ROWS) works on about 6 GiB of
 * tables at once (live, stage and their clocks): there the pool is 8 GiB and the redo log
 * 2 GiB. InnoDB reads past the OS page cache (O_DIRECT), where PostgreSQL's tables sit in
 * it, so without this the two would not be measured on the same memory.
 */
async function tuneMariadb(): Promise<{ settings: Record<string, number>; restore: () => Promise<void> }> {
  const big = Number(process.env.FIELDSYNC_BENCH_RECONCILE_ROWS ?? 0) >= 5_000_000;
  const wanted: Record<string, number> = { innodb_buffer_pool_size: (big ? 8 : 2) * 1024 ** 3, innodb_log_file_size: (big ? 2 : 1) * 1024 ** 3 };
  const my = openMysql(stack.mysqlUrl(), { poolSize: 1 });
  const before: Record<string, number> = {};
  try {
    for (const name of Object.keys(wanted)) {
      const [row] = await my.query(`SELECT @@GLOBAL.${name} AS v`);
      before[name] = Number(row?.v);
      if (before[name] < wanted[name]!) await my.execute(`SET GLOBAL ${name} = ${wanted[name]!}`);
    }
  } finally {
    await my.close();
  }
  return {
    settings: wanted,
    restore: async () => {
      const db = openMysql(stack.mysqlUrl(), { poolSize: 1 });
      try {
        for (const [name, v] of Object.entries(before)) if (v < wanted[name]!) await db.execute(`SET GLOBAL ${name} = ${v}`);
      } finally {
        await db.close();
      }
    },
  };
}

const tuned = await tuneMariadb();
// An interrupted run puts MariaDB's settings back as well: an 8 GiB buffer pool left behind
// starves whatever runs next on the machine (the test suite, say).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: restoring MariaDB's settings before exiting`);
    void tuned.restore().catch(() => undefined).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}
log(`MariaDB for the run: ${Object.entries(tuned.settings).map(([k, v]) => `${k}=${fmt(v / 1024 ** 2)} MiB`).join(', ')} (restored at the end)`);

const ceilings = await scenario('ceilings', () => measureCeilings({ log: (m) => log(`   ${m}`) }));
if (!('error' in ceilings)) writeResult('ceilings', 'Ceilings (same machine, same run)', machine, ceilings, ceilingsMarkdown(ceilings));

const capture = await scenario('capture', async () => {
  if (!existsSync(join(repoRoot, 'bench', 'capture-throughput.ts'))) throw new Error('bench/capture-throughput.ts is not in this checkout');
  // the capture service in-process, with the heap limit the deployment gives it (deploy/)
  const r = await runScript('capture-throughput.ts', {}, SERVICE_NODE_ARGS.split(/\s+/));
  return { ...(r.json as object), peakRssMiB: r.peakRssMiB };
});
if (!('error' in (capture as object))) writeResult('capture', 'Capture: outbox → Kafka', machine, capture, `\`\`\`json\n${JSON.stringify(capture, null, 2)}\n\`\`\`\n`);

const source = await scenario('source', () => runSourceOverhead({ log: (m) => log(`   ${m}`) }));
if (!('error' in source)) writeResult('source-overhead', 'Source overhead: writes with and without the outbox triggers', machine, source, sourceOverheadMarkdown(source));

const applier = await scenario('applier', () => runApplierThroughput());
if (!('error' in applier)) {
  const rows: ResultRow[] = (['mariadb', 'postgres'] as const).flatMap((t) => [
    { target: t, workload: 'inserts', 'rows/s': applier[t].inserts.rowsPerSec, 'ceiling rows/s': applier[t].ceilingInsert.rowsPerSec, 'of ceiling': applier[t].insertRatio },
    { target: t, workload: 'single-column updates', 'rows/s': applier[t].update1col.rowsPerSec, 'ceiling rows/s': applier[t].ceilingUpdate.rowsPerSec, 'of ceiling': applier[t].updateRatio },
    { target: t, workload: '30% conflicts', 'rows/s': applier[t].conflict30.rowsPerSec, 'ceiling rows/s': applier[t].ceilingUpdate.rowsPerSec, 'of ceiling': Math.round((applier[t].conflict30.rowsPerSec / applier[t].ceilingUpdate.rowsPerSec) * 100) / 100 },
  ]);
  writeResult('applier', `Applier merge throughput (Sink.apply, ${fmt(applier.rows)} rows, batch ${applier.batchSize})`, machine, applier, markdownTable(rows));
}

const e2e = await scenario('e2e', () => runEndToEnd({ log: (m) => log(`   ${m}`) }));
if (!('error' in e2e)) writeResult('end-to-end', 'End to end: fieldsync and Debezium on the same change stream', machine, e2e, endToEndMarkdown(e2e));

const reconcile = await scenario('reconcile', async () => {
  const r = await runScript('reconcile.ts');
  return { ...(r.json as ReconcileBenchResult), peakRssMiB: r.peakRssMiB };
});
if (!('error' in reconcile)) writeResult('reconcile', 'Reconcile: phases and swap', machine, reconcile, `\`\`\`json\n${JSON.stringify(reconcile, null, 2)}\n\`\`\`\n`);

await tuned.restore().catch((e: unknown) => log(`unable to restore MariaDB's settings: ${e instanceof Error ? e.message : String(e)}`));

const summary = summaryRows({
  ceilings: ceilings as Ceilings | { error: string },
  capture,
  source,
  applier: applier as ApplierThroughput | { error: string },
  e2e: e2e as EndToEndResult | { error: string },
  reconcile: reconcile as ReconcileBenchResult | { error: string },
});
const files = writeResult('summary', 'fieldsync benchmarks: figure, ceiling, Debezium, ratios, targets', { ...machine, loadAverage1m: machine.loadAverage1m }, summary, markdownTable(summary.map((r) => ({ ...r }))));
log(`summary written to ${files.md}`);
process.stdout.write(markdownTable(summary.map((r) => ({ ...r }))));
