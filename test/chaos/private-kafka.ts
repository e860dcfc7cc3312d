/**
 * A private Kafka broker (KRaft, single node) for the chaos suite, which must stop and
 * restart a broker: the shared broker of the local stack is never touched. Same jars and
 * same approach as scripts/stack.ts (kafka.tools.StorageTool format, then kafka.Kafka with
 * a temp properties file), on free loopback ports, data in a temp dir. The ports stay the
 * same across restarts so that running services reconnect by themselves.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from '../../lib/kafka/kafkajs.js';
import { kafkaLibs } from '../../bench/support/env.js';
import { freePort } from '../support/private-db.js';
import { waitFor } from '../support/helpers.js';

export interface PrivateKafka {
  readonly port: number;
  readonly brokers: string[];
  readonly running: boolean;
  start(): Promise<void>;
  /** 'fast': SIGTERM (controlled shutdown); 'kill': SIGKILL (unclean, log recovery on start). */
  stop(mode?: 'fast' | 'kill'): Promise<void>;
  restart(mode?: 'fast' | 'kill'): Promise<void>;
  destroy(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => { for (const c of live) c.kill('SIGKILL'); });

async function answers(brokers: string[]): Promise<boolean> {
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { retries: 0 } }).admin();
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

/** `logDir`: where the broker's log goes (kept after destroy(), for a failed run's post-mortem). */
export async function startPrivateKafka(logDir?: string): Promise<PrivateKafka> {
  const root = mkdtempSync(join(tmpdir(), 'fieldsync-kafka-'));
  const port = await freePort();
  const controller = await freePort();
  const brokers = [`127.0.0.1:${port}`];
  const props = join(root, 'server.properties');
  writeFileSync(props, [
    'process.roles=broker,controller', 'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controller}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER', 'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${join(root, 'data')}`, 'num.partitions=1',
    'offsets.topic.replication.factor=1', 'offsets.topic.num.partitions=2',
    'transaction.state.log.replication.factor=1', 'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1', 'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0', 'auto.create.topics.enable=true', 'delete.topic.enable=true',
    'log.retention.hours=-1', 'log.segment.bytes=33554432',
  ].join('\n') + '\n');
  const log4j = join(root, 'log4j2.properties');
  writeFileSync(log4j, ['rootLogger.level=INFO', 'rootLogger.appenderRef.out.ref=OUT', 'appender.out.type=Console', 'appender.out.name=OUT',
    'appender.out.layout.type=PatternLayout', 'appender.out.layout.pattern=[%d] %p %m (%c)%n',
    'logger.kafka.name=kafka', 'logger.kafka.level=WARN', 'logger.apache.name=org.apache.kafka', 'logger.apache.level=WARN',
    'logger.started.name=kafka.server.KafkaRaftServer', 'logger.started.level=INFO'].join('\n') + '\n');
  const cp = `${kafkaLibs()}/*`;
  const fmt = spawnSync('java', ['-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', 'ZmllbGRzeW5jLWNoYW9zMQ', '-c', props], { encoding: 'utf8' });
  if (fmt.status !== 0) throw new Error(`unable to format the private Kafka's storage: ${fmt.stderr.slice(-600)}`);
  let child: ChildProcess | undefined;
  const logFile = join(logDir ?? root, 'kafka-server.log');

  const k: PrivateKafka = {
    port,
    brokers,
    get running() { return child !== undefined; },
    async start() {
      if (child) return;
      const out = openSync(logFile, 'a');
      const c = spawn('java', ['-Xms128m', '-Xmx512m', '-XX:+UseG1GC', '-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${log4j}`, '-cp', cp, 'kafka.Kafka', props], { stdio: ['ignore', out, out] });
      child = c;
      live.add(c);
      let exited = false;
      c.once('exit', () => { exited = true; live.delete(c); if (child === c) child = undefined; });
      await waitFor('the private Kafka broker to answer', async () => {
        if (exited) throw new Error(`the private Kafka broker exited during start-up; see ${logFile}`);
        return answers(brokers);
      }, 180_000, 250);
    },
    async stop(mode: 'fast' | 'kill' = 'fast') {
      const c = child;
      if (!c) return;
      const gone = new Promise<void>((resolve) => { if (c.exitCode !== null || c.signalCode !== null) resolve(); else c.once('exit', () => resolve()); });
      c.kill(mode === 'kill' ? 'SIGKILL' : 'SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
      await gone;
      clearTimeout(timer);
      child = undefined;
    },
    async restart(mode: 'fast' | 'kill' = 'fast') {
      await k.stop(mode);
      await k.start();
    },
    async destroy() {
      await k.stop('kill');
      rmSync(root, { recursive: true, force: true });
    },
  };
  await k.start();
  return k;
}
