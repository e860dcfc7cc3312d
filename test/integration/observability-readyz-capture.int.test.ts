/**
 * /readyz of the capture service follows its source database: a trigger-outbox source on
 * a private MariaDB (test/support/private-db.ts; the shared servers are never stopped) is
 * killed: the capture (`node bin/fieldsync.mjs capture`) reports not ready naming the
 * source and keeps running; when the source is back it is ready again and captures what
 * was written after.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { killAll, spawnFieldsync, writeTempConfig, type ServiceProcess } from '../support/applier-harness.js';
import { stackConfig, uniqueName, waitFor } from '../support/helpers.js';
import { freePort, startPrivateMariadb, type PrivateDb } from '../support/private-db.js';

let maria: PrivateDb;
const procs: ServiceProcess[] = [];
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  maria = await startPrivateMariadb({ databases: ['app'] });
}, 120_000);
afterAll(async () => {
  await killAll(procs);
  for (const c of cleanup.reverse()) await Promise.resolve().then(c).catch(() => undefined);
  await maria?.destroy();
});

async function waitStatus(port: number, status: number, what: string, timeoutMs = 60_000) {
  let last: { status: number; text: string } | undefined;
  try {
    return await waitFor(what, async () => {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      last = { status: r.status, text: await r.text() };
      return last.status === status ? last : undefined;
    }, timeoutMs, 200);
  } catch (e) {
    throw new Error(`${String(e)}; last /readyz answer: ${last ? `${last.status} ${last.text}` : 'none'}`);
  }
}

describe('the capture service with its outbox source on a private MariaDB', () => {
  it('is not ready while the source is stopped, and captures again when it is back', async () => {
    const port = await freePort();
    const table = uniqueName('src');
    const db = openMysql(maria.url('app'), { poolSize: 1 });
    cleanup.push(() => db.close());
    await db.execute(`CREATE TABLE ${db.dialect.quote(table)} (id BIGINT PRIMARY KEY, email VARCHAR(100))`);
    const cfg = stackConfig({
      databases: { src: { dialect: 'mysql', url: maria.url('app'), origin: uniqueName('o') } },
      capture: [{ source: 'src', mode: 'outbox', pollIntervalMs: 100, breaker: { resetTimeoutMs: 1000 }, tables: [{ name: table }] }],
      http: { host: '127.0.0.1', port },
    });
    const file = writeTempConfig(cfg);
    cleanup.push(file.remove);
    const install = spawnFieldsync(['capture', '--config', file.path, 'install', '--config', file.path]);
    procs.push(install);
    expect(await install.exited, install.output()).toBe(0);
    const p = spawnFieldsync(['capture', '--config', file.path]);
    procs.push(p);
    await waitStatus(port, 200, 'the capture to be ready', 90_000);
    await db.execute(`INSERT INTO ${db.dialect.quote(table)} VALUES (1, 'a@example.com')`);

    await maria.stop('kill');
    const down = await waitStatus(port, 503, 'the capture to report not ready');
    expect(down.text).toMatch(/source src/);
    expect(p.proc.exitCode).toBeNull();

    await maria.start();
    await waitStatus(port, 200, 'the capture to be ready again', 90_000);
    const after = openMysql(maria.url('app'), { poolSize: 1 }); // the old pool's connection died with the server
    cleanup.push(() => after.close());
    await after.execute(`INSERT INTO ${after.dialect.quote(table)} VALUES (2, 'b@example.com')`);
    const captured = async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return [...text.matchAll(new RegExp(`^fieldsync_capture_events_total\\{[^}]*table="[^"]*${table}"[^}]*\\} (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    };
    await waitFor('both rows captured', async () => (await captured()) >= 2, 60_000, 250);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  }, 180_000);
});
