/**
 * Runs Debezium as a program: a Kafka Connect standalone worker (`java -cp connect/*
 * org.apache.kafka.connect.cli.ConnectStandalone worker.properties source.properties
 * sink.properties`) with Debezium's PostgreSQL connector and its JDBC sink, configured from
 * the templates in bench/debezium/config/ (placeholders `${NAME}` filled here).
 *
 * The runner waits on Connect's REST API until the connector and each task report
 * RUNNING (or fails with the task's trace), and stops the worker with SIGTERM, then
 * SIGKILL after a deadline. Debezium's code is only ever run, never copied.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/env.js';
import { freePort } from '../../test/support/private-db.js';
import { ensureDebezium } from './fetch.js';

const configDir = join(repoRoot, 'bench', 'debezium', 'config');

function fill(template: string, vars: Record<string, string>): string {
  return readFileSync(join(configDir, template), 'utf8').replace(/\$\{([A-Z_]+)\}/g, (m, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`${template}: no value for placeholder ${m}`);
    return v;
  });
}

export interface DebeziumPipelineOptions {
  name: string;
  bootstrap: string;
  pgPort: number;
  pgDb: string;
  /** `schema.table` in PostgreSQL. */
  pgTable: string;
  topicPrefix: string;
  partitions: number;
  /** JDBC URL of the MariaDB target database. */
  jdbcUrl: string;
  targetTable: string;
  batchSize: number;
  /** Run only the source, only the sink, or both connectors. */
  connectors?: 'both' | 'source' | 'sink';
}

export interface DebeziumPipeline {
  topic: string;
  slot: string;
  logFile: string;
  pid: number;
  stop(): Promise<void>;
}

interface ConnectorStatus {
  status: { connector: { state: string; trace?: string }; tasks: { state: string; trace?: string }[] };
}

export async function startDebezium(o: DebeziumPipelineOptions): Promise<DebeziumPipeline> {
  const home = ensureDebezium((m) => process.stdout.write(`[debezium] ${m}\n`));
  const stateDir = mkdtempSync(join(tmpdir(), 'fieldsync-connect-'));
  mkdirSync(stateDir, { recursive: true });
  const restPort = await freePort();
  const slot = `${o.name}`.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 60);
  const topic = `${o.topicPrefix}.${o.pgTable}`;
  const vars: Record<string, string> = {
    BOOTSTRAP: o.bootstrap, STATE_DIR: stateDir, PLUGIN_PATH: home.pluginPath, REST_PORT: String(restPort),
    NAME: o.name, PG_PORT: String(o.pgPort), PG_DB: o.pgDb, PG_TABLE: o.pgTable, TOPIC_PREFIX: o.topicPrefix,
    SLOT: slot, PARTITIONS: String(o.partitions), TOPIC: topic, JDBC_URL: o.jdbcUrl, TARGET_TABLE: o.targetTable,
    BATCH_SIZE: String(o.batchSize),
  };
  const files: string[] = [];
  for (const t of ['worker.properties', 'pg-source.properties', 'jdbc-sink.properties']) {
    if (o.connectors === 'source' && t === 'jdbc-sink.properties') continue;
    if (o.connectors === 'sink' && t === 'pg-source.properties') continue;
    const f = join(stateDir, t);
    writeFileSync(f, fill(t, vars));
    files.push(f);
  }
  const logFile = join(stateDir, 'connect.log');
  const out = openSync(logFile, 'a');
  const child: ChildProcess = spawn('java', ['-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(configDir, 'log4j2.properties')}`,
    '-cp', home.connectClassPath, 'org.apache.kafka.connect.cli.ConnectStandalone', ...files], { stdio: ['ignore', out, out] });
  let exited = false;
  child.once('exit', () => { exited = true; });
  const expected = files.length - 1;
  const rest = `http://127.0.0.1:${restPort}`;
  const until = Date.now() + 300_000;
  for (;;) {
    if (exited) throw new Error(`Kafka Connect exited during start-up; see ${logFile}\n${tail(logFile)}`);
    const states = await fetch(`${rest}/connectors?expand=status`, { signal: AbortSignal.timeout(2000) })
      .then(async (r) => (r.ok ? ((await r.json()) as Record<string, ConnectorStatus>) : undefined)).catch(() => undefined);
    if (states) {
      const all = Object.values(states);
      const failed = all.flatMap((s) => [s.status.connector, ...s.status.tasks]).find((s) => s.state === 'FAILED');
      if (failed) {
        child.kill('SIGKILL');
        throw new Error(`a Debezium connector failed to start: ${(failed.trace ?? '').split('\n').slice(0, 6).join('\n')}`);
      }
      if (all.length === expected && all.every((s) => s.status.connector.state === 'RUNNING' && s.status.tasks.length > 0 && s.status.tasks.every((t) => t.state === 'RUNNING'))) break;
    }
    if (Date.now() > until) { child.kill('SIGKILL'); throw new Error(`Kafka Connect did not run its connectors within 300 s; see ${logFile}`); }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    topic, slot, logFile, pid: child.pid ?? -1,
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const deadline = Date.now() + 30_000;
      while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (!exited) child.kill('SIGKILL');
    },
  };
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => /ERROR|Exception|Caused by/.test(l)).slice(-8).join('\n');
  } catch {
    return '';
  }
}
