/**
 * /readyz of the capture service follows its source database: a trigger-outbox source on
 * a private MariaDB (test/support/private-db.ts; the shared servers are never stopped) is
 * killed: the capture (`node bin/fieldsync.mjs capture`) reports not ready naming the
 * source and keeps running; when the source is back it is ready again and captures what
 * was written after.
 */
import { describe, expect, it } from 'vitest';
import { openMysql } from '../../lib/dialect/mysql/db.js';
import { spawnFieldsync, writeTempConfig } from '../support/applier-harness.js';
import { stackConfig, uniqueName, waitFor } from '../support/helpers.js';
import { freePort } from '../support/private-db.js';
import { usePrivateMariadb, waitForReadyz } from '../support/readyz.js';

const fixture = usePrivateMariadb();
const { procs, cleanup } = fixture;

describe('the capture service with its outbox source on a private MariaDB', () => {
  it('is not ready while the source is stopped, and captures again when it is back', async () => {
    const port = await freePort();
    const table = uniqueName('src');
    const db = openMysql(fixture.maria.url('app'), { poolSize: 1 });
    cleanup.push(() => db.close());
    await db.execute(`CREATE TABLE ${db.dialect.quote(table)} (id BIGINT PRIMARY KEY, email VARCHAR(100))`);
    const cfg = stackConfig({
      databases: { src: { dialect: 'mysql', url: fixture.maria.url('app'), origin: uniqueName('o') } },
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
    await waitForReadyz(port, 200, 'the capture to be ready', 90_000);
    await db.execute(`INSERT INTO ${db.dialect.quote(table)} VALUES (1, 'a@example.com')`);

    await fixture.maria.stop('kill');
    const down = await waitForReadyz(port, 503, 'the capture to report not ready');
    expect(down.text).toMatch(/source src/);
    expect(p.proc.exitCode).toBeNull();

    await fixture.maria.start();
    await waitForReadyz(port, 200, 'the capture to be ready again', 90_000);
    const after = openMysql(fixture.maria.url('app'), { poolSize: 1 }); // the old pool's connection died with the server
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
