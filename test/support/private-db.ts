/**
 * Private database servers for tests that must stop, kill or restart a database (readiness,
 * breaker, chaos, Debezium's logical decoding). The shared PostgreSQL and MariaDB services
 * are never touched: each private instance has its own data directory in a temp dir, its
 * own free loopback port (kept across restarts, so a service's configured URL stays valid)
 * and its own socket, and is removed by destroy().
 *
 *   const pg = await startPrivatePostgres({ databases: ['app'] });
 *   pg.url('app')            postgres://postgres@127.0.0.1:<port>/app  (trust auth)
 *   await pg.stop();         fast shutdown ('immediate' / 'kill' for crash tests)
 *   await pg.start();        same port, same data
 *   await pg.destroy();      stop and delete the data directory (call in afterAll)
 *
 * PostgreSQL: initdb + pg_ctl from `pg_config --bindir`. initdb and postgres refuse to run
 * as root, so as root the data directory is given to the `postgres` OS user and the
 * binaries run through `runuser`. MariaDB: mariadb-install-db + mariadbd with
 * --no-defaults (the machine's my.cnf must not leak in), `--user=root` when root.
 * An exit handler kills every instance still running, so a crashed test run does not
 * leave servers behind.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { waitFor } from './helpers.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;

export type StopMode = 'fast' | 'immediate' | 'kill';

export interface PrivateDb {
  readonly kind: 'postgres' | 'mariadb';
  readonly port: number;
  readonly dataDir: string;
  /** Connection URL of a database on this instance (superuser, no password). */
  url(db?: string): string;
  readonly running: boolean;
  start(): Promise<void>;
  /** fast: clean shutdown; immediate: PostgreSQL immediate mode / MariaDB SIGKILL-free abort; kill: SIGKILL. */
  stop(mode?: StopMode): Promise<void>;
  restart(mode?: StopMode): Promise<void>;
  destroy(): Promise<void>;
}

export interface PrivateDbOptions {
  /** Databases to create after the first start. */
  databases?: string[];
  /** Extra server settings (PostgreSQL `-c name=value`, MariaDB `--name=value`). */
  settings?: Record<string, string>;
}

/** A free loopback TCP port (the OS picks it; a tiny race with other processes is accepted). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const live = new Set<() => void>();
process.once('exit', () => { for (const kill of live) kill(); });

function pidFromFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function killQuietly(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try { process.kill(pid, signal); } catch { /* already gone */ }
}

function processAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

// ---------------------------------------------------------------- PostgreSQL

export async function postgresBinDir(): Promise<string> {
  const { stdout } = await run('pg_config', ['--bindir']);
  return stdout.trim();
}

