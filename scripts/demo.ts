/**
 * The one-command demo: `npm run demo` (full), `npm run demo -- --quick` (CI-sized),
 * `npm run demo -- --stop` (end the services it left running).
 *
 * What it does, in order (each step says what it is doing and fails with the reason):
 *  1. Brings the local stack up (scripts/stack.ts up: Kafka, Apicurio, PostgreSQL, MariaDB).
 *  2. Ends the services of an earlier demo run, recreates the demo databases
 *     (fieldsync_demo_billing in PostgreSQL standing in for SQL Server, fieldsync_demo_invoice
 *     in MariaDB) and seeds billing.clients.
 *  3. Writes the configs (from deploy/examples/demo.yaml: a fresh topic prefix per run, a
 *     free metrics port per service) to .stack/demo/, installs the trigger outbox on
 *     billing and the applier's tables in invoice.
 *  4. Starts capture and applier as background processes (pid and log files in
 *     .stack/demo/), waits until both are ready and the initial snapshot is applied.
 *  5. Generates billing changes (updates, inserts, deletes) and invoice-side edits of
 *     client details (email, phone, last login: the fields people edit in the invoice app)
 *     at a steady rate, with a progress line; runs one full refresh (reconcile) in the middle
 *     while the load goes on.
 *  6. Waits until capture and applier have caught up, verifies billing against invoice
 *     (the invoice edits that are newer than billing's version are reported as fields the
 *     target owns, not as mismatches), prints a summary and leaves the services running
 *     with their metrics URLs. Exit code 0 when verify found the databases equal.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify } from 'yaml';
import type { FieldsyncConfig } from '../lib/config/schema.js';
import type { VerifyResult } from '../lib/verify/verify.js';

// The demo prints its own progress; the libraries' info logs would drown it. Set before the
// libraries are loaded (their loggers take the level when their modules load).
const serviceLogLevel = process.env.FIELDSYNC_LOG_LEVEL ?? 'info';
process.env.FIELDSYNC_LOG_LEVEL ??= 'warn';
const { loadConfig, originOf } = await import('../lib/config/load.js');
const { openMysql } = await import('../lib/dialect/mysql/db.js');
const { openPostgres } = await import('../lib/dialect/postgres/db.js');
const { createKafka } = await import('../lib/kafka/client.js');
const { installOutbox, openOutboxDb } = await import('../lib/capture/install.js');
const { collectStatus } = await import('../lib/status/collect.js');
const { resolveTablePairs } = await import('../lib/verify/table-pairs.js');
const { formatVerifyResult } = await import('../lib/verify/report.js');
const { verifyTables } = await import('../lib/verify/verify.js');
const { installApplier } = await import('../services/applier/service.js');
const { runJobs } = await import('../services/reconciler/service.js');
const { localStack } = await import('../test/support/stack-env.js');
const { originCode } = await import('../lib/stamp.js');

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const demoDir = join(root, '.stack', 'demo');
const stateFile = join(demoDir, 'state.json');
const TOPIC_PREFIX_BASE = 'fieldsync-demo-';

interface ServiceState { name: string; pid: number; port: number; log: string; config: string }
interface DemoState { startedAt: string; topicPrefix: string; services: ServiceState[] }

interface Settings { clients: number; loadSeconds: number; billingPerSecond: number; invoicePerSecond: number }

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const settings: Settings = {
  clients: Number(process.env.FIELDSYNC_DEMO_CLIENTS ?? (quick ? 1000 : 20000)),
  loadSeconds: Number(process.env.FIELDSYNC_DEMO_SECONDS ?? (quick ? 10 : 60)),
  billingPerSecond: Number(process.env.FIELDSYNC_DEMO_RATE ?? (quick ? 40 : 200)),
  invoicePerSecond: Number(process.env.FIELDSYNC_DEMO_EDIT_RATE ?? (quick ? 6 : 20)),
};
const tty = process.stdout.isTTY === true;

class DemoError extends Error {}

function say(msg: string): void {
  process.stdout.write(`[demo] ${msg}\n`);
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new DemoError(`${what}: not done after ${Math.round(ms / 1000)} s${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---------------------------------------------------------------- services

/** True when `pid` is alive and is a fieldsync process (a recycled pid is never signalled). */
function isOurProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('fieldsync');
  } catch {
    return true; // no /proc (macOS): trust the pid file
  }
}

