/**
 * End to end, fieldsync next to Debezium on the same change stream, in one run.
 *
 * Setup: a private PostgreSQL with wal_level=logical (the machine's service is never
 * restarted) holds the source table `src` (the 10-column bench table). Two pipelines read
 * it: fieldsync (trigger outbox → capture → Kafka → applier → MariaDB table fs_…) and
 * Debezium (pgoutput logical decoding → Kafka Connect → JDBC sink → MariaDB table dbz_…),
 * both on the shared broker and MariaDB. Both target tables are created with the same DDL.
 *
 * 1. Throughput: Debezium's slot is created first (connector started once, then stopped),
 *    then a backlog of N inserts and N/2 single-column updates is written while neither
 *    pipeline runs. Each pipeline then drains it alone (no CPU shared with the other);
 *    its time runs from the first row seen in its target to the last change applied.
 * 2. Latency: each pipeline alone (Debezium first, then fieldsync, which first catches up
 *    with the rows written meanwhile), at fixed offered rates. Before each series the
 *    system settles (settle(): outbox deletes done, source tables vacuumed, InnoDB purge
 *    caught up), so a series does not carry the previous phase's background
 *    work. At each rate a writer inserts new
 *    rows in small transactions every 10 ms and records each commit time; a poller reads
 *    the target every 20 ms and records when each row appears. Latency = appearance −
 *    commit (resolution about the poll interval). A rate is "sustained" when the lag does
 *    not grow over the run (last fifth's p50 < 2 × first fifth's p50 + 100 ms) and every
 *    row arrived within 5 s after the writer stopped.
 *
 * Services run under the supervisor (peak RSS sampled); BENCH_CPU_PROF=1 runs them with
 * --cpu-prof (profiles in bench/results/profiles/<service>/, the main thread's is the
 * largest). Sizes: BENCH_SCALE (backlog 100,000 × scale),
 * BENCH_E2E_RATES (default 1000,5000,10000,20000), BENCH_E2E_RATE_SECONDS (default 20).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { openMysql } from '../lib/dialect/mysql/db.js';
import { openPostgres } from '../lib/dialect/postgres/db.js';
import type { Db } from '../lib/dialect/dialect.js';
import { freePort, startPrivatePostgres, type PrivateDb } from '../test/support/private-db.js';
import { stack, uniqueName, waitFor } from '../test/support/helpers.js';
import { SupervisedService, runCommand } from '../test/chaos/supervisor.js';
import { startDebezium, type DebeziumPipeline } from './debezium/connect.js';
import { resultsDir, scaled } from './support/env.js';
import { cpuInterval, microsPerUnitText, type CpuShare } from './support/cpu.js';
import { BENCH_COLUMNS, benchRow, benchTableDdl } from './support/table.js';

/**
 * The node options the deployment gives capture and applier: NODE_OPTIONS of deploy/k8s and
 * deploy/compose, and the image's entry point (Dockerfile: --initial-old-space-size).
 */
export const SERVICE_NODE_ARGS = '--max-old-space-size=192 --initial-old-space-size=96';

export interface DrainResult {
  changes: number;
  seconds: number;
  changesPerSec: number;
  /** CPU per change of the pipeline's processes and the machine's busy share (support/cpu.ts). */
  cpu?: CpuShare;
}

export interface RateResult {
  offeredPerSec: number;
  achievedPerSec: number;
  rows: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  sustained: boolean;
  /** While the writer ran: CPU per change written, and the machine's busy share. */
  cpu?: CpuShare;
}

export interface PipelineResult {
  drain: DrainResult;
  rates: RateResult[];
  highestSustainedPerSec: number;
  peakRssMiB: Record<string, number>;
}

export interface EndToEndResult {
  backlog: { inserts: number; updates: number };
  fieldsync: PipelineResult;
  debezium: PipelineResult | { error: string };
  throughputRatio: number | null;
  notes: string[];
}

