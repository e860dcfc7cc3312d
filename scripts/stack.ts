/**
 * The local stack: a real Kafka broker (KRaft, single node), a real schema registry
 * (Apicurio, Confluent-compatible API) and the machine's PostgreSQL and MariaDB.
 *
 *   npm run stack -- up | down | status
 *
 * Kafka and Apicurio come from Maven Central through `mvn` and are kept in a cache
 * outside the clone (FIELDSYNC_CACHE, default ~/.cache/fieldsync), so a fresh clone on
 * a machine that has run this once starts in seconds. Runtime state (KRaft storage,
 * logs, pid files) lives in `.stack/` inside the clone and is git-ignored.
 *
 * Rules this script keeps:
 *  - `up` is idempotent: a component already answering on its port is reused, never
 *    started twice; a port held by something that does not answer like the component
 *    is reported as taken.
 *  - `down` stops only what this clone started (pid files); the machine's own database
 *    services are never stopped.
 *  - every wait has a deadline and a failure says which component and why.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { localStack, type LocalStack } from '../test/support/stack-env.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const stateDir = process.env.FIELDSYNC_STACK_DIR ?? join(root, '.stack');
const cacheDir = process.env.FIELDSYNC_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fieldsync');

const KAFKA_VERSION = '4.1.1';
// Apicurio 3.0.x runs on Java 17 (the machine's default JDK); 3.1+ needs Java 21.
const APICURIO_VERSION = process.env.FIELDSYNC_APICURIO_VERSION ?? '3.0.9';

class StackError extends Error {}

function log(msg: string): void {
  process.stdout.write(`[stack] ${msg}\n`);
}

async function deadline<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + ms;
  let delay = 100;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until) throw new StackError(`${what}: not ready after ${Math.round(ms / 1000)} s`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 1000);
  }
}

function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((res) => {
    const s = net.connect({ port, host });
    s.setTimeout(1000);
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
    s.once('timeout', () => { s.destroy(); res(false); });
  });
}

function run(cmd: string, args: string[], what: string, cwd = root): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new StackError(`${what}: cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const out = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-15).join('\n');
    throw new StackError(`${what}: ${cmd} exited ${r.status}\n${out}`);
  }
}

function requireJava(): void {
  const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new StackError('Java is missing: install a JDK 17+ (java on PATH) to run Kafka and the registry');
}

// ---------- downloads (cached outside the clone) ----------

// Maven's HTTP transport retries a failed download (a reset connection included) instead of
// failing the whole stack start on one transient error.
const MVN_RETRY = ['-Dmaven.wagon.http.retryHandler.count=5', '-Dmaven.wagon.http.retryHandler.requestSentEnabled=true'];

function fetchKafka(): string {
  const home = join(cacheDir, `kafka-${KAFKA_VERSION}`);
  if (existsSync(join(home, '.complete'))) return home;
  requireMvn();
  log(`fetching Apache Kafka ${KAFKA_VERSION} and its runtime dependencies with mvn (once) ...`);
  const tmp = `${home}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  run('mvn', ['-q', '-B', ...MVN_RETRY, '-f', join(root, 'stack/kafka-pom.xml'), 'dependency:copy-dependencies',
    `-Dkafka.version=${KAFKA_VERSION}`, '-DincludeScope=runtime', `-DoutputDirectory=${join(tmp, 'libs')}`], 'download of Kafka failed');
  writeFileSync(join(tmp, '.complete'), new Date().toISOString());
  rmSync(home, { recursive: true, force: true });
  renameSync(tmp, home);
  return home;
}

function fetchApicurio(): string {
  const home = join(cacheDir, `apicurio-${APICURIO_VERSION}`);
  if (existsSync(join(home, '.complete'))) return home;
  requireMvn();
  log(`fetching Apicurio Registry ${APICURIO_VERSION} with mvn (once, ~160 MB) ...`);
  const tmp = `${home}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  run('mvn', ['-q', '-B', ...MVN_RETRY, 'dependency:copy', `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`,
    `-DoutputDirectory=${tmp}`], 'download of Apicurio Registry failed', tmp);
  const archive = readdirSync(tmp).find((f) => f.endsWith('.tar.gz'));
  if (!archive) throw new StackError('download of Apicurio Registry failed: no archive was written');
  run('tar', ['-xzf', archive], 'unpacking Apicurio Registry failed', tmp);
  rmSync(join(tmp, archive));
  writeFileSync(join(tmp, '.complete'), new Date().toISOString());
  rmSync(home, { recursive: true, force: true });
  renameSync(tmp, home);
  return home;
}

function requireMvn(): void {
  const r = spawnSync('mvn', ['-v'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new StackError('Maven (mvn) is missing: it is needed once to fetch Kafka and Apicurio into the cache');
}

// ---------- processes we own ----------

const pidFile = (name: string) => join(stateDir, `${name}.pid`);

function ownedPid(name: string): number | undefined {
  if (!existsSync(pidFile(name))) return undefined;
  const pid = Number(readFileSync(pidFile(name), 'utf8').trim());
  try { process.kill(pid, 0); return pid; } catch { return undefined; }
}

function startDetached(name: string, cmd: string, args: string[], cwd: string): void {
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  const out = openSync(join(stateDir, 'logs', `${name}.log`), 'a');
  const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', out, out] });
  child.unref();
  writeFileSync(pidFile(name), String(child.pid));
}

function logTail(name: string): string {
  const f = join(stateDir, 'logs', `${name}.log`);
  if (!existsSync(f)) return '';
  return readFileSync(f, 'utf8').split('\n').filter((l) => /ERROR|Exception|Caused by|Address already/.test(l)).slice(-8).join('\n');
}

async function kafkaHealthy(s: LocalStack): Promise<boolean> {
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: s.kafkaBrokers, logLevel: logLevel.NOTHING, connectionTimeout: 2000, requestTimeout: 3000, retry: { retries: 0 } }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function registryHealthy(s: LocalStack): Promise<boolean> {
  try {
    const res = await fetch(`${s.registryUrl}/subjects`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

async function upKafka(s: LocalStack): Promise<void> {
  if (await kafkaHealthy(s)) { log(`kafka: already up on ${s.kafkaBrokers.join(',')}`); return; }
  if (ownedPid('kafka') === undefined && (await portOpen(s.kafkaPort))) {
    throw new StackError(`kafka: port ${s.kafkaPort} is taken by another process that is not a Kafka broker (set FIELDSYNC_KAFKA_PORT)`);
  }
  if (await portOpen(s.kafkaPort + 1)) throw new StackError(`kafka: controller port ${s.kafkaPort + 1} is taken`);
  requireJava();
  const home = fetchKafka();
  const dataDir = join(stateDir, 'kafka-data');
  const props = join(stateDir, 'kafka.properties');
  writeFileSync(props, [
    'process.roles=broker,controller', 'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${s.kafkaPort + 1}`,
    `listeners=PLAINTEXT://127.0.0.1:${s.kafkaPort},CONTROLLER://127.0.0.1:${s.kafkaPort + 1}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${s.kafkaPort}`,
    'controller.listener.names=CONTROLLER', 'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`, 'num.partitions=1',
    'offsets.topic.replication.factor=1', 'offsets.topic.num.partitions=4',
    'transaction.state.log.replication.factor=1', 'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1', 'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0', 'auto.create.topics.enable=true', 'delete.topic.enable=true',
    'log.retention.hours=-1', 'log.segment.bytes=67108864',
  ].join('\n') + '\n');
  const cp = join(home, 'libs', '*');
  if (!existsSync(join(dataDir, 'meta.properties'))) {
    run('java', ['-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', 'ZmllbGRzeW5jLWxvY2FsMQ', '-c', props], 'kafka: formatting KRaft storage failed');
  }
  log('kafka: starting broker ...');
  startDetached('kafka', 'java', ['-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-Djava.awt.headless=true', '-cp', cp, 'kafka.Kafka', props], stateDir);
  await deadline('kafka', 90_000, async () => {
    if (ownedPid('kafka') === undefined) throw new StackError(`kafka: the broker exited during start-up\n${logTail('kafka')}`);
    return (await kafkaHealthy(s)) ? true : undefined;
  }).catch((e: unknown) => { throw e instanceof StackError ? new StackError(`${e.message}\n${logTail('kafka')}`) : e; });
  log(`kafka: up on ${s.kafkaBrokers.join(',')}`);
}

async function upRegistry(s: LocalStack): Promise<void> {
  if (await registryHealthy(s)) { log(`registry: already up on ${s.registryUrl}`); return; }
  if (ownedPid('registry') === undefined && (await portOpen(s.registryPort))) {
    throw new StackError(`registry: port ${s.registryPort} is taken by another process (set FIELDSYNC_REGISTRY_PORT)`);
  }
  requireJava();
  const home = fetchApicurio();
  const jar = readdirSync(home).find((f) => f === 'quarkus-run.jar' || f.endsWith('-runner.jar'))
    ?? (existsSync(join(home, 'quarkus-app', 'quarkus-run.jar')) ? join('quarkus-app', 'quarkus-run.jar') : undefined);
  if (!jar) throw new StackError(`registry: no runnable jar in the Apicurio archive (${home})`);
  log('registry: starting Apicurio (in-memory storage) ...');
  startDetached('registry', 'java', ['-Xms128m', '-Xmx512m', '-Dquarkus.http.host=127.0.0.1', `-Dquarkus.http.port=${s.registryPort}`,
    '-Dquarkus.log.level=WARN', '-jar', jar], home);
  await deadline('registry', 90_000, async () => {
    if (ownedPid('registry') === undefined) throw new StackError(`registry: Apicurio exited during start-up\n${logTail('registry')}`);
    return (await registryHealthy(s)) ? true : undefined;
  });
  log(`registry: up on ${s.registryUrl}`);
}

// ---------- the machine's databases ----------

function pgStartCommand(): [string, string[]] {
  const versions = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql') : [];
  return ['pg_ctlcluster', ['--skip-systemctl-redirect', versions[0] ?? '15', 'main', 'start']];
}

async function upDatabases(s: LocalStack): Promise<void> {
  if (!(await portOpen(s.pgPort))) {
    log('postgresql: not running, starting the machine service ...');
    const [cmd, args] = pgStartCommand();
    run(cmd, args, 'postgresql: start failed');
    await deadline('postgresql', 30_000, async () => ((await portOpen(s.pgPort)) ? true : undefined));
  }
  if (!(await portOpen(s.mysqlPort))) {
    log('mariadb: not running, starting the machine service ...');
    run('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd'], 'mariadb: start failed');
    await deadline('mariadb', 30_000, async () => ((await portOpen(s.mysqlPort)) ? true : undefined));
  }
  const pg = await import('pg');
  const admin = new pg.default.Client({ connectionString: s.pgAdminUrl });
  await deadline('postgresql', 30_000, async () => { await admin.connect(); return true; });
  for (const db of s.databases) {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${db}"`);
  }
  await admin.end();
  const mysql = await import('mysql2/promise');
  const conn = await deadline('mariadb', 30_000, async () => mysql.createConnection(s.mysqlAdminUrl));
  for (const db of s.databases) await conn.query(`CREATE DATABASE IF NOT EXISTS \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  // LOAD DATA LOCAL INFILE is the bulk path of the reconciler; the server must allow it.
  await conn.query('SET GLOBAL local_infile = 1');
  await conn.end();
  log(`databases: postgresql :${s.pgPort} and mariadb :${s.mysqlPort} ready (${s.databases.join(', ')})`);
}

/** Fail before starting anything when a port we need is held by something else. */
async function preflight(s: LocalStack): Promise<void> {
  const [kafkaOk, registryOk] = await Promise.all([kafkaHealthy(s), registryHealthy(s)]);
  if (!kafkaOk && ownedPid('kafka') === undefined) {
    if (await portOpen(s.kafkaPort)) throw new StackError(`kafka: port ${s.kafkaPort} is taken by another process that is not a Kafka broker (set FIELDSYNC_KAFKA_PORT)`);
    if (await portOpen(s.kafkaPort + 1)) throw new StackError(`kafka: controller port ${s.kafkaPort + 1} is taken (set FIELDSYNC_KAFKA_PORT)`);
  }
  if (!registryOk && ownedPid('registry') === undefined && (await portOpen(s.registryPort))) {
    throw new StackError(`registry: port ${s.registryPort} is taken by another process (set FIELDSYNC_REGISTRY_PORT)`);
  }
}

