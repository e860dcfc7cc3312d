/**
 * The chaos cluster: private PostgreSQL, private MariaDB and a private Kafka broker (all
 * three are stopped and restarted by the faults, so none of them may be the shared ones),
 * the shared schema registry, and the fieldsync services as supervised child processes:
 *
 *   capture-pg       outbox capture of public.clients and public.accounts in PostgreSQL
 *   capture-maria    outbox capture of clients in MariaDB
 *   applier-maria    pg.public.clients → clients, pg.public.accounts → accounts
 *   applier-pg       maria.clients → public.clients
 *   reconcile        one-shot `fieldsync reconcile` runs of accounts (PostgreSQL → MariaDB)
 *
 * One YAML config holds everything (used by install, reconcile and verify); each service
 * process gets a copy with only its own capture/applier entry and its own health port, so a
 * kill -9 hits exactly one service.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../../lib/config/load.js';
import { createKafka, ensureTopics } from '../../lib/kafka/client.js';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { stack, uniqueName } from '../support/helpers.js';
import { freePort, startPrivateMariadb, startPrivatePostgres, type PrivateDb } from '../support/private-db.js';
import { startPrivateKafka, type PrivateKafka } from './private-kafka.js';
import { SupervisedService, runCommand } from './supervisor.js';
import { accountsDdl, clientsDdl } from './workload.js';

export const SERVICE_NAMES = ['capture-pg', 'capture-maria', 'applier-maria', 'applier-pg'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export interface ChaosCluster {
  dir: string;
  pg: PrivateDb;
  maria: PrivateDb;
  kafka: PrivateKafka;
  /** Application connections (not applier sessions): the writers and the checks use them. */
  pgDb: Db;
  mariaDb: Db;
  topicPrefix: string;
  deadLetterTopic: string;
  topics: { pgClients: string; pgAccounts: string; mariaClients: string };
  configFile: string;
  services: Record<ServiceName, SupervisedService>;
  /** Run a fieldsync command to its end (install, reconcile, verify); resolves with its exit code. */
  run(args: string[], name: string): { done: Promise<number | string>; kill9(): void; peakRssMiB(): number };
  destroy(): Promise<void>;
}

function configDoc(kafkaBrokers: string[], prefix: string, dlq: string, pgUrl: string, mariaUrl: string): Record<string, unknown> {
  return {
    kafka: { brokers: kafkaBrokers, topicPrefix: prefix, partitions: 3, deadLetterTopic: dlq, connectionTimeoutMs: 3000, requestTimeoutMs: 15000 },
    registry: { url: stack.registryUrl },
    databases: {
      pg: { dialect: 'postgres', url: pgUrl, origin: 'pg', poolSize: 4 },
      maria: { dialect: 'mysql', url: mariaUrl, origin: 'maria', poolSize: 4 },
    },
    capture: [
      { source: 'pg', mode: 'outbox', pollIntervalMs: 100, tables: [{ name: 'public.clients', snapshot: false }, { name: 'public.accounts', snapshot: false }] },
      { source: 'maria', mode: 'outbox', pollIntervalMs: 100, tables: [{ name: 'clients', snapshot: false }] },
    ],
    // a short session: after a kill -9 the group gives the dead member's partitions to its
    // successor within seconds (the default 30 s would be most of the CI run's settle time)
    applier: [
      { target: 'maria', sessionTimeoutMs: 10_000, tables: [{ from: 'pg.public.clients', into: 'clients' }, { from: 'pg.public.accounts', into: 'accounts' }] },
      { target: 'pg', sessionTimeoutMs: 10_000, tables: [{ from: 'maria.clients', into: 'public.clients' }] },
    ],
    reconciler: { jobs: [{ source: 'pg', table: 'public.accounts', target: 'maria', into: 'accounts' }] },
    http: { host: '127.0.0.1', port: 0 },
  };
}