export interface EndToEndOptions {
  backlogRows?: number;
  rates?: number[];
  rateSeconds?: number;
  withDebezium?: boolean;
  log?: (m: string) => void;
}

/** ", CPU µs per change: capture 40, applier 55; machine 97% busy" (empty without figures). */
function cpuText(c: CpuShare | undefined): string {
  if (!c) return '';
  const per = microsPerUnitText(c);
  return `${per ? `; CPU µs per change: ${per}` : ''}${c.machineBusyPercent !== undefined ? `; machine ${c.machineBusyPercent}% busy` : ''}`;
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN);

/**
 * The writer's INSERT: one array per column (10 parameters whatever the row count). A
 * multi-row VALUES list with 10 parameters per row spent most of the writer's PostgreSQL
 * time binding parameters, so the load generator, not the pipelines, capped the offered rate.
 */
async function insertRows(db: Db, from: number, to: number): Promise<void> {
  const columns: (string | number)[][] = BENCH_COLUMNS.map(() => []);
  for (let id = from; id < to; id++) benchRow(id).forEach((v, i) => columns[i]!.push(v));
  const types = ['bigint', 'text', 'text', 'text', 'text', 'text', 'numeric', 'numeric', 'timestamp', 'timestamp'];
  await db.execute(`INSERT INTO src (${BENCH_COLUMNS.join(', ')}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`, columns);
}

async function targetState(my: Db, table: string): Promise<{ n: number; upd: number; maxId: number }> {
  const rows = await my.query(`SELECT COUNT(*) AS n, COALESCE(SUM(status = 'upd'), 0) AS upd, COALESCE(MAX(id), 0) AS maxid FROM \`${table}\``).catch(() => [{ n: 0, upd: 0, maxid: 0 }]);
  return { n: Number(rows[0]!.n), upd: Number(rows[0]!.upd), maxId: Number(rows[0]!.maxid) };
}

/** Time from the first row seen in the target to the whole backlog applied. */
async function measureDrain(my: Db, table: string, inserts: number, updates: number, timeoutMs: number, pids: Record<string, number | undefined>): Promise<DrainResult> {
  await waitFor(`a first row in ${table}`, async () => (await targetState(my, table)).n > 0, timeoutMs, 20);
  const t0 = performance.now();
  const cpu = cpuInterval(pids);
  await waitFor(`the backlog in ${table}`, async () => {
    const s = await targetState(my, table);
    return s.n >= inserts && s.upd >= updates;
  }, timeoutMs, 50);
  const seconds = (performance.now() - t0) / 1000;
  return { changes: inserts + updates, seconds: Math.round(seconds * 100) / 100, changesPerSec: Math.round((inserts + updates) / seconds), cpu: cpu.end(inserts + updates) };
}