function readState(): DemoState | undefined {
  if (!existsSync(stateFile)) return undefined;
  return JSON.parse(readFileSync(stateFile, 'utf8')) as DemoState;
}

async function stopServices(): Promise<number> {
  const state = readState();
  if (!state) return 0;
  let stopped = 0;
  for (const s of state.services) {
    if (!isOurProcess(s.pid)) continue;
    process.kill(s.pid, 'SIGTERM');
    try {
      await until(`${s.name} (pid ${s.pid}) to exit after SIGTERM`, 30_000, async () => !isOurProcess(s.pid));
    } catch {
      say(`${s.name} (pid ${s.pid}) did not stop within 30 s: killing it`);
      process.kill(s.pid, 'SIGKILL');
    }
    say(`stopped ${s.name} (pid ${s.pid})`);
    stopped += 1;
  }
  rmSync(stateFile, { force: true });
  return stopped;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => res(port));
    });
  });
}

function startService(name: string, config: string, port: number): ServiceState {
  const log = join(demoDir, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [join(root, 'bin', 'fieldsync.mjs'), name, '--config', config], {
    cwd: root, detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, FIELDSYNC_LOG_LEVEL: serviceLogLevel },
  });
  child.unref();
  if (!child.pid) throw new DemoError(`unable to start ${name}`);
  return { name, pid: child.pid, port, log, config };
}

async function ready(s: ServiceState): Promise<void> {
  await until(`${s.name} to become ready (see ${s.log})`, 120_000, async () => {
    if (!isOurProcess(s.pid)) throw new DemoError(`${s.name} exited; its log ${s.log} says:\n${readFileSync(s.log, 'utf8').split('\n').slice(-15).join('\n')}`);
    const r = await fetch(`http://127.0.0.1:${s.port}/readyz`).catch(() => undefined);
    return r?.status === 200;
  }).catch((e: unknown) => { throw e instanceof DemoError ? e : new DemoError(String(e)); });
}

/** Sum of a metric's samples (optionally only those whose labels contain `labelFilter`). */
async function metric(port: number, name: string, labelFilter = ''): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => '');
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([^ ]+)/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').includes(labelFilter)) sum += Number(m[3]);
  }
  return sum;
}

// ---------------------------------------------------------------- scenario

async function resetDatabases(): Promise<void> {
  const stack = localStack();
  const pg = openPostgres(stack.pgAdminUrl);
  const my = openMysql(stack.mysqlAdminUrl);
  try {
    await pg.execute('DROP DATABASE IF EXISTS fieldsync_demo_billing WITH (FORCE)');
    await pg.execute('CREATE DATABASE fieldsync_demo_billing');
    await my.execute('DROP DATABASE IF EXISTS fieldsync_demo_invoice');
    await my.execute('CREATE DATABASE fieldsync_demo_invoice CHARACTER SET utf8mb4');
  } finally {
    await pg.close();
    await my.close();
  }
}

async function seedBilling(cfg: FieldsyncConfig, clients: number): Promise<void> {
  const pg = openPostgres(cfg.databases.billing!.url);
  try {
    await pg.execute(`CREATE TABLE public.clients (
      id bigint PRIMARY KEY, name text NOT NULL, email varchar(200), phone varchar(40), plan varchar(20) NOT NULL,
      balance numeric(12,2) NOT NULL DEFAULT 0, last_login timestamptz(6), updated_at timestamptz(6) NOT NULL DEFAULT now())`);
    await pg.execute(`INSERT INTO public.clients
      SELECT g, 'Client ' || g, 'client' || g || '@billing.example', '+41 44 ' || lpad(g::text, 6, '0'),
             (ARRAY['basic','pro','team'])[1 + g % 3], (g % 1000) * 1.25, now() - (g % 100) * interval '1 day', now()
        FROM generate_series(1, $1::int) AS g`, [clients]);
  } finally {
    await pg.close();
  }
}