export async function startChaosCluster(log: (m: string) => void): Promise<ChaosCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldsync-chaos-'));
  log('starting private PostgreSQL, MariaDB and Kafka ...');
  const [pg, maria, kafka] = await Promise.all([
    startPrivatePostgres({ databases: ['chaos'] }),
    startPrivateMariadb({ databases: ['chaos'] }),
    startPrivateKafka(dir),
  ]);
  const pgDb = openPostgres(pg.url('chaos'), { poolSize: 3 });
  const mariaDb = openMysql(maria.url('chaos'), { poolSize: 3 });
  await pgDb.execute(clientsDdl('pg'));
  await pgDb.execute(accountsDdl('pg'));
  await mariaDb.execute(clientsDdl('maria'));
  await mariaDb.execute(accountsDdl('maria'));

  const topicPrefix = uniqueName('chaos');
  const deadLetterTopic = `${topicPrefix}.dead-letter`;
  const doc = configDoc(kafka.brokers, topicPrefix, deadLetterTopic, pg.url('chaos'), maria.url('chaos'));
  const configFile = join(dir, 'fieldsync.yaml');
  writeFileSync(configFile, stringify(doc));

  const run = (args: string[], name: string) => runCommand([...args], join(dir, `${name}.log`));
  const services = {} as Record<ServiceName, SupervisedService>;
  const captures = doc.capture as unknown[];
  const appliers = doc.applier as unknown[];
  const entries: Record<ServiceName, { command: string; section: Record<string, unknown> }> = {
    'capture-pg': { command: 'capture', section: { capture: [captures[0]], applier: [] } },
    'capture-maria': { command: 'capture', section: { capture: [captures[1]], applier: [] } },
    'applier-maria': { command: 'applier', section: { capture: [], applier: [appliers[0]] } },
    'applier-pg': { command: 'applier', section: { capture: [], applier: [appliers[1]] } },
  };
  for (const name of SERVICE_NAMES) {
    const port = await freePort();
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify({ ...doc, ...entries[name].section, reconciler: { jobs: [] }, http: { host: '127.0.0.1', port } }));
    services[name] = new SupervisedService({ name, args: [entries[name].command, '--config', file], httpPort: port, logFile: join(dir, `${name}.log`) });
  }
  return {
    dir, pg, maria, kafka, pgDb, mariaDb, topicPrefix, deadLetterTopic, configFile, services, run,
    topics: { pgClients: `${topicPrefix}.pg.public.clients`, pgAccounts: `${topicPrefix}.pg.public.accounts`, mariaClients: `${topicPrefix}.maria.clients` },
    destroy: async () => {
      await Promise.all(SERVICE_NAMES.map((n) => services[n].stop(10_000)));
      await pgDb.close().catch(() => undefined);
      await mariaDb.close().catch(() => undefined);
      await Promise.all([pg.destroy(), maria.destroy(), kafka.destroy()]);
    },
  };
}

/** Install capture (outbox + triggers) and the appliers' clocks, then start the services. */
export async function installAndStart(c: ChaosCluster, log: (m: string) => void): Promise<void> {
  for (const [what, args] of [['capture install', ['capture', 'install', '--config', c.configFile]], ['applier install', ['applier', 'install', '--config', c.configFile]]] as const) {
    log(`${what} ...`);
    const code = await c.run([...args], what.replace(' ', '-')).done;
    if (code !== 0) throw new Error(`fieldsync ${what} exited ${code}; see ${join(c.dir, `${what.replace(' ', '-')}.log`)}`);
  }
  // The change topics exist before any service starts, so captures and appliers can start
  // together (start-up is the slow part of a short run on two cores).
  const cfg = loadConfig(c.configFile);
  const admin = createKafka(cfg.kafka, 'chaos-setup').admin();
  await admin.connect();
  try {
    await ensureTopics(admin, cfg.kafka, Object.values(c.topics));
  } finally {
    await admin.disconnect();
  }
  log('starting capture and applier services ...');
  for (const name of SERVICE_NAMES) c.services[name].start();
  await Promise.all(SERVICE_NAMES.map((name) => c.services[name].waitReady(300_000)));
}