/** Offered rate for `seconds`; ids from `firstId`. */
async function measureRate(src: Db, my: Db, table: string, rate: number, seconds: number, firstId: number, pids: Record<string, number | undefined>): Promise<{ result: RateResult; nextId: number }> {
  const commitAt = new Map<number, number>();
  const seenAt = new Map<number, number>();
  let nextId = firstId;
  let writing = true;
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const started = performance.now();
  const cpu = cpuInterval(pids);
  let cpuShare: CpuShare | undefined;
  const writer = (async () => {
    // Every tick writes the rows that are due by now (a writer that fell behind catches up
    // with a larger transaction, capped), so the offered rate holds while the source keeps up.
    while (performance.now() - started < seconds * 1000) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate) - (nextId - firstId);
      if (due > 0) {
        const from = nextId;
        nextId += Math.min(due, Math.max(perTick, 2000));
        await insertRows(src, from, nextId);
        const t = performance.now();
        for (let id = from; id < nextId; id++) commitAt.set(id, t);
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
    writing = false;
    cpuShare = cpu.end(nextId - firstId);
  })();
  let lowest = firstId;
  const poller = (async () => {
    let quietUntil = Infinity;
    for (;;) {
      const highest = nextId - 1;
      if (lowest <= highest) {
        const rows = await my.query(`SELECT id FROM \`${table}\` WHERE id >= ? AND id <= ?`, [lowest, highest]);
        const now = performance.now();
        for (const r of rows) { const id = Number(r.id); if (!seenAt.has(id) && commitAt.has(id)) seenAt.set(id, now); }
        while (seenAt.has(lowest)) lowest++;
      }
      if (!writing) {
        if (quietUntil === Infinity) quietUntil = performance.now() + 5000;
        if (lowest >= nextId || performance.now() > quietUntil) break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await writer;
  await poller;
  const writeSeconds = (performance.now() - started) / 1000;
  const ids = [...commitAt.keys()].sort((a, b) => a - b);
  const lat = ids.map((id) => (seenAt.has(id) ? seenAt.get(id)! - commitAt.get(id)! : Infinity));
  const sorted = [...lat].sort((a, b) => a - b);
  const fifth = Math.max(1, Math.floor(lat.length / 5));
  const med = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
  const allArrived = seenAt.size === commitAt.size;
  const sustained = allArrived && med(lat.slice(-fifth)) < 2 * med(lat.slice(0, fifth)) + 100;
  const r = (x: number) => (Number.isFinite(x) ? Math.round(x) : -1);
  return {
    nextId,
    result: {
      offeredPerSec: rate, achievedPerSec: Math.round(commitAt.size / writeSeconds), rows: commitAt.size,
      p50Ms: r(percentile(sorted, 50)), p95Ms: r(percentile(sorted, 95)), p99Ms: r(percentile(sorted, 99)), maxMs: r(sorted[sorted.length - 1] ?? NaN), sustained,
      ...(cpuShare ? { cpu: cpuShare } : {}),
    },
  };
}

interface Harness {
  dir: string;
  pg: PrivateDb;
  src: Db;
  my: Db;
  fsTable: string;
  dbzTable: string;
  configFile: string;
  capture: SupervisedService;
  applier: SupervisedService;
  dbzName: string;
}

async function setup(log: (m: string) => void): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldsync-e2e-'));
  log('private PostgreSQL with wal_level=logical (the machine\'s service is left as it is) ...');
  const pg = await startPrivatePostgres({ databases: ['bench'], settings: { wal_level: 'logical', max_wal_senders: '4', max_replication_slots: '4', shared_buffers: '256MB', max_connections: '50' } });
  const src = openPostgres(pg.url('bench'), { poolSize: 2 });
  const my = openMysql(stack.mysqlUrl(), { poolSize: 2 });
  const u = uniqueName('e2e');
  const fsTable = `fs_${u}`;
  const dbzTable = `dbz_${u}`;
  await src.execute(benchTableDdl('postgres', 'src'));
  await my.execute(benchTableDdl('mysql', fsTable));
  await my.execute(benchTableDdl('mysql', dbzTable));
  const capturePort = await freePort();
  const applierPort = await freePort();
  const doc = {
    kafka: { brokers: stack.kafkaBrokers, topicPrefix: u, partitions: 3, deadLetterTopic: `${u}.dead-letter` },
    registry: { url: stack.registryUrl },
    databases: { src: { dialect: 'postgres', url: pg.url('bench'), origin: 'src' }, maria: { dialect: 'mysql', url: stack.mysqlUrl(), origin: 'maria' } },
    // BENCH_CAPTURE_POLL_MS overrides the capture's pollIntervalMs (default: the config default)
    capture: [{ source: 'src', mode: 'outbox', ...(process.env.BENCH_CAPTURE_POLL_MS ? { pollIntervalMs: Number(process.env.BENCH_CAPTURE_POLL_MS) } : {}), tables: [{ name: 'public.src', snapshot: false }] }],
    applier: [{ target: 'maria', tables: [{ from: 'src.public.src', into: fsTable }] }],
    http: { host: '127.0.0.1', port: 0 },
  };
  const configFile = join(dir, 'fieldsync.yaml');
  writeFileSync(configFile, stringify(doc));
  const serviceNodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? SERVICE_NODE_ARGS).split(/\s+/).filter(Boolean);
  const profDir = join(resultsDir, 'profiles');
  const prof = process.env.BENCH_CPU_PROF === '1';
  if (prof) mkdirSync(profDir, { recursive: true });
  const svc = (name: string, command: string, port: number, section: Record<string, unknown>) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify({ ...doc, ...section, http: { host: '127.0.0.1', port } }));
    // node options of the services: those the deployment gives them (BENCH_SERVICE_NODE_ARGS
    // overrides), plus the profiler on request: one folder per service and Node's own file
    // names, which carry the thread id (a fixed --cpu-prof-name made the module loader's
    // thread overwrite the main thread's profile)
    const nodeArgs = [...serviceNodeArgs, ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, name)}`] : [])];
    return new SupervisedService({ name, args: [command, '--config', file], httpPort: port, logFile: join(dir, `${name}.log`), restart: false, nodeArgs });
  };
  for (const args of [['capture', 'install', '--config', configFile], ['applier', 'install', '--config', configFile]]) {
    const code = await runCommand(args, join(dir, 'install.log')).done;
    if (code !== 0) throw new Error(`fieldsync ${args[0]} install exited ${code}; see ${join(dir, 'install.log')}`);
  }
  return {
    dir, pg, src, my, fsTable, dbzTable, configFile, dbzName: `dbz_${u}`,
    capture: svc('capture', 'capture', capturePort, { applier: [] }),
    applier: svc('applier', 'applier', applierPort, { capture: [] }),
  };
}

async function startFieldsync(h: Harness): Promise<void> {
  h.applier.start();
  h.capture.start();
  await Promise.all([h.applier.waitReady(180_000), h.capture.waitReady(180_000)]);
}

async function stopFieldsync(h: Harness): Promise<Record<string, number>> {
  await Promise.all([h.capture.stop(), h.applier.stop()]);
  return { capture: Math.round(h.capture.peakRssMiB), applier: Math.round(h.applier.peakRssMiB) };
}

function dbz(h: Harness): Promise<DebeziumPipeline> {
  return startDebezium({
    name: h.dbzName, bootstrap: stack.kafkaBrokers.join(','), pgPort: h.pg.port, pgDb: 'bench', pgTable: 'public.src', topicPrefix: h.dbzName,
    partitions: 3, jdbcUrl: `jdbc:mariadb://127.0.0.1:${stack.mysqlPort}/fieldsync_test`, targetTable: h.dbzTable, batchSize: 2000,
  });
}