async function writeConfigs(topicPrefix: string, ports: { capture: number; applier: number }): Promise<{ tools: string; capture: string; applier: string }> {
  const template = parseYaml(readFileSync(join(root, 'deploy', 'examples', 'demo.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  const write = (name: string, port: number) => {
    const doc = structuredClone(template);
    doc.kafka!.topicPrefix = topicPrefix;
    doc.kafka!.deadLetterTopic = `${topicPrefix}.dead-letter`;
    doc.http = { host: '127.0.0.1', port };
    const file = join(demoDir, `${name}.yaml`);
    writeFileSync(file, `# written by npm run demo from deploy/examples/demo.yaml\n${stringify(doc)}`);
    loadConfig(file); // fail here, naming the field, rather than in a background service
    return file;
  };
  return { tools: write('demo', 0), capture: write('capture', ports.capture), applier: write('applier', ports.applier) };
}

async function deleteOldDemoTopics(cfg: FieldsyncConfig, keep: string): Promise<void> {
  const admin = createKafka(cfg.kafka, 'demo').admin();
  await admin.connect();
  try {
    const old = (await admin.listTopics()).filter((t) => t.startsWith(TOPIC_PREFIX_BASE) && !t.startsWith(keep));
    if (old.length) await admin.deleteTopics({ topics: old });
  } finally {
    await admin.disconnect();
  }
}

const LANES = 4;

/** Run the operations in `lanes` sequential lanes side by side. */
async function runLanes(ops: (() => Promise<void>)[], lanes: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(lanes, ops.length) }, async () => {
    while (next < ops.length) await ops[next++]!();
  }));
}

interface LoadCounters { billing: number; inserts: number; deletes: number; invoiceEdits: number }

