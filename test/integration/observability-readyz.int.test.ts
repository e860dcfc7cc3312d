/**
 * /readyz follows the databases a service depends on, on private database instances
 * (test/support/private-db.ts; the shared servers are never stopped):
 *
 *   1. the shared runtime (lib/observability/runtime.ts) with dbReachable checks on a
 *      private PostgreSQL and a private MariaDB: each stop (clean, and SIGKILL) turns
 *      /readyz 503 naming the database and fieldsync_up 0, each start turns it 200 and 1;
 *   2. the applier service (`node bin/fieldsync.mjs applier`) with its target on the
 *      private MariaDB: not ready while the target is stopped, ready again when it is back,
 *      and the events published meanwhile are applied;
 * The capture service's source side is in observability-readyz-capture.int.test.ts.
 */
import { isDeepStrictEqual } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { openPostgres } from '../../lib/dialect/postgres/db.js';
import { topicName } from '../../lib/kafka/client.js';
import { dbReachable } from '../../lib/observability/readiness.js';
import { startServiceRuntime, type ServiceRuntime } from '../../lib/observability/runtime.js';
import { EventPublisher, StreamModel, clientsStream, clientsTable, readCanonical, spawnFieldsync, writeTempConfig } from '../support/applier-harness.js';
import { stack, stackConfig, uniqueName, waitFor } from '../support/helpers.js';
import { freePort, startPrivatePostgres, type PrivateDb } from '../support/private-db.js';
import { usePrivateMariadb, waitForReadyz } from '../support/readyz.js';

const fixture = usePrivateMariadb();
const { procs, cleanup } = fixture;

const upValue = async (port: number, service: string) => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^fieldsync_up\\{service="${service}"\\} (\\d)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

describe('/readyz of the shared runtime follows its databases', () => {
  let pg: PrivateDb;
  let rt: ServiceRuntime;
  beforeAll(async () => {
    pg = await startPrivatePostgres({ databases: ['app'] });
    cleanup.push(() => pg.destroy());
  }, 120_000);

  it('not ready while PostgreSQL or MariaDB is stopped or killed, ready again when it is back', async () => {
    const pgDb = openPostgres(pg.url('app'), { poolSize: 1 });
    const myDb = openMysql(fixture.maria.url('app'), { poolSize: 1 });
    cleanup.push(() => pgDb.close(), () => myDb.close());
    rt = await startServiceRuntime({ service: 'readyz-test', http: { host: '127.0.0.1', port: 0 }, handleSignals: false, onStopped: () => undefined });
    cleanup.push(() => rt.shutdown('test end'));
    rt.addReadinessCheck('target postgres', dbReachable(pgDb, 1500));
    rt.addReadinessCheck('target mariadb', dbReachable(myDb, 1500));
    expect((await healthz(rt.port)).status).toBe(200);
    await waitForReadyz(rt.port, 200, 'ready with both databases up');
    expect(await upValue(rt.port, 'readyz-test')).toBe(1);

    for (const [db, label] of [[pg, 'target postgres'], [fixture.maria, 'target mariadb']] as const) {
      for (const mode of ['fast', 'kill'] as const) {
        await db.stop(mode);
        const down = await waitForReadyz(rt.port, 503, `not ready after ${label} stopped (${mode})`);
        expect(down.text).toContain(`${label}: database`);
        expect(down.text).not.toContain(label === 'target postgres' ? 'target mariadb' : 'target postgres');
        expect(await upValue(rt.port, 'readyz-test')).toBe(0);
        expect((await healthz(rt.port)).status).toBe(200); // alive all along: no restart wanted
        await db.start();
        await waitForReadyz(rt.port, 200, `ready after ${label} is back (${mode})`);
        expect(await upValue(rt.port, 'readyz-test')).toBe(1);
      }
    }
    await rt.shutdown('test end');
    await expect(fetch(`http://127.0.0.1:${rt.port}/healthz`)).rejects.toThrow();
  }, 120_000);
});

async function healthz(port: number) {
  return fetch(`http://127.0.0.1:${port}/healthz`);
}

describe('the applier service with its target on a private MariaDB', () => {
  it('is not ready while the target is stopped and catches up when it is back', async () => {
    const port = await freePort();
    const prefix = uniqueName('t');
    const into = uniqueName('rdy');
    const cfg = stackConfig({
      kafka: { brokers: stack.kafkaBrokers, topicPrefix: prefix, partitions: 3, deadLetterTopic: `${prefix}.dead-letter` },
      databases: {
        target: { dialect: 'mysql', url: fixture.maria.url('app') },
        billing: { dialect: 'postgres', url: stack.pgUrl('fieldsync_test2') },
      },
      // a consumer group of its own: the default name is shared with any other run that killed its members
      applier: [{ target: 'target', groupId: uniqueName('g-readyz'), batchMaxWaitMs: 20, breaker: { timeoutMs: 3000, resetTimeoutMs: 1000, volumeThreshold: 2, errorThresholdPercentage: 50 }, tables: [{ from: 'billing.public.clients', into }] }],
      http: { host: '127.0.0.1', port },
    });
    const file = writeTempConfig(cfg);
    cleanup.push(file.remove);
    const publisher = new EventPublisher(cfg, topicName(cfg.kafka, 'billing', 'public.clients'), clientsTable());
    await publisher.connect();
    cleanup.push(() => publisher.close());
    const stream = clientsStream({ events: 400, keys: 100, origin: 'billing', seed: 6 });
    await publisher.publish(stream.slice(0, 200));
    const p = spawnFieldsync(['applier', '--config', file.path]);
    procs.push(p);
    await waitForReadyz(port, 200, 'the applier to be ready', 90_000);

    await fixture.maria.stop('fast');
    await publisher.publish(stream.slice(200));
    const down = await waitForReadyz(port, 503, 'the applier to report not ready').catch((e: unknown) => { throw new Error(`${String(e)}\napplier output:\n${p.output()}`); });
    expect(down.text).toMatch(/target target/);
    expect(p.proc.exitCode).toBeNull(); // paused, not crashed

    await fixture.maria.start();
    await waitForReadyz(port, 200, 'the applier to be ready again', 90_000);
    const db = openMysql(fixture.maria.url('app'), { poolSize: 1 });
    cleanup.push(() => db.close());
    const model = new StreamModel(clientsTable());
    for (const e of stream) model.apply(e);
    const expected = model.finalRows();
    await waitFor('every event published while the target was down to be applied', async () => {
      const rows = await readCanonical(db, { ...clientsTable(), name: into }, db.dialect.quote(into)).catch(() => []);
      return isDeepStrictEqual(rows, expected);
    }, 90_000, 500);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 180_000);
});