/**
 * Before a latency series, let the previous phase's aftermath finish, so that neither
 * pipeline's series measures the other's (or its own drain's) background work: fieldsync's
 * deletes of published outbox rows (when it runs), a vacuum of the source tables now
 * rather than an autovacuum in the middle of the series, and InnoDB's purge after the rows
 * just merged. Each wait has a deadline; the series then runs
 * anyway and the note says so. Returns the seconds spent and what was waited for.
 */
async function settle(h: Harness, outboxInUse: boolean): Promise<{ seconds: number; note?: string }> {
  const started = performance.now();
  const notes: string[] = [];
  const until = async (what: string, probe: () => Promise<boolean>, ms: number): Promise<void> => {
    await waitFor(what, async () => (await probe()) || undefined, ms, 250).catch(() => { notes.push(`${what}: not within ${ms / 1000} s`); });
  };
  if (outboxInUse) {
    await until('the outbox emptied by capture', async () => Number((await h.src.query('SELECT count(*) AS n FROM fieldsync.outbox'))[0]?.n) === 0, 120_000);
  }
  await h.src.execute('VACUUM (ANALYZE) src');
  if (outboxInUse) await h.src.execute('VACUUM (ANALYZE) fieldsync.outbox');
  // InnoDB's purge of the old row versions the merges left (dirty pages are not waited
  // for: with its default settings an idle InnoDB flushes them slowly, over minutes)
  await until('InnoDB purge', async () => {
    const [m] = await h.my.query("SELECT count AS n FROM information_schema.innodb_metrics WHERE name = 'trx_rseg_history_len'");
    return Number(m?.n ?? 0) < 1000;
  }, 90_000);
  return { seconds: Math.round((performance.now() - started) / 100) / 10, ...(notes.length ? { note: notes.join('; ') } : {}) };
}