/** Steady load: every 100 ms a tenth of the per-second rates, until `stop` resolves. */
async function generateLoad(cfg: FieldsyncConfig, seconds: number, counters: LoadCounters, onTick: (elapsedMs: number) => Promise<void>, atHalf: () => void): Promise<void> {
  const pg = openPostgres(cfg.databases.billing!.url, { poolSize: LANES });
  const my = openMysql(cfg.databases.invoice!.url, { poolSize: 2 }); // NOT an applier session: these are the invoice app's own edits
  let nextId = settings.clients + 1;
  let billingDebt = 0;
  let invoiceDebt = 0;
  const started = Date.now();
  let lastShown = 0;
  let halfDone = false;
  const pick = () => 1 + Math.floor(Math.random() * (nextId - 1));
  try {
    while (Date.now() - started < seconds * 1000) {
      const tickStart = Date.now();
      billingDebt += settings.billingPerSecond / 10;
      invoiceDebt += settings.invoicePerSecond / 10;
      // The tick's statements run in a few parallel lanes (one connection each) so the rate holds on a busy machine.
      const billingOps: (() => Promise<void>)[] = [];
      for (; billingDebt >= 1; billingDebt -= 1) {
        const r = Math.random();
        if (r < 0.12) {
          const id = nextId++;
          billingOps.push(async () => {
            await pg.execute(`INSERT INTO public.clients (id, name, email, phone, plan, balance) VALUES ($1, $2, $3, $4, 'basic', 0)`,
              [id, `Client ${id}`, `client${id}@billing.example`, `+41 44 ${String(id).padStart(6, '0')}`]);
            counters.inserts += 1;
          });
        } else if (r < 0.2) {
          const id = pick();
          billingOps.push(async () => { counters.deletes += await pg.execute('DELETE FROM public.clients WHERE id = $1', [id]); });
        } else if (r < 0.3) {
          const id = pick();
          billingOps.push(async () => { await pg.execute(`UPDATE public.clients SET email = $1, updated_at = now() WHERE id = $2`, [`billing${Math.floor(Math.random() * 1e6)}@billing.example`, id]); });
        } else {
          const id = pick();
          billingOps.push(async () => {
            await pg.execute(`UPDATE public.clients SET balance = balance + $1, plan = $2, updated_at = now() WHERE id = $3`,
              [(Math.random() * 100).toFixed(2), ['basic', 'pro', 'team'][Math.floor(Math.random() * 3)]!, id]);
          });
        }
      }
      const invoiceOps: (() => Promise<void>)[] = [];
      for (; invoiceDebt >= 1; invoiceDebt -= 1) {
        const id = pick();
        invoiceOps.push(async () => {
          counters.invoiceEdits += await my.execute('UPDATE clients SET email = ?, phone = ?, last_login = NOW(6) WHERE id = ?',
            [`edited${id}@invoice.example`, `+41 79 ${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`, id]);
        });
      }
      await Promise.all([runLanes(billingOps, LANES), runLanes(invoiceOps, 2)]);
      counters.billing += billingOps.length;
      const elapsed = Date.now() - started;
      if (!halfDone && elapsed >= (seconds * 1000) / 2) { halfDone = true; atHalf(); }
      if (elapsed - lastShown >= (tty ? 1000 : 3000)) { lastShown = elapsed; await onTick(elapsed); }
      const wait = 100 - (Date.now() - tickStart);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  } finally {
    await pg.close();
    await my.close();
  }
}

// ---------------------------------------------------------------- main

async function run(): Promise<number> {
  mkdirSync(demoDir, { recursive: true });
  const t0 = Date.now();
  say(`fieldsync demo (${quick ? 'quick' : 'full'}): ${settings.clients} clients, ${settings.loadSeconds} s of load at ${settings.billingPerSecond} billing changes/s and ${settings.invoicePerSecond} invoice edits/s`);

  say('1/6 bringing the local stack up (Kafka, schema registry, PostgreSQL, MariaDB)');
  const up = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'stack.ts'), 'up'], { cwd: root, stdio: 'inherit' });
  if (up.status !== 0) throw new DemoError('the local stack did not come up (see above)');

  say('2/6 recreating the demo databases and seeding billing.clients');
  const before = await stopServices();
  if (before) say(`ended ${before} service(s) of an earlier demo run`);
  await resetDatabases();
  const topicPrefix = `${TOPIC_PREFIX_BASE}${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
  const ports = { capture: await freePort(), applier: await freePort() };
  const files = await writeConfigs(topicPrefix, ports);
  const cfg = loadConfig(files.tools);
  await seedBilling(cfg, settings.clients);
  await deleteOldDemoTopics(cfg, topicPrefix);

  say('3/6 installing the trigger outbox in billing and the applier tables in invoice');
  const outboxDb = openOutboxDb(cfg, cfg.capture[0]!);
  try {
    const tables = await installOutbox(cfg, cfg.capture[0]!, outboxDb);
    say(`    outbox triggers on ${tables.join(', ')}`);
  } finally {
    await outboxDb.close();
  }
  await installApplier(cfg);

  say('4/6 starting capture and applier in the background');
  const state: DemoState = { startedAt: new Date().toISOString(), topicPrefix, services: [] };
  state.services.push(startService('capture', files.capture, ports.capture));
  state.services.push(startService('applier', files.applier, ports.applier));
  writeFileSync(stateFile, JSON.stringify(state, null, 2));
  for (const s of state.services) writeFileSync(join(demoDir, `${s.name}.pid`), `${s.pid}\n`);
  await Promise.all(state.services.map((s) => ready(s)));
  const inv = openMysql(cfg.databases.invoice!.url, { poolSize: 1 });
  try {
    await until('the initial snapshot of billing.clients to reach invoice', 180_000, async () => {
      const [r] = await inv.query('SELECT COUNT(*) AS n FROM clients');
      return Number(r?.n) >= settings.clients;
    });
  } finally {
    await inv.close();
  }
  say(`    snapshot of ${settings.clients} clients applied in invoice`);

  say(`5/6 generating changes for ${settings.loadSeconds} s (one full refresh runs in the middle)`);
  const counters: LoadCounters = { billing: 0, inserts: 0, deletes: 0, invoiceEdits: 0 };
  let reconcileState = 'pending';
  let reconcile: Promise<void> | undefined;
  let reconcileSummary = '';
  let reconcileOk = false;
  let reconcileKept = 0;
  const appliedAtStart = await metric(ports.applier, 'fieldsync_applier_events_total');
  // End-to-end lag of the steady stream only (the snapshot's events waited for the services to start).
  const lagSumAtStart = await metric(ports.applier, 'fieldsync_end_to_end_lag_seconds_sum');
  const lagCountAtStart = await metric(ports.applier, 'fieldsync_end_to_end_lag_seconds_count');
  const loadStart = Date.now();
  await generateLoad(cfg, settings.loadSeconds, counters, async (elapsed) => {
    const applied = (await metric(ports.applier, 'fieldsync_applier_events_total')) - appliedAtStart;
    const lag = await metric(ports.applier, 'fieldsync_applier_consumer_lag_messages');
    const line = `[${String(Math.round(elapsed / 1000)).padStart(3)} s] billing changes ${counters.billing} (${Math.round(counters.billing / (elapsed / 1000))}/s), invoice edits ${counters.invoiceEdits}, applied ${applied}, lag ${lag} msg, reconcile ${reconcileState}`;
    process.stdout.write(tty ? `\r${line}   ` : `${line}\n`);
  }, () => {
    reconcileState = 'running';
    reconcile = runJobs(cfg, cfg.reconciler.jobs).then(({ reports, failures }) => {
      reconcileOk = failures.length === 0;
      reconcileKept = reports.reduce((n, r) => n + r.fieldsKeptFromLive, 0);
      reconcileState = reconcileOk ? 'done' : 'FAILED';
      reconcileSummary = reports.map((r) => `${r.rowsStaged} rows staged, ${r.fieldsKeptFromLive} invoice fields kept, ${r.fieldsTakenFromSource} taken from billing, ${r.windowWritesMerged} window writes re-merged, swap ${r.swapMs.toFixed(1)} ms`).join('; ')
        + failures.map((f) => `${f.table}: ${f.error}`).join('; ');
    }, (e: unknown) => { reconcileState = 'FAILED'; reconcileSummary = String(e); });
  });
  const loadMs = Date.now() - loadStart;
  if (tty) process.stdout.write('\n');
  if (reconcile) await reconcile;
  say(`    reconcile: ${reconcileState}${reconcileSummary ? ` (${reconcileSummary})` : ''}`);

  say('6/6 waiting for capture and applier to catch up, then verifying billing against invoice');
  const kafka = createKafka(cfg.kafka, 'demo');
  const admin = kafka.admin();
  await admin.connect();
  let caughtUpFor = 0;
  try {
    await until('capture and applier to catch up', 180_000, async () => {
      const s = await collectStatus(cfg, { kafka, admin, countDeadLetters: false });
      const done = s.tables.every((t) => (t.capture?.pendingEvents ?? 0) === 0 && t.targets.every((g) => g.lagMessages === 0));
      caughtUpFor = done ? caughtUpFor + 1 : 0;
      return caughtUpFor >= 2; // twice in a row: nothing was in flight between the two looks
    });
  } finally {
    await admin.disconnect();
  }
  const billingDb = openPostgres(cfg.databases.billing!.url, { poolSize: 2 });
  const invoiceDb = openMysql(cfg.databases.invoice!.url, { poolSize: 2 });
  let verify: VerifyResult;
  try {
    verify = await verifyTables(
      { name: 'billing', db: billingDb, origin: originOf(cfg, 'billing') },
      { name: 'invoice', db: invoiceDb, origin: originOf(cfg, 'invoice') },
      resolveTablePairs(cfg, 'billing', 'invoice'),
      { chunkSize: 5000, maxDiffs: 5, origins: new Map(Object.keys(cfg.databases).map((n) => [originCode(originOf(cfg, n)), originOf(cfg, n)])) },
    );
  } finally {
    await billingDb.close();
    await invoiceDb.close();
  }
  process.stdout.write(formatVerifyResult(verify).split('\n').map((l) => (l ? `    ${l}` : l)).join('\n'));

  const captured = await metric(ports.capture, 'fieldsync_capture_events_total');
  const applied = await metric(ports.applier, 'fieldsync_applier_events_total');
  const kept = await metric(ports.applier, 'fieldsync_merge_fields_total', 'outcome="kept"');
  const lagSum = await metric(ports.applier, 'fieldsync_end_to_end_lag_seconds_sum');
  const lagCount = await metric(ports.applier, 'fieldsync_end_to_end_lag_seconds_count');
  const lagNow = await metric(ports.applier, 'fieldsync_applier_consumer_lag_messages');
  const t = verify.tables[0];
  const summary = {
    mode: quick ? 'quick' : 'full', topicPrefix,
    load: { seconds: Math.round(loadMs / 100) / 10, billingChanges: counters.billing, inserts: counters.inserts, deletes: counters.deletes, invoiceEdits: counters.invoiceEdits },
    events: { captured, applied, appliedPerSecondDuringLoad: Math.round(((applied - appliedAtStart) * 1000) / loadMs) },
    lag: {
      endToEndAvgSeconds: lagCount > lagCountAtStart ? Math.round(((lagSum - lagSumAtStart) / (lagCount - lagCountAtStart)) * 1000) / 1000 : null,
      consumerLagMessagesAtEnd: lagNow,
    },
    merge: { fieldsKeptByApplier: kept, fieldsKeptByRefresh: reconcileKept },
    reconcile: { ok: reconcileOk, summary: reconcileSummary },
    verify: { equal: verify.equal, rows: t?.targetRows ?? 0, mismatches: t?.mismatches ?? 0, fieldsOwnedByInvoice: t?.targetOwned ?? 0 },
    services: state.services.map((s) => ({ name: s.name, pid: s.pid, metrics: `http://127.0.0.1:${s.port}/metrics`, log: s.log })),
    totalSeconds: Math.round((Date.now() - t0) / 1000),
  };
  writeFileSync(join(demoDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const lines = [
    '',
    'summary',
    `  load          ${summary.load.seconds} s: ${counters.billing} billing changes (${counters.inserts} inserts, ${counters.deletes} deletes), ${counters.invoiceEdits} invoice edits`,
    `  events        ${captured} captured, ${applied} applied (${summary.events.appliedPerSecondDuringLoad}/s during the load)`,
    `  lag           ${summary.lag.endToEndAvgSeconds ?? '?'} s average end to end (billing commit → invoice) after the snapshot; ${lagNow} message(s) behind now`,
    `  merge         ${kept} incoming field(s) lost to a newer invoice value (applier); the refresh kept ${reconcileKept} invoice field(s) whose clock was newer than billing's version`,
    `  reconcile     ${reconcileState}${reconcileSummary ? `: ${reconcileSummary}` : ''}`,
    `  verify        ${verify.equal ? 'EQUAL' : 'DIFFERENT'}: ${summary.verify.rows} rows, ${summary.verify.mismatches} mismatch(es), ${summary.verify.fieldsOwnedByInvoice} field(s) owned by newer invoice edits`,
    '',
    'the services keep running:',
    ...state.services.map((s) => `  ${s.name.padEnd(8)} pid ${s.pid}  metrics http://127.0.0.1:${s.port}/metrics  log ${s.log}`),
    `  status:  node bin/fieldsync.mjs status --config ${join('.stack', 'demo', 'demo.yaml')}`,
    '  stop:    npm run demo -- --stop',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return verify.equal ? 0 : 1;
}

async function main(): Promise<void> {
  if (args.includes('--stop')) {
    const n = await stopServices();
    say(n ? `stopped ${n} demo service(s)` : 'no demo services were running');
    return;
  }
  process.exitCode = await run();
}

main().catch((e: unknown) => {
  process.stderr.write(`[demo] failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.stderr.write('[demo] services started so far keep running; end them with: npm run demo -- --stop\n');
  process.exitCode = 1;
});
