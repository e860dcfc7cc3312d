/**
 * Fetches, once, what the Debezium comparison runs, into the shared download cache:
 *
 *   <cache>/debezium-<version>/connect/*.jar           Kafka Connect worker class path
 *   <cache>/debezium-<version>/plugins/<connector>/    Debezium plugin archives, unpacked
 *
 * Everything comes from Maven Central through `mvn` and bench/debezium/pom.xml. A partial
 * download is never taken for a complete one: files go to `<dir>.partial` and are renamed
 * into place only when every step succeeded (the `.complete` marker is written last).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, repoRoot } from '../support/env.js';

export const DEBEZIUM_VERSION = '3.6.0.Final';

export interface DebeziumHome {
  home: string;
  /** Class path entries of the Connect worker (a directory wildcard). */
  connectClassPath: string;
  /** Connect's plugin.path: one sub-directory per connector plugin. */
  pluginPath: string;
}

function mvn(args: string[], what: string, cwd: string): void {
  const r = spawnSync('mvn', ['-q', '-B', '-f', join(repoRoot, 'bench', 'debezium', 'pom.xml'), ...args], { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`unable to ${what}: cannot run mvn (${r.error.message}); Maven is needed once to fetch Debezium`);
  if (r.status !== 0) throw new Error(`unable to ${what}: mvn exited ${r.status}\n${`${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-12).join('\n')}`);
}

export function ensureDebezium(log: (msg: string) => void = () => undefined): DebeziumHome {
  const home = join(cacheDir, `debezium-${DEBEZIUM_VERSION}`);
  const done: DebeziumHome = { home, connectClassPath: join(home, 'connect', '*'), pluginPath: join(home, 'plugins') };
  if (existsSync(join(home, '.complete'))) return done;
  log(`fetching Kafka Connect and Debezium ${DEBEZIUM_VERSION} (PostgreSQL connector, JDBC sink) with mvn, once ...`);
  const tmp = `${home}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  mvn(['dependency:copy-dependencies', '-P', 'connect', '-DincludeScope=runtime', `-DoutputDirectory=${join(tmp, 'connect')}`], 'fetch Kafka Connect', tmp);
  const archives = join(tmp, 'archives');
  mvn(['dependency:copy-dependencies', '-P', '!connect,plugins', `-DoutputDirectory=${archives}`], 'fetch the Debezium plugins', tmp);
  const plugins = join(tmp, 'plugins');
  mkdirSync(plugins, { recursive: true });
  for (const archive of readdirSync(archives).filter((f) => f.endsWith('.tar.gz'))) {
    const r = spawnSync('tar', ['-xzf', join(archives, archive), '-C', plugins], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`unable to unpack ${archive}: ${r.stderr}`);
  }
  rmSync(archives, { recursive: true, force: true });
  writeFileSync(join(tmp, '.complete'), new Date().toISOString());
  rmSync(home, { recursive: true, force: true });
  renameSync(tmp, home);
  return done;
}

if (process.argv[1]?.endsWith('fetch.ts')) {
  const d = ensureDebezium((m) => process.stdout.write(`[debezium] ${m}\n`));
  process.stdout.write(`[debezium] ready: ${d.home}\n`);
}