export async function startPrivatePostgres(opts: PrivateDbOptions = {}): Promise<PrivateDb> {
  const bin = await postgresBinDir();
  const root = mkdtempSync(join(tmpdir(), 'fieldsync-pg-'));
  const dataDir = join(root, 'data');
  const port = await freePort();
  if (isRoot) chownSync(root, Number((await run('id', ['-u', 'postgres'])).stdout), Number((await run('id', ['-g', 'postgres'])).stdout));
  // As root, the server binaries run as the postgres OS user (initdb refuses root).
  const asOwner = (file: string, args: string[]) => (isRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, file), ...args]) : run(join(bin, file), args));

  await asOwner('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1', port: String(port), unix_socket_directories: root,
    // fsync off is safe for what the tests do (they kill processes, not the machine: the OS
    // keeps every written page); synchronous_commit stays on, or a kill -9 or an immediate
    // stop would lose commits the client was told about.
    fsync: 'off', full_page_writes: 'off', synchronous_commit: 'on', shared_buffers: '32MB', max_connections: '50',
    ...opts.settings,
  };
  const serverOpts = Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(' ');
  let running = false;
  const postmasterPid = () => pidFromFile(join(dataDir, 'postmaster.pid'));
  const kill = () => killQuietly(postmasterPid(), 'SIGKILL');

  const db: PrivateDb = {
    kind: 'postgres',
    port,
    dataDir,
    url: (name = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${name}`,
    get running() { return running; },
    async start() {
      if (running) return;
      await asOwner('pg_ctl', ['-D', dataDir, '-o', serverOpts, '-l', join(root, 'server.log'), '-w', '-t', '60', 'start']);
      running = true;
      live.add(kill);
    },
    async stop(mode: StopMode = 'fast') {
      if (!running) return;
      const pid = postmasterPid();
      if (mode === 'kill') {
        killQuietly(pid, 'SIGKILL');
        if (pid !== undefined) await waitFor('the killed postmaster to exit', () => !processAlive(pid), 30_000, 50);
        // A SIGKILLed postmaster leaves its children for a moment; they exit on their own.
        rmSync(join(dataDir, 'postmaster.pid'), { force: true });
      } else {
        await asOwner('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
      }
      running = false;
      live.delete(kill);
    },
    async restart(mode: StopMode = 'fast') {
      await db.stop(mode);
      await db.start();
    },
    async destroy() {
      await db.stop('immediate').catch(() => db.stop('kill'));
      rmSync(root, { recursive: true, force: true });
    },
  };
  await db.start();
  if (opts.databases?.length) {
    const client = new pg.Client({ connectionString: db.url('postgres') });
    await client.connect();
    try {
      for (const name of opts.databases) await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    } finally {
      await client.end();
    }
  }
  return db;
}

// ---------------------------------------------------------------- MariaDB

export async function startPrivateMariadb(opts: PrivateDbOptions = {}): Promise<PrivateDb> {
  const root = mkdtempSync(join(tmpdir(), 'fieldsync-maria-'));
  const dataDir = join(root, 'data');
  const socket = join(root, 'mysqld.sock');
  const port = await freePort();
  const userArgs = isRoot ? ['--user=root'] : [];
  await run('mariadb-install-db', ['--no-defaults', `--datadir=${dataDir}`, ...userArgs, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'], { maxBuffer: 16 * 1024 * 1024 });
  const settings: Record<string, string> = {
    'innodb-buffer-pool-size': '64M', 'innodb-log-file-size': '48M', 'innodb-flush-log-at-trx-commit': '2',
    'local-infile': '1', 'max-connections': '100', 'performance-schema': 'OFF',
    ...opts.settings,
  };
  const args = [
    '--no-defaults', `--datadir=${dataDir}`, `--socket=${socket}`, `--port=${port}`, '--bind-address=127.0.0.1',
    `--pid-file=${join(root, 'mysqld.pid')}`, `--log-error=${join(root, 'error.log')}`, '--skip-name-resolve', '--skip-log-bin',
    ...userArgs, ...Object.entries(settings).map(([k, v]) => `--${k}=${v}`),
  ];
  let child: ChildProcess | undefined;
  const kill = () => killQuietly(child?.pid, 'SIGKILL');
  const url = (name = '') => `mysql://root@127.0.0.1:${port}/${name}`;

  const exited = (c: ChildProcess) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve();
    else c.once('exit', () => resolve());
  });

  const db: PrivateDb = {
    kind: 'mariadb',
    port,
    dataDir,
    url,
    get running() { return child !== undefined; },
    async start() {
      if (child) return;
      const c = spawn('mariadbd', args, { stdio: 'ignore' });
      child = c;
      live.add(kill);
      let failed: string | undefined;
      c.once('exit', (code, sig) => { failed = `mariadbd exited (${code ?? sig}) while starting; see ${join(root, 'error.log')}`; });
      await waitFor('the private MariaDB to accept connections', async () => {
        if (failed) throw new Error(failed);
        const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
        await conn.end();
        return true;
      }, 60_000, 100).catch((e: unknown) => { throw new Error(failed ?? String(e)); });
    },
    async stop(mode: StopMode = 'fast') {
      const c = child;
      if (!c) return;
      // fast: mariadbd shuts down cleanly on SIGTERM; immediate/kill: no clean shutdown (crash recovery on start).
      c.kill(mode === 'fast' ? 'SIGTERM' : 'SIGKILL');
      await exited(c);
      child = undefined;
      live.delete(kill);
    },
    async restart(mode: StopMode = 'fast') {
      await db.stop(mode);
      await db.start();
    },
    async destroy() {
      await db.stop('kill');
      rmSync(root, { recursive: true, force: true });
    },
  };
  await db.start();
  if (opts.databases?.length) {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
    try {
      for (const name of opts.databases) await conn.query(`CREATE DATABASE \`${name.replaceAll('`', '``')}\``);
    } finally {
      await conn.end();
    }
  }
  if (!existsSync(dataDir)) throw new Error(`private MariaDB data directory ${dataDir} is missing`);
  return db;
}