async function down(): Promise<void> {
  for (const name of ['registry', 'kafka']) {
    const pid = ownedPid(name);
    if (pid === undefined) { log(`${name}: not started by this clone`); continue; }
    process.kill(pid, 'SIGTERM');
    await deadline(`${name} stop`, 30_000, async () => (ownedPid(name) === undefined ? true : undefined)).catch(() => {
      process.kill(pid, 'SIGKILL');
    });
    rmSync(pidFile(name), { force: true });
    log(`${name}: stopped`);
  }
}

async function status(s: LocalStack): Promise<boolean> {
  const rows: [string, boolean, string][] = [
    ['kafka', await kafkaHealthy(s), s.kafkaBrokers.join(',')],
    ['registry', await registryHealthy(s), s.registryUrl],
    ['postgresql', await portOpen(s.pgPort), `127.0.0.1:${s.pgPort}`],
    ['mariadb', await portOpen(s.mysqlPort), `127.0.0.1:${s.mysqlPort}`],
  ];
  for (const [name, ok, where] of rows) {
    const owned = ownedPid(name) !== undefined ? ' (started by this clone)' : '';
    log(`${name.padEnd(10)} ${ok ? 'up  ' : 'DOWN'} ${where}${owned}`);
  }
  return rows.every(([, ok]) => ok);
}

async function main(): Promise<void> {
  const cmd = process.argv[2] ?? 'status';
  const s = localStack();
  mkdirSync(stateDir, { recursive: true });
  const started = Date.now();
  if (cmd === 'up') {
    await preflight(s);
    await upDatabases(s);
    await Promise.all([upKafka(s), upRegistry(s)]);
    log(`up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } else if (cmd === 'down') {
    await down();
  } else if (cmd === 'status') {
    process.exitCode = (await status(s)) ? 0 : 1;
  } else {
    throw new StackError(`unknown command "${cmd}": use up, down or status`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`[stack] ${e instanceof StackError ? e.message : e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