async function rateSeries(h: Harness, table: string, rates: number[], seconds: number, firstId: number, pids: () => Record<string, number | undefined>, log: (m: string) => void): Promise<{ rates: RateResult[]; nextId: number }> {
  const out: RateResult[] = [];
  let next = firstId;
  for (const rate of rates) {
    const { result, nextId } = await measureRate(h.src, h.my, table, rate, seconds, next, pids());
    next = nextId;
    log(`  ${rate}/s offered: achieved ${result.achievedPerSec}/s, p50 ${result.p50Ms} ms, p95 ${result.p95Ms} ms, p99 ${result.p99Ms} ms, ${result.sustained ? 'sustained' : 'NOT sustained'}${cpuText(result.cpu)}`);
    out.push(result);
    // The next rate starts from a caught-up pipeline.
    await waitFor(`${table} to catch up`, async () => (await targetState(h.my, table)).maxId >= next - 1, 300_000, 100);
  }
  return { rates: out, nextId: next };
}

export async function runEndToEnd(opts: EndToEndOptions = {}): Promise<EndToEndResult> {
  const log = opts.log ?? (() => undefined);
  const inserts = opts.backlogRows ?? scaled(100_000);
  const updates = Math.floor(inserts / 2);
  const rates = opts.rates ?? (process.env.BENCH_E2E_RATES ? process.env.BENCH_E2E_RATES.split(',').map(Number) : [1000, 5000, 10000, 20000]);
  const rateSeconds = opts.rateSeconds ?? Number(process.env.BENCH_E2E_RATE_SECONDS ?? '20');
  const notes: string[] = [];
  const h = await setup(log);
  let dbzPipe: DebeziumPipeline | undefined;
  try {
    const withDbz = opts.withDebezium !== false;
    if (withDbz) {
      log('Debezium: creating its replication slot (connectors started once, then stopped) ...');
      dbzPipe = await dbz(h);
      await dbzPipe.stop();
      dbzPipe = undefined;
    }
    log(`backlog: ${inserts} inserts and ${updates} single-column updates while no pipeline runs ...`);
    for (let i = 1; i <= inserts; i += 1000) await insertRows(h.src, i, Math.min(inserts + 1, i + 1000));
    for (let i = 1; i <= updates; i += 1000) await h.src.execute("UPDATE src SET status = 'upd' WHERE id >= $1 AND id < $2", [i, Math.min(updates + 1, i + 1000)]);

    // Order: fieldsync drains; Debezium drains and runs its rates while fieldsync is stopped
    // (the outbox keeps those rows); fieldsync then catches up (a short drain) and runs its
    // rates. So neither pipeline measures latency while the other one runs, and Debezium,
    // the slower one, never has to catch up with rows written for the other's latency runs.
    log('fieldsync: draining the backlog ...');
    await startFieldsync(h);
    const fsPids = () => ({ capture: h.capture.pid, applier: h.applier.pid });
    const fsDrain = await measureDrain(h.my, h.fsTable, inserts, updates, 900_000, fsPids());
    log(`  ${fsDrain.changesPerSec} changes/s (${fsDrain.changes} in ${fsDrain.seconds} s)${cpuText(fsDrain.cpu)}`);
    let fsRss = await stopFieldsync(h);
    let nextId = 10_000_000;

    let debezium: PipelineResult | { error: string } = { error: 'not run (withDebezium: false)' };
    if (withDbz) {
      try {
        log('Debezium: draining the backlog ...');
        dbzPipe = await dbz(h);
        const dbzPids = () => ({ connect: dbzPipe?.pid });
        const drain = await measureDrain(h.my, h.dbzTable, inserts, updates, 1_800_000, dbzPids());
        log(`  ${drain.changesPerSec} changes/s (${drain.changes} in ${drain.seconds} s)`);
        const settled = await settle(h, false);
        log(`Debezium: latency at fixed rates (settled for ${settled.seconds} s${settled.note ? `: ${settled.note}` : ''}) ...`);
        if (settled.note) notes.push(`before Debezium's latency series: ${settled.note}`);
        const dRates = await rateSeries(h, h.dbzTable, rates, rateSeconds, nextId, dbzPids, log);
        nextId = dRates.nextId;
        const { peakRssMiB } = await import('../test/chaos/supervisor.js');
        debezium = { drain, rates: dRates.rates, highestSustainedPerSec: Math.max(0, ...dRates.rates.filter((r) => r.sustained).map((r) => r.achievedPerSec)), peakRssMiB: { connect: Math.round(peakRssMiB(dbzPipe.pid) ?? 0) } };
      } catch (e) {
        debezium = { error: e instanceof Error ? e.message : String(e) };
        notes.push(`Debezium run failed: ${debezium.error}`);
      } finally {
        await dbzPipe?.stop().catch(() => undefined);
        dbzPipe = undefined;
      }
    }

    log('fieldsync: catching up, then latency at fixed rates ...');
    await startFieldsync(h);
    const caughtUpTo = nextId - 1;
    await waitFor('fieldsync to catch up', async () => caughtUpTo < 10_000_000 || (await targetState(h.my, h.fsTable)).maxId >= caughtUpTo, 900_000, 100);
    const settled = await settle(h, true);
    log(`fieldsync: settled for ${settled.seconds} s${settled.note ? ` (${settled.note})` : ''}`);
    if (settled.note) notes.push(`before fieldsync's latency series: ${settled.note}`);
    const fsRates = await rateSeries(h, h.fsTable, rates, rateSeconds, nextId + 1_000_000, fsPids, log);
    const rss2 = await stopFieldsync(h);
    fsRss = { capture: Math.max(fsRss.capture ?? 0, rss2.capture ?? 0), applier: Math.max(fsRss.applier ?? 0, rss2.applier ?? 0) };
    const fieldsync: PipelineResult = { drain: fsDrain, rates: fsRates.rates, highestSustainedPerSec: Math.max(0, ...fsRates.rates.filter((r) => r.sustained).map((r) => r.achievedPerSec)), peakRssMiB: fsRss };
    const ratio = 'drain' in debezium ? Math.round((fieldsync.drain.changesPerSec / debezium.drain.changesPerSec) * 100) / 100 : null;
    return { backlog: { inserts, updates }, fieldsync, debezium, throughputRatio: ratio, notes };
  } finally {
    await dbzPipe?.stop().catch(() => undefined);
    await Promise.all([h.capture.stop(), h.applier.stop()]).catch(() => undefined);
    await h.my.execute(`DROP TABLE IF EXISTS \`${h.fsTable}\`, \`${h.fsTable}__fs_clock\`, \`${h.fsTable}__fs_tomb\`, \`${h.dbzTable}\``).catch(() => undefined);
    await h.src.close().catch(() => undefined);
    await h.my.close().catch(() => undefined);
    await h.pg.destroy().catch(() => undefined);
  }
}

if (process.argv[1]?.endsWith('end-to-end.ts')) {
  const log = (m: string) => process.stdout.write(`[e2e] ${m}\n`);
  const r = await runEndToEnd({ log, withDebezium: process.env.BENCH_DEBEZIUM !== '0' });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
}
